// The commands a transition publishes, built from the run record alone: what one attempt of a shard
// or a job is sent, and the run's events. Pure, so pendingCommands can rebuild the dispatch of work
// in flight byte for byte from a stored record.
import { create } from "@bufbuild/protobuf";
import {
  CommandSchema,
  ContextMode,
  ContextParamsSchema,
  EvaluateParamsSchema,
  Alignment,
  JobKind,
  JobSpecSchema,
  JudgeParamsSchema,
  PrepareRequestSchema,
  ResponsesParamsSchema,
  RunEventSchema,
  RunStateChangedSchema,
  ShardState,
  Stage,
  StageStateChangedSchema,
  TrainRequestSchema,
  WorkCommandSchema,
  WorkItemSchema,
} from "@isrdpo/contracts";
import type {
  ArtifactRef,
  Command,
  IterationStatus,
  JobRecord,
  JobSpec,
  RunEvent,
  RunRecord,
  RunState,
  ShardRecord,
  StageState,
  WorkItem,
} from "@isrdpo/contracts";
import { msgIds } from "./ids.ts";

/** The dispatch of one shard attempt (shard.msgId already set): a PrepareRequest or a WorkCommand. */
export function shardCommand(record: RunRecord, shard: ShardRecord): Command {
  const run = record.run!;
  const spec = run.spec!;
  if (shard.stage === Stage.PREPARE) {
    const request = create(PrepareRequestSchema, { runId: run.id, prompts: spec.prompts, shardSize: spec.shardSize, seed: spec.seed });
    return create(CommandSchema, { msgId: shard.msgId, kind: { case: "prepare", value: request } });
  }
  const item = workItem(record, shard);
  // The orchestrator fills in the items from the prompt shard when it publishes; evaluation has none.
  const promptShard = shard.stage === Stage.EVALUATE ? undefined : record.promptShards[shard.shardIndex];
  return create(CommandSchema, { msgId: shard.msgId, kind: { case: "work", value: create(WorkCommandSchema, { item, promptShard }) } });
}

/** The dispatch of one job attempt (job.msgId already set). Every attempt gets the same spec and job id, so the trainer can resume it. */
export function jobCommand(record: RunRecord, job: JobRecord): Command {
  const request = create(TrainRequestSchema, {
    runId: record.run!.id,
    iteration: job.iteration,
    stage: job.stage,
    jobId: job.jobId,
    spec: jobSpec(record, job),
  });
  return create(CommandSchema, { msgId: job.msgId, kind: { case: "train", value: request } });
}

/** A run event to append to the run's event log. */
export function runEventCommand(runId: string, sequence: bigint, iteration: number, stage: Stage, kind: RunEvent["kind"]): Command {
  const runEvent = create(RunEventSchema, { runId, sequence, iteration, stage, kind });
  return create(CommandSchema, { msgId: msgIds.runEvent(runId, sequence), kind: { case: "runEvent", value: runEvent } });
}

export function runStateChanged(state: RunState, reason: string): RunEvent["kind"] {
  return { case: "runStateChanged", value: create(RunStateChangedSchema, { state, reason }) };
}

export function stageStateChanged(state: StageState, reason: string): RunEvent["kind"] {
  return { case: "stageStateChanged", value: create(StageStateChangedSchema, { state, reason }) };
}

