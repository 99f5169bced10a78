// The worker side of the run loop: pulls a work queue, runs the handler with heartbeats, publishes
// the answer to the orchestrator's queue, then acks. Answers carry event ids derived from the
// work's message id (workEventIds), so a redelivered item that runs again publishes a duplicate
// that is dropped, never a second result.
import { create, toBinary } from "@bufbuild/protobuf";
import { OrchestratorEventSchema, ShardFailedSchema, Stage } from "@isrdpo/contracts";
import type { OrchestratorEvent } from "@isrdpo/contracts";
import { QUEUES, decodePayload } from "@isrdpo/bus";
import type { Bus, Delivery, Task, WorkHandler, WorkQueue } from "@isrdpo/bus";
import { workEventIds } from "./ids.ts";

export interface ServeOptions {
  /** Tasks handled at once by this process. Default 1. */
  concurrency?: number;
  /** A delivery beyond this count means earlier workers died on it: it is answered as failed. Default 3. */
  maxDeliveries?: number;
  /** Interval of in-progress heartbeats. Default a third of the ack wait. */
  heartbeatMs?: number;
  /** Pull wait; stop() may take this long. Default 1000. */
  pullExpiresMs?: number;
  /** Called on errors the harness survives (bus unreachable, undecodable message). */
  onError?: (err: unknown) => void;
  /**
   * Asked before a task runs: a reason to skip it (its run was cancelled or has ended), or
   * undefined. A skipped task is acked without an answer. Asked again every `endedCheckMs` while the
   * task runs: a reason then aborts the task's signal, so a cancelled run's training job or shard
   * stops at its next step instead of running to the end.
   */
  skip?: (runId: string) => Promise<string | undefined>;
  /** How often a running task's run is checked (see skip). Default 2000. */
  endedCheckMs?: number;
  /** Called with each skipped task and the reason. */
  onSkip?: (msgId: string, reason: string) => void;
}

export interface WorkerHandle {
  /** Stops pulling and waits for the tasks in progress. */
  stop(): Promise<void>;
}

export function serveWorkQueue<Q extends WorkQueue>(bus: Bus, queue: Q, handler: WorkHandler<Q>, opts: ServeOptions = {}): WorkerHandle {
  const concurrency = opts.concurrency ?? 1;
  const maxDeliveries = opts.maxDeliveries ?? 3;
  const heartbeatMs = opts.heartbeatMs ?? Math.max(100, Math.floor(bus.ackWaitMs / 3));
  const onError = opts.onError ?? ((err) => console.error(`worker ${queue}:`, err));
  const abort = new AbortController();

  const loop = async () => {
    while (!abort.signal.aborted) {
      let delivery: Delivery | undefined;
      try {
        delivery = await bus.pull(queue, { expiresMs: opts.pullExpiresMs ?? 1000 });
      } catch (err) {
        if (abort.signal.aborted) return;
        onError(err);
        await sleep(500);
        continue;
      }
      if (delivery) await handle(delivery).catch(onError);
    }
  };

  const handle = async (d: Delivery) => {
    let decoded: ReturnType<typeof decodePayload<Q>>;
    try {
      decoded = decodePayload(queue, d.data);
    } catch (err) {
      // Nothing to answer to: an undecodable message is dropped loudly rather than redelivered forever.
      onError(new Error(`undecodable message ${d.msgId} on queue ${queue}: ${(err as Error).message}`));
      await d.ack();
      return;
    }
    // The task's own signal: aborted when its run ends while it runs, or when this worker stops.
    const taskAbort = new AbortController();
    const task = { queue, payload: decoded.payload, msgId: d.msgId, deliveries: d.deliveries, signal: taskAbort.signal } as Task<Q>;
    const { runId, iteration, stage, shardIndex } = origin(task as Task);
    const skipReason = await opts.skip?.(runId);
    if (skipReason !== undefined) {
      opts.onSkip?.(d.msgId, skipReason);
      await d.ack();
      return;
    }
    const failed = (reason: string) =>
      create(OrchestratorEventSchema, {
        runId,
        eventId: workEventIds.failed(d.msgId),
        kind: {
          case: "shardFailed",
          value: create(ShardFailedSchema, { iteration, stage, shardIndex, deliveries: d.deliveries, reason }),
        },
      });
    let answer: OrchestratorEvent;
    if (d.deliveries > maxDeliveries) {
      answer = failed(`abandoned: delivered ${d.deliveries} times without an answer (worker crash or timeout)`);
    } else if (decoded.problem !== undefined) {
      answer = failed(decoded.problem);
    } else {
      const heartbeat = setInterval(() => d.working(), heartbeatMs);
      const stopTask = () => taskAbort.abort();
      abort.signal.addEventListener("abort", stopTask, { once: true });
      let runEnded = false;
      const ended = opts.skip
        ? setInterval(() => {
            void opts.skip!(runId).then(
              (reason) => {
                if (reason === undefined || taskAbort.signal.aborted) return;
                opts.onSkip?.(d.msgId, `stopped: ${reason}`);
                runEnded = true;
                taskAbort.abort();
              },
              () => undefined, // the bus is unreachable: the next check tries again
            );
          }, opts.endedCheckMs ?? 2000)
        : undefined;
      try {
        const kind = await handler(task);
        answer = create(OrchestratorEventSchema, { runId, eventId: workEventIds.done(d.msgId), kind });
      } catch (err) {
        if (abort.signal.aborted && !runEnded) {
          // Stopped because this worker is stopping, not because the task failed: hand it back for
          // another worker (a training job resumes from its checkpoint) without using up an attempt.
          await d.nak();
          return;
        }
        answer = failed(err instanceof Error ? err.message : String(err));
      } finally {
        clearInterval(heartbeat);
        clearInterval(ended);
        abort.signal.removeEventListener("abort", stopTask);
      }
    }
    await bus.enqueue(QUEUES.orchestrator, toBinary(OrchestratorEventSchema, answer), answer.eventId);
    await d.ack();
  };

  const loops = Array.from({ length: concurrency }, () => loop());
  return {
    stop: async () => {
      abort.abort();
      await Promise.all(loops);
    },
  };
}

/** The run, iteration, stage and shard a task belongs to: what its answer names. */
function origin(task: Task): { runId: string; iteration: number; stage: Stage; shardIndex: number } {
  switch (task.queue) {
    case "prepare":
      return { runId: task.payload.runId, iteration: 0, stage: Stage.PREPARE, shardIndex: 0 };
    case "train":
      return { runId: task.payload.runId, iteration: task.payload.iteration, stage: task.payload.stage, shardIndex: 0 };
    default:
      return {
        runId: task.payload.runId,
        iteration: task.payload.iteration,
        stage: task.payload.stage,
        shardIndex: task.payload.shardIndex,
      };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
