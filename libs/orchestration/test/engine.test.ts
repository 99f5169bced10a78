import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type ContextMode,
  type JudgeStrategy,
  RunRecordSchema,
  RunSchema,
  RunState,
  ShardRecordSchema,
  ShardState,
  Stage,
  StageState,
} from "@isrdpo/contracts";
import type { Run, RunEvent, RunRecord } from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus, byQueue } from "@isrdpo/bus";
import type { ArtifactStore, Bus, WorkQueue } from "@isrdpo/bus";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Orchestrator, RunNotFoundError, RunSpecError, runKey, serveWorkQueue, skipEndedRuns } from "../src/index.ts";
import type { WorkerHandle } from "../src/index.ts";
import { deterministicHandlers, itemIdsInOutputs, testRunSpec } from "../src/testing.ts";
import type { DeterministicOptions } from "../src/testing.ts";

/** The whole record of a run as an orchestrator holds it (its private load()). */
const loadRecord = (o: Orchestrator, runId: string) =>
  (o as unknown as { load(id: string): Promise<{ record: RunRecord; revision: number }> }).load(runId);

/** A bus that records accepted work and can fail chosen enqueues, like a crash mid-publish. */
class RecordingBus extends MemoryBus {
  readonly accepted: string[] = [];
  failEnqueue: (queue: string, msgId: string) => boolean = () => false;
  override async enqueue(queue: string, data: Uint8Array, msgId: string) {
    if (this.failEnqueue(queue, msgId)) throw new Error(`injected failure publishing ${msgId}`);
    const r = await super.enqueue(queue, data, msgId);
    if (!r.duplicate && queue !== "orchestrator") this.accepted.push(msgId);
    return r;
  }
}

const ALL: WorkQueue[] = ["prepare", "responses", "context", "judge", "train", "evaluate"];

