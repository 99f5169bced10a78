import { create, equals, fromBinary } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Alignment,
  CommandSchema,
  ContextMode,
  JobKind,
  OrchestratorEventSchema,
  RunSchema,
  RunSpecSchema,
  RunState,
  ShardState,
  Stage,
  StageState,
  ToyReward,
} from "@isrdpo/contracts";
import type { RunSpec } from "@isrdpo/contracts";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MACHINE_VERSION, eventIds, msgIds, newRunRecord, normalizeRunSpec, transition, workEventIds } from "../src/index.ts";
import { runWorld } from "./world.ts";
import type { Step, WorldOptions } from "./world.ts";

function spec(over: MessageInitShape<typeof RunSpecSchema> = {}): RunSpec {
  return create(RunSpecSchema, {
    name: "t",
    initialModel: { source: { case: "model", value: { name: "pi1", digest: "d1" } } },
    prompts: { source: { case: "synthetic", value: { seed: 1n, split: "train", clipCount: 10 } } },
    iterations: 2,
    shardSize: 4,
    ...over,
  } as MessageInitShape<typeof RunSpecSchema>);
}

const calm: WorldOptions = { seed: 1, items: 10, attemptFailurePct: 0, itemFailurePct: 0 };

describe("transition", () => {
  it("runs every stage of every iteration in order and succeeds", () => {
    const { record } = runWorld(spec(), calm, []);
    const run = record.run!;
    expect(run.state).toBe(RunState.SUCCEEDED);
    expect(run.iterations.map((i) => i.iteration)).toEqual([0, 1, 2]);
    const stages = run.iterations[1]!.stages.map((s) => [Stage[s.stage], StageState[s.state], s.itemsDone, s.shardsDone]);
    // Listed in execution order (STAGE_ORDER), whatever order they started in.
    expect(stages).toEqual([
      ["RESPONSES", "SUCCEEDED", 10, 3],
      ["CONTEXT", "SUCCEEDED", 10, 3],
      ["JUDGE", "SUCCEEDED", 10, 3],
      ["TRAIN", "SUCCEEDED", 1, 1],
      ["EVALUATE", "SUCCEEDED", 1, 1],
    ]);
    expect(run.machineVersion).toBe(MACHINE_VERSION);
    // π_2 is what iteration 1 trained.
    expect(run.iterations[2]!.policy).toEqual(run.iterations[1]!.trained);
    expect(run.iterations[1]!.policy?.digest).toBe("d1");
  });

  it("gives context t the context of t−1 in retrospective mode and nothing in renew mode", () => {
    const ctxOf = (mode: ContextMode) => {
      const { issued } = runWorld(spec({ context: { mode } }), calm, []);
      return [...issued.keys()].filter((k) => k.startsWith("r1.i") && k.includes(".context."));
    };
    expect(ctxOf(ContextMode.RETROSPECTIVE)).toHaveLength(6);
    expect(ctxOf(ContextMode.FIXED)).toHaveLength(3);
    expect(ctxOf(ContextMode.NONE)).toHaveLength(0);
    const { record } = runWorld(spec(), calm, []);
    const iter2 = record.shards.find((s) => s.iteration === 2 && s.stage === Stage.CONTEXT && s.shardIndex === 1)!;
    expect(iter2.state).toBe(ShardState.SUCCEEDED);
  });

  it("retries a failing shard up to max_shard_attempts, then fails the run naming the stage", () => {
    const { record } = runWorld(spec({ failurePolicy: { maxShardAttempts: 2 } }), { ...calm, attemptFailurePct: 100 }, []);
    expect(record.run!.state).toBe(RunState.FAILED);
    expect(record.run!.failureReason).toMatch(/^prepare of iteration 0 failed 2 attempts, last: boom/);
  });

  it("tolerates failed items up to max_failed_item_fraction and fails beyond it", () => {
    const w = { ...calm, itemFailurePct: 100 }; // one failed item per shard: 3 of 10
    const strict = runWorld(spec(), w, []).record.run!;
    expect(strict.state).toBe(RunState.FAILED);
    expect(strict.failureReason).toBe("responses of iteration 1: 3 of 10 items failed, policy allows 0");
    const lenient = runWorld(spec({ failurePolicy: { maxFailedItemFraction: 0.3 } }), w, []).record.run!;
    expect(lenient.state).toBe(RunState.SUCCEEDED);
    expect(lenient.iterations[1]!.stages.find((s) => s.stage === Stage.RESPONSES)!.failures.map((f) => f.itemId)).toEqual([
      "item-0",
      "item-4",
      "item-8",
    ]);
  });

  it("before iteration 1: SFT, then DPO on the seed preferences; π_1 is the result", () => {
    const sp = spec({
      initialModel: {
        source: { case: "sft", value: { preset: "test", data: { seed: 3n, split: "train", clipCount: 5 } } },
        seedPreferences: { uri: "artifact://seed/prefs.jsonl", sha256: "ab" },
      },
      iterations: 1,
    });
    const { record, issued } = runWorld(sp, calm, []);
    expect(record.run!.state).toBe(RunState.SUCCEEDED);
    const jobs = record.jobs.map((j) => [j.iteration, Stage[j.stage], j.outputModel?.name]);
    expect(jobs).toEqual([
      [0, "SFT", "r1/sft"],
      [0, "TRAIN", "r1/seed-dpo"],
      [1, "TRAIN", "r1/iter-2"],
    ]);
    expect(record.run!.iterations[1]!.policy?.name).toBe("r1/seed-dpo");
    const trainCmds = [...issued.keys()].filter((k) => k.includes(".sft.") || k.includes(".train."));
    expect(trainCmds).toEqual(["r1.i0.sft.s0.a1", "r1.i0.train.s0.a1", "r1.i1.train.s0.a1"]);
  });

  it("ALIGNMENT_PPO: each iteration trains π_{t+1} by a PPO job on the judge stage's items; the seed pass stays DPO", () => {
    const sp = spec({
      initialModel: {
        source: { case: "model", value: { name: "pi1", digest: "d1" } },
        seedPreferences: { uri: "artifact://seed/prefs.jsonl", sha256: "ab" },
      },
      alignment: Alignment.PPO,
      ppo: { toyReward: ToyReward.COLOUR, klCoef: 0.1 },
    });
    const { record, issued } = runWorld(sp, calm, []);
    expect(record.run!.state).toBe(RunState.SUCCEEDED);
    const train = (msgId: string) => {
      const c = fromBinary(CommandSchema, issued.get(msgId)!);
      return c.kind.case === "train" ? c.kind.value.spec! : undefined;
    };
    expect(train("r1.i0.train.s0.a1")).toMatchObject({ kind: JobKind.DPO });
    const ppo = train("r1.i1.train.s0.a1")!;
    expect(ppo).toMatchObject({ kind: JobKind.PPO, baseModel: { digest: record.run!.iterations[1]!.policy!.digest } });
    expect(ppo.ppo).toMatchObject({ toyReward: ToyReward.COLOUR });
    expect(ppo.ppo!.klCoef).toBeCloseTo(0.1, 6);
    // The judge stage's shards: what the same run with DPO would train on.
    const dpo = runWorld(spec({ initialModel: sp.initialModel }), calm, []).issued.get("r1.i1.train.s0.a1")!;
    const dpoSpec = fromBinary(CommandSchema, dpo).kind.value as { spec: { kind: JobKind; data: { uri: string }[] } };
    expect(dpoSpec.spec.kind).toBe(JobKind.DPO);
    expect(ppo.data.map((d) => d.uri)).toEqual(dpoSpec.spec.data.map((d) => d.uri));
    expect(ppo.data).toHaveLength(3);
    expect(train("r1.i2.train.s0.a1")).toMatchObject({ kind: JobKind.PPO });
  });

  it("ignores a duplicate event without changing the record", () => {
    const record = newRunRecord("r1", normalizeRunSpec(spec()));
    const requested = create(OrchestratorEventSchema, {
      runId: "r1",
      eventId: eventIds.runRequested("r1"),
      kind: { case: "runRequested", value: { $typeName: "isrdpo.v1.RunRequested" } },
    });
    const first = transition(record, requested);
    // The prepare shard's record to store under its own key, then what goes on the bus.
    expect(first.commands.map((c) => c.kind.case)).toEqual(["shard", "runEvent", "runEvent", "prepare"]);
    const second = transition(first.record, requested);
    expect(second.commands).toEqual([]);
    expect(second.ignored).toMatch(/^duplicate: run already started/);
    expect(second.record).toBe(first.record);
  });

  it("counts a bad prepare answer once: its repeat after the retry is stale", () => {
    const record = newRunRecord("r1", normalizeRunSpec(spec()));
    const requested = create(OrchestratorEventSchema, {
      runId: "r1",
      eventId: eventIds.runRequested("r1"),
      kind: { case: "runRequested", value: { $typeName: "isrdpo.v1.RunRequested" } },
    });
    const started = transition(record, requested).record;
    const bad = create(OrchestratorEventSchema, {
      runId: "r1",
      eventId: workEventIds.done(msgIds.shard("r1", 0, Stage.PREPARE, 0, 1)),
      kind: { case: "prepareFinished", value: { itemsTotal: 10, promptShards: [] } },
    });
    const retried = transition(started, bad);
    expect(retried.commands.filter((c) => c.kind.case === "prepare").map((c) => c.msgId)).toEqual(["r1.i0.prepare.s0.a2"]);
    const again = transition(retried.record, bad);
    expect(again.ignored).toBe("stale report of an earlier attempt");
    expect(again.record).toBe(retried.record);
  });

  it("keeps no list of applied events: redeliveries leave the record as it was", () => {
    const { record } = runWorld(spec(), calm, [
      { pool: 2, pick: 3 },
      { pool: 1, pick: 0 },
      { pool: 0, pick: 1 },
    ]);
    expect(record.run!.state).toBe(RunState.SUCCEEDED);
    expect(record.appliedEventIds).toEqual([]);
  });

  it("still honours the applied event ids of a record written by machine version 1", () => {
    const record = newRunRecord("r1", normalizeRunSpec(spec()));
    record.run!.machineVersion = 1;
    record.appliedEventIds = [eventIds.cancelRequested("r1")];
    const cancel = create(OrchestratorEventSchema, {
      runId: "r1",
      eventId: eventIds.cancelRequested("r1"),
      kind: { case: "cancelRequested", value: { reason: "user" } },
    });
    const t = transition(record, cancel);
    expect(t.ignored).toBe("duplicate event r1:cancel");
    expect(t.record).toBe(record);
  });

  it("cancels: stops new work and ends CANCELLED", () => {
    const cancel = create(OrchestratorEventSchema, {
      runId: "r1",
      eventId: eventIds.cancelRequested("r1"),
      kind: { case: "cancelRequested", value: { $typeName: "isrdpo.v1.CancelRequested", reason: "user" } },
    });
    // The cancel arrives right after the run request: prepare was issued, nothing after it.
    const { record, issued } = runWorld(spec(), calm, [], [cancel]);
    expect(record.run!.state).toBe(RunState.CANCELLED);
    expect(record.run!.failureReason).toBe("user");
    expect([...issued.keys()].filter((k) => k.startsWith("r1.i"))).toEqual(["r1.i0.prepare.s0.a1"]);
  });

  it("rejects an event of another run", () => {
    const record = newRunRecord("r1", normalizeRunSpec(spec()));
    const e = create(OrchestratorEventSchema, { runId: "r2", eventId: "x", kind: { case: "runRequested", value: {} } });
    expect(() => transition(record, e)).toThrow(/event.run_id/);
  });
});

