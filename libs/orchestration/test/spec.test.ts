import { JudgeStrategy, ContextMode } from "@isrdpo/contracts";
import { describe, expect, it } from "vitest";
import { RunSpecError, normalizeRunSpec } from "../src/index.ts";
import { testRunSpec } from "../src/testing.ts";

describe("normalizeRunSpec", () => {
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
    ["reward model missing", { judge: { strategy: JudgeStrategy.REWARD_MODEL } }, "spec.judge.reward_model"],
    ["an unbuilt judge", { judge: { strategy: JudgeStrategy.CAPTION_PROXY } }, "spec.judge.strategy"],
    [
      "an unbuilt judge, fully specified",
      { judge: { strategy: JudgeStrategy.REWARD_MODEL, rewardModel: { name: "rm", digest: "d" } } },
      "spec.judge.strategy",
    ],
    ["fraction above 1", { failurePolicy: { maxFailedItemFraction: 2 } }, "spec.failure_policy.max_failed_item_fraction"],
    ["too many attempts", { failurePolicy: { maxShardAttempts: 1000 } }, "spec.failure_policy.max_shard_attempts"],
    ["negative beta", { dpo: { beta: -0.1 } }, "spec.dpo.beta"],
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

  it("refuses a plain dataset path with a message that says to import it; accepts the imported URI", () => {
    const path = (uri: string) => testRunSpec({ prompts: { source: { case: "sharegptJsonl", value: { uri } } } });
    expect(() => normalizeRunSpec(path("/data/train.jsonl"))).toThrow(
      'spec.prompts.sharegpt_jsonl.uri: "/data/train.jsonl" is not an artifact URI: import the dataset first ' +
        "(isrdpo data import --jsonl /data/train.jsonl --videos <dir>) and use the artifact:// URI it prints",
    );
    const ok = normalizeRunSpec(path("artifact://datasets/ab12.jsonl"));
    expect(ok.prompts!.source.value).toMatchObject({ uri: "artifact://datasets/ab12.jsonl" });
    // A key pasted where its variable's name belongs is not echoed back.
    const judge = { kind: 2, endpoint: "http://lm:8000/v1", model: "m", apiKeyEnv: "sk-secret-123" };
    expect(() => normalizeRunSpec(testRunSpec({ evaluation: { answerJudge: judge } }))).toThrow(/^(?!.*secret)/);
  });
});
