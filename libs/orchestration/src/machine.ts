/**
 * The run state machine: a pure function from (RunRecord, OrchestratorEvent) to the next record and
 * the commands to publish. No I/O, no clock, no randomness: the same inputs give the same outputs,
 * so a replayed or redelivered event can never issue different work.
 *
 * Lifecycle: PENDING → PREPARING (prepare shards; SFT if the spec asks for it; an optional DPO
 * pass on seed preferences) → RUNNING, per iteration t: responses ∥ context (context t reads
 * context t−1) → judge → train → evaluate (overlaps iteration t+1 unless blocking) → SUCCEEDED;
 * FAILED with a reason; CANCELLED. π_1 is evaluated too (iteration 0), alongside iteration 1.
 * docs/design.md §2 has every stage's transitions as a table.
 *
 * A transition is apply(event) (record one answer) then advance() (start whatever became ready);
 * what each shard or job is sent is built in commands.ts, every id and URI in ids.ts.
 */
import { create } from "@bufbuild/protobuf";
import {
  CommandSchema,
  ContextMode,
  DispatchRefSchema,
  EvaluationCompletedSchema,
  ShardProgressSchema,
  ItemFailureSchema,
  IterationStatusSchema,
  JobRecordSchema,
  JobState,
  PromptShardListSchema,
  RunRecordSchema,
  RunSchema,
  RunState,
  ShardRecordSchema,
  ShardState,
  Stage,
  StageState,
  StageStatusSchema,
} from "@isrdpo/contracts";
import type {
  ArtifactRef,
  Command,
  ItemFailure,
  IterationStatus,
  JobRecord,
  OrchestratorEvent,
  Run,
  RunEvent,
  RunRecord,
  RunSpec,
  ShardRecord,
  StageStatus,
} from "@isrdpo/contracts";
import {
  addShardToIndex,
  contextIteration,
  copyShardIndex,
  findJob,
  findShard,
  iterationOf,
  jobCommand,
  runEventCommand,
  runStateChanged,
  shardCommand,
  shardPosition,
  shardsOf,
  stageOutputs,
  stageStateChanged,
} from "./commands.ts";
import { answers, anyAttemptPrefix, eventIds, jobId, msgIds, promptsKey, shardStoreId, stageName } from "./ids.ts";

/**
 * The version of this transition function, recorded in every run it creates (Run.machine_version).
 * Bump it when a change would advance a stored record differently, so a record can be matched with
 * the code that wrote it. 2: applied event ids are no longer listed in the record (exactly-once
 * follows from the state of the work an event answers) and an ignored event leaves the record as it
 * was; a version-1 record still loads, its list is honoured and frozen.
 */
export const MACHINE_VERSION = 2;

/** Stages in execution order: the order of IterationStatus.stages. */
export const STAGE_ORDER = [Stage.PREPARE, Stage.SFT, Stage.RESPONSES, Stage.CONTEXT, Stage.JUDGE, Stage.TRAIN, Stage.EVALUATE];

export interface Transition {
  record: RunRecord;
  /** Commands to publish, in order. Also stored as record.outbox. */
  commands: Command[];
  /** Set when the event changed nothing, with the reason (duplicate, stale, unknown shard…). */
  ignored?: string;
}

/** The record of a run that was just created, before its RunRequested event. */
export function newRunRecord(runId: string, spec: RunSpec, idempotencyKey = ""): RunRecord {
  return create(RunRecordSchema, {
    run: create(RunSchema, { id: runId, spec, state: RunState.PENDING, machineVersion: MACHINE_VERSION }),
    idempotencyKey,
  });
}

export function isTerminal(state: RunState): boolean {
  return state === RunState.SUCCEEDED || state === RunState.FAILED || state === RunState.CANCELLED;
}

