// A deterministic simulated cluster for state-machine tests: it answers each command with the event
// a worker would publish. Whether an attempt fails, and which items fail, is a hash of the seed and
// the message id, so every schedule of the same world sees the same outcomes.
import { create, toBinary } from "@bufbuild/protobuf";
import {
  ArtifactRefSchema,
  CommandSchema,
  EvaluationReportSchema,
  ItemFailureSchema,
  JobSchema,
  JobState,
  ModelRefSchema,
  OrchestratorEventSchema,
  ShardRecordSchema,
  Stage,
} from "@isrdpo/contracts";
import type { Command, OrchestratorEvent, RunRecord, RunSpec } from "@isrdpo/contracts";
import {
  eventIds,
  newRunRecord,
  normalizeRunSpec,
  outboxCommands,
  pendingCommands,
  shardKey,
  transition,
  workEventIds,
} from "../src/index.ts";

export interface WorldOptions {
  seed: number;
  items: number;
  /** Percent of attempts that fail (0–100). */
  attemptFailurePct: number;
  /** Percent of shards that report one failed item. */
  itemFailurePct: number;
}

export function hash(...parts: (string | number)[]): number {
  let h = 2166136261;
  for (const ch of parts.join("|")) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

const ref = (uri: string) => create(ArtifactRefSchema, { uri, sha256: hash(uri).toString(16).padStart(64, "0"), sizeBytes: 1n });

/** The event a deterministic worker publishes for a work command (undefined for run events). */
export function answer(cmd: Command, spec: RunSpec, o: WorldOptions): OrchestratorEvent | undefined {
  const kind = cmd.kind;
  if (kind.case !== "prepare" && kind.case !== "train" && kind.case !== "work") return undefined;
  const runId = kind.case === "work" ? kind.value.item!.runId : kind.value.runId;
  const failed = hash(o.seed, cmd.msgId) % 100 < o.attemptFailurePct;
  const ev = (k: OrchestratorEvent["kind"], id: string) => create(OrchestratorEventSchema, { runId, eventId: id, kind: k });
  const failure = (iteration: number, stage: Stage, shardIndex: number) =>
    ev(
      { case: "shardFailed", value: { $typeName: "isrdpo.v1.ShardFailed", iteration, stage, shardIndex, deliveries: 1, reason: "boom" } },
      workEventIds.failed(cmd.msgId),
    );
  switch (kind.case) {
    case "prepare": {
      if (failed) return failure(0, Stage.PREPARE, 0);
      const n = Math.ceil(o.items / spec.shardSize);
      const shards = Array.from({ length: n }, (_, i) => ref(`artifact://runs/${runId}/prompts/${i}`));
      return ev(
        { case: "prepareFinished", value: { $typeName: "isrdpo.v1.PrepareFinished", promptShards: shards, itemsTotal: o.items } },
        workEventIds.done(cmd.msgId),
      );
    }
    case "train": {
      const r = kind.value;
      const job = create(JobSchema, {
        id: r.jobId,
        state: failed ? JobState.FAILED : JobState.SUCCEEDED,
        failureReason: failed ? "diverged" : "",
        outputModel: failed
          ? undefined
          : create(ModelRefSchema, { name: r.spec!.outputName, digest: hash(r.spec!.outputName).toString(16) }),
      });
      return ev(
        { case: "jobFinished", value: { $typeName: "isrdpo.v1.JobFinished", iteration: r.iteration, stage: r.stage, job } },
        workEventIds.done(cmd.msgId),
      );
    }
    case "work": {
      const item = kind.value.item!;
      if (failed) return failure(item.iteration, item.stage, item.shardIndex);
      if (item.stage === Stage.EVALUATE) {
        return ev(
          {
            case: "evaluationFinished",
            value: {
              $typeName: "isrdpo.v1.EvaluationFinished",
              iteration: item.iteration,
              report: create(EvaluationReportSchema, { model: item.model }),
            },
          },
          workEventIds.done(cmd.msgId),
        );
      }
      const size = Math.min(spec.shardSize, o.items - item.shardIndex * spec.shardSize);
      const bad = hash(o.seed, "items", item.iteration, item.stage, item.shardIndex) % 100 < o.itemFailurePct ? 1 : 0;
      const failures = Array.from({ length: bad }, () =>
        create(ItemFailureSchema, { itemId: `item-${item.shardIndex * spec.shardSize}`, reason: "unparseable" }),
      );
      return ev(
        {
          case: "shardCompleted",
          value: {
            $typeName: "isrdpo.v1.ShardCompleted",
            iteration: item.iteration,
            stage: item.stage,
            shardIndex: item.shardIndex,
            output: ref(`artifact://runs/${runId}/iter-${item.iteration}/${item.stage}/${item.shardIndex}`),
            itemsOk: size - bad,
            failures,
          },
        },
        workEventIds.done(cmd.msgId),
      );
    }
  }
}

/** Freezes what is not frozen yet (what the last transition created); frozen parts are shared. */
function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
  return value;
}

