// Per-shard overhead of the orchestration: one run of N no-op shards per stage through
//   direct:  the pure state machine and the handlers called in a loop (no bus, no KV),
//   memory:  Orchestrator + MemoryBus + worker harness, one process (embedded mode),
//   nats:    Orchestrator + NatsBus + worker harness against a private nats-server.
// Usage: pnpm exec tsx bench/orchestration-overhead.ts [shards=200]. Prints a table, then JSON last.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContextMode, RunState } from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus, byQueue, connectNats } from "@isrdpo/bus";
import type { ArtifactStore, Bus, WorkQueue } from "@isrdpo/bus";
import { startNatsServer } from "@isrdpo/bus/testing";
import { Orchestrator, serveWorkQueue } from "@isrdpo/orchestration";
import { noopHandlers, runDirect, testRunSpec } from "@isrdpo/orchestration/testing";

const shards = Number(process.argv[2] ?? 200);
if (!Number.isInteger(shards) || shards < 1) throw new Error(`shards: must be a positive integer, got ${process.argv[2]}`);
// One item per shard; one iteration of responses and judge (context off, evaluation off), so the
// run has 2N shard stages plus prepare and training: 2N + 2 units of work.
const spec = testRunSpec({
  iterations: 1,
  shardSize: 1,
  prompts: { source: { case: "synthetic", value: { seed: 1n, split: "train", clipCount: shards } } },
  context: { mode: ContextMode.NONE },
  evaluation: { disabled: true },
});
const units = 2 * shards + 2;
const QUEUES: WorkQueue[] = ["prepare", "responses", "judge", "train"];

async function throughBus(bus: Bus, artifacts: ArtifactStore): Promise<number> {
  const handlers = noopHandlers(shards, artifacts);
  const workers = QUEUES.map((q) => serveWorkQueue(bus, q, byQueue(handlers), { concurrency: 4, pullExpiresMs: 1000 }));
  const orchestrator = new Orchestrator({
    bus,
    artifacts,
    onError: (err) => {
      throw err;
    },
  });
  const serving = orchestrator.serve({ concurrency: 1 });
  const t0 = performance.now();
  const { id } = await orchestrator.createRun(spec);
  let run = await orchestrator.getRun(id);
  while (run.state !== RunState.SUCCEEDED) {
    if (run.state === RunState.FAILED) throw new Error(`run failed: ${run.failureReason}`);
    if (performance.now() - t0 > 600_000) throw new Error("run did not finish in 10 minutes");
    await new Promise((r) => setTimeout(r, 5));
    run = await orchestrator.getRun(id);
  }
  const ms = performance.now() - t0;
  await serving.stop();
  await Promise.all(workers.map((w) => w.stop()));
  return ms;
}

async function main() {
  const results: Record<string, number> = {};
  const dir = await mkdtemp(join(tmpdir(), "isrdpo-bench-"));
  try {
    const local = new LocalArtifactStore(dir);
    // Direct: warm once, then measure.
    await runDirect(spec, noopHandlers(shards, local), local);
    const t0 = performance.now();
    const direct = await runDirect(spec, noopHandlers(shards, local), local);
    results.direct = performance.now() - t0;
    if (direct.run!.state !== RunState.SUCCEEDED) throw new Error("direct run did not succeed");

    const memory = new MemoryBus();
    results.memory = await throughBus(memory, local);
    await memory.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const server = await startNatsServer();
  try {
    const { bus, artifacts } = await connectNats({ servers: server.url });
    results.nats = await throughBus(bus, artifacts);
    await bus.close();
  } finally {
    await server.stop();
  }

  const perShard = (ms: number) => ms / units;
  console.log(`units of work: ${units} (${shards} responses + ${shards} judge shards + prepare + train)`);
  for (const [mode, ms] of Object.entries(results)) {
    console.log(`${mode.padEnd(7)} total ${ms.toFixed(0).padStart(7)} ms   per shard ${perShard(ms).toFixed(3).padStart(8)} ms`);
  }
  console.log(
    JSON.stringify({
      bench: "orchestration-overhead",
      shards: units,
      direct_ms_per_shard: +perShard(results.direct!).toFixed(4),
      memory_ms_per_shard: +perShard(results.memory!).toFixed(4),
      nats_ms_per_shard: +perShard(results.nats!).toFixed(4),
      nats_overhead_ms_per_shard: +(perShard(results.nats!) - perShard(results.direct!)).toFixed(4),
      nats_vs_direct_ratio: +(results.nats! / results.direct!).toFixed(1),
      memory_vs_direct_ratio: +(results.memory! / results.direct!).toFixed(1),
    }),
  );
}

await main();