export function transition(input: RunRecord, event: OrchestratorEvent): Transition {
  const run = input.run;
  if (!run) throw new Error("record.run: is required");
  if (event.runId !== run.id) throw new Error(`event.run_id: "${event.runId}" is not run "${run.id}"`);
  if (!event.eventId) throw new Error("event.event_id: must not be empty");
  // Records written before MACHINE_VERSION 2 list every applied event id; that list is still
  // honoured, and no longer grows.
  if (input.appliedEventIds.includes(event.eventId)) {
    return { record: input, commands: [], ignored: `duplicate event ${event.eventId}` };
  }
  const m = new Machine(input);
  const ignored = m.apply(event);
  // Exactly-once without a list of applied ids: every change is guarded by the state of the work
  // the event answers (a shard DISPATCHED, a job RUNNING, the run PENDING or not ended), and a
  // failure only counts for the attempt it answers; applying an event moves its work out of that
  // state or attempt, so a repeat is ignored and leaves the record as it was.
  if (ignored !== undefined) return { record: input, commands: [], ignored };
  if (!isTerminal(m.run.state)) m.advance();
  // What the engine stores under the keys of their own first (the shards this transition touched,
  // the prompt shards), then the bus commands. The stored outbox names each dispatch by its work:
  // it is rebuilt from the record, so a stage of thousands of shards does not copy them all.
  const commands = [...m.stores(), ...m.commands];
  m.record.outbox = commands.map(storedForm);
  return { record: m.record, commands };
}

/** The commands of a stored outbox, each dispatch rebuilt from the record: what the transition issued. */
export function outboxCommands(record: RunRecord): Command[] {
  const m = new Machine(record);
  for (const c of record.outbox) {
    if (c.kind.case === "shard" && !c.msgId) {
      m.commands.push(create(CommandSchema, { msgId: shardStoreId(m.run.id, c.kind.value), kind: c.kind }));
      continue;
    }
    if (c.kind.case !== "dispatch") {
      m.commands.push(c);
      continue;
    }
    const { iteration, stage, shardIndex } = c.kind.value;
    if (stage === Stage.SFT || stage === Stage.TRAIN) m.dispatchJob(findJob(m.record, iteration, stage)!);
    else m.dispatchShard(findShard(m.record, iteration, stage, shardIndex)!);
  }
  return m.commands;
}

/**
 * The public Run of a record: the stored one plus each closed shard stage's outputs, which since
 * machine version 2 are derived from the shards instead of copied into the record.
 */
export function runView(record: RunRecord): Run {
  const run = structuredClone(record.run!);
  for (const it of run.iterations) {
    for (const s of it.stages) {
      const closed = s.state === StageState.SUCCEEDED || s.state === StageState.FAILED;
      if (closed && s.stage !== Stage.SFT && s.stage !== Stage.TRAIN) s.outputs = stageOutputs(record, it.iteration, s.stage);
    }
  }
  return run;
}

/**
 * What is stored under the run's key: the record without the shards and the prompt shards, which
 * the outbox gives keys of their own (the engine reassembles the record from them).
 */
export function storedRecord(record: RunRecord): RunRecord {
  return { ...record, shards: [], promptShards: [] };
}

/**
 * A command as the stored outbox keeps it: a dispatch by the shard or job it sends (DispatchRef), a
 * shard store without its message id; both ids are derived again (outboxCommands). A stage start at
 * 100 k prompts stores ≈ 3,000 of each.
 */
function storedForm(cmd: Command): Command {
  const k = cmd.kind;
  if (k.case === "shard") return create(CommandSchema, { kind: k });
  let ref: { iteration: number; stage: Stage; shardIndex: number };
  if (k.case === "prepare") ref = { iteration: 0, stage: Stage.PREPARE, shardIndex: 0 };
  else if (k.case === "train") ref = { iteration: k.value.iteration, stage: k.value.stage, shardIndex: 0 };
  else if (k.case === "work")
    ref = { iteration: k.value.item!.iteration, stage: k.value.item!.stage, shardIndex: k.value.item!.shardIndex };
  else return cmd;
  return create(CommandSchema, { kind: { case: "dispatch", value: create(DispatchRefSchema, ref) } });
}

/**
 * The dispatch commands of all work in flight (DISPATCHED shards, RUNNING jobs), derived from the
 * record alone: byte-identical to the commands that first issued them. A restarted orchestrator
 * publishes them again; the bus drops what it has already seen.
 */
