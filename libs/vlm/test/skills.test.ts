// The loop's skills: the position-debiased self-judge, clip narratives, prompt fitting and the SFT
// text of every skill record.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { describeClips, fitPrompt, judgePairs, prompts, skillText, VERDICTS } from "../src/index.ts";
import { frames, setup } from "./helpers.ts";

describe("judgePairs", () => {
  it("is symmetric under swapping the answers: P(a ≻ b) = 1 − P(b ≻ a)", async () => {
    const policy = await setup(3);
    const video = { videoId: "v1", frames: frames(1) };
    const pair = { video, question: "what colour is the circle?", context: "a red circle moves left.", a: "red", b: "blue" };
    const [ab] = await judgePairs(policy, [pair], { tieMargin: 0 });
    const [ba] = await judgePairs(policy, [{ ...pair, a: "blue", b: "red" }], { tieMargin: 0 });
    expect(ab!.orders).toHaveLength(2);
    expect(ab!.probA).toBeCloseTo(1 - ba!.probA, 6);
    expect(ab!.confidence).toBeCloseTo(Math.abs(2 * ab!.probA - 1), 12);
    policy.model.dispose();
  });

  it("makes a tie when the orders disagree or the margin is too small, never a preference", async () => {
    const policy = await setup(4);
    const video = { videoId: "v2", frames: frames(2) };
    const pairs = ["red", "blue", "green", "yes", "no", "two objects"].map((b) => ({
      video,
      question: "q",
      context: "",
      a: "a red circle",
      b,
    }));
    const judged = await judgePairs(policy, pairs, { tieMargin: 0.05 });
    for (const j of judged) {
      const [first, second] = j.orders as [number, number];
      const disagree = (first - 0.5) * (second - 0.5) <= 0;
      if (disagree) expect(j).toMatchObject({ verdict: "tie", tieReason: "orders disagree" });
      else if (j.confidence < 0.05) expect(j.verdict).toBe("tie");
      else expect(j.verdict).toBe(j.probA > 0.5 ? "a" : "b");
    }
    // One order only: the judge's raw position preference decides (ablation), no disagreement ties.
    const single = await judgePairs(policy, pairs, { tieMargin: 0, singleOrder: true });
    expect(single.every((j) => j.orders.length === 1 && j.tieReason !== "orders disagree")).toBe(true);
    policy.model.dispose();
  });

  it("scores the verdicts after exactly the judge prompt", async () => {
    const policy = await setup(5);
    const question = "q";
    const prompt = prompts.judge(question, "x", "y", "ctx.");
    expect(prompt).toBe("context: ctx.\nquestion: q\nanswer a: x\nanswer b: y\nwhich answer is better?\nverdict:");
    expect(prompts.judge(question, "x", "y", "")).not.toContain("context:");
    expect(VERDICTS).toEqual({ a: " a", b: " b" });
    policy.model.dispose();
  });

  it("leaves no tensors behind", async () => {
    const policy = await setup(6);
    const video = { videoId: "v3", frames: frames(3) };
    await judgePairs(policy, [{ video, question: "q", context: "", a: "x", b: "y" }], { tieMargin: 0 });
    const before = tf.memory().numTensors;
    await judgePairs(policy, [{ video, question: "q", context: "", a: "x", b: "y" }], { tieMargin: 0 });
    expect(tf.memory().numTensors).toBe(before);
    policy.model.dispose();
  });
});

describe("fitPrompt", () => {
  it("drops the oldest sentences of a context until the prompt fits, or gives up", async () => {
    const policy = await setup(7);
    const room = policy.model.config.maxTextLen;
    const context = Array.from({ length: 40 }, (_, i) => `sentence ${i} is here.`).join(" ");
    const fitted = fitPrompt(policy, (c) => prompts.refine(c), context, 10)!;
    expect(policy.tok.encode(fitted).length).toBeLessThanOrEqual(room - 11);
    expect(fitted).toContain("sentence 39 is here.");
    expect(fitted).not.toContain("sentence 0 is here.");
    expect(fitPrompt(policy, () => "x ".repeat(room * 2), "", 10)).toBeUndefined();
    policy.model.dispose();
  });
});

describe("describeClips", () => {
  it("describes k clips in order and joins them; rejects a bad clip count", async () => {
    const policy = await setup(8);
    const video = { videoId: "v4", frames: frames(4) };
    const out = await describeClips(policy, video, 4, { temperature: 0, maxNewTokens: 4, seed: 1 });
    expect(out.clips).toHaveLength(4);
    expect(out.context).toBe(out.clips.join(" "));
    await expect(describeClips(policy, video, 9, { temperature: 0, maxNewTokens: 4, seed: 1 })).rejects.toThrow(
      /clipCount: must be an integer from 1 to 8/,
    );
    policy.model.dispose();
  });
});

describe("skillText", () => {
  it("renders each SFT skill as the prompt the loop asks and the answer to learn", () => {
    expect(skillText({ task: "answer", question: "What colour is the circle?", target: "red" })).toEqual({
      prompt: "question: What colour is the circle?\nanswer:",
      answer: " red",
    });
    expect(skillText({ task: "refine", previous: "A red\ncircle.", target: "A red circle moves." })).toEqual({
      prompt: "previous description: A red circle.\nimprove the description.\ndescription:",
      answer: " A red circle moves.",
    });
    expect(skillText({ task: "judge", question: "q", answerA: "x", answerB: "y", target: "B" }).answer).toBe(" b");
    expect(skillText({ task: "judge", question: "q", context: "c.", answerA: "x", answerB: "y", target: "A" })).toEqual({
      prompt: prompts.judge("q", "x", "y", "c."),
      answer: " a",
    });
    expect(skillText({ task: "describe", target: "It moves." }).prompt).toBe(prompts.describe());
  });
});

describe("choiceLogProbs", () => {
  it("reads next-token log-probs: a sub-distribution, the same alone or in a batch, single tokens only", async () => {
    const { choiceLogProbs } = await import("../src/index.ts");
    const policy = await setup(9);
    const items = [0, 1, 2].map((i) => ({
      videoId: `c${i}`,
      frames: frames(10 + i),
      prompt: `which answer is better? ${"x ".repeat(i)}verdict:`,
    }));
    const choices = [" a", " b", "a", "b"].filter((c) => policy.tok.encode(c).length === 1);
    expect(choices.length).toBeGreaterThanOrEqual(2);
    const all = (await choiceLogProbs(policy.model, policy.tok, items, choices))!;
    for (const row of all) {
      expect(row.every((x) => x <= 0)).toBe(true);
      expect(row.reduce((s, x) => s + Math.exp(x), 0)).toBeLessThanOrEqual(1 + 1e-6);
    }
    const alone = (await choiceLogProbs(policy.model, policy.tok, [items[2]!], choices))!;
    alone[0]!.forEach((x, c) => expect(x).toBeCloseTo(all[2]![c]!, 4));
    expect(await choiceLogProbs(policy.model, policy.tok, items, [" a", " circle moves"])).toBeUndefined();
    policy.model.dispose();
  });
});
