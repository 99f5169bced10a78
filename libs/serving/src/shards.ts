// Work-item plumbing shared by the stage handlers: where a shard's output goes, its seed, its
// videos, and the ShardCompleted answer.
import { create, type DescService } from "@bufbuild/protobuf";
import {
  ItemFailureSchema,
  ShardCompletedSchema,
  type ArtifactRef,
  type OrchestratorEvent,
  type PromptItem,
  type WorkItem,
} from "@isrdpo/contracts";
import { serveWorkQueue, type WorkHandler, type WorkQueue } from "@isrdpo/bus";
import { skipEndedRuns } from "@isrdpo/orchestration";
export { shardOutputUri } from "@isrdpo/orchestration";
import type { ServiceContext, ServiceModule } from "@isrdpo/runtime";
import type { ServiceImpl } from "@connectrpc/connect";
import { resolveItemVideos, videoKey } from "@isrdpo/video";
import type { Policy, VideoInput } from "@isrdpo/vlm";

/**
 * The sampling seed of one shard: a function of the run's seed, the iteration and the shard only, so
 * embedded and distributed runs, and a redelivered shard, sample the same text.
 */
export function shardSeed(seed: number, item: Pick<WorkItem, "iteration" | "shardIndex" | "stage">): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [item.iteration, item.stage, item.shardIndex]) h = Math.imul(h ^ v, 0x85ebca6b) >>> 0;
  return h % 2 ** 31;
}

/** The items of a shard whose video the model can take, with those frames; the rest as failures. */
export async function shardVideos(
  policy: Policy,
  items: readonly PromptItem[],
): Promise<{
  ready: { item: PromptItem; video: VideoInput }[];
  failures: { itemId: string; reason: string }[];
}> {
  const { frames: n, height, width } = policy.model.config;
  const { frames, failures } = await resolveItemVideos(items, { frames: n, height, width });
  const failed = new Set(failures.map((f) => f.itemId));
  const ready = items
    .filter((item) => !failed.has(item.id))
    .map((item) => {
      const key = videoKey(item.video!);
      return { item, video: { videoId: key, frames: frames.get(key)! } };
    });
  return { ready, failures };
}

export function shardCompleted(
  item: WorkItem,
  output: ArtifactRef,
  itemsOk: number,
  failures: { itemId: string; reason: string }[],
): OrchestratorEvent["kind"] {
  return {
    case: "shardCompleted",
    value: create(ShardCompletedSchema, {
      iteration: item.iteration,
      stage: item.stage,
      shardIndex: item.shardIndex,
      output,
      itemsOk,
      failures: failures.map((f) => create(ItemFailureSchema, f)),
    }),
  };
}

/**
 * Consumes a stage's work queue in this process: work of a cancelled or ended run is skipped, and
 * errors the harness survives are logged. Returns the stop function ServiceModule.start wants.
 */
export function serveStage(ctx: ServiceContext, queue: WorkQueue, handler: WorkHandler): () => Promise<void> {
  const worker = serveWorkQueue(ctx.bus, queue, handler, {
    skip: skipEndedRuns(ctx.bus),
    onSkip: (msgId, reason) => ctx.logger.info({ queue, msgId, reason }, "skipped work of an ended run"),
    onError: (err) => ctx.logger.error({ err, queue }, "worker error"),
  });
  return () => worker.stop();
}

/**
 * A model service: one protobuf service whose RPCs and one stage's work queue share the process's
 * model cache. (The trainer and orchestrator keep per-process state and define their modules.)
 */
export function modelService<S extends DescService>(def: {
  name: string;
  defaultPort: number;
  service: S;
  rpc: (ctx: ServiceContext) => Partial<ServiceImpl<S>>;
  queue: WorkQueue;
  handler: (ctx: ServiceContext) => WorkHandler;
}): ServiceModule {
  return {
    name: def.name,
    defaultPort: def.defaultPort,
    services: [def.service],
    register: (router, ctx) => router.service(def.service, def.rpc(ctx)),
    start: async (ctx) => serveStage(ctx, def.queue, def.handler(ctx)),
  };
}
