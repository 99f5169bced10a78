import { describe, expect, it } from "vitest";
import {
  createRng,
  generateScene,
  instructionsFor,
  referenceCaption,
  scoreAnswer,
  type InstructionItem,
  type Scene,
} from "../src/index.ts";

// A hand-made scene: the expected numbers below are worked out by hand from it.
const scene: Scene = {
  version: 1,
  frames: 8,
  background: { kind: "solid", a: [10, 10, 10], b: [10, 10, 10] },
  noise: { amplitude: 0, specks: 0, seed: 1 },
  objects: [
    { shape: "circle", colour: "red", size: "small", motion: "left", start: [0.7, 0.3], end: [0.3, 0.3] },
    {
      shape: "square",
      colour: "blue",
      size: "large",
      motion: "still",
      start: [0.5, 0.75],
      end: [0.5, 0.75],
      event: { type: "change", frame: 4, toColour: "green" },
    },
    {
      shape: "triangle",
      colour: "yellow",
      size: "small",
      motion: "up",
      start: [0.15, 0.8],
      end: [0.15, 0.4],
      event: { type: "appear", frame: 2 },
    },
  ],
};
// count + 3 × (identity, size, motion) + 2 events
const FACTS = 12;
const open: Pick<InstructionItem, "check"> = { check: { kind: "open" } };
const f1 = (p: number, r: number) => (p + r > 0 ? (5 * 2 * p * r) / (p + r) : 0);

describe("oracle on open answers", () => {
  it("the reference caption is fully true and complete", () => {
    const caption = referenceCaption(scene);
    expect(caption).toBe(
      "There are 3 objects. A small yellow triangle moves up. A large blue square stays still. A small red circle moves left. The yellow triangle appears. Then the blue square turns green.",
    );
    const r = scoreAnswer(scene, open, caption);
    expect(r.claims).toHaveLength(6);
    expect(r).toMatchObject({ precision: 1, recall: 1, score: 5, hallucinations: [], unparsed: [] });
  });

  it("a fully hallucinated answer has precision 0 and recall 0", () => {
    const r = scoreAnswer(scene, open, "There are 5 objects. A large purple ring moves down. A small white cross appears.");
    expect(r.claims).toHaveLength(3);
    expect(r.hallucinations).toHaveLength(3);
    expect(r).toMatchObject({ precision: 0, recall: 0, score: 0, unparsed: [] });
  });

  it("a mixed answer: exact precision and recall", () => {
    const r = scoreAnswer(
      scene,
      open,
      "There are 3 objects. A small red circle moves right. A large blue square stays still. The blue square turns green.",
    );
    // true: count, square still, square turns green; false: circle moves right.
    expect(r.precision).toBe(3 / 4);
    // covered: count; square identity, size, motion, event.
    expect(r.recall).toBe(5 / FACTS);
    expect(r.score).toBeCloseTo(f1(3 / 4, 5 / FACTS), 12);
    expect(r.hallucinations.map((c) => c.text)).toEqual(["a small red circle moves right"]);
  });

  it("a paraphrase within the vocabulary reads the same as the caption", () => {
    const r = scoreAnswer(
      scene,
      open,
      "I see three shapes. The little red circle goes to the left. The big blue square does not move and then becomes green! " +
        "A small yellow triangle shows up, and it travels upward.",
    );
    expect(r.unparsed).toEqual([]);
    expect(r.claims).toHaveLength(6);
    expect(r).toMatchObject({ precision: 1, recall: 1, score: 5 });
  });

  it("text outside the vocabulary is unparsed, never correct", () => {
    const r = scoreAnswer(scene, open, "The video is beautiful and mysterious.");
    expect(r).toMatchObject({ precision: 0, recall: 0, score: 0, claims: [] });
    expect(r.unparsed).toEqual(["the video is beautiful", "mysterious"]);
    const empty = scoreAnswer(scene, open, "");
    expect(empty).toMatchObject({ precision: 0, recall: 0, score: 0, claims: [], unparsed: [] });
  });

  it("a clause with an unknown word yields no claim; unparsed lowers the score, not the precision", () => {
    const r = scoreAnswer(scene, open, `${referenceCaption(scene)} The red circle never moves left.`);
    expect(r.unparsed).toEqual(["the red circle never moves left"]);
    expect(r.precision).toBe(1);
    expect(r.recall).toBe(1);
    expect(r.score).toBeCloseTo(f1(6 / 7, 1), 12);
  });

  it("absence claims are true only for absent objects; repeated claims count once", () => {
    const r = scoreAnswer(scene, open, "No. There is no green ring. There is no red circle. There is no green ring.");
    expect(r.claims.map((c) => [c.kind, c.holds])).toEqual([
      ["absent", true],
      ["absent", false],
    ]);
    expect(r.precision).toBe(1 / 2);
    expect(r.recall).toBe(0);
  });

  it("colour changes: either colour names the object; the change must match", () => {
    const r = scoreAnswer(
      scene,
      open,
      "The green square stays still. The blue square changes from blue to green. The blue square turns red.",
    );
    expect(r.claims.map((c) => c.holds)).toEqual([true, true, false]);
  });

  it("count claims with attributes, and an ambiguous mention covers no fact", () => {
    const r = scoreAnswer(scene, open, "There are 2 small objects. There are 2 circles. A small object moves left.");
    expect(r.claims.map((c) => [c.kind, c.holds])).toEqual([
      ["count", true],
      ["count", false],
      ["predicate", true],
    ]);
    // "a small object moves left" fits only the circle: it covers the circle's motion, not its
    // identity (no colour + shape) nor its size (a size alone names no object).
    expect(r.recall).toBe(1 / FACTS);
  });
});

