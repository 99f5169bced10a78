import { clone, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  Alignment,
  CaptionProxySpecSchema,
  CaptionSource,
  ContextMode,
  CritiqueFilter,
  DpoParamsSchema,
  FailurePolicySchema,
  JudgeSpecSchema,
  JudgeStrategy,
  LikelihoodScore,
  ContextSpecSchema,
  EvaluationSpecSchema,
  RunSpecSchema,
  SamplingParamsSchema,
  TrainingParamsSchema,
} from "@isrdpo/contracts";
import type { CaptionProxySpec, RunSpec, SamplingParams, SyntheticDataset, TrainingParams } from "@isrdpo/contracts";
import { CAPTION_JUDGE_PROTOCOLS, protocolTemplate } from "@isrdpo/lm";
import { answerJudgeProblem, datasetUriProblem, envNameProblem } from "./datasets.ts";
import { LIMITS, ppoParamsProblem, syntheticDatasetProblem, trainingParamsProblem } from "./limits.ts";

/** An invalid run spec. `field` is the proto path, e.g. "spec.iterations". */
export class RunSpecError extends Error {
  readonly field: string;
  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = "RunSpecError";
    this.field = field;
  }
}

/**
 * The RunSpec defaults, applied here once: stage handlers read them from the normalised spec and
 * never re-default. (Protobuf zeros mean "unset".)
 */
export const DEFAULTS = {
  shardSize: 64,
  responsesPerItem: 2,
  maxShardAttempts: 3,
  maxFailedItemFraction: 0,
  tieMargin: 0.05,
  responseTemperature: 0.7,
  responseMaxNewTokens: 64,
  dpoBeta: 0.1,
  /** How each iteration trains π_{t+1}: ISR-DPO's DPO. */
  alignment: Alignment.DPO,
  clipCount: 4,
  critiqueFilter: CritiqueFilter.SELF_VERIFY,
  captionSource: CaptionSource.DATASET,
  /** Caption-proxy prompt and parser: with an endpoint, and for the built-in policy (its text length is short). */
  captionProtocol: "caption-proxy-v1",
  captionProtocolBuiltIn: "compact-caption-v1",
  captionSamples: 1,
  lmTimeoutMs: 60_000,
  lmConcurrency: 4,
  lmMaxRetries: 4,
} as const;

/** Judge strategies this release runs; the others are refused when a run is created, not mid-run. */
const BUILT_JUDGES: ReadonlySet<JudgeStrategy> = new Set([
  JudgeStrategy.SELF,
  JudgeStrategy.SELF_LIKELIHOOD,
  JudgeStrategy.SELF_VERIFY,
  JudgeStrategy.ORACLE,
  JudgeStrategy.CAPTION_PROXY,
  JudgeStrategy.SELF_CRITIQUE,
  JudgeStrategy.REWARD_MODEL,
]);

// @isrdpo/vlm's PRESET_NAMES (orchestration does not depend on the model library; a test checks they agree).
export const SFT_PRESETS: readonly string[] = ["test", "small", "base", "large"];

/**
 * Validates a RunSpec and returns a copy with the contract defaults filled in. Throws RunSpecError
 * naming the first invalid field, or the first thing this release cannot run (an unbuilt judge).
 */
