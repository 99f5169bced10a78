// The rules for datasets and answer judges in specs, in one place: CreateRun (normalizeRunSpec) and
// the evaluator's RPCs both apply them. Each returns the problem (field relative to the argument) or
// undefined.
import { artifactPath } from "@isrdpo/bus";
import { AnswerJudgeKind, type AnswerJudge } from "@isrdpo/contracts";

/**
 * A dataset in a spec is an artifact (`isrdpo data import` prints its URI). A plain path would name
 * a file on the machine that wrote the spec, not one the cluster can read.
 */
export function datasetUriProblem(uri: string): string | undefined {
  if (!uri) return "must not be empty";
  if (uri.startsWith("artifact://")) {
    try {
      artifactPath(uri);
      return undefined;
    } catch (err) {
      return (err as Error).message.replace(/^uri: /, "");
    }
  }
  return (
    `"${uri}" is not an artifact URI: import the dataset first (isrdpo data import --jsonl ${uri} --videos <dir>) ` +
    "and use the artifact:// URI it prints"
  );
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** An API key is named, never given: a spec holds the name of the variable, quoted only by its start. */
export function envNameProblem(name: string): string | undefined {
  return ENV_NAME.test(name) ? undefined : `must be the NAME of an environment variable, got "${name.slice(0, 3)}…"`;
}

/** An answer judge that can run: an LM judge needs an http(s) endpoint and a model; a key is named, never given. */
export function answerJudgeProblem(j: AnswerJudge): { field: string; problem: string } | undefined {
  if (!(j.kind in AnswerJudgeKind)) return { field: "kind", problem: `unknown value ${j.kind}` };
  if (j.kind === AnswerJudgeKind.LM) {
    if (!/^https?:\/\/[^\s/]+/.test(j.endpoint)) return { field: "endpoint", problem: `must be an http(s) URL, got "${j.endpoint}"` };
    if (!j.model) return { field: "model", problem: "is required for ANSWER_JUDGE_KIND_LM" };
  }
  const envProblem = j.apiKeyEnv ? envNameProblem(j.apiKeyEnv) : undefined;
  if (envProblem) return { field: "api_key_env", problem: envProblem };
  if (j.samples > 64) return { field: "samples", problem: "must be ≤ 64" };
  if (j.concurrency > 1024) return { field: "concurrency", problem: "must be ≤ 1024" };
  return undefined;
}
