// A distributed isrdpo: a private nats-server and every service as its own `isrdpo serve` process.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RunService, type Run, type RunEvent } from "@isrdpo/contracts";
import { isTerminal } from "@isrdpo/orchestration";
import { connectNats, type ArtifactStore, type Bus } from "@isrdpo/bus";
import { startNatsServer, type NatsServer } from "@isrdpo/bus/testing";
import { startServer, type ServerProcess } from "../support/processes.ts";

export const SERVICE_NAMES = ["orchestrator", "inference", "context", "judge", "trainer", "evaluator"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export class Cluster {
  readonly procs = new Map<ServiceName, ServerProcess>();
  private constructor(
    readonly nats: NatsServer,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  static async start(): Promise<Cluster> {
    const nats = await startNatsServer();
    // Short ack wait: a killed worker's shard comes back within seconds (heartbeats keep live ones).
    // One thread per process: the embedded run of the e2e test uses two, and must give the same results.
    const cluster = new Cluster(nats, { ISRDPO_NATS_ACK_WAIT_MS: "4000", ISRDPO_LOG_LEVEL: "info", ISRDPO_THREADS: "1" });
    await Promise.all(SERVICE_NAMES.map((name) => cluster.startService(name)));
    return cluster;
  }

  /** Starts (or restarts) one service process with its own checkpoint directory. */
  async startService(name: ServiceName): Promise<ServerProcess> {
    const proc = await startServer(
      "apps/cli/src/main.ts",
      ["serve", name, "--port", "0", "--nats", this.nats.url],
      {
        ...this.env,
        ISRDPO_CHECKPOINT_DIR: mkdtempSync(join(tmpdir(), `isrdpo-${name}-`)),
      },
      60_000,
    );
    this.procs.set(name, proc);
    return proc;
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
