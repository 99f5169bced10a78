// Evaluation on imported QA sets (a ShareGPTVideo dataset with reference answers, `isrdpo data
// import`): the model answers every question from the imported frames; answers are scored by
// normalised match and, when the spec asks, by an answer judge: an OpenAI-compatible LM endpoint, or
// the evaluated model itself, text only.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  AnswerJudgeKind,
  SplitMetricsSchema,
  type AnswerJudge,
  type ArtifactRef,
  type DatasetRef,
  type EvaluationSpec,
  type ModelRef,
  type SplitMetrics,
} from "@isrdpo/contracts";
import { ArtifactNotFoundError } from "@isrdpo/bus";
import { datasetQaPairs, type DatasetQa } from "@isrdpo/datasets";
import { qaSplitMetrics } from "@isrdpo/eval";
import { ChatClient, LmConfigError, LmError, judgeQa, qaJudgeProtocol, type ChatModel, type QaJudgeProtocol } from "@isrdpo/lm";
import { answerJudgeProblem, datasetUriProblem } from "@isrdpo/orchestration";
import type { ServiceContext } from "@isrdpo/runtime";
import { policyChatModel, videoOptions } from "@isrdpo/serving";
import { resolveItemVideos } from "@isrdpo/video";
import { answerQuestions, type Policy, type Sampling } from "@isrdpo/vlm";
import { cachedSplit, contentDigest } from "./cache.ts";
import { evaluateSplit, syntheticBenchmark } from "./evaluate.ts";

/** Questions one imported split may have (evaluation holds them, their answers and verdicts). */
const MAX_QA_ITEMS = 50_000;

const DEFAULT_PROTOCOL: Partial<Record<AnswerJudgeKind, string>> = {
  [AnswerJudgeKind.LM]: "video-chatgpt-qa-v1",
  [AnswerJudgeKind.BUILTIN]: "compact-qa-v1",
};

/** The dataset and judge of a spec are usable; INVALID_ARGUMENT naming the field otherwise. */
export function checkQaSplits(spec: EvaluationSpec | undefined, field: string): void {
  for (const [i, ref] of (spec?.splits ?? []).entries()) {
    if (ref.source.case !== "sharegptJsonl") continue;
    const problem = datasetUriProblem(ref.source.value.uri);
    if (problem) throw new ConnectError(`${field}.splits[${i}].sharegpt_jsonl.uri: ${problem}`, Code.InvalidArgument);
  }
  const judge = spec?.answerJudge && answerJudgeProblem(spec.answerJudge);
  if (judge) throw new ConnectError(`${field}.answer_judge.${judge.field}: ${judge.problem}`, Code.InvalidArgument);
  if (spec?.answerJudge?.protocol) {
    try {
      qaJudgeProtocol(spec.answerJudge.protocol);
    } catch (err) {
      throw new ConnectError(`${field}.answer_judge.${(err as Error).message}`, Code.InvalidArgument);
    }
  }
}

/** Every QA pair of an imported split; a dataset missing from the store is INVALID_ARGUMENT naming `field`. */
async function qaItems(ctx: ServiceContext, ref: ArtifactRef, field: string): Promise<DatasetQa[]> {
  const items: DatasetQa[] = [];
  try {
    for await (const qa of datasetQaPairs(ctx.artifacts, ref)) {
      if (items.length === MAX_QA_ITEMS)
        throw new ConnectError(`${field}: more than ${MAX_QA_ITEMS} questions; split the dataset`, Code.InvalidArgument);
      items.push(qa);
    }
  } catch (err) {
    if (err instanceof ArtifactNotFoundError)
      throw new ConnectError(`${field}.uri: ${ref.uri} is not in the artifact store`, Code.InvalidArgument);
    throw err;
  }
  return items;
}

/** The judge a spec asks for, or undefined for match only. Configuration mistakes are FAILED_PRECONDITION. */
function answerJudge(
  ctx: ServiceContext,
  policy: Policy,
  model: ModelRef | undefined,
  j: AnswerJudge | undefined,
  field: string,
): { judge: ChatModel; protocol: QaJudgeProtocol } | undefined {
  if (!j || j.kind === AnswerJudgeKind.UNSPECIFIED || j.kind === AnswerJudgeKind.MATCH) return undefined;
  const protocol = qaJudgeProtocol(j.protocol || DEFAULT_PROTOCOL[j.kind]!);
  if (j.kind === AnswerJudgeKind.BUILTIN)
    return { judge: policyChatModel(policy, `builtin:${model?.digest.slice(0, 12) ?? ""}`), protocol };
  try {
    const judge = new ChatClient(
      {
        baseUrl: j.endpoint,
        model: j.model,
        ...(j.apiKeyEnv ? { apiKeyEnv: j.apiKeyEnv } : {}),
        ...(j.timeoutMs ? { timeoutMs: j.timeoutMs } : {}),
        ...(j.concurrency ? { concurrency: j.concurrency } : {}),
        maxRequests: j.maxRequests,
      },
      { logger: ctx.logger },
    );
    return { judge, protocol };
  } catch (err) {
    if (err instanceof LmConfigError) throw new ConnectError(`${field}.answer_judge: ${err.message}`, Code.FailedPrecondition);
    throw err;
  }
}