export function pendingCommands(record: RunRecord): Command[] {
  if (!record.run || isTerminal(record.run.state)) return [];
  const m = new Machine(record);
  for (const shard of m.record.shards) if (shard.state === ShardState.DISPATCHED) m.dispatchShard(shard);
  for (const job of m.record.jobs) if (job.state === JobState.RUNNING) m.dispatchJob(job);
  return m.commands;
}

/**
 * One transition's working copy, copy-on-write: the run and the jobs are copied (small), the shard
 * list is copied by reference and a shard is copied the first time it changes (own), so the input
 * record is never mutated and an event costs about the same whatever the run's size.
 */
class Machine {
  readonly commands: Command[] = [];
  readonly record: RunRecord;
  /** Shards this transition created or changed: stored under their keys. */
  private readonly owned = new Set<ShardRecord>();
  private promptStore: Command | undefined;

  constructor(input: RunRecord) {
    this.record = {
      ...input,
      run: structuredClone(input.run),
      jobs: structuredClone(input.jobs),
      shards: input.shards.slice(),
      outbox: [],
    };
    copyShardIndex(input.shards, this.record.shards);
  }

  /** The store commands of this transition: the prompt shards, then every shard it touched. */
  stores(): Command[] {
    const shards = [...this.owned].map((shard) =>
      create(CommandSchema, { msgId: shardStoreId(this.run.id, shard), kind: { case: "shard", value: shard } }),
    );
    return this.promptStore ? [this.promptStore, ...shards] : shards;
  }

  /** The shard, made writable: copied into this record the first time. */
  private own(shard: ShardRecord): ShardRecord {
    if (this.owned.has(shard)) return shard;
    const copy = structuredClone(shard);
    this.record.shards[shardPosition(this.record, shard)] = copy;
    this.owned.add(copy);
    return copy;
  }

  get run() {
    return this.record.run!;
  }
  get spec(): RunSpec {
    return this.run.spec!;
  }

