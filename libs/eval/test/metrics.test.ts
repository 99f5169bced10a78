import { syntheticSplit } from "@isrdpo/video";
import { describe, expect, it } from "vitest";
import { preferenceStats, splitMetrics, wordCount } from "../src/metrics.ts";

const clips = syntheticSplit(7, "test-in", 12);
const items = clips.flatMap((c) => c.items);
const train = syntheticSplit(7, "train", 30).flatMap((c) => c.items);
const short = items.filter((i) => i.check.kind !== "open");
const open = items.filter((i) => i.check.kind === "open");

describe("splitMetrics", () => {
  it("gives perfect scores to the reference answers", () => {
    const m = splitMetrics(
      "test-in",
      clips,
      items,
      items.map((i) => i.answer),
      train,
    );
    expect(m.items).toBe(items.length);
    expect(m.accuracy).toBe(1);
    expect(m.claimPrecision).toBe(1);
    expect(m.claimRecall).toBe(1);
    expect(m.meanScore).toBe(5);
    const words = items.reduce((s, i) => s + wordCount(i.answer), 0) / items.length;
    expect(m.meanAnswerWords).toBeCloseTo(words, 10);
    expect(m.byQuestionType.map((t) => t.questionType)).toEqual([...new Set(items.map((i) => i.questionType))].sort());
    expect(m.byQuestionType.every((t) => t.chanceAccuracy >= 0 && t.chanceAccuracy <= 1)).toBe(true);
  });

  it("counts unparseable answers as wrong and empty descriptions as recalling nothing", () => {
    const m = splitMetrics(
      "test-in",
      clips,
      items,
      items.map(() => "banana"),
      train,
    );
    expect(m.accuracy).toBe(0);
    expect(m.claimRecall).toBe(0);
    expect(m.meanAnswerWords).toBe(1);
  });

  it("averages accuracy over short answers only", () => {
    // Right on the first half of the short answers, wrong elsewhere.
    const right = new Set(short.slice(0, Math.floor(short.length / 2)).map((i) => i.id));
    const m = splitMetrics(
      "test-in",
      clips,
      items,
      items.map((i) => (right.has(i.id) ? i.answer : "banana")),
      train,
    );
    expect(m.accuracy).toBeCloseTo(right.size / short.length, 12);
    expect(open.length).toBeGreaterThan(0);
  });

  it("rejects misaligned answers", () => {
    expect(() => splitMetrics("test-in", clips, items, [], train)).toThrow(/answers: expected/);
  });
});

describe("preferenceStats", () => {
  const colourItem = items.find((i) => i.check.kind === "colour")!;
  const wrongColour = colourItem.answer === "red" ? "blue" : "red";
  const openItem = open[0]!;

  it("measures agreement with the oracle, ties and lengths", () => {
    const stats = preferenceStats([
      { itemId: colourItem.id, clipId: colourItem.clipId, chosen: colourItem.answer, rejected: wrongColour, tie: false },
      { itemId: colourItem.id, clipId: colourItem.clipId, chosen: wrongColour, rejected: colourItem.answer, tie: false },
      { itemId: colourItem.id, clipId: colourItem.clipId, chosen: colourItem.answer, rejected: colourItem.answer, tie: false },
      { itemId: openItem.id, clipId: openItem.clipId, chosen: openItem.answer, rejected: "banana", tie: true },
    ]);
    expect(stats).toMatchObject({ pairs: 4, ties: 1, oracleDecided: 2, judgeOracleAgreement: 0.5 });
    expect(stats.meanChosenWords).toBe(stats.meanRejectedWords);
    expect(stats.chosenRejectedLengthRatio).toBe(1);
  });

  it("counts pairs of imported videos too, leaving them out of the oracle's agreement", () => {
    const stats = preferenceStats([
      { itemId: colourItem.id, clipId: colourItem.clipId, chosen: colourItem.answer, rejected: wrongColour, tie: false },
      { itemId: "imported#0", clipId: "", chosen: "a dog runs", rejected: "a cat", tie: false },
      { itemId: "imported#1", clipId: "", chosen: "x", rejected: "x", tie: true },
    ]);
    expect(stats).toMatchObject({ pairs: 3, ties: 1, oracleDecided: 1, judgeOracleAgreement: 1 });
    expect(stats.meanChosenWords).toBe(2);
  });

  it("reports the chosen/rejected length ratio of decided pairs", () => {
    const stats = preferenceStats([
      { itemId: openItem.id, clipId: openItem.clipId, chosen: "one two three four", rejected: "one two", tie: false },
    ]);
    expect(stats.chosenRejectedLengthRatio).toBe(2);
  });
});
