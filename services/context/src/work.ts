// The context stage: c_t for every item's video, by the run's context mode. Each distinct video of a
// shard is described once; its items share the description.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ContextMode, ContextShardSchema, type WorkItem } from "@isrdpo/contracts";
import type { WorkHandler } from "@isrdpo/bus";
import type { ServiceContext } from "@isrdpo/runtime";
import { withModel, sampling, shardCompleted, shardOutputUri, shardSeed, shardVideos } from "@isrdpo/serving";
import { describeClips, describeVideos, type Policy, type Sampling, type VideoInput } from "@isrdpo/vlm";

export const CONTEXT_SAMPLING = { temperature: 0, maxNewTokens: 96 };

/**
 * c_t of one video by mode. `previous` is c_{t-1} ("" in iteration 1). Fixed mode reuses c_1 once
 * it exists; retrospective refines c_{t-1}; renew always starts fresh.
 */
export async function contextsFor(
  policy: Policy,
  videos: readonly { video: VideoInput; previous: string }[],
  mode: ContextMode,
  clipCount: number,
  s: Sampling,
): Promise<string[]> {
  switch (mode) {
    case ContextMode.NONE:
      return videos.map(() => "");
    case ContextMode.FIXED: {
      const fresh = await describeVideos(
        policy,
        videos.filter((v) => v.previous === "").map((v) => ({ video: v.video })),
        s,
      );
      return videos.map((v) => (v.previous !== "" ? v.previous : fresh.shift()!));
    }
    case ContextMode.RENEW:
      return describeVideos(
        policy,
        videos.map((v) => ({ video: v.video })),
        s,
      );
    case ContextMode.RETROSPECTIVE:
      return describeVideos(policy, videos, s);
    case ContextMode.CLIP_NARRATIVE: {
      const out: string[] = [];
      for (const v of videos) out.push((await describeClips(policy, v.video, clipCount, s)).context);
      return out;
    }
    default:
      throw new Error(`context mode ${mode} is not supported`);
  }
}

export function contextHandler(ctx: ServiceContext): WorkHandler {
  return async (task) => {
    if (task.queue !== "context" || task.payload.params.case !== "context") throw new Error("context: expected a context work item");
    const item: WorkItem = task.payload;
    const params = task.payload.params.value;
    return withModel(ctx, item.model, "work_item.model", async (policy) => {
      const { ready, failures } = await shardVideos(policy, item.items);
      // c_{t-1} of each video, from the same shard of the previous iteration.
      const previous = new Map<string, string>();
      if (params.previousContexts) {
        const prev = fromBinary(ContextShardSchema, await ctx.artifacts.get(params.previousContexts));
        for (const r of prev.records) previous.set(r.videoId, r.context);
      }
      const videos = [...new Map(ready.map((r) => [r.video.videoId, r.video])).values()];
      const s = sampling(params.sampling, "context.sampling", policy, CONTEXT_SAMPLING);
      const contexts = await contextsFor(
        policy,
        videos.map((video) => ({ video, previous: previous.get(video.videoId) ?? "" })),
        params.mode,
        params.clipCount,
        { ...s, seed: shardSeed(s.seed, item) },
      );
      const byVideo = new Map(videos.map((v, i) => [v.videoId, contexts[i]!]));
      const shard = create(ContextShardSchema, {
        records: ready.map((r) => ({ itemId: r.item.id, videoId: r.video.videoId, context: byVideo.get(r.video.videoId)! })),
        failures,
      });
      const output = await ctx.artifacts.put(shardOutputUri(item), toBinary(ContextShardSchema, shard), "application/x-protobuf");
      return shardCompleted(item, output, shard.records.length, failures);
    });
  };
}
