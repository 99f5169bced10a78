// The run record at scale: one run of N prompts × I iterations with the default shard size (64) and
// the default stages (responses ∥ retrospective context → judge → train → evaluate), every shard
// answered at once, through
//   machine: the pure state machine in a loop (transition only; serializing the record is timed apart),
//   memory:  Orchestrator + MemoryBus KV + worker harness, one process (embedded mode),
//   nats:    Orchestrator + NatsBus KV + worker harness against a private nats-server.
// Reports events/s, total time and the largest record written (bytes), and where its bytes go.
// Usage: pnpm exec tsx bench/run-record-scale.ts [--prompts 10000] [--iterations 9]
//        [--modes machine,memory,nats] [--max-seconds 300]
// A mode that passes --max-seconds stops and reports what it reached (complete: false). JSON last.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  ArtifactRefSchema,
  EvaluationFinishedSchema,
  JobFinishedSchema,
  JobSchema,
  JobState,
  OrchestratorEventSchema,
  PrepareFinishedSchema,
  RunRecordSchema,
  RunRequestedSchema,
  RunSpecSchema,
  RunState,
  ShardCompletedSchema,
  Stage,
} from "@isrdpo/contracts";
import type { ArtifactRef, Command, OrchestratorEvent, RunRecord, RunSpec } from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus, byQueue, connectNats } from "@isrdpo/bus";
import type { ArtifactStore, Bus, Task, WorkHandlers, WorkQueue } from "@isrdpo/bus";
import { startNatsServer } from "@isrdpo/bus/testing";
import {
  Orchestrator,
  eventIds,
  newRunRecord,
  normalizeRunSpec,
  promptShardUri,
  serveWorkQueue,
  shardOutputUri,
  runKey,
  storedRecord,
  transition,
  workEventIds,
} from "@isrdpo/orchestration";
import { noopHandlers } from "@isrdpo/orchestration/testing";

/** NATS's default max_payload: a KV value larger than this cannot be written. */
const NATS_MAX_PAYLOAD = 1024 * 1024;

