// The evaluate queue: π_{t+1} on the run's benchmark splits, plus iteration t's preference statistics.
import { create, toJsonString } from "@bufbuild/protobuf";
import { EvaluationFinishedSchema, EvaluationReportSchema } from "@isrdpo/contracts";
import type { WorkHandler } from "@isrdpo/bus";
import type { ServiceContext } from "@isrdpo/runtime";
import { withModel, sampling } from "@isrdpo/serving";
import { PROMPT_TEMPLATES } from "@isrdpo/vlm";
import { EVAL_SAMPLING, iterationPreferences } from "./evaluate.ts";
import { evaluateSpecSplit } from "./qa.ts";

export function evaluateHandler(ctx: ServiceContext): WorkHandler<"evaluate"> {
  return async (task) => {
    const item = task.payload;
    const params = task.payload.params.value;
    return withModel(ctx, item.model, "work_item.model", async (policy) => {
      const s = sampling(params.spec?.sampling, "evaluation.sampling", policy, EVAL_SAMPLING);
      const splits = [];
      for (const [i, ref] of (params.spec?.splits ?? []).entries()) {
        splits.push(await evaluateSpecSplit(ctx, policy, item.model, ref, params.spec, s, `evaluation.splits[${i}]`, task.signal));
      }
      const report = create(EvaluationReportSchema, { model: item.model, splits, promptTemplates: PROMPT_TEMPLATES });
      const preferences = await iterationPreferences(ctx.artifacts, params.preferences);
      const reportArtifact = await ctx.artifacts.put(
        `artifact://runs/${item.runId}/iter-${item.iteration}/evaluate/report.json`,
        new TextEncoder().encode(`${toJsonString(EvaluationReportSchema, report, { prettySpaces: 2 })}\n`),
        "application/json",
      );
      return {
        case: "evaluationFinished",
        value: create(EvaluationFinishedSchema, { iteration: item.iteration, report, reportArtifact, preferences }),
      };
    });
  };
}