  /** Applies one event; returns a reason when the event is not applicable. */
  apply(event: OrchestratorEvent): string | undefined {
    const kind = event.kind;
    switch (kind.case) {
      case "runRequested":
        if (this.run.state !== RunState.PENDING)
          return repeatOr(event.eventId === eventIds.runRequested(this.run.id), "run already started");
        this.start();
        return undefined;
      case "cancelRequested":
        if (isTerminal(this.run.state)) {
          const repeat = this.run.state === RunState.CANCELLED && event.eventId === eventIds.cancelRequested(this.run.id);
          return repeatOr(repeat, `run already ${RunState[this.run.state]}`);
        }
        this.finish(RunState.CANCELLED, kind.value.reason || "cancelled", StageState.CANCELLED);
        return undefined;
    }
    if (isTerminal(this.run.state)) return `run already ${RunState[this.run.state]}`;
    switch (kind.case) {
      case "prepareFinished": {
        const shard = findShard(this.record, 0, Stage.PREPARE, 0);
        if (!shard || shard.state !== ShardState.DISPATCHED) return repeatOr(answered(event, shard), "prepare is not running");
        const v = kind.value;
        const expected = Math.ceil(v.itemsTotal / this.spec.shardSize);
        const bad = v.itemsTotal === 0 || v.promptShards.length !== expected;
        // A failure counts once per attempt: a late report of an earlier attempt is stale.
        if (bad && !answers(event.eventId, shard.msgId)) return "stale report of an earlier attempt";
        if (v.itemsTotal === 0) return this.shardAttemptFailed(shard, "the prompt set is empty");
        if (v.promptShards.length !== expected) {
          return this.shardAttemptFailed(
            shard,
            `prepare returned ${v.promptShards.length} shards for ${v.itemsTotal} items of shard size ${this.spec.shardSize} (expected ${expected})`,
          );
        }
        this.record.promptShards = v.promptShards;
        this.record.itemsTotal = v.itemsTotal;
        this.promptStore = create(CommandSchema, {
          msgId: promptsKey(this.run.id),
          kind: { case: "promptShards", value: create(PromptShardListSchema, { shards: v.promptShards }) },
        });
        const prepare = this.own(shard);
        prepare.itemsTotal = v.itemsTotal;
        this.stage(iterationOf(this.record, 0), Stage.PREPARE).itemsTotal = v.itemsTotal;
        this.shardSucceeded(prepare, v.itemsTotal, [], undefined);
        return undefined;
      }
      case "shardCompleted": {
        const v = kind.value;
        const shard = findShard(this.record, v.iteration, v.stage, v.shardIndex);
        if (!shard) return `unknown shard ${v.iteration}/${Stage[v.stage]}/${v.shardIndex}`;
        if (shard.state !== ShardState.DISPATCHED) return repeatOr(answered(event, shard), `shard already ${ShardState[shard.state]}`);
        if (!event.eventId.startsWith(anyAttemptPrefix(shard.msgId))) return `event ${event.eventId} is not of this shard`;
        if (v.itemsOk + v.failures.length !== shard.itemsTotal) {
          if (!answers(event.eventId, shard.msgId)) return "stale report of an earlier attempt";
          return this.shardAttemptFailed(
            shard,
            `worker reported ${v.itemsOk} ok + ${v.failures.length} failed items for a shard of ${shard.itemsTotal}`,
          );
        }
        this.shardSucceeded(shard, v.itemsOk, v.failures, v.output);
        return undefined;
      }
      case "evaluationFinished": {
        const v = kind.value;
        const shard = findShard(this.record, v.iteration, Stage.EVALUATE, 0);
        if (!shard || shard.state !== ShardState.DISPATCHED) {
          return repeatOr(answered(event, shard), `evaluation of iteration ${v.iteration} is not running`);
        }
        const it = iterationOf(this.record, v.iteration);
        if (v.report) it.evaluation = v.report;
        if (v.preferences) it.preferences = v.preferences;
        this.shardSucceeded(shard, 1, [], v.reportArtifact);
        this.emit(v.iteration, Stage.EVALUATE, {
          case: "evaluationCompleted",
          value: create(EvaluationCompletedSchema, { report: v.report, reportArtifact: v.reportArtifact }),
        });
        return undefined;
      }
      case "shardFailed": {
        const v = kind.value;
        if (v.stage === Stage.SFT || v.stage === Stage.TRAIN) {
          const job = findJob(this.record, v.iteration, v.stage);
          if (!job || job.state !== JobState.RUNNING || !answers(event.eventId, job.msgId)) {
            return repeatOr(answered(event, job), "job is not running this attempt");
          }
          this.jobAttemptFailed(job, v.reason);
          return undefined;
        }
        const shard = findShard(this.record, v.iteration, v.stage, v.shardIndex);
        if (!shard) return `unknown shard ${v.iteration}/${Stage[v.stage]}/${v.shardIndex}`;
        // Only a failure of the current attempt counts; a late report of an older attempt is stale.
        if (shard.state !== ShardState.DISPATCHED || !answers(event.eventId, shard.msgId)) {
          return repeatOr(answered(event, shard), "stale failure report");
        }
        return this.shardAttemptFailed(shard, `${v.reason} (after ${v.deliveries} deliveries)`);
      }
      case "jobFinished": {
        const v = kind.value;
        const job = findJob(this.record, v.iteration, v.stage);
        if (!job || job.state !== JobState.RUNNING) return repeatOr(answered(event, job), "job is not running");
        if (v.job?.id !== job.jobId) return `job id "${v.job?.id}" is not "${job.jobId}"`;
        if (v.job.state === JobState.SUCCEEDED && v.job.outputModel) {
          job.state = JobState.SUCCEEDED;
          job.outputModel = v.job.outputModel;
          return undefined;
        }
        // A failure counts once per attempt: a late report of an earlier attempt is stale.
        if (!answers(event.eventId, job.msgId)) return "stale report of an earlier attempt";
        const reason =
          v.job.state === JobState.SUCCEEDED
            ? "job succeeded without an output model"
            : v.job.failureReason || `job ended ${JobState[v.job.state]}`;
        return this.jobAttemptFailed(job, reason);
      }
      case undefined:
        return "event has no kind";
    }
    return undefined;
  }