function jobSpec(record: RunRecord, job: JobRecord): JobSpec {
  const run = record.run!;
  const spec = run.spec!;
  const source = spec.initialModel!.source;
  if (job.stage === Stage.SFT && source.case === "sft") {
    const sft = source.value;
    return create(JobSpecSchema, {
      kind: JobKind.SFT,
      preset: sft.preset,
      syntheticData: sft.data,
      data: sft.datasets,
      training: sft.training,
      critiqueSkills: sft.critiqueSkills ?? false,
      outputName: `${run.id}/sft`,
    });
  }
  // DPO: iteration 0 is the optional pass on seed preferences, iteration t trains π_{t+1} from π_t.
  // PPO (ALIGNMENT_PPO) trains π_{t+1} from π_t on the judge stage's items, each with its c_t.
  const seed = job.iteration === 0;
  const base = seed ? iterationOf(record, 0).trained : iterationOf(record, job.iteration).policy;
  if (!seed && spec.alignment === Alignment.PPO)
    return create(JobSpecSchema, {
      kind: JobKind.PPO,
      baseModel: base,
      data: stageOutputs(record, job.iteration, Stage.JUDGE),
      training: spec.training,
      ppo: spec.ppo,
      outputName: `${run.id}/iter-${job.iteration + 1}`,
    });
  return create(JobSpecSchema, {
    kind: JobKind.DPO,
    baseModel: base,
    referenceModel: base,
    data: seed ? [spec.initialModel!.seedPreferences!] : stageOutputs(record, job.iteration, Stage.JUDGE),
    training: spec.training,
    dpo: spec.dpo,
    outputName: seed ? `${run.id}/seed-dpo` : `${run.id}/iter-${job.iteration + 1}`,
  });
}

function workItem(record: RunRecord, shard: ShardRecord): WorkItem {
  const run = record.run!;
  const spec = run.spec!;
  const t = shard.iteration;
  const it = iterationOf(record, t);
  const base = { runId: run.id, iteration: t, stage: shard.stage, shardIndex: shard.shardIndex, model: it.policy };
  switch (shard.stage) {
    case Stage.RESPONSES:
      return create(WorkItemSchema, {
        ...base,
        params: {
          case: "responses",
          value: create(ResponsesParamsSchema, { sampling: spec.responseSampling, responsesPerItem: spec.responsesPerItem }),
        },
      });
    case Stage.CONTEXT: {
      const ctx = spec.context!;
      const previous =
        ctx.mode === ContextMode.RETROSPECTIVE && t > 1 ? findShard(record, t - 1, Stage.CONTEXT, shard.shardIndex) : undefined;
      return create(WorkItemSchema, {
        ...base,
        params: {
          case: "context",
          value: create(ContextParamsSchema, {
            mode: ctx.mode,
            clipCount: ctx.clipCount,
            sampling: ctx.sampling,
            previousContexts: previous?.state === ShardState.SUCCEEDED ? previous.output : undefined,
          }),
        },
      });
    }
    case Stage.JUDGE: {
      const j = spec.judge!;
      const ci = contextIteration(record, t);
      return create(WorkItemSchema, {
        ...base,
        params: {
          case: "judge",
          value: create(JudgeParamsSchema, {
            strategy: j.strategy,
            tieMargin: j.tieMargin,
            singleOrder: j.singleOrder,
            likelihoodScore: j.likelihoodScore,
            captionProxy: j.captionProxy,
            critiqueFilter: j.critiqueFilter,
            rewardModel: j.rewardModel,
            ...(j.captionProxy?.maxRequests
              ? { lmRequestShare: requestShare(record, t, shard.shardIndex, j.captionProxy.maxRequests) }
              : {}),
            responses: findShard(record, t, Stage.RESPONSES, shard.shardIndex)!.output,
            contexts: ci === undefined ? undefined : findShard(record, ci, Stage.CONTEXT, shard.shardIndex)!.output,
          }),
        },
      });
    }
    case Stage.EVALUATE:
      return create(WorkItemSchema, {
        ...base,
        model: it.trained,
        params: {
          case: "evaluate",
          value: create(EvaluateParamsSchema, { spec: spec.evaluation, preferences: stageOutputs(record, t, Stage.JUDGE) }),
        },
      });
    default:
      throw new Error(`stage ${Stage[shard.stage]} has no work items`);
  }
}

/**
 * A judge shard's share of the run's LM request budget: the budget split evenly over every judge
 * shard of every iteration (the first ones get the remainder), so the shares never add up to more
 * than the budget and no replica needs to count with the others.
 */
export function requestShare(record: RunRecord, t: number, shardIndex: number, budget: number): number {
  const perIteration = record.promptShards.length;
  const slots = record.run!.spec!.iterations * perIteration;
  const slot = (t - 1) * perIteration + shardIndex;
  return Math.floor(budget / slots) + (slot < budget % slots ? 1 : 0);
}