/** The split name of an imported dataset: its content digest, short. */
const qaSplitName = (ref: ArtifactRef) => `imported:${(ref.sha256 || ref.uri.replace(/^.*\//, "")).slice(0, 12)}`;

export async function evaluateQaSplit(
  ctx: ServiceContext,
  policy: Policy,
  model: ModelRef | undefined,
  ref: ArtifactRef,
  spec: EvaluationSpec | undefined,
  s: Sampling,
  field: string,
  signal?: AbortSignal,
): Promise<SplitMetrics> {
  const items = await qaItems(ctx, ref, `${field}.sharegpt_jsonl`);
  const { frames: n, height, width } = policy.model.config;
  const videos = items.map((q) => ({ id: q.id, video: { id: q.video, source: { case: "uri" as const, value: q.video } } }));
  const { frames, failures } = await resolveItemVideos(videos, { frames: n, height, width }, videoOptions(ctx));
  const failed = new Set(failures.map((f) => f.itemId));
  const ready = items.filter((q) => !failed.has(q.id));
  const answers = (
    await answerQuestions(
      policy,
      ready.map((q) => ({ video: { videoId: q.video, frames: frames.get(q.video)! }, question: q.question })),
      s,
      1,
      signal,
    )
  ).map((a) => a[0]!);
  const judging = answerJudge(ctx, policy, model, spec?.answerJudge, field.replace(/\.splits\[\d+\]$/, ""));
  let scorer = "match";
  let verdicts: ({ match: boolean; score: number } | undefined)[] | undefined;
  let counts = { unparsableJudgements: 0, unjudgedItems: 0 };
  if (judging) {
    const samples = spec?.answerJudge?.samples || 1;
    try {
      const out = await judgeQa(
        judging.judge,
        ready.map((q, i) => ({ question: q.question, reference: q.answer, prediction: answers[i]! })),
        { protocol: judging.protocol, samples },
      );
      verdicts = out.results;
      counts = { unparsableJudgements: out.unparsable, unjudgedItems: out.unjudged };
      scorer = `${spec!.answerJudge!.kind === AnswerJudgeKind.LM ? "lm" : "builtin"} ${out.judge} ${out.protocol}`;
      out.results.forEach((r, i) => {
        if (!r) failures.push({ itemId: ready[i]!.id, reason: `not judged: ${out.stopped}` });
      });
    } catch (err) {
      if (err instanceof LmError) throw new ConnectError(`answer judge: ${err.message}`, Code.Unavailable);
      throw err;
    }
  }
  const scored = ready.flatMap((q, i) =>
    verdicts && !verdicts[i]
      ? []
      : [
          {
            reference: q.answer,
            answer: answers[i]!,
            ...(q.questionType ? { questionType: q.questionType } : {}),
            ...(verdicts ? { verdict: verdicts[i]! } : {}),
          },
        ],
  );
  return create(SplitMetricsSchema, { ...qaSplitMetrics(qaSplitName(ref), scored), scorer, ...counts, failures });
}

/** One split of an evaluation: a synthetic split (the oracle) or an imported QA set (match / answer judge). */
export async function evaluateSpecSplit(
  ctx: ServiceContext,
  policy: Policy,
  model: ModelRef | undefined,
  ref: DatasetRef,
  spec: EvaluationSpec | undefined,
  s: Sampling,
  field: string,
  signal?: AbortSignal,
): Promise<SplitMetrics> {
  const log = (line: string) => ctx.logger.info(line);
  const digest = model?.digest ?? "";
  if (ref.source.case === "sharegptJsonl") {
    const qa = ref.source.value;
    const key = { model: digest, split: qa.sha256 || qa.uri, sampling: s, answerJudge: spec?.answerJudge };
    return cachedSplit(ctx.artifacts, key, () => evaluateQaSplit(ctx, policy, model, qa, spec, s, field, signal), log);
  }
  const bench = syntheticBenchmark(ref, field, policy.model.config.frames);
  const key = { model: digest, split: contentDigest([bench.clips, bench.fitItems]), sampling: s };
  return cachedSplit(
    ctx.artifacts,
    key,
    async () => {
      const m = await evaluateSplit(policy, bench, s, signal);
      m.scorer = "oracle";
      return m;
    },
    log,
  );
}
