import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  COLOURS,
  HELD_OUT_COMBOS,
  QUESTION_TYPES,
  SHAPES,
  SIZES,
  buildSftMix,
  buildSplits,
  chanceBaseline,
  clipFromId,
  coloursOf,
  createRng,
  critiqueOf,
  corruptCaption,
  generateScene,
  judgeBalance,
  referenceCaption,
  parseClipId,
  parseSplit,
  renderClip,
  scoreAnswer,
  isHeldOut,
  type Scene,
} from "../src/index.ts";

const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

describe("scenes and rendering", () => {
  it("the same seed gives the same scene and pixels; another seed differs", () => {
    const a = generateScene(7);
    expect(JSON.stringify(generateScene(7))).toBe(JSON.stringify(a));
    expect(sha(renderClip(generateScene(7)))).toBe(sha(renderClip(a)));
    expect(JSON.stringify(generateScene(8))).not.toBe(JSON.stringify(a));
  });

  it("frames are count×height×width×3 and objects are drawn in their colour", () => {
    const scene: Scene = {
      version: 1,
      frames: 4,
      background: { kind: "solid", a: [0, 0, 0], b: [0, 0, 0] },
      noise: { amplitude: 0, specks: 0, seed: 0 },
      objects: [
        {
          shape: "square",
          colour: "red",
          size: "large",
          motion: "right",
          start: [0.25, 0.5],
          end: [0.75, 0.5],
          event: { type: "disappear", frame: 3 },
        },
      ],
    };
    const frames = renderClip(scene, { height: 32, width: 40 });
    expect(frames.length).toBe(4 * 32 * 40 * 3);
    const px = (f: number, x: number, y: number) =>
      Array.from(frames.subarray(((f * 32 + y) * 40 + x) * 3, ((f * 32 + y) * 40 + x) * 3 + 3));
    expect(px(0, 10, 16)).toEqual([220, 40, 40]);
    expect(px(0, 30, 16)).toEqual([0, 0, 0]);
    expect(px(2, 10, 16)).toEqual([0, 0, 0]); // it moved right
    expect(px(2, 26, 16)).toEqual([220, 40, 40]);
    expect(px(3, 30, 16)).toEqual([0, 0, 0]); // and disappeared
  });

  it("scenes respect their guarantees across many seeds", () => {
    for (let seed = 0; seed < 300; seed++) {
      const s = generateScene(seed, { maxObjects: 4 });
      expect(s.objects.length).toBeGreaterThanOrEqual(1);
      expect(s.objects.length).toBeLessThanOrEqual(4);
      const combos = s.objects.flatMap((o) => coloursOf(o).map((c) => `${o.shape}:${c}`));
      expect(new Set(combos).size).toBe(combos.length);
      expect(combos.some((c) => HELD_OUT_COMBOS.some(([sh, co]) => c === `${sh}:${co}`))).toBe(false);
    }
  });
});

