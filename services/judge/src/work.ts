// The judge stage: for each item, its two answers judged with its context → a preference record.
// Ties stay in the shard (tie = true) so they are counted; the trainer skips them.
import { fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { ContextShardSchema, type PreferenceRecordSchema, PreferenceShardSchema, ResponsesShardSchema } from "@isrdpo/contracts";
import type { WorkHandler } from "@isrdpo/bus";
import { wordCount } from "@isrdpo/eval";
import type { ServiceContext } from "@isrdpo/runtime";
import { shardStage } from "@isrdpo/serving";
import { judge } from "./judging.ts";

export function judgeHandler(ctx: ServiceContext): WorkHandler<"judge"> {
  return shardStage(ctx, PreferenceShardSchema, async ({ params, policy, ready, failures }) => {
    if (!params.responses) throw new Error("judge: params.responses is missing");
    const responses = new Map(
      fromBinary(ResponsesShardSchema, await ctx.artifacts.get(params.responses)).records.map((r) => [r.itemId, r.responses]),
    );
    const contexts = new Map<string, string>();
    if (params.contexts) {
      for (const r of fromBinary(ContextShardSchema, await ctx.artifacts.get(params.contexts)).records) contexts.set(r.itemId, r.context);
    }
    const pairs = ready.flatMap((r) => {
      const answers = responses.get(r.item.id);
      if (!answers || answers.length < 2) {
        failures.push({ itemId: r.item.id, reason: "responses: fewer than two answers for this item" });
        return [];
      }
      return [{ r, a: answers[0]!, b: answers[1]!, context: contexts.get(r.item.id) ?? "" }];
    });
    const verdicts = judge(
      params.strategy,
      policy,
      pairs.map(({ r, a, b, context }) => ({
        video: r.video,
        question: r.item.instruction,
        context,
        a,
        b,
        clipId: r.item.video?.source.case === "syntheticClipId" ? r.item.video.source.value : "",
        itemId: r.item.id,
      })),
      { tieMargin: params.tieMargin, singleOrder: params.singleOrder },
    );
    return pairs.map(({ r, a, b, context }, i): MessageInitShape<typeof PreferenceRecordSchema> => {
      const v = verdicts[i]!;
      const aWins = v.verdict !== "b";
      const [chosen, rejected] = aWins ? [a, b] : [b, a];
      return {
        itemId: r.item.id,
        videoId: r.video.videoId,
        prompt: r.item.instruction,
        chosen,
        rejected,
        chosenScore: aWins ? v.scoreA : v.scoreB,
        rejectedScore: aWins ? v.scoreB : v.scoreA,
        context,
        confidence: v.confidence,
        tie: v.verdict === "tie",
        tieReason: v.tieReason,
        chosenWords: wordCount(chosen),
        rejectedWords: wordCount(rejected),
      };
    });
  });
}
