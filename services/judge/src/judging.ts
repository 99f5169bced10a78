// The judge service's side of a strategy: the contract's enums mapped onto libs/judge, the
// caption-proxy judge's language model (an OpenAI-compatible endpoint or the policy, text only), and
// which strategies are built. Every judgment itself happens in libs/judge.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  CaptionSource,
  CritiqueFilter,
  JudgeStrategy,
  LikelihoodScore,
  type CaptionProxySpec,
  type JudgeStatsSchema,
  type ModelRef,
} from "@isrdpo/contracts";
import {
  JudgeInputError,
  judgeAll,
  type CaptionProxyJudge,
  type CritiqueFilter as FilterName,
  type ItemToJudge,
  type Preference,
  type Strategy,
} from "@isrdpo/judge";
import { ChatClient, LmConfigError, LmError, captionJudgeProtocol } from "@isrdpo/lm";
import type { ServiceContext } from "@isrdpo/runtime";
import { acquireModel, policyChatModel } from "@isrdpo/serving";
import type { Policy } from "@isrdpo/vlm";

const METHODS: Partial<Record<JudgeStrategy, Strategy>> = {
  [JudgeStrategy.SELF]: "self",
  [JudgeStrategy.SELF_LIKELIHOOD]: "self-likelihood",
  [JudgeStrategy.SELF_VERIFY]: "self-verify",
  [JudgeStrategy.ORACLE]: "oracle",
  [JudgeStrategy.CAPTION_PROXY]: "caption-proxy",
  [JudgeStrategy.SELF_CRITIQUE]: "self-critique",
  [JudgeStrategy.REWARD_MODEL]: "reward-model",
};

const FILTERS: Partial<Record<CritiqueFilter, FilterName>> = {
  [CritiqueFilter.NONE]: "none",
  [CritiqueFilter.SELF_LIKELIHOOD]: "self-likelihood",
  [CritiqueFilter.SELF_VERIFY]: "self-verify",
  [CritiqueFilter.CAPTION_PROXY]: "caption-proxy",
};

/** The library's strategy for a contract's; UNIMPLEMENTED for strategies that are not built. */
export function judgeMethod(strategy: JudgeStrategy): Strategy {
  const method = METHODS[strategy];
  if (!method) {
    const built = Object.keys(METHODS).map((s) => `JUDGE_STRATEGY_${JudgeStrategy[Number(s)]}`);
    throw new ConnectError(
      `judge strategy JUDGE_STRATEGY_${JudgeStrategy[strategy]} is not implemented yet (${built.join(", ")} are)`,
      Code.Unimplemented,
    );
  }
  return method;
}

function critiqueFilterOf(f: CritiqueFilter): FilterName {
  const name = FILTERS[f];
  if (!name) throw new ConnectError(`critique_filter: unknown value ${f}`, Code.InvalidArgument);
  return name;
}

/** Settings of one judging call: a judge shard's params, or a Judge request (both normalised). */
export interface JudgeSettings {
  tieMargin: number;
  singleOrder: boolean;
  likelihoodScore: LikelihoodScore;
  critiqueFilter: CritiqueFilter;
  /** Normalised (libs/orchestration normalizeCaptionProxy); for caption-proxy and its critique filter. */
  captionProxy?: CaptionProxySpec | undefined;
  /** Requests this call may make (a shard's share of the run's budget); undefined: no limit. */
  requestShare?: number | undefined;
  /** For the reward-model judge. */
  rewardModel?: ModelRef | undefined;
}

/** Whether a strategy with these settings asks a caption-proxy judge. */
export function usesCaptionProxy(strategy: JudgeStrategy, critiqueFilter: CritiqueFilter): boolean {
  return (
    strategy === JudgeStrategy.CAPTION_PROXY ||
    (strategy === JudgeStrategy.SELF_CRITIQUE && critiqueFilter === CritiqueFilter.CAPTION_PROXY)
  );
}

export function captionSource(cp: CaptionProxySpec): CaptionProxyJudge["source"] {
  return cp.captionSource === CaptionSource.CONTEXT ? "context" : "dataset";
}

export async function judge(
  ctx: ServiceContext,
  strategy: JudgeStrategy,
  policy: Policy | undefined,
  items: readonly ItemToJudge[],
  s: JudgeSettings,
): Promise<{ preferences: Preference[]; stats: MessageInitShape<typeof JudgeStatsSchema> }> {
  const method = judgeMethod(strategy);
  let client: ChatClient | undefined;
  let captionProxy: CaptionProxyJudge | undefined;
  if (usesCaptionProxy(strategy, s.critiqueFilter)) {
    const cp = s.captionProxy;
    if (!cp) throw new ConnectError("caption_proxy: required for the caption-proxy judge", Code.InvalidArgument);
    if (cp.endpoint) {
      try {
        client = new ChatClient(
          {
            baseUrl: cp.endpoint,
            model: cp.model,
            ...(cp.apiKeyEnv ? { apiKeyEnv: cp.apiKeyEnv } : {}),
            timeoutMs: cp.timeoutMs,
            concurrency: cp.concurrency,
            maxRetries: cp.maxRetries ?? 0,
            ...(s.requestShare ? { maxRequests: s.requestShare } : {}),
          },
          { logger: ctx.logger },
        );
      } catch (err) {
        if (err instanceof LmConfigError) throw new ConnectError(`caption_proxy.${err.message}`, Code.FailedPrecondition);
        throw err;
      }
    } else if (!policy) throw new Error("judge: the built-in caption-proxy judge needs the policy model");
    captionProxy = {
      model: client ?? policyChatModel(policy!, "builtin:policy"),
      protocol: captionJudgeProtocol(cp.protocol),
      samples: cp.samples,
      source: captionSource(cp),
      ...(s.requestShare !== undefined ? { requestShare: s.requestShare } : {}),
    };
  }
  // The reward-model judge scores with its own model version, loaded (and cached) by digest.
  const rm = strategy === JudgeStrategy.REWARD_MODEL ? await acquireModel(ctx, s.rewardModel, "reward_model") : undefined;
  try {
    if (rm && !rm.policy.rewardHead)
      throw new ConnectError(
        `reward_model: model ${s.rewardModel!.digest} has no reward head (train one with a JOB_KIND_REWARD_MODEL job)`,
        Code.InvalidArgument,
      );
    const out = await judgeAll(method, policy, items, {
      tieMargin: s.tieMargin,
      singleOrder: s.singleOrder,
      likelihood: s.likelihoodScore === LikelihoodScore.CONTEXT_GAIN ? "context-gain" : "sequence",
      ...(strategy === JudgeStrategy.SELF_CRITIQUE ? { critiqueFilter: critiqueFilterOf(s.critiqueFilter) } : {}),
      ...(captionProxy ? { captionProxy } : {}),
      ...(rm ? { rewardModel: rm.policy } : {}),
    });
    const lm = client?.stats() ?? { requests: 0, retries: 0 };
    return {
      preferences: out.preferences,
      stats: {
        lmRequests: lm.requests,
        lmRetries: lm.retries,
        unparsableJudgements: out.stats.unparsable,
        unscoredAnswers: out.stats.unscored,
        stopped: out.stats.stopped,
      },
    };
  } catch (err) {
    if (err instanceof JudgeInputError) throw new ConnectError(err.message, Code.InvalidArgument);
    // An endpoint that keeps failing after its retries: the shard fails (and is retried by the run).
    if (err instanceof LmError) throw new ConnectError(`caption-proxy judge: ${err.message}`, Code.Unavailable);
    throw err;
  } finally {
    rm?.release();
  }
}
