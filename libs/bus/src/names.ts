// Names on the bus, validated so that a bad name fails loudly instead of matching a wildcard.

/** Work queues of the pipeline (payload in brackets) and the orchestrator's inbox. */
export const QUEUES = {
  /** PrepareRequest → PrepareFinished */
  prepare: "prepare",
  /** WorkItem (stage RESPONSES) → ShardCompleted (ResponsesShard artifact) */
  responses: "responses",
  /** WorkItem (stage CONTEXT) → ShardCompleted (ContextShard artifact) */
  context: "context",
  /** WorkItem (stage JUDGE) → ShardCompleted (PreferenceShard artifact) */
  judge: "judge",
  /** TrainRequest (SFT or DPO) → JobFinished */
  train: "train",
  /** WorkItem (stage EVALUATE) → EvaluationFinished */
  evaluate: "evaluate",
  /** OrchestratorEvent: every answer above, plus CancelRequested. */
  orchestrator: "orchestrator",
} as const;

const QUEUE_NAME = /^[a-z][a-z0-9-]{0,63}$/;
const LOG_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const KV_KEY = /^[-/_=A-Za-z0-9]+(\.[-/_=A-Za-z0-9]+)*$/;

export function checkQueue(queue: string): string {
  if (!QUEUE_NAME.test(queue)) throw new Error(`queue: "${queue}" must match ${QUEUE_NAME}`);
  return queue;
}

export function checkLog(log: string): string {
  if (log.length > 200 || !LOG_NAME.test(log)) throw new Error(`log: "${log}" must be dot-separated tokens of [A-Za-z0-9_-]`);
  return log;
}

export function checkKey(key: string): string {
  if (key.length > 1000 || !KV_KEY.test(key)) throw new Error(`key: "${key}" must be dot-separated tokens of [-/_=A-Za-z0-9]`);
  return key;
}

export function checkPrefix(prefix: string): string {
  if (prefix !== "" && (!prefix.endsWith(".") || !KV_KEY.test(prefix.slice(0, -1)))) {
    throw new Error(`prefix: "${prefix}" must be empty or a key followed by "."`);
  }
  return prefix;
}

export function checkMsgId(msgId: string): string {
  if (!msgId || msgId.length > 512 || /[\r\n]/.test(msgId)) throw new Error(`msgId: must be 1–512 characters without line breaks`);
  return msgId;
}

const ARTIFACT_SCHEME = "artifact://";
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._=-]*$/;

/**
 * The store-relative path of an artifact URI. Every segment starts with a letter or digit, so
 * "..", "." and absolute paths cannot occur: a URI cannot leave its store.
 */
export function artifactPath(uri: string): string {
  if (!uri.startsWith(ARTIFACT_SCHEME)) throw new Error(`uri: "${uri}" must start with ${ARTIFACT_SCHEME}`);
  const path = uri.slice(ARTIFACT_SCHEME.length);
  if (path.length === 0 || path.length > 1024) throw new Error(`uri: "${uri}" must have a path of 1–1024 characters`);
  for (const segment of path.split("/")) {
    if (!SEGMENT.test(segment)) throw new Error(`uri: "${uri}" has an invalid path segment "${segment}"`);
  }
  return path;
}

/** A URI prefix for list(): "artifact://" followed by whole or partial segments. */
export function artifactPrefix(prefix: string): string {
  if (!prefix.startsWith(ARTIFACT_SCHEME)) throw new Error(`prefix: "${prefix}" must start with ${ARTIFACT_SCHEME}`);
  const path = prefix.slice(ARTIFACT_SCHEME.length);
  if (path !== "") artifactPath(ARTIFACT_SCHEME + (path.endsWith("/") ? path.slice(0, -1) : path));
  return path;
}

export const artifactUri = (path: string) => ARTIFACT_SCHEME + path;
