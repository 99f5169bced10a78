// JudgeService: which of two (or more) answers is better, by strategy.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  CaptionSource,
  CritiqueFilter,
  JudgeResponseSchema,
  type CaptionProxySpec,
  type JudgeService,
  JudgeStrategy,
  Verdict,
} from "@isrdpo/contracts";
import { DEFAULTS, RunSpecError, normalizeCaptionProxy } from "@isrdpo/orchestration";
import { invalidArgument, requireNonEmpty, requireText, type ServiceContext } from "@isrdpo/runtime";
import { videoInput, withModel } from "@isrdpo/serving";
import type { Policy } from "@isrdpo/vlm";
import { judge, judgeMethod, usesCaptionProxy } from "./judging.ts";

export function judgeRpc(ctx: ServiceContext): Partial<ServiceImpl<typeof JudgeService>> {
  return {
    async judge(req) {
      if (req.strategy === JudgeStrategy.UNSPECIFIED || !(req.strategy in JudgeStrategy))
        invalidArgument("strategy", "required, e.g. JUDGE_STRATEGY_SELF");
      const { maxTextChars, maxSequences } = ctx.config.limits;
      requireText("instruction", req.instruction, maxTextChars);
      requireText("context", req.context, maxTextChars, true);
      requireText("caption", req.caption, maxTextChars, true);
      const list = req.responses.length > 0;
      if (list) {
        if (req.responseA || req.responseB) invalidArgument("responses", "set either response_a and response_b, or responses, not both");
        if (req.responses.length < 2) invalidArgument("responses", `needs at least two answers, got ${req.responses.length}`);
        if (req.responses.length > maxSequences)
          invalidArgument("responses", `at most ${maxSequences} answers (limits.maxSequences), got ${req.responses.length}`);
        req.responses.forEach((r, i) => requireText(`responses[${i}]`, r, maxTextChars));
      } else {
        requireText("response_a", req.responseA, maxTextChars);
        requireText("response_b", req.responseB, maxTextChars);
      }
      if (!(req.tieMargin >= 0 && req.tieMargin < 1)) invalidArgument("tie_margin", `must be in [0, 1), got ${req.tieMargin}`);
      judgeMethod(req.strategy); // UNIMPLEMENTED before any model is loaded
      const critique = req.strategy === JudgeStrategy.SELF_CRITIQUE;
      const critiqueFilter = critique ? req.critiqueFilter || DEFAULTS.critiqueFilter : CritiqueFilter.UNSPECIFIED;
      if (!critique && req.critiqueFilter !== CritiqueFilter.UNSPECIFIED)
        invalidArgument("critique_filter", "is only for JUDGE_STRATEGY_SELF_CRITIQUE");
      const proxy = usesCaptionProxy(req.strategy, critiqueFilter);
      let captionProxy: CaptionProxySpec | undefined;
      if (proxy) {
        try {
          captionProxy = normalizeCaptionProxy(req.captionProxy, "caption_proxy");
        } catch (err) {
          if (err instanceof RunSpecError) throw new ConnectError(err.message, Code.InvalidArgument);
          throw err;
        }
        if (captionProxy.captionSource === CaptionSource.CONTEXT) requireNonEmpty("context", req.context);
        else requireNonEmpty("caption", req.caption);
      }
      if (req.strategy === JudgeStrategy.REWARD_MODEL && !req.rewardModel?.digest)
        invalidArgument("reward_model.digest", "required for JUDGE_STRATEGY_REWARD_MODEL (a JOB_KIND_REWARD_MODEL output)");
      const oracle = req.strategy === JudgeStrategy.ORACLE;
      if (oracle && req.video?.source.case !== "syntheticClipId")
        invalidArgument("video.synthetic_clip_id", "the oracle judges questions about synthetic clips only");
      const answers = list ? req.responses : [req.responseA, req.responseB];
      // The oracle and a caption-proxy judge on an endpoint need no model.
      const modelFree = oracle || (req.strategy === JudgeStrategy.CAPTION_PROXY && !!captionProxy?.endpoint);
      const decide = async (policy?: Policy) => {
        const video = policy ? await videoInput(ctx, policy, req.video, "video") : { videoId: "", frames: new Uint8Array() };
        const { preferences, stats } = await judge(
          ctx,
          req.strategy,
          policy,
          [
            {
              video,
              question: req.instruction,
              context: req.context,
              answers,
              caption: req.caption,
              clipId: req.video?.source.value as string,
            },
          ],
          {
            tieMargin: req.tieMargin || DEFAULTS.tieMargin,
            singleOrder: req.singleOrder,
            likelihoodScore: req.likelihoodScore,
            critiqueFilter,
            captionProxy,
            ...(captionProxy?.maxRequests ? { requestShare: captionProxy.maxRequests } : {}),
            rewardModel: req.rewardModel,
          },
        );
        const v = preferences[0]!;
        if (critique) {
          // [revision, original]: VERDICT_A when the filter prefers the revision.
          return create(JudgeResponseSchema, {
            verdict: v.tie ? Verdict.TIE : Verdict.A,
            confidence: v.confidence,
            scoreA: v.scores[0]!,
            scoreB: v.scores[1]!,
            tieReason: v.tieReason,
            critique: v.critique ?? "",
            revision: v.answers![0]!,
            stats,
          });
        }
        // Pairwise orders are P(chosen ≻ rejected); the contract reports P(a ≻ b).
        const aFirst = v.chosen === 0;
        return create(JudgeResponseSchema, {
          verdict: v.tie ? Verdict.TIE : list || aFirst ? Verdict.A : Verdict.B,
          confidence: v.confidence,
          scoreA: list ? v.scores[v.chosen]! : v.scores[0]!,
          scoreB: list ? v.scores[v.rejected]! : v.scores[1]!,
          judgments: list ? [] : v.orders.map((p, i) => ({ swapped: i === 1, probABetter: aFirst ? p : 1 - p })),
          tieReason: v.tieReason,
          chosenIndex: v.chosen,
          rejectedIndex: v.rejected,
          scores: list ? v.scores : [],
          stats,
        });
      };
      return modelFree ? decide() : withModel(ctx, req.model, "model", decide);
    },
  };
}
