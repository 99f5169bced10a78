// Stage work on worker threads: one process-wide pool of `config.threads` threads (libs/pool), each
// with its own transports, tfjs backend and model cache, running a stage's handler on a shard. The
// handler is named by module and export, since a function cannot cross to a thread. Results do not
// depend on the thread: a shard's sampling seed comes from the work item (shardSeed).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { OrchestratorEventSchema, WorkItemSchema, type WorkItem } from "@isrdpo/contracts";
import type { WorkHandler, WorkQueue } from "@isrdpo/bus";
import { WorkerPool } from "@isrdpo/pool";
import type { Config, Logger, ServiceContext } from "@isrdpo/runtime";

/** Where a stage handler lives: `module` exports `handler`, a (ctx: ServiceContext) => WorkHandler. */
export interface HandlerModule {
  module: string;
  handler: string;
}

/** What the main thread sends a stage thread per task. */
export interface ThreadTask {
  handler: HandlerModule;
  queue: WorkQueue;
  payload: Uint8Array;
  msgId: string;
  deliveries: number;
}

/** A log record of a thread, re-logged by the main thread's logger. */
export interface ThreadLog {
  log: string;
}

const pools = new Map<Config, { pool: WorkerPool<ThreadTask, Uint8Array>; users: number }>();

/** The pool of a process's config, shared by its stages, created on first use; release() closes it with its last user. */
export function acquireStagePool(ctx: ServiceContext): { pool: WorkerPool<ThreadTask, Uint8Array>; release: () => Promise<void> } {
  let entry = pools.get(ctx.config);
  if (!entry) {
    const pool = new WorkerPool<ThreadTask, Uint8Array>({
      size: ctx.config.threads,
      script: new URL("./stage-thread.ts", import.meta.url),
      workerData: { config: ctx.config },
      onMessage: (m, thread) => relog(ctx.logger, (m as ThreadLog).log, thread),
    });
    entry = { pool, users: 0 };
    pools.set(ctx.config, entry);
  }
  const e = entry;
  e.users++;
  let released = false;
  return {
    pool: e.pool,
    release: async () => {
      if (released) return;
      released = true;
      if (--e.users > 0) return;
      pools.delete(ctx.config);
      await e.pool.close();
    },
  };
}

function relog(logger: Logger, line: string | undefined, thread: number): void {
  if (typeof line !== "string") return;
  try {
    const { level, msg, time: _t, pid: _p, hostname: _h, name: _n, ...fields } = JSON.parse(line) as Record<string, unknown>;
    const label = logger.levels.labels[level as number] ?? "info";
    (logger[label as "info"] as (obj: object, msg?: string) => void)({ ...fields, thread }, msg as string);
  } catch {
    logger.info({ thread }, line.trim());
  }
}

/** A handler of a shard queue that runs the named handler on the pool. */
export function threadedHandler<Q extends WorkQueue>(
  pool: WorkerPool<ThreadTask, Uint8Array>,
  queue: Q,
  handler: HandlerModule,
): WorkHandler<Q> {
  return async (task) => {
    const payload = toBinary(WorkItemSchema, task.payload as WorkItem);
    // The task's signal (its run ended) stops the thread's work: the pool replaces the thread.
    const answer = await pool.run(
      { handler, queue, payload, msgId: task.msgId, deliveries: task.deliveries },
      [payload.buffer as ArrayBuffer],
      task.signal,
    );
    return fromBinary(OrchestratorEventSchema, answer).kind;
  };
}

/** A handler's answer as the thread sends it back: an OrchestratorEvent's bytes. */
export function answerBytes(kind: Awaited<ReturnType<WorkHandler>>): Uint8Array {
  return toBinary(OrchestratorEventSchema, create(OrchestratorEventSchema, { kind }));
}
