import { describe, expect, it } from "vitest";
import { answerMatches, normaliseAnswer, qaSplitMetrics } from "../src/index.ts";

describe("short-answer match", () => {
  it("normalises case, accents, punctuation, articles and number words", () => {
    expect(normaliseAnswer("  The Café, two DOGS! ")).toBe("cafe 2 dogs");
    expect(normaliseAnswer("An apple.")).toBe("apple");
  });

  it("matches equal or contained references, as whole words", () => {
    expect(answerMatches("Red.", "red")).toBe(true);
    expect(answerMatches("the circle is red", "red")).toBe(true);
    expect(answerMatches("there are two of them", "2")).toBe(true);
    expect(answerMatches("reddish", "red")).toBe(false);
    expect(answerMatches("blue", "red")).toBe(false);
    expect(answerMatches("", "red")).toBe(false);
    expect(answerMatches("moves to the left", "to the left")).toBe(true);
  });
});

describe("qaSplitMetrics", () => {
  const items = [
    { questionType: "what", reference: "dog", answer: "a dog" },
    { questionType: "what", reference: "dog", answer: "cat" },
    { questionType: "count", reference: "3", answer: "three" },
    { questionType: "what", reference: "man", answer: "the man runs fast" },
  ];

  it("without a judge: accuracy is the match accuracy and there is no score", () => {
    const m = qaSplitMetrics("s", items);
    expect(m).toMatchObject({ split: "s", items: 4, accuracy: 0.75, meanScore: 0, matchAccuracy: 0.75, meanAnswerWords: 2 });
    expect(m.byQuestionType).toEqual([
      { questionType: "count", items: 1, accuracy: 1, meanScore: 0, matchAccuracy: 1, chanceAccuracy: 1 },
      { questionType: "what", items: 3, accuracy: 2 / 3, meanScore: 0, matchAccuracy: 2 / 3, chanceAccuracy: 2 / 3 },
    ]);
  });

  it("with LM verdicts: accuracy is the share of yes, score the mean score; match accuracy still reported", () => {
    const verdicts = [
      { match: true, score: 5 },
      { match: false, score: 1 },
      { match: true, score: 4 },
      { match: false, score: 2 },
    ];
    const m = qaSplitMetrics(
      "s",
      items.map((it, i) => ({ ...it, verdict: verdicts[i]! })),
    );
    expect(m).toMatchObject({ accuracy: 0.5, meanScore: 3, matchAccuracy: 0.75 });
    expect(m.byQuestionType.find((t) => t.questionType === "what")).toMatchObject({ accuracy: 1 / 3, meanScore: 8 / 3 });
  });

  it("records without question types give no per-type rows", () => {
    expect(qaSplitMetrics("s", [{ reference: "x", answer: "x" }]).byQuestionType).toEqual([]);
  });
});