export interface Step {
  /** 0 = run a command, 1 = deliver an event, 2 = re-deliver an applied event, then deliver one. */
  pool: number;
  pick: number;
}

export interface Outcome {
  record: RunRecord;
  /** Every command issued, by message id, as bytes: a repeat with other content throws. */
  issued: Map<string, Uint8Array>;
  steps: number;
}

/** Runs a world to quiescence under a schedule (cycled); FIFO order when `schedule` is empty. */
export function runWorld(specInput: RunSpec, o: WorldOptions, schedule: Step[], extraEvents: OrchestratorEvent[] = []): Outcome {
  const spec = normalizeRunSpec(specInput);
  let record = newRunRecord("r1", spec);
  const issued = new Map<string, Uint8Array>();
  const commands: Command[] = [];
  const events: OrchestratorEvent[] = [
    create(OrchestratorEventSchema, {
      runId: "r1",
      eventId: eventIds.runRequested("r1"),
      kind: { case: "runRequested", value: { $typeName: "isrdpo.v1.RunRequested", spec } },
    }),
    ...extraEvents,
  ];
  const delivered: OrchestratorEvent[] = [];
  let steps = 0;
  const check = (c: Command) => {
    const bytes = toBinary(CommandSchema, c);
    const prev = issued.get(c.msgId);
    if (prev && Buffer.compare(Buffer.from(prev), Buffer.from(bytes)) !== 0)
      throw new Error(`command ${c.msgId} issued twice with different content`);
    return bytes;
  };
  // What the engine would hold under the shards' own keys: the latest store of each.
  const stored = new Map<string, Uint8Array>();
  const apply = (e: OrchestratorEvent) => {
    // A transition that wrote to its input would throw here: records are shared copy-on-write.
    const t = transition(deepFreeze(record), e);
    record = t.record;
    // The stored outbox, its dispatches rebuilt from the record, is exactly what was issued (an
    // ignored event leaves the record, and the outbox of the transition before, as they were).
    const rebuilt = t.ignored ? [] : outboxCommands(record).map((c) => toBinary(CommandSchema, c));
    const sent = t.commands.map((c) => toBinary(CommandSchema, c));
    if (rebuilt.length !== sent.length || rebuilt.some((b, i) => Buffer.compare(Buffer.from(b), Buffer.from(sent[i]!)) !== 0)) {
      throw new Error(`the stored outbox of ${e.eventId} does not rebuild the commands issued`);
    }
    for (const c of t.commands) {
      issued.set(c.msgId, check(c));
      if (c.kind.case === "shard") stored.set(shardKey("r1", c.kind.value), toBinary(ShardRecordSchema, c.kind.value));
      else commands.push(c);
    }
    // Every shard of the record is stored under its key as it is now.
    for (const sh of t.commands.flatMap((c) => (c.kind.case === "shard" ? [c.kind.value] : []))) {
      const now = record.shards.find((x) => x.iteration === sh.iteration && x.stage === sh.stage && x.shardIndex === sh.shardIndex);
      if (!now || Buffer.compare(Buffer.from(toBinary(ShardRecordSchema, now)), Buffer.from(stored.get(shardKey("r1", sh))!)) !== 0) {
        throw new Error(`shard ${shardKey("r1", sh)} is stored unlike the record`);
      }
    }
    // What a restarted orchestrator would re-derive must be exactly what was issued.
    for (const c of pendingCommands(record)) {
      if (!issued.has(c.msgId)) throw new Error(`re-derived command ${c.msgId} was never issued`);
      check(c);
    }
  };
  while (commands.length > 0 || events.length > 0) {
    if (++steps > 100_000) throw new Error("world did not quiesce");
    const step = schedule.length > 0 ? schedule[steps % schedule.length]! : { pool: events.length > 0 ? 1 : 0, pick: 0 };
    // A redelivery of an applied event, followed by a normal step so the world always progresses.
    if (step.pool === 2 && delivered.length > 0) apply(delivered[step.pick % delivered.length]!);
    if ((step.pool === 0 && commands.length > 0) || events.length === 0) {
      const [cmd] = commands.splice(step.pick % commands.length, 1);
      const e = answer(cmd!, spec, o);
      if (e) events.push(e);
      // A redelivered work item makes the worker publish the same event again.
      if (e && step.pick % 7 === 3) events.push(e);
    } else {
      const [e] = events.splice(step.pick % events.length, 1);
      apply(e!);
      delivered.push(e!);
    }
  }
  if (stored.size !== record.shards.length) throw new Error(`${stored.size} shards stored, the record has ${record.shards.length}`);
  return { record, issued, steps };
}
