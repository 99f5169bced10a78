import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ContextParamsSchema,
  JudgeParamsSchema,
  OrchestratorEventSchema,
  ShardCompletedSchema,
  Stage,
  WorkItemSchema,
} from "@isrdpo/contracts";
import type { OrchestratorEvent, WorkItem } from "@isrdpo/contracts";
import { MemoryBus, QUEUES } from "@isrdpo/bus";
import type { WorkHandler } from "@isrdpo/bus";
import { afterEach, describe, expect, it } from "vitest";
import { serveWorkQueue } from "../src/index.ts";
import type { WorkerHandle } from "../src/index.ts";

const item = (shardIndex: number, params: WorkItem["params"] = { case: "judge", value: create(JudgeParamsSchema) }) =>
  toBinary(WorkItemSchema, create(WorkItemSchema, { runId: "r1", iteration: 2, stage: Stage.JUDGE, shardIndex, params }));

const completed: WorkHandler<"judge"> = async (task) => {
  const w = task.payload;
  return {
    case: "shardCompleted",
    value: create(ShardCompletedSchema, { iteration: w.iteration, stage: w.stage, shardIndex: w.shardIndex, itemsOk: 1 }),
  };
};

/** `completed`, counting its runs. */
const counted = () => {
  const runs = {
    count: 0,
    handler: (async (t) => {
      runs.count++;
      return completed(t);
    }) as WorkHandler<"judge">,
  };
  return runs;
};

