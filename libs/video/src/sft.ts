// SFT task builders: structured records (no prompt strings) for every skill the loop asks of the model:
// answering, describing, refining a previous description, pairwise judging (with and without a
// context description), critiquing and revising. Wrong candidates are realistic: wrong short answers,
// captions with hallucinated or omitted facts, and verbose-but-wrong captions. Every judge label comes
// from the oracle.
import { z } from "zod";
import type { InstructionItem } from "./instructions.ts";
import { descPhrase, eventPhrase, fullDesc, MOTION_PHRASE, referenceCaption, refDesc, type ObjectDesc } from "./language.ts";
import { scoreAnswer } from "./oracle.ts";
import { createRng, type Rng } from "./rng.ts";
import { coloursOf, type Scene, type SceneEvent, type SceneObject } from "./scene.ts";
import { COLOURS, EVENT_TYPES, MOTIONS, SHAPES, SIZES, isHeldOut, type Colour, type Motion, type QuestionType } from "./vocab.ts";

export type SftRecord =
  | { task: "answer"; clipId: string; question: string; questionType: QuestionType; context?: string; target: string }
  | { task: "describe"; clipId: string; target: string }
  | { task: "refine"; clipId: string; previous: string; target: string }
  | {
      task: "judge";
      clipId: string;
      question: string;
      questionType: QuestionType;
      context?: string;
      answerA: string;
      answerB: string;
      target: "A" | "B";
    }
  | {
      task: "verify";
      clipId: string;
      question: string;
      questionType: QuestionType;
      context?: string;
      answer: string;
      target: "yes" | "no";
    }
  | { task: "critique"; clipId: string; question: string; questionType: QuestionType; answer: string; target: string }
  | { task: "revise"; clipId: string; question: string; questionType: QuestionType; answer: string; critique: string; target: string };

export type SftTask = SftRecord["task"];

/** What is wrong with a description, relative to the scene. */
export type CaptionIssue =
  | { kind: "extra-object"; claimed: SceneObject }
  | { kind: "missing-object"; object: SceneObject }
  | { kind: "attribute"; object: SceneObject; claimed: ObjectDesc }
  | { kind: "motion"; object: SceneObject; claimed: Motion }
  | { kind: "missing-event"; object: SceneObject }
  | { kind: "extra-event"; object: SceneObject; claimed: SceneEvent };

export const CORRUPTIONS = ["extra-object", "missing-object", "attribute", "motion", "missing-event", "extra-event"] as const;
export type Corruption = (typeof CORRUPTIONS)[number];

interface Believed {
  /** The object as the description states it. */
  obj: SceneObject;
  /** The true object it stands for; undefined for a hallucinated one. */
  truth?: SceneObject;
}

function usedCombos(believed: Believed[]): Set<string> {
  return new Set(believed.flatMap((b) => coloursOf(b.obj).map((c) => `${b.obj.shape}:${c}`)));
}

function freshCombo(
  rng: Rng,
  believed: Believed[],
  allowHeldOut: boolean,
  shape?: SceneObject["shape"],
  colour?: Colour,
): [SceneObject["shape"], Colour] | undefined {
  const used = usedCombos(believed);
  const options: [SceneObject["shape"], Colour][] = [];
  for (const s of shape ? [shape] : SHAPES) {
    for (const c of colour ? [colour] : COLOURS) {
      if (!used.has(`${s}:${c}`) && (allowHeldOut || !isHeldOut(s, c))) options.push([s, c]);
    }
  }
  return options.length ? rng.pick(options) : undefined;
}

