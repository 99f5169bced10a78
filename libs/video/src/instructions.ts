// Questions about a scene with their reference answers. Each question type has at least three
// phrasings; short answers are one or two words from the closed vocabulary.
import { z } from "zod";
import type { Rng } from "./rng.ts";
import { coloursOf, type Scene, type SceneObject } from "./scene.ts";
import { descPhrase, eventPhrase, matchesDesc, orderedEvents, referenceCaption, refDesc, uniqueDesc, type ObjectDesc } from "./language.ts";
import { COLOURS, MOTIONS, SHAPES, SIZES, isHeldOut, type Colour, type Motion, type QuestionType, type Shape, type Size } from "./vocab.ts";

/** What a correct answer must say; the oracle checks answers against this, not against `answer` text. */
export type AnswerCheck =
  | { kind: "colour"; value: Colour }
  | { kind: "shape"; value: Shape }
  | { kind: "size"; value: Size }
  | { kind: "motion"; value: Motion }
  | { kind: "count"; value: number }
  | { kind: "yesno"; value: "yes" | "no" }
  /** Order questions: the answer names the object whose event comes first, not the other one. */
  | { kind: "object"; value: ObjectDesc; other: ObjectDesc }
  | { kind: "open" };

const ObjectDescSchema = z.object({ shape: z.enum(SHAPES).optional(), colour: z.enum(COLOURS).optional(), size: z.enum(SIZES).optional() });

/** Validates an AnswerCheck read from a file. */
export const AnswerCheckSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("colour"), value: z.enum(COLOURS) }),
  z.object({ kind: z.literal("shape"), value: z.enum(SHAPES) }),
  z.object({ kind: z.literal("size"), value: z.enum(SIZES) }),
  z.object({ kind: z.literal("motion"), value: z.enum(MOTIONS) }),
  z.object({ kind: z.literal("count"), value: z.number().int().min(0) }),
  z.object({ kind: z.literal("yesno"), value: z.enum(["yes", "no"]) }),
  z.object({ kind: z.literal("object"), value: ObjectDescSchema, other: ObjectDescSchema }),
  z.object({ kind: z.literal("open") }),
]) satisfies z.ZodType<AnswerCheck>;

export interface InstructionItem {
  id: string;
  clipId: string;
  questionType: QuestionType;
  question: string;
  /** The reference answer (short answers: canonical word; open questions: the reference caption). */
  answer: string;
  check: AnswerCheck;
}

type Draft = Omit<InstructionItem, "id" | "clipId">;

function fill(template: string, ref: string): string {
  return template.replace("{}", ref);
}

const COLOUR_Q = ["What colour is the {}?", "What is the colour of the {}?", "Which colour does the {} have?"];
const COLOUR_START_Q = [
  "What colour is the {} at the start?",
  "What is the colour of the {} at the start?",
  "Which colour does the {} have at the start?",
];
const COLOUR_END_Q = [
  "What colour is the {} at the end?",
  "What is the colour of the {} at the end?",
  "Which colour does the {} have at the end?",
];
const SHAPE_Q = ["What shape is the {}?", "What is the shape of the {}?", "Which shape does the {} have?"];
const SIZE_Q = ["What size is the {}?", "Is the {} small or large?", "How big is the {}?"];
const DIRECTION_Q = ["Which way does the {} move?", "In which direction does the {} move?", "Where does the {} go?"];
const EXIST_Q = ["Is there a {}?", "Does the video contain a {}?", "Do you see a {}?"];
const COUNT_Q = ["How many {} are there?", "How many {} are in the video?", "How many {} do you see?"];
const ORDER_Q = ["Which happens first: {}?", "What comes first: {}?", "Which is earlier: {}?"];
export const OPEN_QUESTIONS = ["Describe what happens in the video.", "What happens in this clip?", "Describe the video in detail."];

function attributeQuestion(scene: Scene, o: SceneObject, rng: Rng): Draft | undefined {
  const asks = rng.shuffle(["colour", "shape", "size"] as const);
  for (const attr of asks) {
    const d = uniqueDesc(
      scene,
      o,
      (["shape", "colour", "size"] as const).filter((k) => k !== attr),
    );
    if (!d) continue;
    const ref = descPhrase(d);
    if (attr === "colour") {
      if (o.event?.type === "change" && o.event.toColour) {
        const atEnd = rng.chance(0.5);
        const value = atEnd ? o.event.toColour : o.colour;
        return {
          questionType: "attribute",
          question: fill(rng.pick(atEnd ? COLOUR_END_Q : COLOUR_START_Q), ref),
          answer: value,
          check: { kind: "colour", value },
        };
      }
      return {
        questionType: "attribute",
        question: fill(rng.pick(COLOUR_Q), ref),
        answer: o.colour,
        check: { kind: "colour", value: o.colour },
      };
    }
    if (attr === "shape")
      return {
        questionType: "attribute",
        question: fill(rng.pick(SHAPE_Q), ref),
        answer: o.shape,
        check: { kind: "shape", value: o.shape },
      };
    return { questionType: "attribute", question: fill(rng.pick(SIZE_Q), ref), answer: o.size, check: { kind: "size", value: o.size } };
  }
  return undefined;
}

