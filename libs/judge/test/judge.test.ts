// Judge strategies: best vs worst of N, explicit ties, margins, symmetry under reordering, and the
// pairwise judge's Borda ranking — on a tiny random model (its judgments are arbitrary but must obey
// the rules) and on the oracle (whose judgments are known).
import { describe, expect, it } from "vitest";
import { renderClip, syntheticSplit } from "@isrdpo/video";
import { Rng, Tokenizer, VideoLMM, initBackend, modelConfig, type Policy } from "@isrdpo/vlm";
import { bestVsWorst, firstCopies, judgeItems, sameAnswer, type JudgeMethod } from "../src/index.ts";

async function policy(seed: number): Promise<Policy> {
  await initBackend("wasm", () => {});
  const tok = Tokenizer.train(
    ["question: what colour is the circle?\nanswer: red blue green yes no. is the answer right?\nverdict: yes no a b"],
    {
      vocabSize: 320,
    },
  );
  return { tok, model: VideoLMM.create(modelConfig("test", { vocabSize: tok.vocabSize }), seed) };
}

function frames(seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: 8 * 32 * 32 * 3 }, () => Math.floor(rng.next() * 256));
}

describe("bestVsWorst", () => {
  const conf = (b: number, w: number) => b - w;
  it("chooses the highest and rejects the lowest score", () => {
    const p = bestVsWorst(["x", "y", "z"], (i) => [0.2, 0.9, 0.5][i]!, conf, 0.1);
    expect(p).toMatchObject({ chosen: 1, rejected: 0, tie: false, scores: [0.2, 0.9, 0.5] });
    expect(p.confidence).toBeCloseTo(0.7, 12);
  });
  it("makes a tie below the margin and on equal scores, naming why", () => {
    expect(bestVsWorst(["x", "y"], (i) => [0.5, 0.55][i]!, conf, 0.1)).toMatchObject({ tie: true, chosen: 1, rejected: 0 });
    expect(bestVsWorst(["x", "y"], (i) => [0.5, 0.55][i]!, conf, 0.1).tieReason).toMatch(/below margin 0.1/);
    expect(bestVsWorst(["x", "y"], () => 0.3, conf, 0)).toMatchObject({ tie: true, tieReason: "equal scores" });
  });
  it("scores an answer once: copies (case, spaces, final stop) share the first copy's score", () => {
    const seen: number[] = [];
    const p = bestVsWorst(
      ["Red.", "blue", "red", " red "],
      (i) => {
        seen.push(i);
        return i;
      },
      conf,
      0,
    );
    expect(seen).toEqual([0, 1]);
    expect(p.scores).toEqual([0, 1, 0, 0]);
    expect(firstCopies(["a", "b", "A.", "b!"])).toEqual([0, 1, 0, 1]);
    expect(sameAnswer("Two objects.", "two  objects")).toBe(true);
    expect(sameAnswer("two", "three")).toBe(false);
  });
});

describe("judgeItems", () => {
  const clip = syntheticSplit(5, "train", 1, 8)[0]!;
  const colourItem = clip.items.find((i) => i.check.kind !== "open")!;
  const video = { videoId: clip.id, frames: renderClip(clip.scene, { frames: 8, height: 32, width: 32 }) };

  it("oracle: best vs worst of N by the oracle's score; identical answers are a tie before judging", async () => {
    const wrong = colourItem.answer === "yes" ? "no" : colourItem.answer === "1" ? "2" : "zzz";
    const [p] = await judgeItems(
      "oracle",
      undefined,
      [
        {
          video,
          question: colourItem.question,
          context: "",
          answers: [wrong, colourItem.answer, wrong],
          clipId: clip.id,
          itemId: colourItem.id,
        },
      ],
      { tieMargin: 0.05 },
    );
    expect(p).toMatchObject({ chosen: 1, rejected: 0, tie: false });
    const [same] = await judgeItems(
      "oracle",
      undefined,
      [{ video, question: "q", context: "", answers: ["red", "Red."], clipId: clip.id }],
      {
        tieMargin: 0,
      },
    );
    expect(same).toMatchObject({ tie: true, tieReason: "identical answers" });
    await expect(
      judgeItems("oracle", undefined, [{ video, question: "q", context: "", answers: ["a", "b"], clipId: "nope" }], { tieMargin: 0 }),
    ).rejects.toThrow(/synthetic clips only/);
  });

  for (const method of ["self", "self-likelihood", "self-verify"] as JudgeMethod[]) {
    it(`${method}: the same answer wins whatever the order the answers come in`, async () => {
      const p = await policy(3);
      const v = { videoId: "v1", frames: frames(1) };
      const answers = ["red", "blue", "green"];
      const [x] = await judgeItems(method, p, [{ video: v, question: "what colour is the circle?", context: "", answers }], {
        tieMargin: 0,
      });
      const [y] = await judgeItems(
        method,
        p,
        [{ video: v, question: "what colour is the circle?", context: "", answers: [...answers].reverse() }],
        { tieMargin: 0 },
      );
      const winner = (pref: typeof x, list: string[]) => list[pref!.chosen];
      expect(winner(y, [...answers].reverse())).toBe(winner(x, answers));
      expect(x!.scores).toHaveLength(3);
      if (!x!.tie) expect(x!.scores[x!.chosen]!).toBeGreaterThan(x!.scores[x!.rejected]!);
      p.model.dispose();
    });
  }

  it("self-likelihood context gain: without a context every answer ties; with one, the gain decides", async () => {
    const p = await policy(4);
    const v = { videoId: "v2", frames: frames(2) };
    const item = { video: v, question: "what colour is the circle?", answers: ["red", "blue"] };
    const [none] = await judgeItems("self-likelihood", p, [{ ...item, context: "" }], { tieMargin: 0, likelihood: "context-gain" });
    expect(none).toMatchObject({ tie: true, tieReason: "no context to gain from" });
    const [some] = await judgeItems("self-likelihood", p, [{ ...item, context: "a red circle moves left." }], {
      tieMargin: 0,
      likelihood: "context-gain",
    });
    expect(some!.scores[0]).not.toBe(some!.scores[1]);
    p.model.dispose();
  });

  it("self: with two answers the decision follows the position-debiased pair; a big margin makes ties", async () => {
    const p = await policy(5);
    const v = { videoId: "v3", frames: frames(3) };
    const items = ["red", "yes", "two objects"].map((b) => ({ video: v, question: "q", context: "", answers: ["a red circle", b] }));
    for (const pref of await judgeItems("self", p, items, { tieMargin: 0 })) {
      expect(pref.orders).toHaveLength(2);
      const agree = pref.orders.every((o) => o > 0.5) || pref.orders.every((o) => o < 0.5);
      if (!pref.tie) expect(agree && pref.orders.every((o) => o > 0.5)).toBe(true);
      else expect(pref.tieReason).toMatch(/orders disagree|below margin/);
    }
    expect((await judgeItems("self", p, items, { tieMargin: 0.999 })).every((x) => x.tie)).toBe(true);
    p.model.dispose();
  });
});