const { values: args } = parseArgs({
  options: {
    prompts: { type: "string", default: "10000" },
    iterations: { type: "string", default: "9" },
    modes: { type: "string", default: "machine,memory,nats" },
    "max-seconds": { type: "string", default: "300" },
  },
});
const positive = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name}: must be a positive integer, got "${v}"`);
    process.exit(2);
  }
  return n;
};
const prompts = positive("prompts", args.prompts);
const iterations = positive("iterations", args.iterations);
const maxMs = positive("max-seconds", args["max-seconds"]) * 1000;
const modes = args.modes.split(",");
for (const m of modes) {
  if (!["machine", "memory", "nats"].includes(m)) {
    console.error(`--modes: unknown mode "${m}" (machine, memory, nats)`);
    process.exit(2);
  }
}

// Prompts come from an imported set (a synthetic one is capped at LIMITS.datasetClips); nothing
// reads it: prepare is answered by the bench.
const spec: RunSpec = normalizeRunSpec(
  create(RunSpecSchema, {
    name: "scale",
    initialModel: { source: { case: "model", value: { name: "pi1", digest: "d".repeat(64) } } },
    prompts: { source: { case: "sharegptJsonl", value: { uri: "artifact://datasets/scale/prompts.jsonl" } } },
    iterations,
  } as MessageInitShape<typeof RunSpecSchema>),
);
const shardSize = spec.shardSize;
const promptShards = Math.ceil(prompts / shardSize);
// Per iteration: responses, context and judge shards, one training job, one evaluation; plus the run
// request, prepare and the evaluation of π_1.
const stagesPerIteration = 3;
const totalEvents = 3 + iterations * (stagesPerIteration * promptShards + 2);
const itemsIn = (shard: number) => Math.min(shardSize, prompts - shard * shardSize);
/** A realistic output reference: the size of what a worker reports. */
const outputRef = (uri: string): ArtifactRef =>
  create(ArtifactRefSchema, { uri, sha256: "ab".repeat(32), sizeBytes: 123_456n, mediaType: "application/x-protobuf" });

interface Breakdown {
  total: number;
  run: number;
  shards: number;
  applied_event_ids: number;
  outbox: number;
  prompt_shards: number;
  other: number;
}

/** Where the bytes of a serialized record go: each part serialized alone (tags included). */
function breakdown(record: RunRecord): Breakdown {
  const size = (init: MessageInitShape<typeof RunRecordSchema>) => toBinary(RunRecordSchema, create(RunRecordSchema, init)).length;
  const total = toBinary(RunRecordSchema, record).length;
  const parts = {
    run: size({ run: record.run }),
    shards: size({ shards: record.shards }),
    applied_event_ids: size({ appliedEventIds: record.appliedEventIds }),
    outbox: size({ outbox: record.outbox }),
    prompt_shards: size({ promptShards: record.promptShards }),
  };
  const known = Object.values(parts).reduce((a, b) => a + b, 0);
  return { total, ...parts, other: total - known };
}

/** The event a worker answers a command with: every shard succeeds with all its items. */
function answer(cmd: Command, runId: string): OrchestratorEvent | undefined {
  const k = cmd.kind;
  const ev = (kind: OrchestratorEvent["kind"]) => create(OrchestratorEventSchema, { runId, eventId: workEventIds.done(cmd.msgId), kind });
  switch (k.case) {
    case "prepare":
      return ev({
        case: "prepareFinished",
        value: create(PrepareFinishedSchema, {
          itemsTotal: prompts,
          promptShards: Array.from({ length: promptShards }, (_, i) => outputRef(promptShardUri(runId, i))),
        }),
      });
    case "train": {
      const r = k.value;
      const job = create(JobSchema, {
        id: r.jobId,
        state: JobState.SUCCEEDED,
        outputModel: { name: r.spec!.outputName, digest: "e".repeat(64) },
      });
      return ev({ case: "jobFinished", value: create(JobFinishedSchema, { iteration: r.iteration, stage: r.stage, job }) });
    }
    case "work": {
      const item = k.value.item!;
      if (item.stage === Stage.EVALUATE) {
        return ev({ case: "evaluationFinished", value: create(EvaluationFinishedSchema, { iteration: item.iteration }) });
      }
      return ev({
        case: "shardCompleted",
        value: create(ShardCompletedSchema, {
          iteration: item.iteration,
          stage: item.stage,
          shardIndex: item.shardIndex,
          itemsOk: itemsIn(item.shardIndex),
          output: outputRef(shardOutputUri(item)),
        }),
      });
    }
    default:
      return undefined;
  }
}

interface Result {
  complete: boolean;
  events: number;
  ms: number;
  events_per_s: number;
  max_record_bytes: number;
  /** Time spent serializing records (machine mode; the store path pays it inside ms). */
  serialize_ms?: number;
  /** KV writes besides the record's (shards, prompt shards) and the largest of them. */
  other_kv_writes?: number;
  max_other_value_bytes?: number;
  breakdown?: Breakdown;
  error?: string;
}

function runMachine(): Result {
  const runId = "r-scale";
  let record = newRunRecord(runId, spec);
  const queue: OrchestratorEvent[] = [
    create(OrchestratorEventSchema, {
      runId,
      eventId: eventIds.runRequested(runId),
      kind: { case: "runRequested", value: create(RunRequestedSchema, { spec }) },
    }),
  ];
  let events = 0;
  let ms = 0;
  let serializeMs = 0;
  let maxBytes = 0;
  let largest = record;
  const start = performance.now();
  for (let head = 0; head < queue.length; head++) {
    const t0 = performance.now();
    const t = transition(record, queue[head]!);
    const t1 = performance.now();
    record = t.record;
    const bytes = toBinary(RunRecordSchema, storedRecord(record)).length;
    serializeMs += performance.now() - t1;
    ms += t1 - t0;
    events++;
    if (bytes > maxBytes) [maxBytes, largest] = [bytes, storedRecord(record)];
    for (const cmd of t.commands) {
      const e = answer(cmd, runId);
      if (e) queue.push(e);
    }
    if (events % 2000 === 0) console.error(`machine: ${events}/${totalEvents} events, record ${maxBytes} bytes`);
    if (performance.now() - start > maxMs) break;
  }
  const complete = record.run!.state === RunState.SUCCEEDED;
  if (!complete && events === totalEvents) throw new Error(`run ended ${RunState[record.run!.state]}: ${record.run!.failureReason}`);
  return {
    complete,
    events,
    ms,
    events_per_s: Math.round((events / ms) * 1000),
    max_record_bytes: maxBytes,
    serialize_ms: Math.round(serializeMs),
    breakdown: breakdown(largest),
  };
}

/** Handlers of the store modes: prepare writes real prompt shards (the orchestrator reads them). */
function handlers(artifacts: ArtifactStore): WorkHandlers {
  const base = noopHandlers(prompts, artifacts);
  const shard = async (task: Task<"responses" | "context" | "judge" | "evaluate">) => {
    const out = await (base[task.queue] as (t: typeof task) => Promise<OrchestratorEvent["kind"]>)(task);
    if (out.case === "shardCompleted") out.value.output = outputRef(shardOutputUri(task.payload));
    return out as never;
  };
  return { ...base, responses: shard, context: shard, judge: shard, evaluate: shard };
}

async function throughStore(bus: Bus, artifacts: ArtifactStore): Promise<Result> {
  let maxBytes = 0;
  let writes = 0;
  let otherWrites = 0;
  let maxOtherBytes = 0;
  let largest: Uint8Array | undefined;
  // Writes of the run's record are the applied events; the others store shards and prompt shards.
  const track = (key: string, value: Uint8Array) => {
    if (key.startsWith(runKey(""))) {
      writes++;
      if (value.length > maxBytes) [maxBytes, largest] = [value.length, value];
    } else {
      otherWrites++;
      maxOtherBytes = Math.max(maxOtherBytes, value.length);
    }
  };
  const kvCreate = bus.kvCreate.bind(bus);
  const kvUpdate = bus.kvUpdate.bind(bus);
  bus.kvCreate = async (key, value) => {
    const revision = await kvCreate(key, value);
    track(key, value);
    return revision;
  };
  bus.kvUpdate = async (key, value, rev) => {
    const revision = await kvUpdate(key, value, rev);
    track(key, value);
    return revision;
  };
  let error: string | undefined;
  const queues: WorkQueue[] = ["prepare", "responses", "context", "judge", "train", "evaluate"];
  const h = byQueue(handlers(artifacts));
  const workers = queues.map((q) => serveWorkQueue(bus, q, h, { concurrency: 4, pullExpiresMs: 1000 }));
  const orchestrator = new Orchestrator({ bus, artifacts, onError: (err) => (error ??= (err as Error).message) });
  const serving = orchestrator.serve({ concurrency: 1 });
  const t0 = performance.now();
  let complete = false;
  try {
    const { id } = await orchestrator.createRun(spec);
    for (;;) {
      const run = await orchestrator.getRun(id);
      if (run.state === RunState.SUCCEEDED) {
        complete = true;
        break;
      }
      if (run.state === RunState.FAILED) throw new Error(`run failed: ${run.failureReason}`);
      if (error || performance.now() - t0 > maxMs) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    error ??= (err as Error).message;
  }
  const ms = performance.now() - t0;
  await serving.stop();
  await Promise.all(workers.map((w) => w.stop()));
  const { fromBinary } = await import("@bufbuild/protobuf");
  return {
    complete,
    events: writes,
    ms,
    events_per_s: Math.round((writes / ms) * 1000),
    max_record_bytes: maxBytes,
    other_kv_writes: otherWrites,
    max_other_value_bytes: maxOtherBytes,
    ...(largest ? { breakdown: breakdown(fromBinary(RunRecordSchema, largest)) } : {}),
    ...(error ? { error: error.slice(0, 200) } : {}),
  };
}

async function main() {
  console.error(
    `run: ${prompts} prompts × ${iterations} iterations, shard size ${shardSize}: ${promptShards} prompt shards, ${totalEvents} events`,
  );
  const results: Record<string, Result> = {};
  if (modes.includes("machine")) results.machine = runMachine();
  if (modes.includes("memory")) {
    const dir = await mkdtemp(join(tmpdir(), "isrdpo-bench-"));
    const bus = new MemoryBus();
    try {
      results.memory = await throughStore(bus, new LocalArtifactStore(dir));
    } finally {
      await bus.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
  if (modes.includes("nats")) {
    const server = await startNatsServer();
    try {
      const { bus, artifacts } = await connectNats({ servers: server.url });
      try {
        results.nats = await throughStore(bus, artifacts);
      } finally {
        await bus.close();
      }
    } finally {
      await server.stop();
    }
  }
  for (const [mode, r] of Object.entries(results)) {
    console.log(
      `${mode.padEnd(8)} ${r.complete ? "complete" : "STOPPED "} ${String(r.events).padStart(7)} events ${(r.ms / 1000).toFixed(1).padStart(7)} s ` +
        `${String(r.events_per_s).padStart(7)} events/s  largest record ${r.max_record_bytes} bytes${r.error ? `  error: ${r.error}` : ""}`,
    );
  }
  const round = (r: Result) => ({ ...r, ms: Math.round(r.ms) });
  console.log(
    JSON.stringify({
      bench: "run-record-scale",
      prompts,
      iterations,
      shard_size: shardSize,
      prompt_shards: promptShards,
      total_events: totalEvents,
      nats_max_payload: NATS_MAX_PAYLOAD,
      ...Object.fromEntries(Object.entries(results).map(([m, r]) => [m, round(r)])),
    }),
  );
}

await main();
