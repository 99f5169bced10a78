// A distributed isrdpo: a private nats-server and every service as its own `isrdpo serve` process.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { create, fromBinary } from "@bufbuild/protobuf";
import {
  ContextMode,
  DpoLossType,
  JudgeStrategy,
  PreferenceShardSchema,
  RunService,
  RunSpecSchema,
  Stage,
  type ModelRef,
  type Run,
  type RunEvent,
  type RunSpec,
} from "@isrdpo/contracts";
import { isTerminal } from "@isrdpo/orchestration";
import { connectNats, type ArtifactStore, type Bus } from "@isrdpo/bus";
import { startNatsServer, type NatsServer } from "@isrdpo/bus/testing";
import { startServer, type ServerProcess } from "../support/processes.ts";

export const SERVICE_NAMES = ["orchestrator", "inference", "context", "judge", "trainer", "evaluator"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export class Cluster {
  readonly procs = new Map<ServiceName, ServerProcess>();
  /** Each service's checkpoint directory, kept across restarts (a pod's volume): a restarted trainer resumes its job. */
  readonly checkpointDirs = new Map<ServiceName, string>();
  private constructor(
    readonly nats: NatsServer,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  static async start(): Promise<Cluster> {
    const nats = await startNatsServer();
    // Short ack wait: a killed worker's shard comes back within seconds (heartbeats keep live ones).
    // One thread per process: the embedded run of the e2e test uses two, and must give the same results.
    const cluster = new Cluster(nats, { ISRDPO_NATS_ACK_WAIT_MS: "4000", ISRDPO_LOG_LEVEL: "info", ISRDPO_THREADS: "1" });
    const started = await Promise.allSettled(SERVICE_NAMES.map((name) => cluster.startService(name)));
    const failed = started.find((s) => s.status === "rejected");
    if (failed) {
      await cluster.stop(); // no stray services behind a failed start
      throw failed.reason;
    }
    return cluster;
  }

  /** Starts (or restarts) one service process with its own checkpoint directory. */
  async startService(name: ServiceName): Promise<ServerProcess> {
    let checkpointDir = this.checkpointDirs.get(name);
    if (!checkpointDir) this.checkpointDirs.set(name, (checkpointDir = mkdtempSync(join(tmpdir(), `isrdpo-${name}-`))));
    const proc = await startServer(
      "apps/cli/src/main.ts",
      ["serve", name, "--port", "0", "--nats", this.nats.url],
      { ...this.env, ISRDPO_CHECKPOINT_DIR: checkpointDir },
      // Generous: on a loaded 2-core machine tsx takes long to load the CLI.
      120_000,
    );
    this.procs.set(name, proc);
    return proc;
  }

  /** kill -9 of one service process; resolves once it is gone (no wrapper left a worker running). */
  async kill(name: ServiceName): Promise<void> {
    const proc = this.procs.get(name)!;
    proc.child.kill("SIGKILL");
    if ((await proc.exited) !== "SIGKILL") throw new Error(`${name} exited before its kill:\n${proc.stderr()}`);
    try {
      process.kill(proc.child.pid!, 0);
    } catch {
      return;
    }
    throw new Error(`${name} (pid ${proc.child.pid}) still runs after SIGKILL`);
  }

  runs(): Client<typeof RunService> {
    return createClient(RunService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${this.procs.get("orchestrator")!.port}` }));
  }

  /** A client of the cluster's bus and artifact store, as a service would have. */
  async connect(): Promise<{ bus: Bus; artifacts: ArtifactStore }> {
    return connectNats({ servers: this.nats.url });
  }

  async stop(): Promise<void> {
    for (const p of this.procs.values()) p.child.kill("SIGTERM");
    await Promise.all([...this.procs.values()].map((p) => p.exited));
    await this.nats.stop();
  }
}

/**
 * Waits until a run ends, watching through the current orchestrator: a watch broken by a killed
 * orchestrator or nats-server is opened again from the next event. `onEvent` sees each event once
 * (e.g. to inject a fault); what it throws ends the wait.
 */
export async function watchToEnd(
  cluster: Cluster,
  runId: string,
  onEvent: (e: RunEvent) => Promise<void>,
  timeoutMs: number,
): Promise<Run> {
  const deadline = Date.now() + timeoutMs;
  let next = 0n;
  let failed: { err: unknown } | undefined;
  for (;;) {
    try {
      const signal = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
      for await (const res of cluster.runs().watchRun({ runId, fromSequence: next }, { signal })) {
        const e = res.event!;
        next = e.sequence + 1n;
        await onEvent(e).catch((err: unknown) => {
          failed = { err };
          throw err;
        });
        if (e.kind.case === "runStateChanged" && isTerminal(e.kind.value.state)) return (await cluster.runs().getRun({ runId })).run!;
      }
    } catch (err) {
      if (failed) throw failed.err;
      if (Date.now() >= deadline) throw new Error(`run ${runId} did not end in ${timeoutMs} ms (last event ${next - 1n}): ${String(err)}`);
      await new Promise((r) => setTimeout(r, 250)); // the orchestrator or nats-server is coming back
    }
  }
}

/** Waits until a run ends; `onEvent` sees each event (e.g. to inject a fault). */
export async function runToEnd(
  runs: Client<typeof RunService>,
  runId: string,
  onEvent: (e: RunEvent) => void | Promise<void> = () => undefined,
): Promise<Run> {
  for await (const res of runs.watchRun({ runId })) {
    await onEvent(res.event!);
    const k = res.event!.kind;
    if (k.case === "runStateChanged" && isTerminal(k.value.state)) break;
  }
  return (await runs.getRun({ runId })).run!;
}

/**
 * The e2e test run on the `test` preset: SFT of π_1 (or a given π_1), two self-judged iterations
 * with retrospective context, every iteration evaluated on two tiny splits.
 */
export function e2eSpec(initial: { sft: true } | { model: ModelRef }): RunSpec {
  return create(RunSpecSchema, {
    name: "e2e",
    initialModel: {
      source:
        "model" in initial
          ? { case: "model", value: initial.model }
          : {
              case: "sft",
              value: {
                preset: "test",
                data: { seed: 5n, split: "train", clipCount: 16 },
                // Two gradient shards: the cluster's trainer computes them on 1 thread, embedded mode on 2.
                training: { learningRate: 5e-3, epochs: 1, batchSize: 16, gradShards: 2, seed: 5n },
              },
            },
    },
    prompts: { source: { case: "synthetic", value: { seed: 6n, split: "train", clipCount: 4 } } },
    iterations: 2,
    context: { mode: ContextMode.RETROSPECTIVE },
    // A CPU-tiny model judging itself is mostly position bias, so most pairs are ties (orders
    // disagree) and DPO may leave the model unchanged: this test is about the distributed plumbing.
    // The trainer's DPO job on decisive pairs has its own test (test/services/trainer.test.ts).
    judge: { strategy: JudgeStrategy.SELF },
    responseSampling: { temperature: 0.7, maxNewTokens: 12, seed: 5n },
    dpo: { beta: 0.1, lossType: DpoLossType.SIGMOID },
    training: { learningRate: 1e-3, epochs: 1, batchSize: 8, gradShards: 2, seed: 5n },
    evaluation: {
      splits: [
        { source: { case: "synthetic", value: { seed: 7n, split: "test-in", clipCount: 2 } } },
        { source: { case: "synthetic", value: { seed: 7n, split: "test-out", clipCount: 2 } } },
      ],
      sampling: { temperature: 0, maxNewTokens: 12 },
    },
    // Several shards per stage, so a kill lands mid-stage with shards left to do.
    shardSize: 8,
    seed: 5n,
  });
}

/** Every preference record of an iteration, in shard order. */
export async function preferences(artifacts: ArtifactStore, run: Run, iteration: number) {
  const judge = run.iterations.find((i) => i.iteration === iteration)!.stages.find((s) => s.stage === Stage.JUDGE)!;
  const records = [];
  for (const ref of judge.outputs) records.push(...fromBinary(PreferenceShardSchema, await artifacts.get(ref)).records);
  return records.map((r) => ({ itemId: r.itemId, chosen: r.chosen, rejected: r.rejected, tie: r.tie }));
}