  /** Starts whatever became ready. Safe to call at any time: every step is guarded. */
  advance(): void {
    const spec = this.spec;
    const it0 = iterationOf(this.record, 0);
    // Iteration 0: prepare, SFT and the seed-preference DPO pass.
    const prepare = this.stage(it0, Stage.PREPARE);
    if (prepare.state === StageState.RUNNING && this.allShardsDone(0, Stage.PREPARE)) {
      if (!this.finishShardStage(0, Stage.PREPARE)) return;
    }
    if (this.jobEnded(0, Stage.SFT) && !this.finishJobStage(0, Stage.SFT)) return;
    if (spec.initialModel?.seedPreferences && this.initialSftDone()) {
      if (!this.stage(it0, Stage.TRAIN, false)) this.startJob(0, Stage.TRAIN);
      else if (this.jobEnded(0, Stage.TRAIN) && !this.finishJobStage(0, Stage.TRAIN)) return;
    }
    if (!this.preparationDone()) return;
    if (this.run.state === RunState.PREPARING) {
      this.run.state = RunState.RUNNING;
      this.emit(0, Stage.UNSPECIFIED, runStateChanged(RunState.RUNNING, ""));
    }
    // π_1 is evaluated like every later model, so iteration 0 is the baseline of the run's curves.
    const evaluate0 = this.stage(it0, Stage.EVALUATE, false);
    if (!evaluate0 && !spec.evaluation!.disabled) this.startEvaluation(0);
    else if (evaluate0?.state === StageState.RUNNING && this.allShardsDone(0, Stage.EVALUATE)) {
      if (!this.finishShardStage(0, Stage.EVALUATE)) return;
    }
    if (this.run.iterations.length === 1) this.startIteration(1);

    for (let t = 1; t <= this.run.currentIteration; t++) {
      const it = iterationOf(this.record, t);
      const responses = this.stage(it, Stage.RESPONSES);
      const context = this.stage(it, Stage.CONTEXT, false);
      if (responses.state === StageState.RUNNING || context?.state === StageState.RUNNING) {
        // Barrier: both generation stages finish before the policy check, in a fixed order, so the
        // outcome does not depend on which stage's last shard arrived first.
        if (!this.allShardsDone(t, Stage.RESPONSES) || (context && !this.allShardsDone(t, Stage.CONTEXT))) continue;
        if (!this.finishShardStage(t, Stage.RESPONSES)) return;
        if (context && !this.finishShardStage(t, Stage.CONTEXT)) return;
        this.startJudge(t);
      }
      const judge = this.stage(it, Stage.JUDGE);
      if (judge.state === StageState.RUNNING) {
        if (!this.allShardsDone(t, Stage.JUDGE)) continue;
        if (!this.finishShardStage(t, Stage.JUDGE)) return;
        this.startJob(t, Stage.TRAIN);
      }
      const train = this.stage(it, Stage.TRAIN);
      if (this.jobEnded(t, Stage.TRAIN)) {
        if (!this.finishJobStage(t, Stage.TRAIN)) return;
        it.trained = findJob(this.record, t, Stage.TRAIN)!.outputModel;
        if (!spec.evaluation!.disabled) this.startEvaluation(t);
      }
      const evaluate = this.stage(it, Stage.EVALUATE, false);
      if (evaluate?.state === StageState.RUNNING && this.allShardsDone(t, Stage.EVALUATE)) {
        if (!this.finishShardStage(t, Stage.EVALUATE)) return;
      }
      const evaluated = !evaluate || evaluate.state === StageState.SUCCEEDED;
      const canContinue = train.state === StageState.SUCCEEDED && (evaluated || !spec.evaluation!.blocking);
      if (t === this.run.currentIteration && t < spec.iterations && canContinue) this.startIteration(t + 1);
    }
    const last = this.run.iterations.find((i) => i.iteration === spec.iterations);
    const allEvaluated = this.run.iterations.every((i) => {
      const e = i.stages.find((s) => s.stage === Stage.EVALUATE);
      return !e || e.state === StageState.SUCCEEDED;
    });
    if (last && this.stage(last, Stage.TRAIN, false)?.state === StageState.SUCCEEDED && allEvaluated) {
      this.finish(RunState.SUCCEEDED, "", StageState.SUCCEEDED);
    }
  }

