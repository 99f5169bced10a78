// ContextService: the model's own description of a video, by context mode.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { ContextMode, type ContextService, DescribeResponseSchema } from "@isrdpo/contracts";
import { invalidArgument, requireText, type ServiceContext } from "@isrdpo/runtime";
import { asInvalidArgument, sampling, videoInput, withModel } from "@isrdpo/serving";
import { describeClips } from "@isrdpo/vlm";
import { CONTEXT_SAMPLING, contextsFor } from "./work.ts";

export function contextRpc(ctx: ServiceContext): Partial<ServiceImpl<typeof ContextService>> {
  return {
    async describe(req) {
      if (req.mode === ContextMode.UNSPECIFIED || !(req.mode in ContextMode)) {
        invalidArgument("mode", "required: one of CONTEXT_MODE_NONE, FIXED, RENEW, RETROSPECTIVE, CLIP_NARRATIVE");
      }
      if (req.mode === ContextMode.CLIP_NARRATIVE && req.clipCount === 0)
        invalidArgument("clip_count", "required for CONTEXT_MODE_CLIP_NARRATIVE");
      requireText("previous_context", req.previousContext, ctx.config.limits.maxTextChars, true);
      return withModel(ctx, req.model, "model", async (policy) => {
        const video = await videoInput(ctx, policy, req.video, "video");
        const s = sampling(req.sampling, "sampling", policy, CONTEXT_SAMPLING);
        if (req.mode === ContextMode.CLIP_NARRATIVE) {
          if (req.clipCount > policy.model.config.frames)
            invalidArgument("clip_count", `at most ${policy.model.config.frames} (the model's frames), got ${req.clipCount}`);
          const { context, clips } = await asInvalidArgument(() => describeClips(policy, video, req.clipCount, s));
          return create(DescribeResponseSchema, { context, clipDescriptions: clips });
        }
        const [context] = await asInvalidArgument(() => contextsFor(policy, [{ video, previous: req.previousContext }], req.mode, 0, s));
        return create(DescribeResponseSchema, { context: context! });
      });
    },
  };
}
