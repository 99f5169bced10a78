// The context stage: c_t for every item's video, by the run's context mode. Each distinct video of a
// shard is described once; its items share the description.
import { fromBinary } from "@bufbuild/protobuf";
import { ContextMode, ContextShardSchema } from "@isrdpo/contracts";
import type { WorkHandler } from "@isrdpo/bus";
import type { ServiceContext } from "@isrdpo/runtime";
import { sampling, shardSeed, shardStage } from "@isrdpo/serving";
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

export function contextHandler(ctx: ServiceContext): WorkHandler<"context"> {
  return shardStage(ctx, ContextShardSchema, async ({ item, params, policy, ready }) => {
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
    return ready.map((r) => ({ itemId: r.item.id, videoId: r.video.videoId, context: byVideo.get(r.video.videoId)! }));
  });
}