  private start(): void {
    const spec = this.spec;
    this.run.state = RunState.PREPARING;
    this.run.currentIteration = 0;
    this.run.iterations.push(create(IterationStatusSchema, { iteration: 0 }));
    this.emit(0, Stage.UNSPECIFIED, runStateChanged(RunState.PREPARING, ""));
    const shard = this.addShard(0, Stage.PREPARE, 0, 0);
    this.startStage(0, Stage.PREPARE, 1, 0);
    this.dispatchShard(shard);
    const initial = spec.initialModel!.source;
    if (initial.case === "model") iterationOf(this.record, 0).trained = initial.value;
    if (initial.case === "sft") this.startJob(0, Stage.SFT);
  }

  private startIteration(t: number): void {
    // π_t is what iteration t−1 trained; for π_1 that is iteration 0's: the given model, or the
    // output of SFT and the seed-preference pass.
    const policy = iterationOf(this.record, t - 1).trained;
    this.run.currentIteration = t;
    this.run.iterations.push(create(IterationStatusSchema, { iteration: t, policy }));
    this.startShardStage(t, Stage.RESPONSES, () => true);
    if (this.hasContextStage(t)) this.startShardStage(t, Stage.CONTEXT, () => true);
  }

  private startJudge(t: number): void {
    const ci = contextIteration(this.record, t);
    this.startShardStage(t, Stage.JUDGE, (i) => {
      const r = findShard(this.record, t, Stage.RESPONSES, i);
      const c = ci === undefined ? undefined : findShard(this.record, ci, Stage.CONTEXT, i);
      return r?.state === ShardState.SUCCEEDED && (ci === undefined || c?.state === ShardState.SUCCEEDED);
    });
  }

  private startEvaluation(t: number): void {
    const shard = this.addShard(t, Stage.EVALUATE, 0, 1);
    this.startStage(t, Stage.EVALUATE, 1, 1);
    this.dispatchShard(shard);
  }

  /** Creates one shard per prompt shard; those whose inputs failed are SKIPPED. */
  private startShardStage(t: number, stage: Stage, runnable: (shard: number) => boolean): void {
    const shards: ShardRecord[] = [];
    let items = 0;
    for (let i = 0; i < this.record.promptShards.length; i++) {
      const shard = this.addShard(t, stage, i, this.itemsInShard(i));
      if (runnable(i)) {
        shards.push(shard);
        items += shard.itemsTotal;
      } else {
        shard.state = ShardState.SKIPPED;
        shard.failureReason = "an input shard of an earlier stage failed";
      }
    }
    this.startStage(t, stage, shards.length, items);
    for (const s of shards) this.dispatchShard(s);
  }

  private startStage(t: number, stage: Stage, shardsTotal: number, itemsTotal: number): StageStatus {
    const status = create(StageStatusSchema, { stage, state: StageState.RUNNING, shardsTotal, itemsTotal });
    const it = iterationOf(this.record, t);
    it.stages.push(status);
    it.stages.sort((a, b) => STAGE_ORDER.indexOf(a.stage) - STAGE_ORDER.indexOf(b.stage));
    this.emit(t, stage, stageStateChanged(StageState.RUNNING, ""));
    return status;
  }

  private startJob(t: number, stage: Stage): void {
    const job = create(JobRecordSchema, {
      iteration: t,
      stage,
      jobId: jobId(this.run.id, t, stage),
      state: JobState.RUNNING,
      attempt: 1,
    });
    this.record.jobs.push(job);
    this.startStage(t, stage, 1, 1);
    this.dispatchJob(job);
  }

  dispatchJob(job: JobRecord): void {
    job.msgId = msgIds.shard(this.run.id, job.iteration, job.stage, 0, job.attempt);
    this.commands.push(jobCommand(this.record, job));
  }

  dispatchShard(work: ShardRecord): void {
    const shard = this.own(work);
    shard.msgId = msgIds.shard(this.run.id, shard.iteration, shard.stage, shard.shardIndex, shard.attempt);
    this.commands.push(shardCommand(this.record, shard));
  }

  private shardSucceeded(work: ShardRecord, itemsOk: number, failures: ItemFailure[], output: ArtifactRef | undefined): void {
    const shard = this.own(work);
    shard.state = ShardState.SUCCEEDED;
    shard.itemsOk = itemsOk;
    shard.failures = [...failures].sort(byItemId);
    shard.output = output;
    this.countShard(shard);
  }

