// The caption-proxy judge (against a real local chat-completions server) and self-critique (on a tiny
// random policy, whose critiques are arbitrary but must obey the rules): scores to preferences,
// unparsable and unjudged answers as explicit ties with their counts, and each critique filter.
import { afterEach, describe, expect, it } from "vitest";
import { CAPTION_PROXY_V1, ChatClient } from "@isrdpo/lm";
import { startChatServer, type ChatServer, type Reply } from "@isrdpo/lm/testing";
import {
  REWARD_HEAD,
  Rng,
  ScalarHead,
  Tokenizer,
  VideoLMM,
  asTarget,
  initBackend,
  modelConfig,
  prompts,
  scoreRewards,
  type Policy,
} from "@isrdpo/vlm";
import { JudgeInputError, judgeAll, type CaptionProxyJudge } from "../src/index.ts";

const servers: ChatServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A judge server that scores by the answer line of the prompt. */
async function judgeServer(score: (answer: string, prompt: string) => Reply): Promise<ChatServer> {
  const s = await startChatServer((req) => {
    const prompt = req.body.messages.map((m) => m.content).join("\n");
    return score(/Answer: (.*)/.exec(prompt)?.[1] ?? "", prompt);
  });
  servers.push(s);
  return s;
}

const video = { videoId: "v", frames: new Uint8Array() };
const item = (answers: string[], extra: { caption?: string; context?: string } = {}) => ({
  video,
  question: "what moves?",
  context: extra.context ?? "",
  answers,
  ...(extra.caption !== undefined ? { caption: extra.caption } : {}),
});
const proxy = (s: ChatServer, more: Partial<CaptionProxyJudge> = {}, maxRequests = 0): CaptionProxyJudge => ({
  model: new ChatClient({ baseUrl: s.url, model: "judge", concurrency: 1, maxRequests }),
  protocol: CAPTION_PROXY_V1,
  samples: 1,
  source: "dataset",
  ...more,
});

describe("caption-proxy", () => {
  it("scores each distinct answer once against the dataset caption; best vs worst, confidence = score gap / scale", async () => {
    const s = await judgeServer((a) => ({ text: `Score: ${a === "a red circle" ? 5 : a === "a blue square" ? 1 : 3}` }));
    const { preferences, stats } = await judgeAll(
      "caption-proxy",
      undefined,
      [item(["a blue square", "a red circle", "A red circle.", "a star"], { caption: "A red circle moves left." })],
      { tieMargin: 0.05, captionProxy: proxy(s) },
    );
    expect(preferences[0]).toMatchObject({ chosen: 1, rejected: 0, tie: false, scores: [1, 5, 5, 3] });
    expect(preferences[0]!.confidence).toBeCloseTo(0.8, 12);
    expect(stats).toEqual({ unparsable: 0, unscored: 0, stopped: "" });
    expect(s.requests).toHaveLength(3);
    expect(s.requests[0]!.body.messages[1]!.content).toContain("Video caption: A red circle moves left.");
  });

  it("reads c_t as the caption with source context; a missing caption is the caller's mistake", async () => {
    const s = await judgeServer(() => ({ text: "Score: 2" }));
    const { preferences } = await judgeAll("caption-proxy", undefined, [item(["x", "y"], { context: "my own description" })], {
      tieMargin: 0.05,
      captionProxy: proxy(s, { source: "context" }),
    });
    expect(preferences[0]).toMatchObject({ tie: true, tieReason: "equal scores" });
    expect(s.requests[0]!.body.messages[1]!.content).toContain("Video caption: my own description");
    await expect(judgeAll("caption-proxy", undefined, [item(["x", "y"])], { tieMargin: 0, captionProxy: proxy(s) })).rejects.toBeInstanceOf(
      JudgeInputError,
    );
  });

  it("an unparsable judge answer makes the item an explicit tie, counted — never a default score", async () => {
    const s = await judgeServer((a) => (a === "x" ? { text: "Score: 4" } : { text: "I cannot tell." }));
    const { preferences, stats } = await judgeAll("caption-proxy", undefined, [item(["x", "y"], { caption: "c" })], {
      tieMargin: 0,
      captionProxy: proxy(s),
    });
    expect(preferences[0]).toMatchObject({ tie: true, tieReason: "caption-proxy judge's answer unparsable for 1 of 2 answers" });
    expect(preferences[0]!.scores[0]).toBe(4);
    expect(preferences[0]!.scores[1]).toBeNaN();
    expect(stats).toEqual({ unparsable: 1, unscored: 1, stopped: "" });
  });

  it("a spent budget stops judging: the rest are ties saying so, and no request is made beyond it", async () => {
    const s = await judgeServer(() => ({ text: "Score: 3" }));
    const items = [item(["a", "b"], { caption: "c" }), item(["c", "d"], { caption: "c" })];
    const { preferences, stats } = await judgeAll("caption-proxy", undefined, items, { tieMargin: 0, captionProxy: proxy(s, {}, 3) });
    expect(s.requests).toHaveLength(3);
    expect(preferences[0]!.tieReason).toBe("equal scores");
    expect(preferences[1]!.tieReason).toMatch(/^not judged: LM request budget of 3 used up/);
    expect(stats.unscored).toBe(1);
    const none = await judgeAll("caption-proxy", undefined, items, { tieMargin: 0, captionProxy: proxy(s, { requestShare: 0 }) });
    expect(s.requests).toHaveLength(3);
    expect(none.preferences.every((p) => p.tie && /share of the run's LM request budget is 0/.test(p.tieReason))).toBe(true);
    expect(none.stats.unscored).toBe(4);
  });
});

async function policy(seed: number): Promise<Policy> {
  await initBackend("wasm", () => {});
  const tok = Tokenizer.train(["question: what moves?\nanswer: a red circle. critique: wrong. revised answer: yes no verdict"], {
    vocabSize: 320,
  });
  return { tok, model: VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize }), seed) };
}

