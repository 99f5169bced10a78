// Evaluation results cached in the artifact store by what determines them: the model's digest, the
// split's content, the sampling, the answer judge, the prompt templates and this code's version. An
// all-tie iteration (the trainer returns π_t unchanged, same digest) and a second demo on a cached π_1
// are then not evaluated again (~25 s each on `small`).
import { createHash } from "node:crypto";
import { fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import { AnswerJudgeSchema, SplitMetricsSchema, type AnswerJudge, type SplitMetrics } from "@isrdpo/contracts";
import { ArtifactNotFoundError, type ArtifactStore } from "@isrdpo/bus";
import { PROMPT_TEMPLATES, type Sampling } from "@isrdpo/vlm";

/** Bump when scoring or answering changes what a cached split would hold. */
export const EVAL_CACHE_VERSION = 1;

export interface SplitKey {
  /** The evaluated model's digest. */
  model: string;
  /** What identifies the split's content: a digest of the synthetic clips, or the imported dataset's sha256. */
  split: string;
  sampling: Sampling;
  /** The answer judge, for splits it scores (imported QA sets); external LM judges included. */
  answerJudge?: AnswerJudge | undefined;
}

/** `artifact://evaluations/<sha256 of the key>.pb`: where one split's result is kept. */
export function splitCacheUri(key: SplitKey): string {
  const judge = key.answerJudge ? toJsonString(AnswerJudgeSchema, key.answerJudge) : "";
  const h = createHash("sha256").update(JSON.stringify([EVAL_CACHE_VERSION, key.model, key.split, key.sampling, judge, PROMPT_TEMPLATES]));
  return `artifact://evaluations/${h.digest("hex")}.pb`;
}

/** A digest of any JSON-able value (the synthetic clips of a split: scenes and questions). */
export function contentDigest(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}

/**
 * The cached result under `key`, or `compute()`'s, stored for next time unless some items were left
 * unjudged (an answer judge's request budget or endpoint gave out: a retry may do better).
 */
export async function cachedSplit(
  artifacts: ArtifactStore,
  key: SplitKey,
  compute: () => Promise<SplitMetrics>,
  log: (line: string) => void = () => undefined,
): Promise<SplitMetrics> {
  const uri = splitCacheUri(key);
  try {
    const hit = fromBinary(SplitMetricsSchema, await artifacts.get(uri));
    log(`evaluation of ${key.model.slice(0, 12)} on ${hit.split} reused from ${uri}`);
    return hit;
  } catch (err) {
    if (!(err instanceof ArtifactNotFoundError)) throw err;
  }
  const m = await compute();
  if (m.unjudgedItems === 0) await artifacts.put(uri, toBinary(SplitMetricsSchema, m), "application/x-protobuf");
  return m;
}