describe("transition under random schedules (property)", () => {
  const stepArb = fc.record({ pool: fc.integer({ min: 0, max: 2 }), pick: fc.nat(1000) });
  const worldArb = fc.record({
    seed: fc.nat(1000),
    items: fc.integer({ min: 1, max: 12 }),
    attemptFailurePct: fc.constantFrom(0, 20, 40),
    itemFailurePct: fc.constantFrom(0, 30),
  });
  const specArb = fc.record({
    iterations: fc.integer({ min: 1, max: 3 }),
    shardSize: fc.integer({ min: 1, max: 5 }),
    mode: fc.constantFrom(ContextMode.RETROSPECTIVE, ContextMode.NONE, ContextMode.FIXED),
    blocking: fc.boolean(),
    fraction: fc.constantFrom(0, 0.5),
    sft: fc.boolean(),
  });

  it("duplicates, redeliveries and interleavings reach the same final state; no message id carries two contents", () => {
    fc.assert(
      fc.property(worldArb, specArb, fc.array(stepArb, { minLength: 1, maxLength: 60 }), (w, s, schedule: Step[]) => {
        const sp = spec({
          iterations: s.iterations,
          shardSize: s.shardSize,
          context: { mode: s.mode },
          evaluation: { blocking: s.blocking },
          failurePolicy: { maxFailedItemFraction: s.fraction },
          ...(s.sft
            ? {
                initialModel: {
                  source: { case: "sft", value: { preset: "test", data: { clipCount: 3 } } },
                  seedPreferences: { uri: "artifact://seed/p", sha256: "ab" },
                },
              }
            : {}),
        });
        const reference = runWorld(sp, w, []).record.run!;
        const shuffled = runWorld(sp, w, schedule).record.run!; // throws on a conflicting command
        expect(reference.state === RunState.SUCCEEDED || reference.state === RunState.FAILED).toBe(true);
        if (reference.state === RunState.SUCCEEDED) {
          expect(equals(RunSchema, shuffled, reference)).toBe(true);
        } else {
          expect([RunState[shuffled.state], shuffled.failureReason]).toEqual([RunState[reference.state], reference.failureReason]);
        }
      }),
      { numRuns: 200, seed: 20261121 },
    );
  });
});