function shortItem(check: InstructionItem["check"]): InstructionItem {
  return { id: "x", clipId: "c", questionType: "attribute", question: "?", answer: "", check };
}

describe("oracle on short answers", () => {
  const cases: [InstructionItem["check"], string, boolean | "unparsed"][] = [
    [{ kind: "colour", value: "red" }, "Red.", true],
    [{ kind: "colour", value: "red" }, "It is red", true],
    [{ kind: "colour", value: "red" }, "red or blue", false],
    [{ kind: "colour", value: "red" }, "blue", false],
    [{ kind: "colour", value: "red" }, "banana", "unparsed"],
    [{ kind: "shape", value: "cross" }, "a cross", true],
    [{ kind: "shape", value: "cross" }, "crosses", true],
    [{ kind: "size", value: "large" }, "big", true],
    [{ kind: "size", value: "large" }, "small", false],
    [{ kind: "count", value: 3 }, "3", true],
    [{ kind: "count", value: 3 }, "There are three.", true],
    [{ kind: "count", value: 3 }, "2", false],
    [{ kind: "count", value: 0 }, "none", true],
    [{ kind: "count", value: 0 }, "There are no circles", true],
    [{ kind: "motion", value: "left" }, "to the left", true],
    [{ kind: "motion", value: "left" }, "right", false],
    [{ kind: "motion", value: "still" }, "It does not move.", true],
    [{ kind: "motion", value: "still" }, "still", true],
    [{ kind: "yesno", value: "yes" }, "Yes.", true],
    [{ kind: "yesno", value: "no" }, "No, there is not.", true],
    [{ kind: "yesno", value: "no" }, "yes", false],
    [{ kind: "yesno", value: "no" }, "maybe", "unparsed"],
    [{ kind: "object", value: { colour: "red", shape: "circle" }, other: { colour: "blue", shape: "square" } }, "red circle", true],
    [
      { kind: "object", value: { colour: "red", shape: "circle" }, other: { colour: "blue", shape: "square" } },
      "The circle appears first.",
      true,
    ],
    [{ kind: "object", value: { colour: "red", shape: "circle" }, other: { colour: "blue", shape: "square" } }, "blue square", false],
    [{ kind: "object", value: { colour: "red", shape: "circle" }, other: { colour: "red", shape: "square" } }, "the red one", false],
    [{ kind: "object", value: { colour: "red", shape: "circle" }, other: { colour: "blue", shape: "square" } }, "first", "unparsed"],
  ];
  for (const [check, text, expected] of cases) {
    it(`${check.kind} ${JSON.stringify((check as { value?: unknown }).value)}: "${text}" → ${expected}`, () => {
      const r = scoreAnswer(scene, shortItem(check), text);
      if (expected === "unparsed") {
        expect(r).toMatchObject({ correct: false, precision: 0, recall: 0, score: 0, claims: [], unparsed: [text] });
      } else {
        expect(r.correct).toBe(expected);
        expect(r.score).toBe(expected ? 5 : 0);
        expect(r.hallucinations).toHaveLength(expected ? 0 : 1);
      }
    });
  }
});