// Look-ups in the record, shared with the transition.

/** The iteration whose context the judge of iteration t reads, if any. */
export function contextIteration(record: RunRecord, t: number): number | undefined {
  const mode = record.run!.spec!.context!.mode;
  if (mode === ContextMode.NONE) return undefined;
  return mode === ContextMode.FIXED ? 1 : t;
}

export function iterationOf(record: RunRecord, t: number): IterationStatus {
  const it = record.run!.iterations.find((i) => i.iteration === t);
  if (!it) throw new Error(`iteration ${t} has not started`);
  return it;
}

// The shards of one stage of one iteration are created together (startShardStage, or the single
// shard of prepare and evaluate), so each stage is a contiguous block of record.shards in shard
// order. The blocks of a shard list are indexed once and the index follows the list into the next
// transition's copy: a look-up is O(1) instead of a scan of every shard of the run.
type Blocks = Map<string, { start: number; count: number }>;
const shardBlocks = new WeakMap<ShardRecord[], Blocks>();
const blockKey = (t: number, stage: Stage) => `${t}/${stage}`;

function blocksOf(shards: ShardRecord[]): Blocks {
  let blocks = shardBlocks.get(shards);
  if (!blocks) {
    blocks = new Map();
    shards.forEach((s, i) => {
      const key = blockKey(s.iteration, s.stage);
      const b = blocks!.get(key);
      if (!b) blocks!.set(key, { start: i, count: 1 });
      else if (b.start + b.count === i) b.count += 1;
      else throw new Error(`record.shards: the shards of ${key} are not contiguous`);
    });
    shardBlocks.set(shards, blocks);
  }
  return blocks;
}

/** Gives `to`, a copy of `from` about to grow, the block index of `from`. */
export function copyShardIndex(from: ShardRecord[], to: ShardRecord[]): void {
  shardBlocks.set(to, new Map([...blocksOf(from)].map(([k, b]) => [k, { ...b }])));
}

/** Appends a shard to record.shards and to its block (the shards of a stage come in order). */
export function addShardToIndex(record: RunRecord, shard: ShardRecord): void {
  const blocks = blocksOf(record.shards);
  const key = blockKey(shard.iteration, shard.stage);
  const b = blocks.get(key);
  if (b && b.start + b.count !== record.shards.length) throw new Error(`record.shards: ${key} is not the last block`);
  record.shards.push(shard);
  if (b) b.count += 1;
  else blocks.set(key, { start: record.shards.length - 1, count: 1 });
}

/** Where the shard is in record.shards. */
export function shardPosition(record: RunRecord, shard: ShardRecord): number {
  const b = blocksOf(record.shards).get(blockKey(shard.iteration, shard.stage));
  const i = b ? b.start + shard.shardIndex : -1;
  if (record.shards[i] !== shard) throw new Error(`shard ${shard.msgId} is not in the record`);
  return i;
}

export function shardsOf(record: RunRecord, t: number, stage: Stage): ShardRecord[] {
  const b = blocksOf(record.shards).get(blockKey(t, stage));
  return b ? record.shards.slice(b.start, b.start + b.count) : [];
}

export function findShard(record: RunRecord, t: number, stage: Stage, index: number): ShardRecord | undefined {
  const b = blocksOf(record.shards).get(blockKey(t, stage));
  return b && index < b.count ? record.shards[b.start + index] : undefined;
}

export function findJob(record: RunRecord, t: number, stage: Stage): JobRecord | undefined {
  return record.jobs.find((j) => j.iteration === t && j.stage === stage);
}

/** The outputs of a stage's succeeded shards, by shard index. */
export function stageOutputs(record: RunRecord, t: number, stage: Stage): ArtifactRef[] {
  return shardsOf(record, t, stage)
    .filter((s) => s.state === ShardState.SUCCEEDED && s.output)
    .sort((a, b) => a.shardIndex - b.shardIndex)
    .map((s) => s.output!);
}