function frames(seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: 8 * 32 * 32 * 3 }, () => Math.floor(rng.next() * 256));
}

describe("self-critique", () => {
  it("critiques the first answer and pairs (revision ≻ original); each filter decides or ties with its reason", async () => {
    const p = await policy(7);
    const items = ["a red circle", "yes", "two"].map((a, i) => ({
      video: { videoId: `v${i}`, frames: frames(i) },
      question: "what moves?",
      context: "",
      answers: [a, "no"],
      caption: "a red circle moves.",
    }));
    const opts = { tieMargin: 0, critiqueMaxNewTokens: 6 };
    const none = await judgeAll("self-critique", p, items, { ...opts, critiqueFilter: "none" });
    for (const [i, pref] of none.preferences.entries()) {
      expect(pref.answers![1]).toBe(items[i]!.answers[0]);
      expect(typeof pref.critique).toBe("string");
      if (pref.tie) expect(pref.tieReason).toMatch(/identical to the original|empty revision|too long/);
      else expect(pref).toMatchObject({ chosen: 0, rejected: 1, confidence: 1 });
    }
    // Not vacuous: this seed's random policy writes revisions that differ from the originals.
    expect(none.preferences.filter((x) => !x.tie).length).toBeGreaterThan(0);
    // Greedy: the same answers get the same critiques and revisions.
    const again = await judgeAll("self-critique", p, items, { ...opts, critiqueFilter: "none" });
    expect(again.preferences.map((x) => x.answers)).toEqual(none.preferences.map((x) => x.answers));

    for (const filter of ["self-verify", "self-likelihood"] as const) {
      const out = await judgeAll("self-critique", p, items, { ...opts, critiqueFilter: filter });
      out.preferences.forEach((pref, i) => {
        expect(pref.answers).toEqual(none.preferences[i]!.answers);
        if (pref.tie) expect(pref.tieReason).toMatch(new RegExp(`filter ${filter}: |identical|empty|too long`));
        else expect(pref).toMatchObject({ chosen: 0, rejected: 1 });
      });
    }

    // caption-proxy as the filter: the server prefers anything over the original answers.
    const originals = new Set(items.map((x) => x.answers[0]));
    const s = await judgeServer((a) => ({ text: `Score: ${originals.has(a) ? 1 : 4}` }));
    const byCaption = await judgeAll("self-critique", p, items, { ...opts, critiqueFilter: "caption-proxy", captionProxy: proxy(s) });
    byCaption.preferences.forEach((pref, i) => expect(pref.tie).toBe(none.preferences[i]!.tie));
    expect(s.requests.length).toBe(2 * none.preferences.filter((x) => !x.tie).length);
    p.model.dispose();
  });
});

describe("reward-model", () => {
  it("keeps the answers with the highest and lowest reward, given the context; a tie within the margin; no head is refused", async () => {
    const rm = await policy(7);
    rm.rewardHead = ScalarHead.create(REWARD_HEAD, rm.model.config.dModel, 3);
    const v = { videoId: "rm-v", frames: frames(7) };
    const answers = ["red", "a blue square", "Red.", "two"];
    const it = { video: v, question: "what colour is it?", context: "a red circle moves left.", answers };
    const { preferences } = await judgeAll("reward-model", undefined, [it], { tieMargin: 0, rewardModel: rm });
    // The rewards the judge must have used: the answer prompt with the context, each distinct answer once.
    const r = await scoreRewards(
      rm.model,
      rm.tok,
      rm.rewardHead,
      ["red", "a blue square", "two"].map((a) => ({ ...v, prompt: prompts.answer(it.question, it.context), answer: asTarget(a) })),
    );
    const byAnswer = [r[0]!, r[1]!, r[0]!, r[2]!];
    const best = byAnswer.indexOf(Math.max(...r));
    const worst = byAnswer.indexOf(Math.min(...r));
    const p = preferences[0]!;
    expect(p.scores.map((x) => x.toFixed(5))).toEqual(byAnswer.map((x) => x.toFixed(5)));
    expect(p).toMatchObject({ chosen: best, rejected: worst, tie: false });
    expect(p.confidence).toBeCloseTo(Math.tanh((Math.max(...r) - Math.min(...r)) / 2), 6); // |2σ(Δ) − 1|
    const within = await judgeAll("reward-model", undefined, [it], { tieMargin: 0.999999, rewardModel: rm });
    expect(within.preferences[0]).toMatchObject({ tie: true, tieReason: expect.stringMatching(/below margin/) });
    await expect(judgeAll("reward-model", undefined, [it], { tieMargin: 0, rewardModel: await policy(8) })).rejects.toThrow(
      JudgeInputError,
    );
  });
});