describe("oracle against generated scenes", () => {
  it("every reference answer and caption scores 5; a wrong value in the same category scores 0", () => {
    const alternatives: Record<string, string[]> = {
      colour: ["red", "orange", "yellow", "green", "blue", "purple", "white"],
      shape: ["square", "circle", "triangle", "cross", "diamond", "ring"],
      size: ["small", "large"],
      motion: ["left", "right", "up", "down", "still"],
      yesno: ["yes", "no"],
      count: ["0", "1", "2", "3", "4", "5"],
    };
    let checked = 0;
    for (let seed = 0; seed < 150; seed++) {
      const s = generateScene(seed, { maxObjects: 5 });
      for (const item of instructionsFor(s, createRng(seed), `c${seed}`)) {
        const r = scoreAnswer(s, item, item.answer);
        expect(r.score, `${item.question} → ${item.answer}`).toBe(5);
        if (item.check.kind === "open") {
          expect(r.precision).toBe(1);
          expect(r.recall).toBe(1);
        } else if (item.check.kind !== "object") {
          const wrong = alternatives[item.check.kind]!.find((v) => v !== String((item.check as { value: unknown }).value))!;
          expect(scoreAnswer(s, item, wrong).correct).toBe(false);
        } else {
          const other = [item.check.other.colour, item.check.other.shape].join(" ");
          expect(scoreAnswer(s, item, other).correct).toBe(false);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(800);
  });
});

describe("oracle on arbitrary text", () => {
  it("never throws and keeps every number in range", () => {
    const rng = createRng("fuzz");
    const vocab = [
      "the",
      "a",
      "no",
      "not",
      "3",
      "two",
      "red",
      "blue",
      "small",
      "big",
      "circle",
      "squares",
      "objects",
      "moves",
      "left",
      "up",
      "still",
      "appears",
      "disappears",
      "turns",
      "changes",
      "from",
      "to",
      "green",
      "it",
      "and",
      "then",
      ".",
      ",",
      "is",
      "there",
      "banana",
      "does",
      "stays",
    ];
    const s = generateScene(4, { maxObjects: 4 });
    const items = instructionsFor(s, createRng(4), "c");
    for (let k = 0; k < 2000; k++) {
      const text = Array.from({ length: rng.int(0, 20) }, () => rng.pick(vocab)).join(" ");
      for (const item of [...items, { ...items[0]!, check: { kind: "open" } } as InstructionItem]) {
        const r = scoreAnswer(s, item, text);
        for (const v of [r.precision, r.recall]) expect(v >= 0 && v <= 1, text).toBe(true);
        expect(r.score >= 0 && r.score <= 5, text).toBe(true);
        expect(r.hallucinations.every((c) => !c.holds && r.claims.includes(c))).toBe(true);
      }
    }
  });
});

describe("existence probes", () => {
  it("absent probes name no object of the scene, present probes name one (checked by the claim reader)", () => {
    let absent = 0;
    for (let seed = 0; seed < 200; seed++) {
      const s = generateScene(seed);
      for (const item of instructionsFor(s, createRng(seed), "c").filter((i) => i.questionType === "existence")) {
        const desc = /^(?:Is there|Does the video contain|Do you see) an? (.+)\?$/.exec(item.question)![1]!;
        const r = scoreAnswer(s, { check: { kind: "open" } }, `There is a ${desc}.`);
        expect(r.claims).toHaveLength(1);
        expect(r.claims[0]!.holds, item.question).toBe(item.answer === "yes");
        if (item.answer === "no") absent++;
      }
    }
    expect(absent).toBe(200);
  });

  it("on the hand-made scene: present and absent probes, answered both ways", () => {
    const probe = (value: "yes" | "no") => shortItem({ kind: "yesno", value });
    expect(scoreAnswer(scene, probe("yes"), "yes").correct).toBe(true);
    expect(scoreAnswer(scene, probe("no"), "No.").correct).toBe(true);
    expect(scoreAnswer(scene, probe("no"), "Yes, there is.").correct).toBe(false);
    // The same facts as open claims: a green square exists (the blue square turns green), a green ring does not.
    const r = scoreAnswer(scene, open, "There is a green square. There is a green ring. There is no yellow triangle.");
    expect(r.claims.map((c) => c.holds)).toEqual([true, false, false]);
    expect(r.precision).toBe(1 / 3);
  });
});