/** Applies one corruption of the given kind in place; returns the issue, or undefined if it cannot apply. */
function corruptOnce(kind: Corruption, believed: Believed[], rng: Rng, scene: Scene, allowHeldOut: boolean): CaptionIssue | undefined {
  const real = believed.filter((b) => b.truth && b.obj === b.truth);
  switch (kind) {
    case "extra-object": {
      const combo = freshCombo(rng, believed, allowHeldOut);
      if (!combo) return undefined;
      const claimed: SceneObject = {
        shape: combo[0],
        colour: combo[1],
        size: rng.pick(SIZES),
        motion: rng.pick(MOTIONS),
        start: [0.5, 0.5],
        end: [0.5, 0.5],
      };
      believed.splice(rng.int(0, believed.length), 0, { obj: claimed });
      return { kind, claimed };
    }
    case "missing-object": {
      if (real.length === 0 || believed.length < 2) return undefined;
      const b = rng.pick(real);
      believed.splice(believed.indexOf(b), 1);
      return { kind, object: b.truth! };
    }
    case "attribute": {
      if (real.length === 0) return undefined;
      const b = rng.pick(real);
      const o = b.obj;
      const which = rng.pick(["colour", "shape", "size"] as const);
      const others = believed.filter((x) => x !== b);
      let next: SceneObject;
      if (which === "size") next = { ...o, size: o.size === "small" ? "large" : "small" };
      else {
        const combo =
          which === "colour" ? freshCombo(rng, others, allowHeldOut, o.shape) : freshCombo(rng, others, allowHeldOut, undefined, o.colour);
        if (!combo || (combo[0] === o.shape && combo[1] === o.colour)) return undefined;
        next = { ...o, shape: combo[0], colour: combo[1] };
        // A changed colour must not equal the colour the object turns into.
        if (next.event?.toColour === next.colour) return undefined;
        if (next.event?.toColour && usedCombos(others).has(`${next.shape}:${next.event.toColour}`)) return undefined;
      }
      b.obj = next;
      return { kind, object: o, claimed: fullDesc(next) };
    }
    case "motion": {
      if (real.length === 0) return undefined;
      const b = rng.pick(real);
      const claimed = rng.pick(MOTIONS.filter((m) => m !== b.obj.motion));
      b.obj = { ...b.obj, motion: claimed };
      return { kind, object: b.truth!, claimed };
    }
    case "missing-event": {
      const withEvent = real.filter((b) => b.obj.event);
      if (withEvent.length === 0) return undefined;
      const b = rng.pick(withEvent);
      const { event: _dropped, ...rest } = b.obj;
      b.obj = rest;
      return { kind, object: b.truth! };
    }
    case "extra-event": {
      const without = real.filter((b) => !b.obj.event);
      if (without.length === 0) return undefined;
      const b = rng.pick(without);
      const type = rng.pick(EVENT_TYPES);
      let claimed: SceneEvent = { type, frame: rng.int(1, scene.frames - 1) };
      if (type === "change") {
        const combo = freshCombo(rng, believed, allowHeldOut, b.obj.shape);
        if (!combo) return undefined;
        claimed = { ...claimed, toColour: combo[1] };
      }
      b.obj = { ...b.obj, event: claimed };
      return { kind, object: b.truth!, claimed };
    }
  }
}

export interface CorruptedCaption {
  text: string;
  issues: CaptionIssue[];
}

/**
 * A caption of the scene with `kinds` applied (each to a random applicable object), written with the
 * reference template. Kinds that cannot apply to this scene are skipped.
 */
export function corruptCaption(scene: Scene, rng: Rng, kinds: readonly Corruption[], allowHeldOut = false): CorruptedCaption {
  const believed: Believed[] = scene.objects.map((o) => ({ obj: o, truth: o }));
  const issues: CaptionIssue[] = [];
  for (const kind of kinds) {
    const issue = corruptOnce(kind, believed, rng, scene, allowHeldOut);
    if (issue) issues.push(issue);
  }
  const text = referenceCaption({ ...scene, objects: believed.map((b) => b.obj) });
  return { text, issues };
}

/** The critique of a described scene: one sentence per issue, in the closed vocabulary. */
export function critiqueOf(scene: Scene, caption: CorruptedCaption): string {
  if (caption.issues.length === 0) return "The description is correct.";
  const ref = (o: SceneObject) => descPhrase(refDesc(o));
  const lines = caption.issues.map((issue) => {
    switch (issue.kind) {
      case "extra-object":
        return `There is no ${descPhrase(refDesc(issue.claimed))}.`;
      case "missing-object":
        return `It misses a ${descPhrase(fullDesc(issue.object))}.`;
      case "attribute":
        return `There is no ${descPhrase(issue.claimed)}. There is a ${descPhrase(fullDesc(issue.object))}.`;
      case "motion":
        return `The ${ref(issue.object)} ${MOTION_PHRASE[issue.object.motion]}, not ${issue.claimed}.`;
      case "missing-event":
        return `It misses that the ${ref(issue.object)} ${eventPhrase(issue.object.event!.type, issue.object.event!.toColour)}.`;
      case "extra-event": {
        const verb = issue.claimed.type === "change" ? "change colour" : issue.claimed.type;
        return `The ${ref(issue.object)} does not ${verb}.`;
      }
    }
  });
  const believedCount =
    scene.objects.length +
    caption.issues.filter((i) => i.kind === "extra-object").length -
    caption.issues.filter((i) => i.kind === "missing-object").length;
  if (believedCount !== scene.objects.length) lines.push(`There are ${scene.objects.length} objects, not ${believedCount}.`);
  return lines.join(" ");
}

