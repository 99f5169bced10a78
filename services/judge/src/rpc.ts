// JudgeService: which of two answers is better, by strategy.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { JudgeResponseSchema, type JudgeService, JudgeStrategy, Verdict } from "@isrdpo/contracts";
import { DEFAULTS } from "@isrdpo/orchestration";
import { invalidArgument, requireNonEmpty, type ServiceContext } from "@isrdpo/runtime";
import { videoInput, withModel } from "@isrdpo/serving";
import type { Policy } from "@isrdpo/vlm";
import { judge } from "./judging.ts";

export function judgeRpc(ctx: ServiceContext): Partial<ServiceImpl<typeof JudgeService>> {
  return {
    async judge(req) {
      if (req.strategy === JudgeStrategy.UNSPECIFIED || !(req.strategy in JudgeStrategy))
        invalidArgument("strategy", "required, e.g. JUDGE_STRATEGY_SELF");
      requireNonEmpty("instruction", req.instruction);
      requireNonEmpty("response_a", req.responseA);
      requireNonEmpty("response_b", req.responseB);
      if (!(req.tieMargin >= 0 && req.tieMargin < 1)) invalidArgument("tie_margin", `must be in [0, 1), got ${req.tieMargin}`);
      const oracle = req.strategy === JudgeStrategy.ORACLE;
      if (oracle && req.video?.source.case !== "syntheticClipId")
        invalidArgument("video.synthetic_clip_id", "the oracle judges questions about synthetic clips only");
      // The oracle needs no model.
      const decide = async (policy?: Policy) => {
        const video = policy ? await videoInput(policy, req.video, "video") : { videoId: "", frames: new Uint8Array() };
        const [v] = judge(
          req.strategy,
          policy,
          [
            {
              video,
              question: req.instruction,
              context: req.context,
              a: req.responseA,
              b: req.responseB,
              clipId: req.video?.source.value as string,
            },
          ],
          { tieMargin: req.tieMargin || DEFAULTS.tieMargin, singleOrder: req.singleOrder },
        );
        return create(JudgeResponseSchema, {
          verdict: v!.verdict === "a" ? Verdict.A : v!.verdict === "b" ? Verdict.B : Verdict.TIE,
          confidence: v!.confidence,
          scoreA: v!.scoreA,
          scoreB: v!.scoreB,
          judgments: v!.orders.map((p, i) => ({ swapped: i === 1, probABetter: p })),
          tieReason: v!.tieReason,
        });
      };
      return oracle ? decide() : withModel(ctx, req.model, "model", decide);
    },
  };
}