describe("Orchestrator (in-memory bus)", () => {
  let dir: string;
  let bus: RecordingBus;
  let artifacts: ArtifactStore;
  let workers: WorkerHandle[];
  let servers: { stop(): Promise<void> }[];
  const errors: unknown[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "isrdpo-orch-"));
    bus = new RecordingBus({ ackWaitMs: 1000 });
    artifacts = new LocalArtifactStore(dir);
    workers = [];
    servers = [];
    errors.length = 0;
    skipped.length = 0;
  });
  afterEach(async () => {
    await Promise.all([...workers, ...servers].map((w) => w.stop()));
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });

  const orchestrator = (b: Bus = bus) => new Orchestrator({ bus: b, artifacts, onError: (e) => errors.push(e) });
  /** A one-iteration run whose prompts are prepared (RUNNING), then its orchestrator stopped. */
  const preparedThenStopped = async () => {
    const first = orchestrator();
    const serving = first.serve();
    startWorkers(["prepare"]);
    const run = await first.createRun(testRunSpec({ iterations: 1 }));
    const deadline = Date.now() + 10_000;
    while ((await first.getRun(run.id)).state !== RunState.RUNNING) {
      if (Date.now() > deadline) throw new Error(`run ${run.id} not RUNNING within 10 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await serving.stop();
    return { first, run };
  };
  const skipped: string[] = [];
  const startWorkers = (queues: WorkQueue[] = ALL, opts: DeterministicOptions = {}) => {
    const handlers = deterministicHandlers(artifacts, opts);
    for (const q of queues) {
      workers.push(
        serveWorkQueue(bus, q, byQueue(handlers), {
          concurrency: 2,
          pullExpiresMs: 200,
          onError: (e) => errors.push(e),
          skip: skipEndedRuns(bus),
          onSkip: (msgId) => skipped.push(msgId),
        }),
      );
    }
  };
  const untilDone = async (o: Orchestrator, runId: string, timeoutMs = 20_000): Promise<Run> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await o.getRun(runId);
      if ([RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED].includes(run.state)) return run;
      if (Date.now() > deadline) throw new Error(`run still ${RunState[run.state]}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it("runs to SUCCEEDED with every item once per stage, context chained across iterations, events gap-free", async () => {
    const o = orchestrator();
    servers.push(o.serve());
    startWorkers();
    const created = await o.createRun(testRunSpec({ evaluation: { blocking: false } }));
    expect(created.state).toBe(RunState.PREPARING);
    const run = await untilDone(o, created.id);
    expect(run.state).toBe(RunState.SUCCEEDED);
    const expected = Array.from({ length: 10 }, (_, i) => `item-${String(i).padStart(5, "0")}`);
    for (const t of [1, 2]) {
      const it = run.iterations.find((i) => i.iteration === t)!;
      for (const stage of [Stage.RESPONSES, Stage.CONTEXT, Stage.JUDGE]) {
        const s = it.stages.find((x) => x.stage === stage)!;
        expect([StageState[s.state], s.itemsDone, s.itemsFailed]).toEqual(["SUCCEEDED", 10, 0]);
        expect(await itemIdsInOutputs(artifacts, s.outputs, stage)).toEqual(expected);
      }
      expect(it.preferences?.pairs).toBe(10);
    }
    // Context of iteration 2 was made from context of iteration 1.
    const ctx2 = run.iterations[2]!.stages.find((s) => s.stage === Stage.CONTEXT)!.outputs[0]!;
    const { ContextShardSchema } = await import("@isrdpo/contracts");
    const { fromBinary } = await import("@bufbuild/protobuf");
    expect(fromBinary(ContextShardSchema, await artifacts.get(ctx2)).records[0]!.context).toBe("t1 t2");
    // Each command went out exactly once.
    expect(new Set(bus.accepted).size).toBe(bus.accepted.length);

    const events: RunEvent[] = [];
    for await (const e of o.watchRun(run.id)) events.push(e);
    expect(events.map((e) => Number(e.sequence))).toEqual(Array.from({ length: Number(run.lastEventSequence) }, (_, i) => i + 1));
    expect(events.at(-1)!.kind).toMatchObject({ case: "runStateChanged", value: { state: RunState.SUCCEEDED } });
    const tail: bigint[] = [];
    for await (const e of o.watchRun(run.id, run.lastEventSequence - 2n)) tail.push(e.sequence);
    expect(tail).toEqual([run.lastEventSequence - 2n, run.lastEventSequence - 1n, run.lastEventSequence]);
    expect(errors).toEqual([]);
  });

  it("stores the record split: run.<id> without shards, each shard under its key; another process reassembles it", async () => {
    const o = orchestrator();
    servers.push(o.serve());
    startWorkers();
    const run = await untilDone(o, (await o.createRun(testRunSpec({ iterations: 1 }))).id);
    expect(run.state).toBe(RunState.SUCCEEDED);
    const stored = fromBinary(RunRecordSchema, (await bus.kvGet(runKey(run.id)))!.value);
    expect([stored.shards.length, stored.promptShards.length, stored.appliedEventIds.length]).toEqual([0, 0, 0]);
    // prepare, π_1's and π_2's evaluations, 3 shards each of responses, context and judge.
    const keys = await bus.kvKeys(`shard.${run.id}.`);
    expect(keys).toHaveLength(3 + 9);
    expect(keys).toContain(`shard.${run.id}.1.judge.2`);
    expect(await bus.kvGet(`prompts.${run.id}`)).toBeDefined();
    // A fresh orchestrator has nothing remembered: the same Run, stage outputs included.
    const fresh = await orchestrator().getRun(run.id);
    expect(equals(RunSchema, fresh, run)).toBe(true);
    expect(fresh.iterations[1]!.stages.find((s) => s.stage === Stage.JUDGE)!.outputs).toHaveLength(3);
  });

  it("continues a run stored by machine version 1 (shards inline), giving its shards their keys", async () => {
    // A run stopped mid-iteration, its record written as version 1 did: everything in one value.
    const { first, run } = await preparedThenStopped();
    const id = run.id;
    const { record, revision } = await loadRecord(first, id);
    const old = structuredClone(record);
    old.run!.machineVersion = 1;
    old.outbox = [];
    old.appliedEventIds = ["some-applied-event"];
    await bus.kvUpdate(runKey(id), toBinary(RunRecordSchema, old), revision);
    // Version 1 wrote no shard keys: blank the ones this run has (the bus cannot delete a key).
    for (const key of await bus.kvKeys(`shard.${id}.`)) await bus.kvUpdate(key, new Uint8Array(), (await bus.kvGet(key))!.revision);
    const o = orchestrator();
    await o.recover();
    servers.push(o.serve());
    startWorkers(["responses", "context", "judge", "train", "evaluate"]);
    const done = await untilDone(o, id);
    expect(done.state).toBe(RunState.SUCCEEDED);
    expect(fromBinary(RunRecordSchema, (await bus.kvGet(runKey(id)))!.value).shards).toEqual([]);
    const keys = await bus.kvKeys(`shard.${id}.`);
    expect(keys).toHaveLength(3 + 9);
    for (const key of keys) expect(fromBinary(ShardRecordSchema, (await bus.kvGet(key))!.value).state).toBe(ShardState.SUCCEEDED);
  });

  it("validates the spec with an error naming the field", async () => {
    const o = orchestrator();
    const err = await o.createRun(testRunSpec({ iterations: 0 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunSpecError);
    expect(err).toMatchObject({ field: "spec.iterations", message: "spec.iterations: must be ≥ 1" });
    await expect(o.createRun(testRunSpec({ context: { mode: 99 as ContextMode } }))).rejects.toThrow(/^spec.context.mode: /);
    await expect(o.createRun(undefined)).rejects.toThrow(/^spec: is required/);
  });

  it("returns the same run for a repeated idempotency key; rejects the key with another spec", async () => {
    const o = orchestrator();
    const a = await o.createRun(testRunSpec(), "key-1");
    const b = await o.createRun(testRunSpec(), "key-1");
    expect(b.id).toBe(a.id);
    expect(bus.accepted.filter((m) => m.includes(".prepare."))).toHaveLength(1);
    await expect(o.createRun(testRunSpec({ iterations: 3 }), "key-1")).rejects.toMatchObject({ field: "idempotency_key" });
    expect((await o.createRun(testRunSpec(), "key-2")).id).not.toBe(a.id);
  });

  it("refuses a judge strategy it cannot run before creating anything (RunService and the CLI's --nats path alike)", async () => {
    const o = orchestrator();
    await expect(o.createRun(testRunSpec({ judge: { strategy: 99 as JudgeStrategy } }))).rejects.toMatchObject({
      field: "spec.judge.strategy",
      message: expect.stringMatching(/unknown value 99/),
    });
    expect((await o.listRuns()).runs).toHaveLength(0);
    expect(bus.accepted).toEqual([]);
  });

  it("names unknown runs with RunNotFoundError and pages through ListRuns", async () => {
    const o = orchestrator();
    await expect(o.getRun("nope")).rejects.toBeInstanceOf(RunNotFoundError);
    await expect(o.getRun("../x")).rejects.toBeInstanceOf(RunNotFoundError);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await o.createRun(testRunSpec(), `k${i}`)).id);
    const p1 = await o.listRuns({ pageSize: 3 });
    const p2 = await o.listRuns({ pageSize: 3, pageToken: p1.nextPageToken });
    expect(p2.nextPageToken).toBe("");
    expect([...p1.runs, ...p2.runs].map((r) => r.id).sort()).toEqual([...ids].sort());
    expect((await o.listRuns()).runs).toHaveLength(5);
    await expect(o.listRuns({ pageSize: 1001 })).rejects.toMatchObject({ field: "page_size" });
  });

  it("cancel stops new work and ends CANCELLED", async () => {
    const o = orchestrator();
    servers.push(o.serve());
    startWorkers(["prepare", "responses", "context"], { itemDelayMs: 100 });
    const run = await o.createRun(testRunSpec());
    while ((await o.getRun(run.id)).state !== RunState.RUNNING) await new Promise((r) => setTimeout(r, 20));
    const cancelled = await o.cancelRun(run.id, "user asked");
    expect([RunState[cancelled.state], cancelled.failureReason]).toEqual(["CANCELLED", "user asked"]);
    await new Promise((r) => setTimeout(r, 600)); // let in-flight shards answer
    // π_1's evaluation (iteration 0) starts with the run; nothing of iteration 1 beyond generation does.
    expect(bus.accepted.filter((m) => /\.(judge|train|evaluate)\./.test(m) && !/\.i0\.evaluate\./.test(m))).toEqual([]);
    // 6 generation shards, 2 workers × 2 loops: at most 4 were running, the rest were skipped.
    expect(skipped.length).toBeGreaterThanOrEqual(2);
    expect(skipped.every((m) => /\.(responses|context)\./.test(m))).toBe(true);
    const after = await o.getRun(run.id);
    expect(after.state).toBe(RunState.CANCELLED);
    expect(after.iterations[1]!.stages.map((s) => StageState[s.state])).toEqual(["CANCELLED", "CANCELLED"]);
    const last = [];
    for await (const e of o.watchRun(run.id, after.lastEventSequence)) last.push(e);
    expect(last[0]!.kind).toMatchObject({ case: "runStateChanged", value: { state: RunState.CANCELLED } });
  });

  it("a failed publish after the state write loses nothing: the stored outbox goes out before the next transition", async () => {
    let failures = 0;
    // Fail the first publish of every judge shard once, after the record was written.
    const failed = new Set<string>();
    bus.failEnqueue = (queue, msgId) => {
      if (queue !== "judge" || failed.has(msgId)) return false;
      failed.add(msgId);
      failures++;
      return true;
    };
    const o = orchestrator();
    servers.push(o.serve());
    startWorkers();
    const run = await untilDone(o, (await o.createRun(testRunSpec({ iterations: 1 }))).id);
    expect(run.state).toBe(RunState.SUCCEEDED);
    expect(failures).toBe(3);
    expect(errors.map(String).every((e) => e.includes("injected failure publishing"))).toBe(true);
    expect(new Set(bus.accepted).size).toBe(bus.accepted.length);
    expect(bus.accepted.filter((m) => m.includes(".judge."))).toHaveLength(3);
  });

  it("recover() on a new orchestrator publishes what a crashed one wrote but never sent", async () => {
    bus.failEnqueue = (queue) => queue === "prepare";
    const crashed = orchestrator();
    await expect(crashed.createRun(testRunSpec({ iterations: 1 }), "k")).rejects.toThrow(/injected/);
    bus.failEnqueue = () => false;
    const o = orchestrator();
    expect(await o.recover()).toBe(1);
    expect(bus.accepted).toEqual([`${(await o.listRuns()).runs[0]!.id}.i0.prepare.s0.a1`]);
    servers.push(o.serve());
    startWorkers();
    const run = await untilDone(o, (await o.createRun(testRunSpec({ iterations: 1 }), "k")).id);
    expect(run.state).toBe(RunState.SUCCEEDED);
    expect(new Set(bus.accepted).size).toBe(bus.accepted.length);
  });

  it("a retried CreateRun publishes what the failed first call wrote but never sent", async () => {
    bus.failEnqueue = (queue) => queue === "prepare";
    const o = orchestrator();
    await expect(o.createRun(testRunSpec({ iterations: 1 }), "k")).rejects.toThrow(/injected/);
    bus.failEnqueue = () => false;
    servers.push(o.serve());
    startWorkers();
    const run = await untilDone(o, (await o.createRun(testRunSpec({ iterations: 1 }), "k")).id);
    expect(run.state).toBe(RunState.SUCCEEDED);
  });

  it("recover() re-derives work in flight that a queue lost", async () => {
    await bus.close();
    bus = new RecordingBus({ ackWaitMs: 1000, duplicateWindowMs: 200 });
    const { run } = await preparedThenStopped();
    // The responses queue loses one shard (acked, never run), after the de-duplication window.
    const lost = (await bus.pull("responses", { expiresMs: 1000 }))!;
    await lost.ack();
    await new Promise((r) => setTimeout(r, 300));
    const o = orchestrator();
    await o.recover();
    servers.push(o.serve());
    startWorkers(["responses", "context", "judge", "train", "evaluate"]);
    const done = await untilDone(o, run.id);
    expect(done.state).toBe(RunState.SUCCEEDED);
    expect(bus.accepted.filter((m) => m === lost.msgId)).toHaveLength(2);
  });

  it("fails the run by policy when items fail, naming the stage and counts", async () => {
    const o = orchestrator();
    servers.push(o.serve());
    startWorkers(ALL, { failItem: (id) => id === "item-00003" });
    const run = await untilDone(o, (await o.createRun(testRunSpec({ iterations: 1 }))).id);
    expect([RunState[run.state], run.failureReason]).toEqual(["FAILED", "responses of iteration 1: 1 of 10 items failed, policy allows 0"]);
    const tolerant = await untilDone(
      o,
      (await o.createRun(testRunSpec({ iterations: 1, failurePolicy: { maxFailedItemFraction: 0.1 } }))).id,
    );
    expect(tolerant.state).toBe(RunState.SUCCEEDED);
    const judge = tolerant.iterations[1]!.stages.find((s) => s.stage === Stage.JUDGE)!;
    expect([judge.itemsDone, judge.itemsFailed, judge.failures[0]?.itemId]).toEqual([9, 1, "item-00003"]);
  });
});