describe("serveWorkQueue", () => {
  let bus: MemoryBus;
  let worker: WorkerHandle | undefined;
  afterEach(async () => {
    await worker?.stop();
    await bus.close();
  });

  async function answers(n: number): Promise<OrchestratorEvent[]> {
    const out: OrchestratorEvent[] = [];
    while (out.length < n) {
      const d = await bus.pull(QUEUES.orchestrator, { expiresMs: 5000 });
      if (!d) throw new Error(`only ${out.length} of ${n} answers`);
      const e = fromBinary(OrchestratorEventSchema, d.data);
      expect(d.msgId).toBe(e.eventId);
      out.push(e);
      await d.ack();
    }
    return out;
  }

  it("answers with the handler's event, its id derived from the work's message id, then acks", async () => {
    bus = new MemoryBus({ ackWaitMs: 1000 });
    await bus.enqueue("judge", item(3), "r1.i2.judge.s3.a1");
    worker = serveWorkQueue(bus, "judge", completed, { pullExpiresMs: 100 });
    const [e] = await answers(1);
    expect(e).toMatchObject({ runId: "r1", eventId: "r1.i2.judge.s3.a1:done", kind: { case: "shardCompleted", value: { shardIndex: 3 } } });
    expect(await bus.pull("judge", { expiresMs: 1200 })).toBeUndefined(); // acked: not redelivered
  });

  it("reports a throwing handler as ShardFailed with the error as reason", async () => {
    bus = new MemoryBus({ ackWaitMs: 1000 });
    await bus.enqueue("judge", item(1), "m1");
    worker = serveWorkQueue(
      bus,
      "judge",
      async () => {
        throw new Error("judge model missing");
      },
      { pullExpiresMs: 100 },
    );
    const [e] = await answers(1);
    expect(e).toMatchObject({
      eventId: "m1:failed",
      kind: {
        case: "shardFailed",
        value: { iteration: 2, stage: Stage.JUDGE, shardIndex: 1, deliveries: 1, reason: "judge model missing" },
      },
    });
  });

  it("answers a work item whose params are not its queue's as ShardFailed naming the field, without running the handler", async () => {
    bus = new MemoryBus({ ackWaitMs: 1000 });
    await bus.enqueue("judge", item(2, { case: "context", value: create(ContextParamsSchema) }), "m2");
    const runs = counted();
    worker = serveWorkQueue(bus, "judge", runs.handler, { pullExpiresMs: 100 });
    const [e] = await answers(1);
    expect(runs.count).toBe(0);
    expect(e).toMatchObject({
      eventId: "m2:failed",
      kind: {
        case: "shardFailed",
        value: { shardIndex: 2, reason: "work_item.params: an item of queue judge needs judge params, got context" },
      },
    });
  });

  it("records a message that outlived maxDeliveries as failed instead of running it again (poison)", async () => {
    bus = new MemoryBus({ ackWaitMs: 1000 });
    await bus.enqueue("judge", item(0), "poison");
    // Two workers "died" on it: delivered, never acked, handed back.
    for (let i = 0; i < 2; i++) (await bus.pull("judge", { expiresMs: 1000 }))!.nak();
    const runs = counted();
    worker = serveWorkQueue(bus, "judge", runs.handler, { maxDeliveries: 2, pullExpiresMs: 100 });
    const [e] = await answers(1);
    expect(runs.count).toBe(0);
    expect(e).toMatchObject({ eventId: "poison:failed", kind: { case: "shardFailed", value: { deliveries: 3 } } });
    expect((e!.kind.value as { reason: string }).reason).toMatch(/^abandoned: delivered 3 times/);
  });

  it("heartbeats a long task so it is not redelivered past the ack wait", async () => {
    bus = new MemoryBus({ ackWaitMs: 1000 });
    await bus.enqueue("judge", item(0), "long");
    const deliveries: number[] = [];
    worker = serveWorkQueue(
      bus,
      "judge",
      async (t) => {
        deliveries.push(t.deliveries);
        await new Promise((r) => setTimeout(r, 2500));
        return completed(t);
      },
      { concurrency: 2, heartbeatMs: 200, pullExpiresMs: 100 },
    );
    await answers(1);
    expect(deliveries).toEqual([1]);
  });

  it("skips and acks work the skip check rejects, without answering", async () => {
    bus = new MemoryBus({ ackWaitMs: 1000 });
    await bus.enqueue("judge", item(0), "a");
    const skipped: string[] = [];
    const runs = counted();
    worker = serveWorkQueue(bus, "judge", runs.handler, {
      pullExpiresMs: 100,
      skip: async (runId) => (runId === "r1" ? "run r1 is CANCELLED" : undefined),
      onSkip: (msgId, reason) => skipped.push(`${msgId}: ${reason}`),
    });
    while (skipped.length === 0) await new Promise((r) => setTimeout(r, 20));
    expect([runs.count, skipped]).toEqual([0, ["a: run r1 is CANCELLED"]]);
    expect(await bus.pull(QUEUES.orchestrator, { expiresMs: 1000 })).toBeUndefined();
  });

  it("aborts a running task's signal when its run ends (a cancelled run's job stops), and answers it failed", async () => {
    bus = new MemoryBus({ ackWaitMs: 1000 });
    await bus.enqueue("judge", item(0), "a");
    let cancelled = false;
    const stopped: string[] = [];
    const waitsForAbort: WorkHandler<"judge"> = (task) =>
      new Promise((_, reject) => task.signal.addEventListener("abort", () => reject(new Error("job cancelled")), { once: true }));
    worker = serveWorkQueue(bus, "judge", waitsForAbort, {
      pullExpiresMs: 100,
      endedCheckMs: 50,
      skip: async () => (cancelled ? "run r1 is CANCELLED" : undefined),
      onSkip: (msgId, reason) => stopped.push(`${msgId}: ${reason}`),
    });
    await new Promise((r) => setTimeout(r, 200));
    cancelled = true;
    const [answer] = await answers(1);
    expect(answer!.kind).toMatchObject({ case: "shardFailed", value: { reason: "job cancelled" } });
    expect(stopped).toEqual(["a: stopped: run r1 is CANCELLED"]);
  });

  it("hands a task back (nak, no answer) when the worker stops under it", async () => {
    bus = new MemoryBus({ ackWaitMs: 60_000 });
    await bus.enqueue("judge", item(0), "a");
    let started = false;
    const waitsForAbort: WorkHandler<"judge"> = (task) =>
      new Promise((_, reject) => {
        started = true;
        task.signal.addEventListener("abort", () => reject(new Error("stopped")), { once: true });
      });
    const w = serveWorkQueue(bus, "judge", waitsForAbort, { pullExpiresMs: 100 });
    while (!started) await new Promise((r) => setTimeout(r, 20));
    await w.stop();
    expect(await bus.pull(QUEUES.orchestrator, { expiresMs: 200 })).toBeUndefined();
    const again = await bus.pull("judge", { expiresMs: 2000 });
    expect(again?.msgId).toBe("a");
    expect(again?.deliveries).toBe(2);
    await again!.ack();
  });
});