/** A longer way to give a short answer, still in the vocabulary the oracle reads. */
export function verboseAnswer(item: InstructionItem, value: string): string {
  switch (item.check.kind) {
    case "shape":
      return `It is a ${value}.`;
    case "motion":
      return value === "still" ? "It stays still." : `It moves ${value}.`;
    case "count":
      return value === "1" ? "There is 1." : `There are ${value}.`;
    case "yesno":
      return value === "yes" ? "Yes, there is." : "No, there is not.";
    case "object":
      return `The ${value} is first.`;
    default:
      return `It is ${value}.`;
  }
}

/** A plausible wrong short answer: another value of the asked category. */
export function wrongShortAnswer(scene: Scene, item: InstructionItem, rng: Rng): string {
  const check = item.check;
  switch (check.kind) {
    case "colour": {
      const inScene = scene.objects.flatMap(coloursOf).filter((c) => c !== check.value);
      return rng.pick(inScene.length && rng.chance(0.5) ? inScene : COLOURS.filter((c) => c !== check.value));
    }
    case "shape":
      return rng.pick(SHAPES.filter((s) => s !== check.value));
    case "size":
      return check.value === "small" ? "large" : "small";
    case "motion":
      return rng.pick(MOTIONS.filter((m) => m !== check.value));
    case "count":
      return String(check.value === 0 || rng.chance(0.5) ? check.value + 1 : check.value - 1);
    case "yesno":
      return check.value === "yes" ? "no" : "yes";
    case "object":
      return descPhrase(check.other);
    case "open":
      throw new Error("wrongShortAnswer on an open question");
  }
}