describe("splits", () => {
  const splits = buildSplits({ seed: 5, train: 60, testIn: 30, testOut: 30 });

  it("ids are deterministic and rebuild their clip", () => {
    const c = splits.train[17]!;
    expect(c.id).toBe("syn-5-train-f8-17");
    expect(parseClipId(c.id)).toEqual({ seed: 5, split: "train", frames: 8, index: 17 });
    expect(JSON.stringify(clipFromId(c.id))).toBe(JSON.stringify(c));
    expect(() => parseClipId("clip-1")).toThrow(/not a synthetic clip id: "clip-1"/);
    expect(parseSplit("test-out")).toBe("test-out");
    expect(() => parseSplit("val")).toThrow('unknown split "val" (expected one of train, test-in, test-out)');
    // A smaller split is a prefix of a larger one.
    expect(JSON.stringify(buildSplits({ seed: 5, train: 10, testIn: 0, testOut: 0 }).train)).toBe(
      JSON.stringify(splits.train.slice(0, 10)),
    );
  });

  it("same seed → identical splits; another seed → different", () => {
    const again = buildSplits({ seed: 5, train: 60, testIn: 30, testOut: 30 });
    expect(sha(JSON.stringify(again))).toBe(sha(JSON.stringify(splits)));
    expect(sha(JSON.stringify(buildSplits({ seed: 6, train: 60, testIn: 30, testOut: 30 })))).not.toBe(sha(JSON.stringify(splits)));
  });

  it("test-out holds the held-out pairs and more objects; train and test-in never show them", () => {
    const heldOutIn = (s: Scene) => s.objects.some((o) => coloursOf(o).some((c) => isHeldOut(o.shape, c)));
    for (const c of [...splits.train, ...splits["test-in"]]) {
      expect(heldOutIn(c.scene)).toBe(false);
      for (const it of c.items) {
        for (const [s, col] of HELD_OUT_COMBOS) expect(it.question.includes(`${col} ${s}`)).toBe(false);
      }
    }
    for (const c of splits["test-out"]) {
      expect(heldOutIn(c.scene)).toBe(true);
      expect(c.scene.objects.length).toBeGreaterThanOrEqual(3);
    }
    const mean = (cs: { scene: Scene }[]) => cs.reduce((a, c) => a + c.scene.objects.length, 0) / cs.length;
    expect(mean(splits["test-out"])).toBeGreaterThan(mean(splits.train) + 1);
  });

  it("every question type occurs, questions have ≥3 phrasings, existence probes are balanced", () => {
    const items = [...splits.train, ...splits["test-in"]].flatMap((c) => c.items);
    for (const t of QUESTION_TYPES) expect(items.some((i) => i.questionType === t)).toBe(true);
    const vocab = new RegExp(`\\b(${[...SHAPES, ...COLOURS, ...SIZES, "object"].join("|")})(e?s)?\\b`, "g");
    const template = (q: string) => q.replace(/:.*$/, "").replace(vocab, "_");
    for (const t of QUESTION_TYPES) {
      expect(new Set(items.filter((i) => i.questionType === t).map((i) => template(i.question))).size, t).toBeGreaterThanOrEqual(3);
    }
    const existence = items.filter((i) => i.questionType === "existence");
    expect(existence.filter((i) => i.answer === "yes").length).toBe(existence.length / 2);
  });

  it("the chance baseline is the most frequent train answer, scored per type", () => {
    const train = splits.train.flatMap((c) => c.items);
    const base = chanceBaseline(
      train,
      splits["test-in"].flatMap((c) => c.items),
    );
    const existence = base.find((b) => b.questionType === "existence")!;
    expect(existence.accuracy).toBe(0.5);
    expect(base.find((b) => b.questionType === "open")).toBeUndefined();
    for (const b of base) {
      const evals = splits["test-in"].flatMap((c) => c.items).filter((i) => i.questionType === b.questionType);
      expect(b.items).toBe(evals.length);
      expect(b.accuracy).toBe(evals.filter((i) => i.answer === b.answer).length / evals.length);
      const counts = train.filter((i) => i.questionType === b.questionType && i.answer === b.answer).length;
      for (const other of new Set(train.filter((i) => i.questionType === b.questionType).map((i) => i.answer))) {
        expect(train.filter((i) => i.questionType === b.questionType && i.answer === other).length).toBeLessThanOrEqual(counts);
      }
    }
  });
});