  /** Retries the shard, or records it FAILED with all its items failed once attempts run out. */
  private shardAttemptFailed(work: ShardRecord, reason: string): undefined {
    const shard = this.own(work);
    if (this.retried(shard, reason, () => this.dispatchShard(shard))) return;
    shard.state = ShardState.FAILED;
    shard.failures = [
      create(ItemFailureSchema, {
        itemId: `shard-${shard.shardIndex}`,
        reason: `all ${shard.itemsTotal} items of the shard: ${shard.failureReason}`,
      }),
    ];
    this.countShard(shard);
  }

  private jobAttemptFailed(job: JobRecord, reason: string): undefined {
    if (!this.retried(job, reason, () => this.dispatchJob(job))) job.state = JobState.FAILED;
  }

  /**
   * The retry policy of shards and jobs alike: issues the next attempt (true) or, once
   * failure_policy.max_shard_attempts are used up, records the final reason (false).
   */
  private retried(work: ShardRecord | JobRecord, reason: string, dispatch: () => void): boolean {
    if (work.attempt < this.spec.failurePolicy!.maxShardAttempts) {
      work.attempt += 1;
      work.failureReason = reason;
      dispatch();
      return true;
    }
    work.failureReason = `failed ${work.attempt} attempts, last: ${reason}`;
    return false;
  }

  private countShard(shard: ShardRecord): void {
    const status = this.stage(iterationOf(this.record, shard.iteration), shard.stage);
    const failed = shard.state === ShardState.FAILED ? shard.itemsTotal : shard.failures.length;
    status.shardsDone += 1;
    status.itemsDone += shard.itemsOk;
    status.itemsFailed += failed;
    status.failures = [...status.failures, ...shard.failures].sort(byItemId);
    this.emit(shard.iteration, shard.stage, {
      case: "shardProgress",
      value: create(ShardProgressSchema, {
        shardIndex: shard.shardIndex,
        shardsDone: status.shardsDone,
        shardsTotal: status.shardsTotal,
        itemsDone: status.itemsDone,
        itemsTotal: status.itemsTotal,
        itemsFailed: status.itemsFailed,
      }),
    });
  }

  /** Closes a shard stage whose shards are all done; false when the run failed by policy. */
  private finishShardStage(t: number, stage: Stage): boolean {
    const status = this.stage(iterationOf(this.record, t), stage);
    const allowed = this.spec.failurePolicy!.maxFailedItemFraction * status.itemsTotal;
    // Prepare and evaluate are one unit of work: nothing to tolerate.
    const singleUnit = stage === Stage.PREPARE || stage === Stage.EVALUATE;
    const failedShard = shardsOf(this.record, t, stage).find((s) => s.state === ShardState.FAILED);
    if ((singleUnit && failedShard) || status.itemsFailed > allowed) {
      const reason = singleUnit
        ? `${stageName(stage)} of iteration ${t} ${failedShard!.failureReason}`
        : `${stageName(stage)} of iteration ${t}: ${status.itemsFailed} of ${status.itemsTotal} items failed, policy allows ${allowed}`;
      status.state = StageState.FAILED;
      this.emit(t, stage, stageStateChanged(StageState.FAILED, reason));
      this.finish(RunState.FAILED, reason, StageState.CANCELLED);
      return false;
    }
    status.state = StageState.SUCCEEDED;
    this.emit(t, stage, stageStateChanged(StageState.SUCCEEDED, ""));
    return true;
  }

  private jobEnded(t: number, stage: Stage): boolean {
    const job = findJob(this.record, t, stage);
    const status = this.stage(iterationOf(this.record, t), stage, false);
    return status?.state === StageState.RUNNING && job !== undefined && job.state !== JobState.RUNNING;
  }

