// Issue 18 acceptance: one distributed run in which each process is killed with SIGKILL in a
// different stage — the trainer mid SFT and mid DPO job, inference, context, judge and evaluator
// mid-stage, the orchestrator and nats-server at stage boundaries — and restarted; the run ends
// SUCCEEDED with the undisturbed run's preferences, model digests and evaluations.
import { readdirSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { join } from "node:path";
import { ConnectError, Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  JobState,
  JudgeSpecSchema,
  JudgeStrategy,
  RunState,
  Stage,
  StageState,
  TrainerService,
  type Run,
  type RunEvent,
  type RunSpec,
} from "@isrdpo/contracts";
import { jobId } from "@isrdpo/orchestration";
import type { ArtifactStore, Bus } from "@isrdpo/bus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, e2eSpec, preferences, runToEnd, watchToEnd, type ServiceName } from "./cluster.ts";

/**
 * The e2e run with one iteration (a stage of each kind), a checkpoint after every training step (a
 * killed trainer resumes its job rather than starting it over), and a judge that prefers one answer
 * of nearly every pair (the policy's own likelihood; a self-judging tiny model ties nearly all) in
 * DPO batches of 1: the DPO job has steps to be killed in.
 */
function spec(): RunSpec {
  const s = e2eSpec({ sft: true });
  s.iterations = 1;
  s.judge = create(JudgeSpecSchema, { strategy: JudgeStrategy.SELF_LIKELIHOOD });
  const sft = s.initialModel!.source;
  if (sft.case === "sft") sft.value.training!.checkpointEverySteps = 1;
  s.training = { ...s.training!, batchSize: 1, checkpointEverySteps: 1 };
  return s;
}

interface Fault {
  victim: ServiceName | "nats-server";
  /** The event at which the victim is killed. */
  at: (e: RunEvent) => boolean;
  /** A training job to kill mid-job: waited for until it has done this many steps. */
  midJob?: { stage: Stage; step: number };
}

const entered = (iteration: number, stage: Stage) => (e: RunEvent) =>
  e.iteration === iteration && e.stage === stage && e.kind.case === "stageStateChanged" && e.kind.value.state === StageState.RUNNING;
const ended = (iteration: number, stage: Stage) => (e: RunEvent) =>
  e.iteration === iteration && e.stage === stage && e.kind.case === "stageStateChanged" && e.kind.value.state === StageState.SUCCEEDED;
// The first shard done of several: the stage has shards left, in flight on the victim or queued.
const firstShard = (iteration: number, stage: Stage) => (e: RunEvent) =>
  e.iteration === iteration && e.stage === stage && e.kind.case === "shardProgress" && e.kind.value.shardsDone === 1;

// Each process once, the trainer twice; the kills of the workers land while their stage is running.
const FAULTS: Fault[] = [
  { victim: "trainer", at: entered(0, Stage.SFT), midJob: { stage: Stage.SFT, step: 2 } },
  { victim: "orchestrator", at: ended(0, Stage.SFT) },
  // The evaluation of π_1 is one work item of seconds; the kill comes as it starts.
  { victim: "evaluator", at: entered(0, Stage.EVALUATE) },
  { victim: "inference", at: firstShard(1, Stage.RESPONSES) },
  { victim: "context", at: firstShard(1, Stage.CONTEXT) },
  { victim: "nats-server", at: ended(1, Stage.CONTEXT) },
  { victim: "judge", at: firstShard(1, Stage.JUDGE) },
  { victim: "trainer", at: entered(1, Stage.TRAIN), midJob: { stage: Stage.TRAIN, step: 2 } },
];

describe("chaos: kill -9 of every process of a distributed run, each in its own stage", () => {
  let cluster: Cluster;
  let client: { bus: Bus; artifacts: ArtifactStore };
  let undisturbed: Run;

  beforeAll(async () => {
    cluster = await Cluster.start();
    client = await cluster.connect();
    const runs = cluster.runs();
    undisturbed = await runToEnd(runs, (await runs.createRun({ spec: spec() })).run!.id);
    expect([RunState[undisturbed.state], undisturbed.failureReason]).toEqual(["SUCCEEDED", ""]);
  }, 300_000);
  afterAll(async () => {
    await client?.bus.close();
    await cluster?.stop();
  });

  /** Waits until the trainer's job has done `step` steps (and is not done): its checkpoints are on disk. */
  async function untilJobStep(id: string, step: number, timeoutMs = 120_000) {
    const trainer = createClient(
      TrainerService,
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${cluster.procs.get("trainer")!.port}` }),
    );
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        for await (const { job } of trainer.watchJob({ jobId: id }, { signal: AbortSignal.timeout(deadline - Date.now()) })) {
          if (job!.state !== JobState.RUNNING && job!.state !== JobState.QUEUED)
            throw new Error(
              `job ${id} ended (${JobState[job!.state]}, step ${job!.progress?.step ?? 0}, "${job!.failureReason}") before step ${step}`,
            );
          if ((job!.progress?.step ?? 0) >= step) {
            expect(job!.progress!.totalSteps, "steps of the job killed mid-job").toBeGreaterThan(step);
            return;
          }
        }
      } catch (err) {
        // Not started yet: the train command is on its way to the trainer.
        if (!(err instanceof ConnectError && err.code === Code.NotFound) || Date.now() > deadline)
          throw new Error(`waiting for step ${step} of job ${id}: ${String(err)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  it("ends SUCCEEDED with the undisturbed run's preferences, model digests and evaluations", async () => {
    const { run: created } = await cluster.runs().createRun({ spec: spec() });
    const runId = created!.id;
    const pending = [...FAULTS];
    // Restarts run beside the watch: while one process comes back the run goes on, and the next stage's
    // kill must not come late.
    const restarts: Promise<unknown>[] = [];
    const run = await watchToEnd(
      cluster,
      runId,
      async (e) => {
        const i = pending.findIndex((f) => f.at(e));
        if (i < 0) return;
        const [fault] = pending.splice(i, 1) as [Fault];
        const where = `${Stage[e.stage]} of iteration ${e.iteration}`;
        if (e.kind.case === "shardProgress") expect(e.kind.value.shardsTotal, `shards of ${where}`).toBeGreaterThan(2);
        if (fault.victim === "nats-server") {
          await cluster.nats.restart({ hard: true });
        } else {
          const job = fault.midJob && jobId(runId, e.iteration, fault.midJob.stage);
          if (job) await untilJobStep(job, fault.midJob!.step);
          await cluster.kill(fault.victim);
          // Killed before the job's end: its checkpoints are there for the resume (a finished job removes them).
          if (job)
            expect(readdirSync(join(cluster.checkpointDirs.get("trainer")!, "jobs", job)).some((n) => n.startsWith("step-"))).toBe(true);
          restarts.push(cluster.startService(fault.victim));
        }
      },
      480_000,
    );
    await Promise.all(restarts);
    expect(pending, "faults that never fired").toEqual([]);
    expect([RunState[run.state], run.failureReason]).toEqual(["SUCCEEDED", ""]);
    const digests = (r: Run) => r.iterations.map((i) => [i.iteration, i.policy?.digest ?? "", i.trained?.digest ?? ""]);
    expect(digests(run)).toEqual(digests(undisturbed));
    expect(await preferences(client.artifacts, run, 1)).toEqual(await preferences(client.artifacts, undisturbed, 1));
    // The same metrics of the same models (a model's name is its run's).
    const evaluations = (r: Run) => r.iterations.map((i) => ({ model: i.evaluation?.model?.digest, splits: i.evaluation?.splits ?? [] }));
    expect(evaluations(run)).toEqual(evaluations(undisturbed));
    expect(evaluations(run).flatMap((e) => e.splits)).toHaveLength(4);
  }, 500_000);
});
