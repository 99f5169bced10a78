import { Alignment, CaptionSource, ContextMode, CritiqueFilter, JudgeStrategy, type LrSchedule, ToyReward } from "@isrdpo/contracts";
import { describe, expect, it } from "vitest";
import { LIMITS, RunSpecError, judgeTemplates, normalizeRunSpec } from "../src/index.ts";
import { requestShare } from "../src/commands.ts";
import { testRunSpec } from "../src/testing.ts";

describe("normalizeRunSpec", () => {
  it("accepts the reward-model judge with the reward model's digest", () => {
    const s = normalizeRunSpec(testRunSpec({ judge: { strategy: JudgeStrategy.REWARD_MODEL, rewardModel: { name: "rm", digest: "d" } } }));
    expect(s.judge).toMatchObject({ strategy: JudgeStrategy.REWARD_MODEL, rewardModel: { digest: "d" } });
  });

  it("defaults to DPO per iteration; accepts PPO with exactly one reward", () => {
    expect(normalizeRunSpec(testRunSpec()).alignment).toBe(Alignment.DPO);
    const s = normalizeRunSpec(testRunSpec({ alignment: Alignment.PPO, ppo: { rewardModel: { digest: "rm" } } }));
    expect(s).toMatchObject({ alignment: Alignment.PPO, ppo: { rewardModel: { digest: "rm" } } });
  });

  it("fills the contract defaults", () => {
    const s = normalizeRunSpec(testRunSpec({ shardSize: 0 }));
    expect(s.shardSize).toBe(64);
    expect(s.responsesPerItem).toBe(2);
    expect(s.failurePolicy).toMatchObject({ maxShardAttempts: 3, maxFailedItemFraction: 0 });
    expect(s.judge).toMatchObject({ strategy: JudgeStrategy.SELF });
    expect(s.judge!.tieMargin).toBeCloseTo(0.05, 6);
    expect(s.responseSampling!.temperature).toBeCloseTo(0.7, 6);
    expect(s.responseSampling!.maxNewTokens).toBe(64);
    expect(s.context!.clipCount).toBe(4);
    expect(s.context!.mode).toBe(ContextMode.RETROSPECTIVE);
    expect(s.dpo!.beta).toBeCloseTo(0.1, 6);
  });

  const cases: [string, Parameters<typeof testRunSpec>[0], string][] = [
    ["no initial model", { initialModel: {} }, "spec.initial_model.source"],
    ["model without digest or uri", { initialModel: { source: { case: "model", value: { name: "x" } } } }, "spec.initial_model.model"],
    [
      "unknown sft preset",
      { initialModel: { source: { case: "sft", value: { preset: "huge", data: {} } } } },
      "spec.initial_model.sft.preset",
    ],
    ["no prompts", { prompts: {} }, "spec.prompts.source"],
    ["empty synthetic set", { prompts: { source: { case: "synthetic", value: { clipCount: 0 } } } }, "spec.prompts.synthetic.clip_count"],
    ["empty jsonl uri", { prompts: { source: { case: "sharegptJsonl", value: { uri: "" } } } }, "spec.prompts.sharegpt_jsonl.uri"],
    ["sft without any data", { initialModel: { source: { case: "sft", value: { preset: "test" } } } }, "spec.initial_model.sft.data"],
    [
      "sft dataset given as a path",
      { initialModel: { source: { case: "sft", value: { preset: "test", datasets: [{ uri: "train.jsonl" }] } } } },
      "spec.initial_model.sft.datasets[0].uri",
    ],
    [
      "evaluation split given as a path",
      { evaluation: { splits: [{ source: { case: "sharegptJsonl", value: { uri: "/data/test.jsonl" } } }] } },
      "spec.evaluation.splits[0].sharegpt_jsonl.uri",
    ],
    ["LM judge without endpoint", { evaluation: { answerJudge: { kind: 2, model: "m" } } }, "spec.evaluation.answer_judge.endpoint"],
    [
      "LM judge given a key instead of its variable's name",
      { evaluation: { answerJudge: { kind: 2, endpoint: "http://lm:8000/v1", model: "m", apiKeyEnv: "sk-secret-123" } } },
      "spec.evaluation.answer_judge.api_key_env",
    ],
    ["zero iterations", { iterations: 0 }, "spec.iterations"],
    ["absurd iterations", { iterations: 1_000_000 }, "spec.iterations"],
    ["one response per item", { responsesPerItem: 1 }, "spec.responses_per_item"],
    ["huge shards", { shardSize: 1_000_000 }, "spec.shard_size"],
    ["negative temperature", { responseSampling: { temperature: -1 } }, "spec.response_sampling.temperature"],
    ["absurd token count", { responseSampling: { maxNewTokens: 10_000_000 } }, "spec.response_sampling.max_new_tokens"],
    ["tie margin ≥ 1", { judge: { tieMargin: 1.5 } }, "spec.judge.tie_margin"],
    ["reward model missing", { judge: { strategy: JudgeStrategy.REWARD_MODEL } }, "spec.judge.reward_model.digest"],
    [
      "caption-proxy endpoint that is not a URL",
      { judge: { strategy: JudgeStrategy.CAPTION_PROXY, captionProxy: { endpoint: "vllm:8000", model: "m" } } },
      "spec.judge.caption_proxy.endpoint",
    ],
    [
      "caption-proxy endpoint without a model",
      { judge: { strategy: JudgeStrategy.CAPTION_PROXY, captionProxy: { endpoint: "http://vllm:8000/v1" } } },
      "spec.judge.caption_proxy.model",
    ],
    [
      "caption-proxy given a key instead of its variable's name",
      { judge: { strategy: JudgeStrategy.CAPTION_PROXY, captionProxy: { endpoint: "http://x/v1", model: "m", apiKeyEnv: "sk-abc" } } },
      "spec.judge.caption_proxy.api_key_env",
    ],
    [
      "a request budget for the built-in judge",
      { judge: { strategy: JudgeStrategy.CAPTION_PROXY, captionProxy: { maxRequests: 10 } } },
      "spec.judge.caption_proxy.max_requests",
    ],
    [
      "an unknown caption-proxy protocol",
      { judge: { strategy: JudgeStrategy.CAPTION_PROXY, captionProxy: { protocol: "gpt4-v9" } } },
      "spec.judge.caption_proxy.protocol",
    ],
    [
      "c_t as the caption without a context stage",
      {
        context: { mode: ContextMode.NONE },
        judge: { strategy: JudgeStrategy.CAPTION_PROXY, captionProxy: { captionSource: CaptionSource.CONTEXT } },
      },
      "spec.judge.caption_proxy.caption_source",
    ],
    ["caption-proxy settings for another judge", { judge: { captionProxy: { samples: 3 } } }, "spec.judge.caption_proxy"],
    ["a critique filter for another judge", { judge: { critiqueFilter: CritiqueFilter.NONE } }, "spec.judge.critique_filter"],
    [
      "legacy and new caption-proxy endpoints that disagree",
      {
        judge: {
          strategy: JudgeStrategy.CAPTION_PROXY,
          captionProxyEndpoint: "http://a/v1",
          captionProxy: { endpoint: "http://b/v1", model: "m" },
        },
      },
      "spec.judge.caption_proxy_endpoint",
    ],
    ["PPO without a reward", { alignment: Alignment.PPO }, "spec.ppo.reward_model"],
    [
      "PPO with two rewards",
      { alignment: Alignment.PPO, ppo: { rewardModel: { digest: "rm" }, toyReward: ToyReward.COLOUR } },
      "spec.ppo.reward_model",
    ],
    ["PPO with γ above 1", { alignment: Alignment.PPO, ppo: { toyReward: ToyReward.COLOUR, gamma: 2 } }, "spec.ppo.gamma"],
    ["PPO settings on a DPO run", { ppo: { toyReward: ToyReward.COLOUR } }, "spec.ppo"],
    ["an unknown alignment", { alignment: 7 as Alignment }, "spec.alignment"],
    ["an unknown judge", { judge: { strategy: 99 as JudgeStrategy } }, "spec.judge.strategy"],
    [
      "reward model without a digest",
      { judge: { strategy: JudgeStrategy.REWARD_MODEL, rewardModel: { name: "rm" } } },
      "spec.judge.reward_model.digest",
    ],
    ["fraction above 1", { failurePolicy: { maxFailedItemFraction: 2 } }, "spec.failure_policy.max_failed_item_fraction"],
    ["too many attempts", { failurePolicy: { maxShardAttempts: 1000 } }, "spec.failure_policy.max_shard_attempts"],
    ["negative beta", { dpo: { beta: -0.1 } }, "spec.dpo.beta"],
    // Sizes: each limit of LIMITS, just beyond it (issue 18: clip_count=4e9 froze the orchestrator).
    [
      "a huge synthetic prompt set",
      { prompts: { source: { case: "synthetic", value: { clipCount: LIMITS.datasetClips + 1 } } } },
      "spec.prompts.synthetic.clip_count",
    ],
    [
      "an unknown prompt split",
      { prompts: { source: { case: "synthetic", value: { clipCount: 4, split: "dev" } } } },
      "spec.prompts.synthetic.split",
    ],
    [
      "huge prompt clips",
      { prompts: { source: { case: "synthetic", value: { clipCount: 4, frames: LIMITS.clipFrames + 1 } } } },
      "spec.prompts.synthetic.frames",
    ],
    [
      "wide prompt clips",
      { prompts: { source: { case: "synthetic", value: { clipCount: 4, width: LIMITS.clipSide + 1 } } } },
      "spec.prompts.synthetic.width",
    ],
    [
      "a huge SFT mix",
      { initialModel: { source: { case: "sft", value: { preset: "test", data: { clipCount: LIMITS.datasetClips + 1 } } } } },
      "spec.initial_model.sft.data.clip_count",
    ],
    [
      "too many SFT datasets",
      {
        initialModel: {
          source: {
            case: "sft",
            value: {
              preset: "test",
              datasets: Array.from({ length: LIMITS.datasets + 1 }, () => ({ uri: "artifact://datasets/a.jsonl" })),
            },
          },
        },
      },
      "spec.initial_model.sft.datasets",
    ],
    [
      "absurd SFT epochs",
      {
        initialModel: {
          source: { case: "sft", value: { preset: "test", data: { clipCount: 4 }, training: { epochs: LIMITS.epochs + 1 } } },
        },
      },
      "spec.initial_model.sft.training.epochs",
    ],
    [
      "a huge evaluation split",
      { evaluation: { splits: [{ source: { case: "synthetic", value: { clipCount: LIMITS.evaluationClips + 1 } } }] } },
      "spec.evaluation.splits[0].synthetic.clip_count",
    ],
    ["an unknown schedule", { training: { schedule: 9 as LrSchedule } }, "spec.training.schedule"],
    ["a huge batch", { training: { batchSize: LIMITS.batchSize + 1 } }, "spec.training.batch_size"],
    [
      "huge accumulation",
      { training: { gradientAccumulationSteps: LIMITS.gradientAccumulationSteps + 1 } },
      "spec.training.gradient_accumulation_steps",
    ],
    ["absurd max steps", { training: { maxSteps: LIMITS.steps + 1 } }, "spec.training.max_steps"],
    ["absurd warmup", { training: { warmupSteps: LIMITS.steps + 1 } }, "spec.training.warmup_steps"],
    ["an infinite learning rate", { training: { learningRate: Number.POSITIVE_INFINITY } }, "spec.training.learning_rate"],
    ["a NaN weight decay", { training: { weightDecay: Number.NaN } }, "spec.training.weight_decay"],
    ["an evaluation temperature beyond 10", { evaluation: { sampling: { temperature: 11 } } }, "spec.evaluation.sampling.temperature"],
    [
      "a dataset URI that leaves the store",
      { prompts: { source: { case: "sharegptJsonl", value: { uri: "artifact://../../etc/passwd" } } } },
      "spec.prompts.sharegpt_jsonl.uri",
    ],
  ];
  it.each(cases)("rejects %s naming the field", (_name, over, field) => {
    let err: unknown;
    try {
      normalizeRunSpec(testRunSpec(over));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RunSpecError);
    expect((err as RunSpecError).field).toBe(field);
    expect((err as RunSpecError).message.startsWith(`${field}: `)).toBe(true);
  });

  it("caption-proxy: the built-in policy by default, an endpoint with its defaults, the legacy fields moved, the template recorded", () => {
    const builtIn = normalizeRunSpec(testRunSpec({ judge: { strategy: JudgeStrategy.CAPTION_PROXY } })).judge!;
    expect(builtIn.captionProxy).toMatchObject({
      endpoint: "",
      protocol: "compact-caption-v1",
      captionSource: CaptionSource.DATASET,
      samples: 1,
      timeoutMs: 60_000,
      concurrency: 4,
      maxRetries: 4,
    });
    const spec = normalizeRunSpec(
      testRunSpec({
        judge: {
          strategy: JudgeStrategy.CAPTION_PROXY,
          captionProxyEndpoint: "http://vllm:8000/v1",
          captionProxyModel: "Qwen2.5-7B-Instruct",
          captionProxy: { apiKeyEnv: "JUDGE_KEY", maxRetries: 0, maxRequests: 100 },
        },
      }),
    );
    expect(spec.judge).toMatchObject({ captionProxyEndpoint: "", captionProxyModel: "" });
    expect(spec.judge!.captionProxy).toMatchObject({
      endpoint: "http://vllm:8000/v1",
      model: "Qwen2.5-7B-Instruct",
      apiKeyEnv: "JUDGE_KEY",
      protocol: "caption-proxy-v1",
      maxRetries: 0,
      maxRequests: 100,
    });
    expect(Object.keys(judgeTemplates(spec))).toEqual(["caption-proxy/caption-proxy-v1"]);
    expect(judgeTemplates(spec)["caption-proxy/caption-proxy-v1"]).toContain("Video caption: {caption}");
    expect(judgeTemplates(normalizeRunSpec(testRunSpec()))).toEqual({});
  });

  it("self-critique: filter self-verify by default; its SFT teaches critique and revision, other runs' do not unless asked", () => {
    const sft = { source: { case: "sft" as const, value: { preset: "test", data: { seed: 1n, split: "train", clipCount: 2 } } } };
    const sc = normalizeRunSpec(testRunSpec({ initialModel: sft, judge: { strategy: JudgeStrategy.SELF_CRITIQUE } }));
    expect(sc.judge).toMatchObject({ critiqueFilter: CritiqueFilter.SELF_VERIFY });
    expect(sc.judge!.captionProxy).toBeUndefined();
    expect(sc.initialModel!.source.value).toMatchObject({ critiqueSkills: true });
    const self = normalizeRunSpec(testRunSpec({ initialModel: sft }));
    expect(self.initialModel!.source.value).toMatchObject({ critiqueSkills: false });
    const asked = { source: { case: "sft" as const, value: { ...sft.source.value, critiqueSkills: true } } };
    expect(normalizeRunSpec(testRunSpec({ initialModel: asked })).initialModel!.source.value).toMatchObject({ critiqueSkills: true });
    const byCaption = normalizeRunSpec(
      testRunSpec({ judge: { strategy: JudgeStrategy.SELF_CRITIQUE, critiqueFilter: CritiqueFilter.CAPTION_PROXY } }),
    );
    expect(byCaption.judge!.captionProxy).toMatchObject({ endpoint: "", protocol: "compact-caption-v1" });
  });

  it("the run's LM request budget is split over every judge shard of every iteration, never above it", () => {
    const record = (iterations: number, shards: number) =>
      ({ run: { spec: { iterations } }, promptShards: Array.from({ length: shards }) }) as unknown as Parameters<typeof requestShare>[0];
    for (const [iterations, shards, budget] of [
      [3, 4, 100],
      [2, 5, 7],
      [1, 1, 1],
      [4, 3, 12],
    ] as const) {
      const r = record(iterations, shards);
      const all = Array.from({ length: iterations }, (_, t) =>
        Array.from({ length: shards }, (_, i) => requestShare(r, t + 1, i, budget)),
      ).flat();
      expect(all.reduce((a, b) => a + b, 0)).toBe(budget);
      expect(Math.max(...all) - Math.min(...all)).toBeLessThanOrEqual(1);
    }
    expect(requestShare(record(2, 5), 2, 4, 7)).toBe(0);
  });

  it("refuses a plain dataset path with a message that says to import it; accepts the imported URI", () => {
    const path = (uri: string) => testRunSpec({ prompts: { source: { case: "sharegptJsonl", value: { uri } } } });
    expect(() => normalizeRunSpec(path("/data/train.jsonl"))).toThrow(
      'spec.prompts.sharegpt_jsonl.uri: "/data/train.jsonl" is not an artifact URI: import the dataset first ' +
        "(isrdpo data import --jsonl /data/train.jsonl --videos <dir>) and use the artifact:// URI it prints",
    );
    const ok = normalizeRunSpec(path("artifact://datasets/ab12.jsonl"));
    // The limits themselves are allowed.
    const atLimit = testRunSpec({
      prompts: { source: { case: "synthetic", value: { clipCount: LIMITS.datasetClips, frames: LIMITS.clipFrames } } },
      training: { batchSize: LIMITS.batchSize, epochs: LIMITS.epochs },
    });
    expect(normalizeRunSpec(atLimit).prompts!.source.value).toMatchObject({ clipCount: LIMITS.datasetClips });
    expect(ok.prompts!.source.value).toMatchObject({ uri: "artifact://datasets/ab12.jsonl" });
    // A key pasted where its variable's name belongs is not echoed back.
    const judge = { kind: 2, endpoint: "http://lm:8000/v1", model: "m", apiKeyEnv: "sk-secret-123" };
    expect(() => normalizeRunSpec(testRunSpec({ evaluation: { answerJudge: judge } }))).toThrow(/^(?!.*secret)/);
  });
});
