// The stage side of the model services: serving a stage's work queue, and shardStage, the one
// shape of the responses, context and judge handlers (model → the shard's videos → records → one
// output artifact → ShardCompleted).
import { create, toBinary, type DescMessage, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { ItemFailureSchema, ShardCompletedSchema, type ItemFailure, type PromptItem, type WorkItem } from "@isrdpo/contracts";
import type { QueuePayloads, WorkHandler, WorkQueue } from "@isrdpo/bus";
import { serveWorkQueue, shardOutputUri, skipEndedRuns } from "@isrdpo/orchestration";
import { counter, type ServiceContext, type ServiceModule } from "@isrdpo/runtime";
import type { ServiceImpl } from "@connectrpc/connect";
import { resolveItemVideos, videoKey, type ResolveOptions } from "@isrdpo/video";
import type { Policy, VideoInput } from "@isrdpo/vlm";
import { videoOptions, withModel } from "./index.ts";
import { acquireStagePool, threadedHandler, type HandlerModule } from "./threads.ts";

/**
 * The sampling seed of one shard: a function of the run's seed, the iteration and the shard only, so
 * embedded and distributed runs, and a redelivered shard, sample the same text.
 */
export function shardSeed(seed: number, item: Pick<WorkItem, "iteration" | "shardIndex" | "stage">): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [item.iteration, item.stage, item.shardIndex]) h = Math.imul(h ^ v, 0x85ebca6b) >>> 0;
  return h % 2 ** 31;
}

/** An item of a shard whose video the model can take, with those frames. */
export interface ReadyItem {
  item: PromptItem;
  video: VideoInput;
}

/** An item that produced no record, and why. */
export interface ItemFailureInit {
  itemId: string;
  reason: string;
}

/** The items of a shard whose video the model can take, with those frames; the rest as failures. */
export async function shardVideos(
  policy: Policy,
  items: readonly PromptItem[],
  options: ResolveOptions,
): Promise<{ ready: ReadyItem[]; failures: ItemFailureInit[] }> {
  const { frames: n, height, width } = policy.model.config;
  const { frames, failures } = await resolveItemVideos(items, { frames: n, height, width }, options);
  const failed = new Set(failures.map((f) => f.itemId));
  const ready = items
    .filter((item) => !failed.has(item.id))
    .map((item) => {
      const key = videoKey(item.video!);
      return { item, video: { videoId: key, frames: frames.get(key)! } };
    });
  return { ready, failures };
}

/** The queues whose handlers turn a shard of items into one output artifact of records. */
export type ShardQueue = "responses" | "context" | "judge";

/** What a shard stage computes from. */
export interface ShardInput<Q extends ShardQueue> {
  item: QueuePayloads[Q];
  /** The stage's params (from the normalised RunSpec). */
  params: QueuePayloads[Q]["params"]["value"];
  /** π_t, loaded from item.model. */
  policy: Policy;
  ready: ReadyItem[];
  /** Items without a record so far (their video failed); compute adds the items it cannot answer. */
  failures: ItemFailureInit[];
  /** Further fields of the output shard message besides records and failures (the judge's stats). */
  extra: Record<string, unknown>;
}

/** An output shard message: records, one per item that succeeded, and the failures. */
type ShardSchema = DescMessage & { readonly field: { readonly records: unknown; readonly failures: unknown } };

/**
 * The handler of a shard stage: loads the item's model, reads the shard's videos, computes one
 * record per item (`compute`), stores `{ records, failures }` as a `schema` message at the shard's
 * output URI and answers ShardCompleted with that artifact and the item counts.
 */