export function normalizeRunSpec(input: RunSpec | undefined): RunSpec {
  if (!input) throw new RunSpecError("spec", "is required");
  const spec = clone(RunSpecSchema, input);

  if (spec.name.length > LIMITS.nameLength) fail("spec.name", `must be at most ${LIMITS.nameLength} characters`);

  const initial = spec.initialModel;
  if (!initial || initial.source.case === undefined) {
    fail("spec.initial_model.source", "must be a model or an sft spec");
  }
  if (initial.source.case === "model") {
    const m = initial.source.value;
    if (!m.digest && !m.checkpoint?.uri) fail("spec.initial_model.model", "needs a digest or a checkpoint uri");
  } else if (initial.source.case === "sft") {
    const sft = initial.source.value;
    if (!SFT_PRESETS.includes(sft.preset)) {
      fail("spec.initial_model.sft.preset", `must be one of ${SFT_PRESETS.join(", ")}, got "${sft.preset}"`);
    }
    if (!sft.data && sft.datasets.length === 0) fail("spec.initial_model.sft.data", "is required (or sft.datasets)");
    if (sft.data) checkSynthetic(sft.data, "spec.initial_model.sft.data", LIMITS.datasetClips);
    if (sft.datasets.length > LIMITS.datasets)
      fail("spec.initial_model.sft.datasets", `at most ${LIMITS.datasets}, got ${sft.datasets.length}`);
    sft.datasets.forEach((d, i) => checkDatasetUri(`spec.initial_model.sft.datasets[${i}].uri`, d.uri));
    if (sft.training) checkTraining(sft.training, "spec.initial_model.sft.training", true);
    // The critique and revision skills are taught when the run's judge uses them.
    sft.critiqueSkills ??= spec.judge?.strategy === JudgeStrategy.SELF_CRITIQUE;
  }
  if (initial.seedPreferences && !initial.seedPreferences.uri) {
    fail("spec.initial_model.seed_preferences.uri", "must not be empty");
  }

  const prompts = spec.prompts;
  if (!prompts || prompts.source.case === undefined) fail("spec.prompts.source", "must be synthetic or sharegpt_jsonl");
  if (prompts.source.case === "synthetic") checkSynthetic(prompts.source.value, "spec.prompts.synthetic", LIMITS.datasetClips);
  if (prompts.source.case === "sharegptJsonl") checkDatasetUri("spec.prompts.sharegpt_jsonl.uri", prompts.source.value.uri);

  if (spec.iterations < 1) fail("spec.iterations", "must be ≥ 1");
  if (spec.iterations > LIMITS.iterations) fail("spec.iterations", `must be ≤ ${LIMITS.iterations}`);

  spec.context ??= create(ContextSpecSchema, {});
  if (spec.context.mode === ContextMode.UNSPECIFIED) spec.context.mode = ContextMode.RETROSPECTIVE;
  if (!(spec.context.mode in ContextMode)) fail("spec.context.mode", `unknown value ${spec.context.mode}`);
  if (spec.context.clipCount === 0) spec.context.clipCount = DEFAULTS.clipCount;
  if (spec.context.clipCount > LIMITS.contextClipCount) fail("spec.context.clip_count", `must be ≤ ${LIMITS.contextClipCount}`);
  if (spec.context.sampling) checkSampling(spec.context.sampling, "spec.context.sampling");

  spec.judge ??= create(JudgeSpecSchema, {});
  if (spec.judge.strategy === JudgeStrategy.UNSPECIFIED) spec.judge.strategy = JudgeStrategy.SELF;
  if (!(spec.judge.strategy in JudgeStrategy)) fail("spec.judge.strategy", `unknown value ${spec.judge.strategy}`);
  if (spec.judge.tieMargin === 0) spec.judge.tieMargin = DEFAULTS.tieMargin;
  if (!(spec.judge.tieMargin > 0 && spec.judge.tieMargin < 1)) fail("spec.judge.tie_margin", "must be in (0, 1)");
  if (spec.judge.strategy === JudgeStrategy.REWARD_MODEL && !spec.judge.rewardModel?.digest) {
    fail("spec.judge.reward_model.digest", "is required for JUDGE_STRATEGY_REWARD_MODEL (a JOB_KIND_REWARD_MODEL output)");
  }
  if (!BUILT_JUDGES.has(spec.judge.strategy)) {
    const built = [...BUILT_JUDGES].map((j) => JudgeStrategy[j]).join(", ");
    fail("spec.judge.strategy", `${JudgeStrategy[spec.judge.strategy]} is not implemented yet (${built} are)`);
  }
  if (spec.judge.likelihoodScore === LikelihoodScore.UNSPECIFIED) spec.judge.likelihoodScore = LikelihoodScore.SEQUENCE;
  if (!(spec.judge.likelihoodScore in LikelihoodScore)) fail("spec.judge.likelihood_score", `unknown value ${spec.judge.likelihoodScore}`);
  normalizeJudgeLm(spec);

  spec.responseSampling ??= create(SamplingParamsSchema, { temperature: DEFAULTS.responseTemperature });
  if (spec.responseSampling.maxNewTokens === 0) spec.responseSampling.maxNewTokens = DEFAULTS.responseMaxNewTokens;
  checkSampling(spec.responseSampling, "spec.response_sampling");

  if (spec.responsesPerItem === 0) spec.responsesPerItem = DEFAULTS.responsesPerItem;
  if (spec.responsesPerItem < 2) fail("spec.responses_per_item", "must be ≥ 2 (the judge compares the best and the worst answer)");
  if (spec.responsesPerItem > LIMITS.responsesPerItem) {
    fail("spec.responses_per_item", `must be ≤ ${LIMITS.responsesPerItem}`);
  }

  if (spec.alignment === Alignment.UNSPECIFIED) spec.alignment = DEFAULTS.alignment;
  if (!(spec.alignment in Alignment)) fail("spec.alignment", `unknown value ${spec.alignment}`);
  if (spec.alignment === Alignment.PPO) {
    const ppo = ppoParamsProblem(spec.ppo);
    if (ppo) fail(`spec.ppo.${ppo.field}`, ppo.problem);
  } else if (spec.ppo) fail("spec.ppo", "is only for ALIGNMENT_PPO");
  spec.dpo ??= create(DpoParamsSchema, {});
  if (spec.dpo.beta === 0) spec.dpo.beta = DEFAULTS.dpoBeta;
  if (!(spec.dpo.beta > 0) || !Number.isFinite(spec.dpo.beta)) fail("spec.dpo.beta", "must be > 0");
  spec.training ??= create(TrainingParamsSchema, {});
  checkTraining(spec.training, "spec.training", false);
  spec.evaluation ??= create(EvaluationSpecSchema, {});
  spec.evaluation.splits.forEach((d, i) => {
    if (d.source.case === "sharegptJsonl") checkDatasetUri(`spec.evaluation.splits[${i}].sharegpt_jsonl.uri`, d.source.value.uri);
    if (d.source.case === "synthetic") checkSynthetic(d.source.value, `spec.evaluation.splits[${i}].synthetic`, LIMITS.evaluationClips);
  });
  if (spec.evaluation.sampling) checkSampling(spec.evaluation.sampling, "spec.evaluation.sampling");
  const judgeProblem = spec.evaluation.answerJudge && answerJudgeProblem(spec.evaluation.answerJudge);
  if (judgeProblem) fail(`spec.evaluation.answer_judge.${judgeProblem.field}`, judgeProblem.problem);

  if (spec.shardSize === 0) spec.shardSize = DEFAULTS.shardSize;
  if (spec.shardSize > LIMITS.shardSize) fail("spec.shard_size", `must be ≤ ${LIMITS.shardSize}`);

  spec.failurePolicy ??= create(FailurePolicySchema, {});
  const policy = spec.failurePolicy;
  if (policy.maxShardAttempts === 0) policy.maxShardAttempts = DEFAULTS.maxShardAttempts;
  if (policy.maxShardAttempts > LIMITS.maxShardAttempts) {
    fail("spec.failure_policy.max_shard_attempts", `must be ≤ ${LIMITS.maxShardAttempts}`);
  }
  const fraction = policy.maxFailedItemFraction;
  if (!(fraction >= 0 && fraction <= 1)) fail("spec.failure_policy.max_failed_item_fraction", "must be in [0, 1]");
  // Through the wire format once: float fields become float32, exactly as stored and compared later.
  return fromBinary(RunSpecSchema, toBinary(RunSpecSchema, spec));
}

