// The work queues of the pipeline and the one payload type each carries. A handler of queue Q is
// given a QueuePayloads[Q]: the decoder checks it once, so handlers need no guards of their own.
import { fromBinary } from "@bufbuild/protobuf";
import { PrepareRequestSchema, TrainRequestSchema, WorkItemSchema } from "@isrdpo/contracts";
import type { OrchestratorEvent, PrepareRequest, TrainRequest, WorkItem } from "@isrdpo/contracts";

/** A work item whose params are those of stage C. */
export type StageItem<C extends NonNullable<WorkItem["params"]["case"]>> = WorkItem & {
  params: Extract<WorkItem["params"], { case: C }>;
};

/** What each work queue carries (QUEUES documents what each is answered with). */
export interface QueuePayloads {
  prepare: PrepareRequest;
  responses: StageItem<"responses">;
  context: StageItem<"context">;
  judge: StageItem<"judge">;
  train: TrainRequest;
  evaluate: StageItem<"evaluate">;
}

export type WorkQueue = keyof QueuePayloads;

/** What a handler receives: the decoded payload of its queue and the delivery it came from. */
export type Task<Q extends WorkQueue = WorkQueue> = {
  [K in Q]: { queue: K; payload: QueuePayloads[K]; msgId: string; deliveries: number; signal: AbortSignal };
}[Q];

/** Answers a task with the event kind to publish (ShardCompleted, PrepareFinished, …). Throw to fail it. */
export type WorkHandler<Q extends WorkQueue = WorkQueue> = (task: Task<Q>) => Promise<OrchestratorEvent["kind"]>;

/** A handler per queue. */
export type WorkHandlers = { [Q in WorkQueue]: WorkHandler<Q> };

/** One handler for every queue of a set, by the task's queue (for serving many queues from one set). */
export function byQueue(handlers: Partial<WorkHandlers>): WorkHandler {
  return (task) => {
    const handler = handlers[task.queue] as WorkHandler | undefined;
    if (!handler) throw new Error(`no handler for queue ${task.queue}`);
    return handler(task);
  };
}

/**
 * Decodes a message of `queue` (throws when the bytes are not its message type). A work item whose
 * params are not its queue's comes back with `problem` set: it is answerable (its origin decoded)
 * but must not reach the handler.
 */
export function decodePayload<Q extends WorkQueue>(queue: Q, data: Uint8Array): { payload: QueuePayloads[Q]; problem?: string } {
  switch (queue) {
    case "prepare":
      return { payload: fromBinary(PrepareRequestSchema, data) as QueuePayloads[Q] };
    case "train":
      return { payload: fromBinary(TrainRequestSchema, data) as QueuePayloads[Q] };
  }
  const item = fromBinary(WorkItemSchema, data);
  const problem =
    item.params.case === queue
      ? undefined
      : `work_item.params: an item of queue ${queue} needs ${queue} params, got ${item.params.case ?? "none"}`;
  return { payload: item as QueuePayloads[Q], problem };
}