export function shardStage<Q extends ShardQueue, S extends ShardSchema>(
  ctx: ServiceContext,
  schema: S,
  compute: (input: ShardInput<Q>) => Promise<MessageInitShape<S>["records"]>,
): WorkHandler<Q> {
  return async (task) => {
    const item = task.payload as QueuePayloads[Q];
    return withModel(ctx, item.model, "work_item.model", async (policy) => {
      const { ready, failures } = await shardVideos(policy, item.items, videoOptions(ctx));
      const extra: Record<string, unknown> = {};
      const records = await compute({ item, params: item.params.value as ShardInput<Q>["params"], policy, ready, failures, extra });
      // S has both fields (ShardSchema); TypeScript cannot see that through the generic.
      const init = { ...extra, records, failures } as unknown as MessageInitShape<S>;
      const shard = create(schema, init) as MessageShape<S> & { records: unknown[] };
      const output = await ctx.artifacts.put(shardOutputUri(item), toBinary(schema, shard), "application/x-protobuf");
      return {
        case: "shardCompleted",
        value: create(ShardCompletedSchema, {
          iteration: item.iteration,
          stage: item.stage,
          shardIndex: item.shardIndex,
          output,
          itemsOk: shard.records.length,
          failures: failures.map((f): ItemFailure => create(ItemFailureSchema, f)),
        }),
      };
    });
  };
}

const redeliveries = counter({
  name: "isrdpo_queue_redeliveries_total",
  help: "Work items received again after a worker died, timed out or failed, by queue.",
  labelNames: ["queue"],
});
const workDone = counter({
  name: "isrdpo_queue_items_total",
  help: "Work items handled, by queue and outcome.",
  labelNames: ["queue", "outcome"],
});

/**
 * Consumes a stage's work queue in this process: work of a cancelled or ended run is skipped, and
 * errors the harness survives are logged. Each item is logged (ids, deliveries, duration) and
 * counted. With `threaded` and config.threads > 1 the items run on the process's worker threads
 * (threads.ts), that many at once. Returns the stop function ServiceModule.start wants.
 */
export function serveStage<Q extends WorkQueue>(
  ctx: ServiceContext,
  queue: Q,
  handler: WorkHandler<Q>,
  threaded?: HandlerModule,
): () => Promise<void> {
  // With several threads, shards run on the process's stage pool, as many at once as it has threads.
  const pooled = threaded && ctx.config.threads > 1 ? acquireStagePool(ctx) : undefined;
  const run = pooled ? threadedHandler(pooled.pool, queue, threaded!) : handler;
  const observed: WorkHandler<Q> = async (task) => {
    const t0 = Date.now();
    const ids = { queue, msgId: task.msgId, deliveries: task.deliveries };
    if (task.deliveries > 1) redeliveries.inc({ queue });
    try {
      const answer = await run(task);
      workDone.inc({ queue, outcome: "ok" });
      ctx.logger.info({ ...ids, durationS: (Date.now() - t0) / 1000 }, "work item done");
      return answer;
    } catch (err) {
      workDone.inc({ queue, outcome: "error" });
      ctx.logger.warn({ ...ids, durationS: (Date.now() - t0) / 1000, err: (err as Error).message }, "work item failed");
      throw err;
    }
  };
  const worker = serveWorkQueue(ctx.bus, queue, observed, {
    concurrency: pooled ? ctx.config.threads : 1,
    skip: skipEndedRuns(ctx.bus),
    onSkip: (msgId, reason) => ctx.logger.info({ queue, msgId, reason }, "skipped work of an ended run"),
    onError: (err) => ctx.logger.error({ err, queue }, "worker error"),
  });
  return async () => {
    await worker.stop();
    await pooled?.release();
  };
}

/**
 * A model service: one protobuf service whose RPCs and one stage's work queue share the process's
 * model cache. (The trainer and orchestrator keep per-process state and define their modules.)
 */
export function modelService<S extends DescService, Q extends WorkQueue>(def: {
  name: string;
  defaultPort: number;
  service: S;
  rpc: (ctx: ServiceContext) => Partial<ServiceImpl<S>>;
  queue: Q;
  handler: (ctx: ServiceContext) => WorkHandler<Q>;
  /** The same handler by module and export name, so shards can run on worker threads. */
  threaded?: HandlerModule;
}): ServiceModule {
  return {
    name: def.name,
    defaultPort: def.defaultPort,
    services: [def.service],
    register: (router, ctx) => router.service(def.service, def.rpc(ctx)),
    start: async (ctx) => serveStage(ctx, def.queue, def.handler(ctx), def.threaded),
  };
}
