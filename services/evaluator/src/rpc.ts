// EvaluatorService: a model's metrics on benchmark splits, and head-to-head comparison of two models.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  CompareResponseSchema,
  EvaluateResponseSchema,
  EvaluationReportSchema,
  type EvaluatorService,
  type EvaluationSpec,
} from "@isrdpo/contracts";
import { LIMITS, syntheticDatasetProblem } from "@isrdpo/orchestration";
import { invalidArgument, type ServiceContext } from "@isrdpo/runtime";
import { cancellable, sampling, withModel } from "@isrdpo/serving";
import { scoreAnswer } from "@isrdpo/video";
import { PROMPT_TEMPLATES } from "@isrdpo/vlm";
import { EVAL_SAMPLING, benchmarkAnswers, syntheticBenchmark, type SyntheticBenchmark } from "./evaluate.ts";
import { checkQaSplits, evaluateSpecSplit } from "./qa.ts";

/** The spec's synthetic splits, validated; imported QA splits are refused unless `imported` (Evaluate scores them). */
function benchmarks(spec: EvaluationSpec | undefined, frames: number, imported = false): SyntheticBenchmark[] {
  if (!spec || spec.splits.length === 0) invalidArgument("spec.splits", "must name at least one benchmark split");
  return spec.splits.flatMap((ref, i) => {
    if (imported && ref.source.case === "sharegptJsonl") return [];
    const field = `spec.splits[${i}]`;
    const problem = ref.source.case === "synthetic" && syntheticDatasetProblem(ref.source.value, LIMITS.evaluationClips);
    if (problem) invalidArgument(`${field}.${problem.field}`, problem.problem);
    try {
      return syntheticBenchmark(ref, field, frames);
    } catch (err) {
      throw new ConnectError((err as Error).message, Code.InvalidArgument);
    }
  });
}

export function evaluatorRpc(ctx: ServiceContext): Partial<ServiceImpl<typeof EvaluatorService>> {
  return {
    async evaluate(req, call) {
      return withModel(ctx, req.model, "model", async (policy) => {
        benchmarks(req.spec, policy.model.config.frames, true);
        checkQaSplits(req.spec, "spec");
        const s = sampling(req.spec?.sampling, "spec.sampling", policy, EVAL_SAMPLING);
        const splits = [];
        for (const [i, ref] of req.spec!.splits.entries())
          splits.push(
            await cancellable(call.signal, () =>
              evaluateSpecSplit(ctx, policy, req.model, ref, req.spec, s, `spec.splits[${i}]`, call.signal),
            ),
          );
        return create(EvaluateResponseSchema, {
          report: create(EvaluationReportSchema, { model: req.model, splits, promptTemplates: PROMPT_TEMPLATES }),
        });
      });
    },

    async compare(req, call) {
      return withModel(ctx, req.modelA, "model_a", (a) =>
        withModel(ctx, req.modelB, "model_b", async (b) => {
          const list = benchmarks(req.spec, a.model.config.frames);
          const s = sampling(req.spec?.sampling, "spec.sampling", a, EVAL_SAMPLING);
          let winsA = 0;
          let winsB = 0;
          let ties = 0;
          for (const bench of list) {
            const answersA = await cancellable(call.signal, () => benchmarkAnswers(a, bench, s, call.signal));
            const answersB = await cancellable(call.signal, () => benchmarkAnswers(b, bench, s, call.signal));
            const scenes = new Map(bench.clips.map((c) => [c.id, c.scene]));
            bench.items.forEach((item, i) => {
              const scene = scenes.get(item.clipId)!;
              const d = scoreAnswer(scene, item, answersA[i]!).score - scoreAnswer(scene, item, answersB[i]!).score;
              if (d > 0) winsA++;
              else if (d < 0) winsB++;
              else ties++;
            });
          }
          const items = winsA + winsB + ties;
          return create(CompareResponseSchema, { items, winsA, winsB, ties, winRateA: items === 0 ? 0 : (winsA + ties / 2) / items });
        }),
      );
    },
  };
}
