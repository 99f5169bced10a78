// Every name the orchestration derives from a run: job ids, artifact URIs, bus message and event
// ids, KV keys. All are pure functions of their inputs, so a retried, replayed or recovered step
// produces the same name and the bus or the store recognises the repeat.
import { ShardState, Stage } from "@isrdpo/contracts";
import type { ShardRecord, WorkItem } from "@isrdpo/contracts";

/** "responses", "judge", …: the stage's name in ids, URIs, queue names and messages. */
export function stageName(stage: Stage): string {
  return Stage[stage].toLowerCase();
}

/**
 * The trainer's id of a run's training job (SFT in iteration 0, DPO in iteration t). A retry keeps it,
 * so the trainer resumes from the job's checkpoints; clients use it to watch the job's progress.
 */
export function jobId(runId: string, iteration: number, stage: Stage): string {
  return `${runId}-i${iteration}-${stageName(stage)}`;
}

/** Where the output of one shard of a stage is stored: artifact://runs/<run>/iter-<t>/<stage>/shard-<nnnn>.pb */
export function shardOutputUri(item: Pick<WorkItem, "runId" | "iteration" | "stage" | "shardIndex">): string {
  return `artifact://runs/${item.runId}/iter-${item.iteration}/${stageName(item.stage)}/shard-${String(item.shardIndex).padStart(4, "0")}.pb`;
}

/** Where a run's prompt shard is stored: artifact://runs/<run>/prompts/shard-<nnnn>.pb */
export function promptShardUri(runId: string, shardIndex: number): string {
  return `artifact://runs/${runId}/prompts/shard-${String(shardIndex).padStart(4, "0")}.pb`;
}

/** Message ids: deterministic, so JetStream de-duplicates a re-publish of the same command. */
export const msgIds = {
  /** One attempt of a shard or job: "<run>.i<t>.<stage>.s<n>.a<attempt>". */
  shard: (runId: string, iteration: number, stage: Stage, shard: number, attempt: number) =>
    `${runId}.i${iteration}.${stageName(stage)}.s${shard}.a${attempt}`,
  runEvent: (runId: string, sequence: bigint) => `${runId}.event.${sequence}`,
};

/** The part of a shard attempt's message id shared by every attempt: "<run>.i<t>.<stage>.s<n>.a". */
export function anyAttemptPrefix(msgId: string): string {
  return msgId.slice(0, msgId.lastIndexOf(".a") + 2);
}

/** Ids of the events the orchestrator makes itself. */
export const eventIds = {
  runRequested: (runId: string) => `${runId}:requested`,
  cancelRequested: (runId: string) => `${runId}:cancel`,
};

/** Ids of a worker's answer to the work sent with message id `msgId`. */
export const workEventIds = {
  done: (msgId: string) => `${msgId}:done`,
  failed: (msgId: string) => `${msgId}:failed`,
};

/** Whether an event answers the work sent with `msgId` (either of workEventIds). */
export function answers(eventId: string, msgId: string): boolean {
  return eventId.startsWith(`${msgId}:`);
}

/** KV key of a run's record and the event log WatchRun reads. */
export const RUN_KEY_PREFIX = "run.";
export const runKey = (runId: string) => RUN_KEY_PREFIX + runId;

/** KV keys of what a run's record keeps outside itself (machine version 2): each shard, the prompt shards. */
export const shardKeyPrefix = (runId: string) => `shard.${runId}.`;
export const shardKey = (runId: string, shard: Pick<ShardRecord, "iteration" | "stage" | "shardIndex">) =>
  `${shardKeyPrefix(runId)}${shard.iteration}.${stageName(shard.stage)}.${shard.shardIndex}`;
export const promptsKey = (runId: string) => `prompts.${runId}`;

/**
 * How far a shard record has come: each attempt is dispatched, then ends. A stored shard is only
 * replaced by a later one, so a late re-publish of an older outbox cannot set it back.
 */
export function shardVersion(shard: Pick<ShardRecord, "attempt" | "state">): number {
  return shard.attempt * 2 + (shard.state === ShardState.DISPATCHED ? 0 : 1);
}

/** Message id of the command that stores one version of a shard record. */
export const shardStoreId = (runId: string, shard: ShardRecord) => `${shardKey(runId, shard)}.v${shardVersion(shard)}`;
export const runEventLog = (runId: string) => `run-events.${runId}`;