/** The self-critique filter and the caption-proxy judge of a normalised judge spec. */
function normalizeJudgeLm(spec: RunSpec): void {
  const j = spec.judge!;
  // The first two caption-proxy fields, superseded by caption_proxy: moved there.
  if (j.captionProxyEndpoint || j.captionProxyModel) {
    j.captionProxy ??= create(CaptionProxySpecSchema, {});
    for (const [legacy, key] of [
      ["caption_proxy_endpoint", "endpoint"],
      ["caption_proxy_model", "model"],
    ] as const) {
      const old = key === "endpoint" ? j.captionProxyEndpoint : j.captionProxyModel;
      if (old && j.captionProxy[key] && j.captionProxy[key] !== old)
        fail(`spec.judge.${legacy}`, `conflicts with spec.judge.caption_proxy.${key}`);
      j.captionProxy[key] ||= old;
    }
    j.captionProxyEndpoint = "";
    j.captionProxyModel = "";
  }
  if (j.strategy === JudgeStrategy.SELF_CRITIQUE) {
    if (j.critiqueFilter === CritiqueFilter.UNSPECIFIED) j.critiqueFilter = DEFAULTS.critiqueFilter;
    if (!(j.critiqueFilter in CritiqueFilter)) fail("spec.judge.critique_filter", `unknown value ${j.critiqueFilter}`);
  } else if (j.critiqueFilter !== CritiqueFilter.UNSPECIFIED) {
    fail("spec.judge.critique_filter", "is only for JUDGE_STRATEGY_SELF_CRITIQUE");
  }
  const usesProxy =
    j.strategy === JudgeStrategy.CAPTION_PROXY ||
    (j.strategy === JudgeStrategy.SELF_CRITIQUE && j.critiqueFilter === CritiqueFilter.CAPTION_PROXY);
  if (!usesProxy) {
    if (j.captionProxy) fail("spec.judge.caption_proxy", "is only for JUDGE_STRATEGY_CAPTION_PROXY or a self-critique filtered by it");
    return;
  }
  j.captionProxy = normalizeCaptionProxy(j.captionProxy, "spec.judge.caption_proxy");
  if (j.captionProxy.captionSource === CaptionSource.CONTEXT && spec.context?.mode === ContextMode.NONE)
    fail("spec.judge.caption_proxy.caption_source", "CAPTION_SOURCE_CONTEXT needs a context stage (context mode is CONTEXT_MODE_NONE)");
}