function directionQuestion(scene: Scene, o: SceneObject, rng: Rng): Draft {
  const d = uniqueDesc(scene, o, ["shape", "colour", "size"]) ?? refDesc(o);
  return {
    questionType: "direction",
    question: fill(rng.pick(DIRECTION_Q), descPhrase(d)),
    answer: o.motion,
    check: { kind: "motion", value: o.motion },
  };
}

function countQuestion(scene: Scene, rng: Rng): Draft {
  // Mostly all objects; sometimes a colour or a shape filter (whose count may be 0).
  const r = rng.next();
  let d: ObjectDesc = {};
  if (r < 0.15) d = { colour: rng.pick(rng.chance(0.7) ? scene.objects.flatMap(coloursOf) : COLOURS) };
  else if (r < 0.3) d = { shape: rng.pick(rng.chance(0.7) ? scene.objects.map((o) => o.shape) : SHAPES) };
  const n = scene.objects.filter((o) => matchesDesc(o, d)).length;
  return {
    questionType: "count",
    question: fill(rng.pick(COUNT_Q), descPhrase(d, true)),
    answer: String(n),
    check: { kind: "count", value: n },
  };
}

/** A description that matches no object: one attribute of a real object changed (a hard negative). */
function absentDesc(scene: Scene, rng: Rng, allowHeldOut: boolean): ObjectDesc | undefined {
  for (let tries = 0; tries < 40; tries++) {
    const o = rng.pick(scene.objects);
    const d: ObjectDesc = { shape: o.shape, colour: o.colour };
    const change = rng.pick(["shape", "colour", "size"] as const);
    if (change === "shape") d.shape = rng.pick(SHAPES);
    else if (change === "colour") d.colour = rng.pick(COLOURS);
    else {
      d.size = rng.pick(SIZES);
      if (rng.chance(0.5)) delete d.colour;
    }
    if (!allowHeldOut && d.shape && d.colour && isHeldOut(d.shape, d.colour)) continue;
    if (!scene.objects.some((x) => matchesDesc(x, d))) return d;
  }
  return undefined;
}

function presentDesc(o: SceneObject, rng: Rng): ObjectDesc {
  const forms: ObjectDesc[] = [
    { shape: o.shape, colour: o.colour },
    { shape: o.shape, colour: o.colour, size: o.size },
    { shape: o.shape, size: o.size },
    { colour: o.colour },
    { shape: o.shape },
  ];
  return rng.pick(forms);
}

function existenceQuestion(scene: Scene, rng: Rng, present: boolean, allowHeldOut: boolean): Draft | undefined {
  const d = present ? presentDesc(rng.pick(scene.objects), rng) : absentDesc(scene, rng, allowHeldOut);
  if (!d) return undefined;
  const value = present ? "yes" : "no";
  return { questionType: "existence", question: fill(rng.pick(EXIST_Q), descPhrase(d)), answer: value, check: { kind: "yesno", value } };
}

function orderQuestion(scene: Scene, rng: Rng): Draft | undefined {
  const events = orderedEvents(scene);
  const pairs: [SceneObject, SceneObject][] = [];
  for (let i = 0; i < events.length; i++) {
    for (let j = i + 1; j < events.length; j++) {
      const a = events[i]!.object;
      const b = events[j]!.object;
      if (a.event!.frame < b.event!.frame) pairs.push([a, b]);
    }
  }
  if (pairs.length === 0) return undefined;
  const [first, second] = rng.pick(pairs);
  const clause = (o: SceneObject) => `the ${descPhrase(refDesc(o))} ${eventPhrase(o.event!.type, o.event!.toColour)}`;
  const options = rng.chance(0.5) ? [first, second] : [second, first];
  const question = fill(rng.pick(ORDER_Q), `${clause(options[0]!)} or ${clause(options[1]!)}`);
  return {
    questionType: "order",
    question,
    answer: descPhrase(refDesc(first)),
    check: { kind: "object", value: refDesc(first), other: refDesc(second) },
  };
}

export interface InstructionOptions {
  /** Whether absent-object probes may name held-out shape–colour pairs (only in test-out). */
  allowHeldOut?: boolean;
}

/**
 * The questions of one clip: one attribute, one count, one direction, one order (when the clip has
 * two events at different frames), two existence probes (one present, one absent, in random order)
 * and one open question.
 */
export function instructionsFor(scene: Scene, rng: Rng, clipId = "clip", options: InstructionOptions = {}): InstructionItem[] {
  const drafts: (Draft | undefined)[] = [];
  drafts.push(attributeQuestion(scene, rng.pick(scene.objects), rng));
  drafts.push(countQuestion(scene, rng));
  drafts.push(directionQuestion(scene, rng.pick(scene.objects), rng));
  drafts.push(orderQuestion(scene, rng));
  const presentFirst = rng.chance(0.5);
  drafts.push(existenceQuestion(scene, rng, presentFirst, options.allowHeldOut ?? false));
  drafts.push(existenceQuestion(scene, rng, !presentFirst, options.allowHeldOut ?? false));
  drafts.push({ questionType: "open", question: rng.pick(OPEN_QUESTIONS), answer: referenceCaption(scene), check: { kind: "open" } });
  return drafts.filter((d): d is Draft => d !== undefined).map((d, i) => ({ id: `${clipId}-q${i}`, clipId, ...d }));
}