describe("SFT mix", () => {
  const clips = buildSplits({ seed: 9, train: 80, testIn: 0, testOut: 0 }).train;
  const mix = buildSftMix(clips, { seed: 9 });
  const scenes = new Map(clips.map((c) => [c.id, c]));

  it("has every task in the configured amounts and is deterministic", () => {
    const per = (t: string) => mix.filter((r) => r.task === t).length;
    expect(per("answer")).toBe(80 * 4);
    for (const t of ["describe", "refine", "critique", "revise"]) expect(per(t)).toBe(80);
    expect(per("judge")).toBe(160);
    expect(mix.filter((r) => r.task === "judge" && r.context !== undefined).length).toBe(80);
    expect(JSON.stringify(buildSftMix(clips, { seed: 9 }))).toBe(JSON.stringify(mix));
    expect(
      buildSftMix(clips, { seed: 9, answer: 1, describe: 0, refine: 0, judge: 0, judgeWithContext: 0, critique: 0, revise: 0 }),
    ).toHaveLength(80);
  });

  it("judge labels agree with the oracle; position and length are balanced", () => {
    for (const r of mix) {
      if (r.task !== "judge") continue;
      const clip = scenes.get(r.clipId)!;
      const item = clip.items.find((i) => i.question === r.question)!;
      const a = scoreAnswer(clip.scene, item, r.answerA).score;
      const b = scoreAnswer(clip.scene, item, r.answerB).score;
      expect(r.target).toBe(a > b ? "A" : "B");
      expect(a).not.toBe(b);
    }
    const bal = judgeBalance(mix);
    expect(bal.betterAtA).toBe(0.5);
    // Most short-answer pairs are two bare answers, as the loop samples them; among the pairs whose
    // lengths differ, the better answer is the longer one about half the time.
    expect(bal.equalLength).toBeGreaterThan(0.2);
    expect(Math.abs(bal.betterLonger / (1 - bal.equalLength) - 0.5)).toBeLessThan(0.1);
  });

  it("verify labels agree with the oracle and are balanced; self-like contexts are mostly wrong", () => {
    const withVerify = buildSftMix(clips, {
      seed: 9,
      answer: 0,
      describe: 0,
      refine: 0,
      judge: 0,
      judgeWithContext: 0,
      critique: 0,
      revise: 0,
      answerWithContext: 1,
      verify: 2,
      verifyWithContext: 1,
    });
    const verifies = withVerify.filter((r) => r.task === "verify");
    expect(verifies).toHaveLength(80 * 3);
    expect(verifies.filter((r) => r.context !== undefined)).toHaveLength(80);
    let yes = 0;
    for (const r of verifies) {
      const clip = scenes.get(r.clipId)!;
      const item = clip.items.find((i) => i.question === r.question)!;
      const s = scoreAnswer(clip.scene, item, r.answer);
      expect(r.target).toBe((item.check.kind === "open" ? s.score === 5 : s.correct) ? "yes" : "no");
      if (r.target === "yes") yes++;
    }
    expect(Math.abs(yes / verifies.length - 0.5)).toBeLessThan(0.1);
    const answered = withVerify.filter((r) => r.task === "answer");
    expect(answered).toHaveLength(80);
    let wrongContexts = 0;
    for (const r of answered) {
      const clip = scenes.get(r.clipId)!;
      expect(r.target).toBe(clip.items.find((i) => i.question === r.question)!.answer);
      if (r.context !== referenceCaption(clip.scene)) wrongContexts++;
    }
    expect(wrongContexts / answered.length).toBeGreaterThan(0.6);
  });

  it("refine targets are the caption; corrupted descriptions score lower than it", () => {
    for (const r of mix) {
      if (r.task !== "refine") continue;
      const clip = scenes.get(r.clipId)!;
      const open = clip.items.find((i) => i.check.kind === "open")!;
      expect(r.target).toBe(open.answer);
      if (r.previous !== r.target) expect(scoreAnswer(clip.scene, open, r.previous).score).toBeLessThan(5);
    }
  });

  it("critiques name the injected errors", () => {
    const scene: Scene = {
      version: 1,
      frames: 8,
      background: { kind: "solid", a: [0, 0, 0], b: [0, 0, 0] },
      noise: { amplitude: 0, specks: 0, seed: 0 },
      objects: [
        { shape: "circle", colour: "red", size: "small", motion: "left", start: [0.7, 0.3], end: [0.3, 0.3] },
        {
          shape: "square",
          colour: "blue",
          size: "large",
          motion: "still",
          start: [0.5, 0.75],
          end: [0.5, 0.75],
          event: { type: "appear", frame: 3 },
        },
      ],
    };
    const motion = corruptCaption(scene, createRng(1), ["motion", "missing-event"]);
    expect(motion.issues.map((i) => i.kind)).toEqual(["motion", "missing-event"]);
    const critique = critiqueOf(scene, motion);
    expect(critique).toContain("It misses that the blue square appears.");
    expect(critique).toMatch(/The (red circle moves left|blue square stays still), not (left|right|up|down|still)\./);
    const extra = corruptCaption(scene, createRng(2), ["extra-object", "missing-object"]);
    expect(critiqueOf(scene, extra)).toMatch(/^There is no [a-z]+ [a-z]+\. It misses a (small red circle|large blue square)\.$/);
    expect(critiqueOf(scene, { text: "x", issues: [] })).toBe("The description is correct.");
  });
});