/**
 * A caption-proxy judge with its defaults (CreateRun and the Judge RPC both apply them): an endpoint
 * needs an http(s) URL and a model; without one the built-in policy judges, text only.
 */
export function normalizeCaptionProxy(input: CaptionProxySpec | undefined, field: string): CaptionProxySpec {
  const cp = input ? clone(CaptionProxySpecSchema, input) : create(CaptionProxySpecSchema, {});
  const builtIn = cp.endpoint === "";
  if (builtIn) {
    for (const [key, set] of [
      ["model", cp.model !== ""],
      ["api_key_env", cp.apiKeyEnv !== ""],
      ["max_requests", cp.maxRequests !== 0],
    ] as const)
      if (set) fail(`${field}.${key}`, "is for an LM endpoint: set endpoint too (an empty endpoint means the built-in policy)");
  } else {
    if (!/^https?:\/\/[^\s/]+/.test(cp.endpoint)) fail(`${field}.endpoint`, `must be an http(s) URL, got "${cp.endpoint}"`);
    if (!cp.model) fail(`${field}.model`, "is required with an endpoint");
  }
  const envProblem = cp.apiKeyEnv ? envNameProblem(cp.apiKeyEnv) : undefined;
  if (envProblem) fail(`${field}.api_key_env`, envProblem);
  if (cp.captionSource === CaptionSource.UNSPECIFIED) cp.captionSource = DEFAULTS.captionSource;
  if (!(cp.captionSource in CaptionSource)) fail(`${field}.caption_source`, `unknown value ${cp.captionSource}`);
  cp.protocol ||= builtIn ? DEFAULTS.captionProtocolBuiltIn : DEFAULTS.captionProtocol;
  if (!CAPTION_JUDGE_PROTOCOLS[cp.protocol])
    fail(`${field}.protocol`, `unknown "${cp.protocol}" (known: ${Object.keys(CAPTION_JUDGE_PROTOCOLS).join(", ")})`);
  if (cp.samples === 0) cp.samples = DEFAULTS.captionSamples;
  if (cp.samples > LIMITS.lmSamples) fail(`${field}.samples`, `must be ≤ ${LIMITS.lmSamples}`);
  if (cp.timeoutMs === 0) cp.timeoutMs = DEFAULTS.lmTimeoutMs;
  if (cp.timeoutMs > LIMITS.lmTimeoutMs) fail(`${field}.timeout_ms`, `must be ≤ ${LIMITS.lmTimeoutMs}`);
  if (cp.concurrency === 0) cp.concurrency = DEFAULTS.lmConcurrency;
  if (cp.concurrency > LIMITS.lmConcurrency) fail(`${field}.concurrency`, `must be ≤ ${LIMITS.lmConcurrency}`);
  cp.maxRetries ??= DEFAULTS.lmMaxRetries;
  if (cp.maxRetries > LIMITS.lmMaxRetries) fail(`${field}.max_retries`, `must be ≤ ${LIMITS.lmMaxRetries}`);
  return cp;
}

/** The prompt templates a run's judge adds to the policy's (recorded in Run.prompt_templates). */
export function judgeTemplates(spec: RunSpec): Record<string, string> {
  const protocol = spec.judge?.captionProxy?.protocol;
  const p = protocol ? CAPTION_JUDGE_PROTOCOLS[protocol] : undefined;
  return p ? { [`caption-proxy/${p.id}`]: protocolTemplate(p) } : {};
}

function checkTraining(t: TrainingParams, field: string, sft: boolean): void {
  const p = trainingParamsProblem(t, sft);
  if (p) fail(`${field}.${p.field}`, p.problem);
}

function checkSampling(s: SamplingParams, field: string): void {
  if (!(s.temperature >= 0 && s.temperature <= 10)) fail(`${field}.temperature`, "must be in [0, 10]");
  if (!(s.topP >= 0 && s.topP <= 1)) fail(`${field}.top_p`, "must be in [0, 1]");
  if (s.maxNewTokens > LIMITS.maxNewTokens) fail(`${field}.max_new_tokens`, `must be ≤ ${LIMITS.maxNewTokens}`);
}

function checkSynthetic(d: SyntheticDataset, field: string, maxClips: number): void {
  const p = syntheticDatasetProblem(d, maxClips);
  if (p) fail(`${field}.${p.field}`, p.problem);
}

function checkDatasetUri(field: string, uri: string): void {
  const problem = datasetUriProblem(uri);
  if (problem) fail(field, problem);
}

function fail(field: string, problem: string): never {
  throw new RunSpecError(field, problem);
}