  /** Closes a job stage whose job ended; false when the run failed. */
  private finishJobStage(t: number, stage: Stage): boolean {
    const job = findJob(this.record, t, stage)!;
    const status = this.stage(iterationOf(this.record, t), stage);
    if (job.state !== JobState.SUCCEEDED) {
      const reason = `${stageName(stage)} of iteration ${t} ${job.failureReason}`;
      status.state = StageState.FAILED;
      status.itemsFailed = 1;
      this.emit(t, stage, stageStateChanged(StageState.FAILED, reason));
      this.finish(RunState.FAILED, reason, StageState.CANCELLED);
      return false;
    }
    status.state = StageState.SUCCEEDED;
    status.shardsDone = 1;
    status.itemsDone = 1;
    if (t === 0) iterationOf(this.record, 0).trained = job.outputModel;
    this.emit(t, stage, stageStateChanged(StageState.SUCCEEDED, ""));
    return true;
  }

  private finish(state: RunState, reason: string, runningStagesBecome: StageState): void {
    for (const it of this.run.iterations) {
      for (const s of it.stages) {
        if (s.state !== StageState.RUNNING) continue;
        s.state = runningStagesBecome;
        this.emit(it.iteration, s.stage, stageStateChanged(runningStagesBecome, reason));
      }
    }
    this.run.state = state;
    this.run.failureReason = state === RunState.SUCCEEDED ? "" : reason;
    this.emit(this.run.currentIteration, Stage.UNSPECIFIED, runStateChanged(state, reason));
  }

  private emit(iteration: number, stage: Stage, kind: RunEvent["kind"]): void {
    this.run.lastEventSequence += 1n;
    this.commands.push(runEventCommand(this.run.id, this.run.lastEventSequence, iteration, stage, kind));
  }

  private hasContextStage(t: number): boolean {
    const mode = this.spec.context!.mode;
    return mode !== ContextMode.NONE && !(mode === ContextMode.FIXED && t > 1);
  }

  private initialSftDone(): boolean {
    const sft = this.stage(iterationOf(this.record, 0), Stage.SFT, false);
    return !sft || sft.state === StageState.SUCCEEDED;
  }

  private preparationDone(): boolean {
    const it0 = iterationOf(this.record, 0);
    const done = (stage: Stage) => this.stage(it0, stage, false)?.state === StageState.SUCCEEDED;
    if (!done(Stage.PREPARE) || !this.initialSftDone()) return false;
    return !this.spec.initialModel?.seedPreferences || done(Stage.TRAIN);
  }

  private itemsInShard(i: number): number {
    const size = this.spec.shardSize;
    return Math.max(0, Math.min(size, this.record.itemsTotal - i * size));
  }

  private addShard(t: number, stage: Stage, index: number, itemsTotal: number): ShardRecord {
    const shard = create(ShardRecordSchema, {
      iteration: t,
      stage,
      shardIndex: index,
      state: ShardState.DISPATCHED,
      attempt: 1,
      itemsTotal,
    });
    addShardToIndex(this.record, shard);
    this.owned.add(shard);
    return shard;
  }

  private allShardsDone(t: number, stage: Stage): boolean {
    return shardsOf(this.record, t, stage).every((s) => s.state !== ShardState.DISPATCHED);
  }

  private stage(it: IterationStatus, stage: Stage): StageStatus;
  private stage(it: IterationStatus, stage: Stage, required: false): StageStatus | undefined;
  private stage(it: IterationStatus, stage: Stage, required = true): StageStatus | undefined {
    const s = it.stages.find((x) => x.stage === stage);
    if (!s && required) throw new Error(`stage ${Stage[stage]} of iteration ${it.iteration} has not started`);
    return s;
  }
}

/** Whether the event answers the latest attempt of work that is no longer waiting for an answer. */
function answered(event: OrchestratorEvent, work: ShardRecord | JobRecord | undefined): boolean {
  if (!work) return false;
  const waiting = work.$typeName === "isrdpo.v1.JobRecord" ? work.state === JobState.RUNNING : work.state === ShardState.DISPATCHED;
  return !waiting && answers(event.eventId, work.msgId);
}

/** The reason an event is ignored; a repeat of an applied answer says so (the engine logs the others). */
function repeatOr(repeat: boolean, reason: string): string {
  return repeat ? `duplicate: ${reason}` : reason;
}

function byItemId(a: ItemFailure, b: ItemFailure): number {
  return a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0;
}
