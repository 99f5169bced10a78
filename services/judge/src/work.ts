// The judge stage: for each item, its answers judged with its context → a preference record (the
// best and the worst of them, or a self-critique's revision and original). Ties stay in the shard
// (tie = true) so they are counted; the trainer skips them. The judge's own counts (LM requests,
// unparsable answers) go in the shard's stats.
import { fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { ContextShardSchema, type PreferenceRecordSchema, PreferenceShardSchema, ResponsesShardSchema } from "@isrdpo/contracts";
import type { WorkHandler } from "@isrdpo/bus";
import { wordCount } from "@isrdpo/eval";
import { missingCaption } from "@isrdpo/judge";
import type { ServiceContext } from "@isrdpo/runtime";
import { shardStage } from "@isrdpo/serving";
import { captionSource, judge, usesCaptionProxy } from "./judging.ts";

export function judgeHandler(ctx: ServiceContext): WorkHandler<"judge"> {
  return shardStage(ctx, PreferenceShardSchema, async ({ params, policy, ready, failures, extra }) => {
    if (!params.responses) throw new Error("judge: params.responses is missing");
    const responses = new Map(
      fromBinary(ResponsesShardSchema, await ctx.artifacts.get(params.responses)).records.map((r) => [r.itemId, r.responses]),
    );
    const contexts = new Map<string, string>();
    if (params.contexts) {
      for (const r of fromBinary(ContextShardSchema, await ctx.artifacts.get(params.contexts)).records) contexts.set(r.itemId, r.context);
    }
    const caption =
      usesCaptionProxy(params.strategy, params.critiqueFilter) && params.captionProxy ? captionSource(params.captionProxy) : undefined;
    const judgeable = ready.flatMap((r) => {
      const answers = responses.get(r.item.id);
      if (!answers || answers.length < 2) {
        failures.push({ itemId: r.item.id, reason: "responses: fewer than two answers for this item" });
        return [];
      }
      const context = contexts.get(r.item.id) ?? "";
      const noCaption = caption && missingCaption({ caption: r.item.caption, context }, caption);
      if (noCaption) {
        failures.push({ itemId: r.item.id, reason: noCaption });
        return [];
      }
      return [{ r, answers, context }];
    });
    const { preferences, stats } = await judge(
      ctx,
      params.strategy,
      policy,
      judgeable.map(({ r, answers, context }) => ({
        video: r.video,
        question: r.item.instruction,
        context,
        answers,
        caption: r.item.caption,
        clipId: r.item.video?.source.case === "syntheticClipId" ? r.item.video.source.value : "",
        itemId: r.item.id,
      })),
      {
        tieMargin: params.tieMargin,
        singleOrder: params.singleOrder,
        likelihoodScore: params.likelihoodScore,
        critiqueFilter: params.critiqueFilter,
        captionProxy: params.captionProxy,
        requestShare: params.lmRequestShare,
        rewardModel: params.rewardModel,
      },
    );
    extra.stats = stats;
    return judgeable.map(({ r, answers: sampled, context }, i): MessageInitShape<typeof PreferenceRecordSchema> => {
      const p = preferences[i]!;
      // Self-critique judged its own [revision, original]; the other strategies the sampled answers.
      const answers = p.answers ?? sampled;
      // With nothing to compare (identical answers) the record keeps the first two answers.
      const [c, j] = p.chosen === p.rejected ? [0, 1] : [p.chosen, p.rejected];
      return {
        itemId: r.item.id,
        videoId: r.video.videoId,
        prompt: r.item.instruction,
        chosen: answers[c]!,
        rejected: answers[j]!,
        chosenScore: p.scores[c]!,
        rejectedScore: p.scores[j]!,
        context,
        confidence: p.confidence,
        tie: p.tie,
        tieReason: p.tieReason,
        chosenWords: wordCount(answers[c]!),
        rejectedWords: wordCount(answers[j]!),
        candidates: answers.length,
        critique: p.critique ?? "",
      };
    });
  });
}