function words(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

/** Candidate descriptions of a scene, from correct to badly wrong, each with its issues. */
function openCandidates(scene: Scene, rng: Rng, allowHeldOut: boolean): CorruptedCaption[] {
  const kinds = rng.shuffle(CORRUPTIONS);
  const out: CorruptedCaption[] = [{ text: referenceCaption(scene), issues: [] }];
  for (const k of kinds) out.push(corruptCaption(scene, rng, [k], allowHeldOut));
  out.push(corruptCaption(scene, rng, ["missing-object", "missing-event"], allowHeldOut));
  out.push(corruptCaption(scene, rng, [rng.pick(CORRUPTIONS), rng.pick(CORRUPTIONS)], allowHeldOut));
  // Verbose but wrong: everything true plus invented objects.
  out.push(corruptCaption(scene, rng, ["extra-object", "extra-object"], allowHeldOut));
  return out.filter((c, i) => i === 0 || c.issues.length > 0);
}

/**
 * A judged pair: chosen scores higher under the oracle; `longerBetter` asks for the chosen answer to
 * be the longer one (or the shorter), so that length does not predict the label.
 */
function judgePair(
  scene: Scene,
  item: InstructionItem,
  rng: Rng,
  longerBetter: boolean,
  allowHeldOut: boolean,
): { chosen: string; rejected: string } {
  if (item.check.kind !== "open") {
    const right = item.answer;
    const wrong = wrongShortAnswer(scene, item, rng);
    // Mostly two bare answers, as the loop samples them; sometimes one verbose, so that length
    // alone never tells the better answer.
    if (rng.chance(0.75)) return { chosen: right, rejected: wrong };
    return longerBetter ? { chosen: verboseAnswer(item, right), rejected: wrong } : { chosen: right, rejected: verboseAnswer(item, wrong) };
  }
  const cands = openCandidates(scene, rng, allowHeldOut).map((c) => ({ text: c.text, score: scoreAnswer(scene, item, c.text).score }));
  const pairs: { chosen: string; rejected: string; fits: boolean }[] = [];
  for (const a of cands) {
    for (const b of cands) {
      if (a.score - b.score < 0.5) continue;
      const dl = words(a.text) - words(b.text);
      pairs.push({ chosen: a.text, rejected: b.text, fits: longerBetter ? dl > 0 : dl < 0 });
    }
  }
  const fitting = pairs.filter((p) => p.fits);
  const pick = rng.pick(fitting.length ? fitting : pairs);
  return { chosen: pick.chosen, rejected: pick.rejected };
}

export const SftMixSchema = z.object({
  seed: z.number().int().min(0),
  /** Records per clip, per task. */
  answer: z.number().int().min(0).default(4),
  describe: z.number().int().min(0).default(1),
  refine: z.number().int().min(0).default(1),
  judge: z.number().int().min(0).default(1),
  judgeWithContext: z.number().int().min(0).default(1),
  critique: z.number().int().min(0).default(1),
  revise: z.number().int().min(0).default(1),
  /** Answers given a (mostly hallucinated) description as context. */
  answerWithContext: z.number().int().min(0).default(0),
  /** Is this answer right? yes/no, half right and half wrong answers; without and with a context. */
  verify: z.number().int().min(0).default(0),
  verifyWithContext: z.number().int().min(0).default(0),
  /** Whether invented objects may use held-out shape–colour pairs (only for test-out material). */
  allowHeldOut: z.boolean().default(false),
});
export type SftMixOptions = z.input<typeof SftMixSchema>;

export interface SftClip {
  id: string;
  scene: Scene;
  items: InstructionItem[];
}

/**
 * A description like the ones the model writes of its own videos (c_t): usually partly wrong
 * (0–3 corruptions: missing, invented or mis-described objects and events), rarely exact.
 */
export function selfLikeContext(scene: Scene, rng: Rng, allowHeldOut: boolean): string {
  const errors = rng.pick([0, 1, 1, 2, 2, 3]);
  return corruptCaption(
    scene,
    rng,
    Array.from({ length: errors }, () => rng.pick(CORRUPTIONS)),
    allowHeldOut,
  ).text;
}

/** An answer to verify, right or wrong with equal odds: bare short answers mostly, as the loop samples them. */
function verified(scene: Scene, item: InstructionItem, rng: Rng, allowHeldOut: boolean): { answer: string; target: "yes" | "no" } {
  const right = rng.chance(0.5);
  if (item.check.kind === "open") {
    const kinds = right ? [] : rng.shuffle(CORRUPTIONS).slice(0, rng.int(1, 2));
    const c = corruptCaption(scene, rng, kinds, allowHeldOut);
    // A corruption that cannot apply to this scene leaves the caption right.
    return { answer: c.text, target: c.issues.length === 0 ? "yes" : "no" };
  }
  const value = right ? item.answer : wrongShortAnswer(scene, item, rng);
  return { answer: rng.chance(0.8) ? value : verboseAnswer(item, value), target: right ? "yes" : "no" };
}

/** An answer to critique: right or wrong, short or open, with its critique and the corrected answer. */
function critiqued(
  scene: Scene,
  item: InstructionItem,
  rng: Rng,
  wrongProbability: number,
  allowHeldOut: boolean,
): { answer: string; critique: string; target: string } {
  if (item.check.kind === "open") {
    const kinds = rng.chance(wrongProbability) ? rng.shuffle(CORRUPTIONS).slice(0, rng.int(1, 2)) : [];
    const c = corruptCaption(scene, rng, kinds, allowHeldOut);
    return { answer: c.text, critique: critiqueOf(scene, c), target: item.answer };
  }
  if (!rng.chance(wrongProbability)) return { answer: item.answer, critique: "The answer is correct.", target: item.answer };
  const wrong = wrongShortAnswer(scene, item, rng);
  return { answer: wrong, critique: `The answer is wrong. The correct answer is ${item.answer}.`, target: item.answer };
}

/**
 * The SFT mix of some clips. Deterministic in (clips, options). Judge records alternate the position
 * of the better answer (A, B, A, B, ...) and, independently, whether it is the longer one, so neither
 * position nor length predicts the label.
 */
export function buildSftMix(clips: readonly SftClip[], options: SftMixOptions): SftRecord[] {
  const o = SftMixSchema.parse(options);
  const out: SftRecord[] = [];
  let judged = 0;
  for (const clip of clips) {
    const rng = createRng(`sft:${o.seed}:${clip.id}`);
    const { scene, items } = clip;
    const openItem = items.find((it) => it.check.kind === "open");
    const caption = referenceCaption(scene);
    for (const it of rng.shuffle(items).slice(0, o.answer)) {
      out.push({ task: "answer", clipId: clip.id, question: it.question, questionType: it.questionType, target: it.answer });
    }
    for (let i = 0; i < o.describe; i++) out.push({ task: "describe", clipId: clip.id, target: caption });
    for (let i = 0; i < o.refine; i++) {
      // Sometimes the previous description is already right: refining must then keep it.
      const kinds = rng.chance(0.2) ? [] : rng.shuffle(CORRUPTIONS).slice(0, rng.int(1, 2));
      out.push({ task: "refine", clipId: clip.id, previous: corruptCaption(scene, rng, kinds, o.allowHeldOut).text, target: caption });
    }
    const judge = (withContext: boolean) => {
      const it = openItem && rng.chance(0.4) ? openItem : rng.pick(items);
      const longerBetter = Math.floor(judged / 2) % 2 === 0;
      const { chosen, rejected } = judgePair(scene, it, rng, longerBetter, o.allowHeldOut);
      const sc = scoreAnswer(scene, it, chosen).score;
      const sr = scoreAnswer(scene, it, rejected).score;
      if (!(sc > sr)) throw new Error(`judge pair for ${it.id} is not ordered by the oracle (${sc} vs ${sr})`);
      const chosenFirst = judged % 2 === 0;
      judged++;
      const context = withContext ? selfLikeContext(scene, rng, o.allowHeldOut) : undefined;
      out.push({
        task: "judge",
        clipId: clip.id,
        question: it.question,
        questionType: it.questionType,
        ...(context !== undefined ? { context } : {}),
        answerA: chosenFirst ? chosen : rejected,
        answerB: chosenFirst ? rejected : chosen,
        target: chosenFirst ? "A" : "B",
      });
    };
    for (let i = 0; i < o.judge; i++) judge(false);
    for (let i = 0; i < o.judgeWithContext; i++) judge(true);
    for (const it of rng.shuffle(items).slice(0, o.answerWithContext)) {
      const context = selfLikeContext(scene, rng, o.allowHeldOut);
      out.push({ task: "answer", clipId: clip.id, question: it.question, questionType: it.questionType, context, target: it.answer });
    }
    const verify = (withContext: boolean) => {
      const it = openItem && rng.chance(0.2) ? openItem : rng.pick(items);
      const v = verified(scene, it, rng, o.allowHeldOut);
      const context = withContext ? selfLikeContext(scene, rng, o.allowHeldOut) : undefined;
      out.push({
        task: "verify",
        clipId: clip.id,
        question: it.question,
        questionType: it.questionType,
        ...(context !== undefined ? { context } : {}),
        answer: v.answer,
        target: v.target,
      });
    };
    for (let i = 0; i < o.verify; i++) verify(false);
    for (let i = 0; i < o.verifyWithContext; i++) verify(true);
    for (let i = 0; i < o.critique; i++) {
      const it = openItem && rng.chance(0.5) ? openItem : rng.pick(items);
      const c = critiqued(scene, it, rng, 0.6, o.allowHeldOut);
      out.push({
        task: "critique",
        clipId: clip.id,
        question: it.question,
        questionType: it.questionType,
        answer: c.answer,
        target: c.critique,
      });
    }
    for (let i = 0; i < o.revise; i++) {
      const it = openItem && rng.chance(0.5) ? openItem : rng.pick(items);
      const c = critiqued(scene, it, rng, 0.8, o.allowHeldOut);
      out.push({
        task: "revise",
        clipId: clip.id,
        question: it.question,
        questionType: it.questionType,
        answer: c.answer,
        critique: c.critique,
        target: c.target,
      });
    }
  }
  return out;
}

/** Balance of judge records: fraction with the better answer at A, and fraction where it is longer. */
export function judgeBalance(records: readonly SftRecord[]): {
  judged: number;
  betterAtA: number;
  betterLonger: number;
  equalLength: number;
} {
  const judges = records.filter((r): r is Extract<SftRecord, { task: "judge" }> => r.task === "judge");
  let atA = 0;
  let longer = 0;
  let equal = 0;
  for (const r of judges) {
    const better = r.target === "A" ? r.answerA : r.answerB;
    const worse = r.target === "A" ? r.answerB : r.answerA;
    if (r.target === "A") atA++;
    if (words(better) > words(worse)) longer++;
    else if (words(better) === words(worse)) equal++;
  }
  const n = judges.length || 1;
  return { judged: judges.length, betterAtA: atA / n, betterLonger: longer / n, equalLength: equal / n };
}

/**
 * Judge examples whose label only the context decides, for the judge-learnability probe: the context
 * names one object's colour, the answers are two colours, and the right one is the colour the context
 * names (first or second at random). A judge that ignores its context can get at most 50%.
 */
export function contextRuleJudgeRecords(count: number, seed: number): Extract<SftRecord, { task: "judge" }>[] {
  const rng = createRng(`context-rule:${seed}`);
  return Array.from({ length: count }, () => {
    const shape = rng.pick(SHAPES);
    const right = rng.pick(COLOURS);
    const wrong = rng.pick(COLOURS.filter((c) => c !== right));
    const rightFirst = rng.next() < 0.5;
    return {
      task: "judge" as const,
      clipId: "context-rule",
      question: `what colour is the ${shape}?`,
      questionType: "attribute" as const,
      context: `A ${right} ${shape} ${MOTION_PHRASE[rng.pick(MOTIONS)]}.`,
      answerA: rightFirst ? right : wrong,
      answerB: rightFirst ? wrong : right,
      target: rightFirst ? ("A" as const) : ("B" as const),
    };
  });
}
