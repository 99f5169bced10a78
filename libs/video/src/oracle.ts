// The oracle: reads free text back into claims and checks each against the scene.
//
// Parsing. Text is lower-cased, split into clauses at punctuation and at "and", "then", "while", "but",
// "before", "after", "or". A clause is a subject (object mentions: [article|numeral|no] [size] [colour]
// [shape|object], or "it" for the previous clause's subject) and an optional predicate (a motion, an
// appear/disappear event or a colour change). A clause containing a word outside the closed vocabulary
// is not guessed at: the whole clause goes to `unparsed` and yields no claim.
//
// Claims. A clause with a predicate gives one claim per mention ("a small red circle moves left": there
// is a small red circle that moves left). Without a predicate a mention is an existence claim ("there is
// a red circle"). A numeral other than 1 gives a count claim ("there are 3 objects"); "no" gives an
// absence claim ("there is no green ring"). A colour fits an object that shows it at any frame.
// Repeated identical claims count once.
//
// Scores of an open answer:
//   precision = true claims / claims            (1 − hallucination rate; 0 when there is no claim)
//   recall    = caption facts covered / facts   (facts: the object count; per object its identity
//               (colour + shape), size, motion and event; a true claim covers the facts it states about
//               the one object its mention fits; an ambiguous mention covers nothing)
//   score     = 5 × F1(true claims / (claims + unparsed clauses), recall)   in [0, 5]
// Unparsed clauses never count as correct: they lower the score, not the precision.
// Short answers: the words of the asked category (colours, shapes, sizes, directions, numbers,
// yes/no, or the object named in an order question) are extracted after normalisation; the answer is
// correct iff it names exactly the reference value. Then precision = recall = 1 and score = 5, else 0.
import type { InstructionItem, AnswerCheck } from "./instructions.ts";
import { matchesDesc, type ObjectDesc } from "./language.ts";
import type { Scene, SceneObject } from "./scene.ts";
import { COLOURS, NUMBER_WORDS, SHAPES, SHAPE_PLURAL, type Colour, type EventType, type Motion, type Shape, type Size } from "./vocab.ts";

export type Predicate = { kind: "motion"; motion: Motion | "moving" } | { kind: "event"; event: EventType; from?: Colour; to?: Colour };

export interface Claim {
  kind: "object" | "absent" | "count" | "predicate" | "answer";
  /** The clause (or short answer) the claim was read from. */
  text: string;
  subject?: ObjectDesc;
  predicate?: Predicate;
  count?: number;
  /** For short answers: the value read from the answer. */
  value?: string;
  holds: boolean;
}

export interface AnswerScore {
  /** Short answers only. */
  correct?: boolean;
  precision: number;
  recall: number;
  score: number;
  claims: Claim[];
  hallucinations: Claim[];
  unparsed: string[];
}

const SHAPE_WORDS = new Map<string, Shape>();
for (const s of SHAPES) {
  SHAPE_WORDS.set(s, s);
  SHAPE_WORDS.set(SHAPE_PLURAL[s], s);
}
const COLOUR_WORDS = new Map<string, Colour>(COLOURS.map((c) => [c, c]));
const SIZE_WORDS = new Map<string, Size>([
  ["small", "small"],
  ["little", "small"],
  ["tiny", "small"],
  ["large", "large"],
  ["big", "large"],
]);
const NOUNS = new Set(["object", "objects", "shape", "shapes", "thing", "things", "item", "items"]);
const ARTICLES = new Set(["a", "an", "the", "one"]);
const DIRECTION_WORDS = new Map<string, Motion>([
  ["left", "left"],
  ["leftward", "left"],
  ["leftwards", "left"],
  ["right", "right"],
  ["rightward", "right"],
  ["rightwards", "right"],
  ["up", "up"],
  ["upward", "up"],
  ["upwards", "up"],
  ["down", "down"],
  ["downward", "down"],
  ["downwards", "down"],
]);
const MOVE_VERBS = new Set([
  "move",
  "moves",
  "moving",
  "moved",
  "go",
  "goes",
  "going",
  "went",
  "travel",
  "travels",
  "travelling",
  "traveling",
  "slide",
  "slides",
  "sliding",
  "drift",
  "drifts",
  "head",
  "heads",
]);
const STILL_WORDS = new Set(["still", "static", "stationary", "motionless", "nowhere"]);
const STAY_VERBS = new Set(["stay", "stays", "staying", "stayed", "remain", "remains", "remaining", "remained", "rest", "rests", "keeps"]);
const APPEAR_VERBS = new Set(["appear", "appears", "appeared", "appearing", "emerge", "emerges", "emerged"]);
const DISAPPEAR_VERBS = new Set(["disappear", "disappears", "disappeared", "disappearing", "vanish", "vanishes", "vanished"]);
const CHANGE_VERBS = new Set([
  "change",
  "changes",
  "changed",
  "changing",
  "turn",
  "turns",
  "turned",
  "become",
  "becomes",
  "became",
  "switch",
  "switches",
]);
const COPULAS = new Set(["is", "are", "was", "were", "looks", "look"]);
const NEGATIONS = new Set(["not", "no", "none"]);
const PRONOUNS = new Set(["it", "they", "this"]);
/** Words that carry no claim of their own. */
const FILLER = new Set([
  "there",
  "be",
  "been",
  "its",
  "i",
  "we",
  "you",
  "can",
  "could",
  "see",
  "sees",
  "seen",
  "shows",
  "show",
  "showing",
  "video",
  "clip",
  "scene",
  "frame",
  "frames",
  "in",
  "on",
  "of",
  "that",
  "which",
  "also",
  "first",
  "finally",
  "next",
  "later",
  "at",
  "same",
  "time",
  "total",
  "all",
  "from",
  "to",
  "into",
  "toward",
  "towards",
  "start",
  "end",
  "beginning",
  "has",
  "have",
  "with",
  "colour",
  "color",
  "place",
  "do",
  "does",
  "did",
  "only",
  "here",
  "across",
  "side",
  "way",
  "direction",
  "whole",
  "throughout",
  "contains",
  "contain",
  "screen",
  "yes",
  "answer",
  "is",
  "are",
  "was",
  "were",
  "then",
  "another",
  "other",
  "around",
]);
const SPLIT_WORDS = new Set(["and", "then", "while", "but", "before", "after", "or"]);

function numeral(word: string): number | undefined {
  if (/^\d+$/.test(word)) return Number(word);
  const i = (NUMBER_WORDS as readonly string[]).indexOf(word);
  return i >= 0 ? i : undefined;
}

/** Lower-case words with contractions and multi-word idioms rewritten to single vocabulary words. */
export function normalizeWords(text: string): string {
  return text
    .toLowerCase()
    .replace(/n't\b/g, " not")
    .replace(/\b(shows?|showed|turns?|turned) up\b/g, "appears")
    .replace(/\bcomes? into view\b/g, "appears")
    .replace(/\b(goes|go|went) away\b/g, "disappears")
    .replace(/\b(in|into) place\b/g, "still")
    .replace(/\bcolou?rs?\b/g, "colour");
}

function splitClauses(text: string): string[] {
  const clauses: string[] = [];
  for (const sentence of normalizeWords(text).split(/[.!?;,:\n]+/)) {
    let current: string[] = [];
    for (const w of sentence.split(/[^a-z0-9]+/).filter(Boolean)) {
      if (SPLIT_WORDS.has(w)) {
        if (current.length) clauses.push(current.join(" "));
        current = [];
      } else current.push(w);
    }
    if (current.length) clauses.push(current.join(" "));
  }
  return clauses;
}

interface Mention {
  desc: ObjectDesc;
  count?: number;
  negated: boolean;
  hasNoun: boolean;
}

interface ParsedClause {
  mentions: Mention[];
  pronoun: boolean;
  predicate?: Predicate;
  unknown: boolean;
}

const isPredicateStart = (w: string, next: string | undefined) =>
  MOVE_VERBS.has(w) ||
  STAY_VERBS.has(w) ||
  APPEAR_VERBS.has(w) ||
  DISAPPEAR_VERBS.has(w) ||
  CHANGE_VERBS.has(w) ||
  (NEGATIONS.has(w) && next !== undefined && MOVE_VERBS.has(next)) ||
  ((w === "does" || w === "do" || w === "did") && next === "not");

function parseSubject(words: string[]): { mentions: Mention[]; pronoun: boolean; unknown: boolean } {
  const mentions: Mention[] = [];
  let cur: Mention | undefined;
  let pendingCount: number | undefined;
  let pendingNeg = false;
  let afterCopula = false;
  let pronoun = false;
  let unknown = false;
  const open = () => {
    cur = { desc: {}, negated: pendingNeg, hasNoun: false, ...(pendingCount !== undefined ? { count: pendingCount } : {}) };
    mentions.push(cur);
    pendingCount = undefined;
    pendingNeg = false;
  };
  const complete = (m: Mention | undefined) => m !== undefined && (m.hasNoun || m.desc.shape !== undefined);
  for (const w of words) {
    const n = numeral(w);
    if (ARTICLES.has(w)) {
      cur = undefined;
      afterCopula = false;
    } else if (n !== undefined) {
      pendingCount = n;
      cur = undefined;
      afterCopula = false;
    } else if (NEGATIONS.has(w)) {
      pendingNeg = true;
      cur = undefined;
    } else if (PRONOUNS.has(w)) {
      pronoun = true;
    } else if (COPULAS.has(w)) {
      afterCopula = mentions.length > 0 || pronoun;
    } else if (SIZE_WORDS.has(w) || COLOUR_WORDS.has(w) || SHAPE_WORDS.has(w) || NOUNS.has(w)) {
      // After "is"/"are", attributes describe the previous mention ("the circle is red").
      if (afterCopula && !pendingNeg && pendingCount === undefined) {
        cur = mentions[mentions.length - 1];
        if (!cur) {
          open();
        }
      } else if (!cur || complete(cur)) open();
      const m = cur!;
      if (SIZE_WORDS.has(w)) m.desc.size = SIZE_WORDS.get(w);
      else if (COLOUR_WORDS.has(w)) m.desc.colour = COLOUR_WORDS.get(w);
      else if (SHAPE_WORDS.has(w)) m.desc.shape = SHAPE_WORDS.get(w);
      else m.hasNoun = true;
    } else if (!FILLER.has(w)) unknown = true;
  }
  // "there are 3": a count with nothing after it counts all objects. A bare "no" claims nothing.
  if (pendingCount !== undefined) open();
  return { mentions, pronoun, unknown };
}

function parsePredicate(words: string[]): { predicate?: Predicate; unknown: boolean } {
  let motion: Motion | "moving" | undefined;
  let event: EventType | undefined;
  let from: Colour | undefined;
  let to: Colour | undefined;
  let negMove = false;
  let unknown = false;
  let prev = "";
  for (const w of words) {
    if (DIRECTION_WORDS.has(w)) motion = DIRECTION_WORDS.get(w);
    else if (MOVE_VERBS.has(w)) motion ??= negMove ? "still" : "moving";
    else if (STILL_WORDS.has(w)) motion = "still";
    else if (STAY_VERBS.has(w)) motion ??= "still";
    else if (NEGATIONS.has(w)) negMove = true;
    else if (APPEAR_VERBS.has(w)) event = "appear";
    else if (DISAPPEAR_VERBS.has(w)) event = "disappear";
    else if (CHANGE_VERBS.has(w)) event = "change";
    else if (COLOUR_WORDS.has(w)) {
      if (prev === "from") from = COLOUR_WORDS.get(w);
      else to = COLOUR_WORDS.get(w);
    } else if (!FILLER.has(w) && !ARTICLES.has(w)) unknown = true;
    prev = w;
  }
  // Two predicates in one clause ("appears moving left") or a negated event are outside the grammar.
  if (unknown || (motion !== undefined && event !== undefined) || (negMove && event !== undefined)) return { unknown: true };
  if (negMove && motion !== "still") return { unknown: true };
  if (event === "change") return { predicate: { kind: "event", event, ...(from ? { from } : {}), ...(to ? { to } : {}) }, unknown: false };
  if ((from || to) && event === undefined) return { unknown: true };
  if (event) return { predicate: { kind: "event", event }, unknown: false };
  if (motion) return { predicate: { kind: "motion", motion }, unknown: false };
  return { unknown: true };
}

function parseClause(clause: string): ParsedClause {
  const words = clause.split(" ").filter(Boolean);
  const p = words.findIndex((w, i) => isPredicateStart(w, words[i + 1]));
  const subject = parseSubject(p < 0 ? words : words.slice(0, p));
  if (p < 0) return { ...subject, unknown: subject.unknown };
  const pred = parsePredicate(words.slice(p));
  return {
    mentions: subject.mentions,
    pronoun: subject.pronoun,
    ...(pred.predicate ? { predicate: pred.predicate } : {}),
    unknown: subject.unknown || pred.unknown,
  };
}

function satisfies(o: SceneObject, p: Predicate | undefined): boolean {
  if (!p) return true;
  if (p.kind === "motion") return p.motion === "moving" ? o.motion !== "still" : o.motion === p.motion;
  if (!o.event || o.event.type !== p.event) return false;
  if (p.event !== "change") return true;
  return (p.from === undefined || p.from === o.colour) && (p.to === undefined || p.to === o.event.toColour);
}

function claimKey(c: Claim): string {
  return JSON.stringify([c.kind, c.subject?.size, c.subject?.colour, c.subject?.shape, c.predicate, c.count]);
}

/** Claims and unparsed clauses of a free-text answer, each claim checked against the scene. */
export function extractClaims(scene: Scene, text: string): { claims: Claim[]; unparsed: string[] } {
  const claims: Claim[] = [];
  const seen = new Set<string>();
  const unparsed: string[] = [];
  let lastSubject: Mention[] = [];
  const add = (c: Claim) => {
    const key = claimKey(c);
    if (seen.has(key)) return;
    seen.add(key);
    claims.push(c);
  };
  for (const clause of splitClauses(text)) {
    const parsed = parseClause(clause);
    const hasContent = parsed.mentions.length > 0 || parsed.predicate !== undefined || parsed.pronoun;
    if (parsed.unknown) {
      unparsed.push(clause);
      continue;
    }
    if (!hasContent) continue;
    let mentions = parsed.mentions;
    if (parsed.predicate && mentions.length === 0) mentions = lastSubject;
    if (mentions.length === 0) {
      unparsed.push(clause);
      continue;
    }
    lastSubject = mentions.map((m) => ({ ...m, count: undefined, negated: false }) as Mention);
    for (const m of mentions) {
      const fits = scene.objects.filter((o) => matchesDesc(o, m.desc) && satisfies(o, parsed.predicate));
      const base = { text: clause, subject: { ...m.desc }, ...(parsed.predicate ? { predicate: parsed.predicate } : {}) };
      if (m.negated || m.count === 0) add({ ...base, kind: "absent", holds: fits.length === 0 });
      else if (m.count !== undefined && (m.count !== 1 || !hasAttributes(m.desc)))
        add({ ...base, kind: "count", count: m.count, holds: fits.length === m.count });
      else add({ ...base, kind: parsed.predicate ? "predicate" : "object", holds: fits.length > 0 });
    }
  }
  return { claims, unparsed };
}

function hasAttributes(d: ObjectDesc): boolean {
  return d.shape !== undefined || d.colour !== undefined || d.size !== undefined;
}

/** The facts of a scene that the reference caption states, as stable keys. */
export function sceneFacts(scene: Scene): string[] {
  const facts = ["count"];
  scene.objects.forEach((o, i) => {
    facts.push(`${i}:identity`, `${i}:size`, `${i}:motion`);
    if (o.event) facts.push(`${i}:event`);
  });
  return facts;
}

function coveredFacts(scene: Scene, claims: Claim[]): Set<string> {
  const covered = new Set<string>();
  for (const c of claims) {
    if (!c.holds || !c.subject) continue;
    if (c.kind === "count") {
      if (!hasAttributes(c.subject) && !c.predicate) covered.add("count");
      continue;
    }
    if (c.kind === "absent") continue;
    const fits = scene.objects.map((o, i) => ({ o, i })).filter(({ o }) => matchesDesc(o, c.subject!) && satisfies(o, c.predicate));
    if (fits.length !== 1) continue;
    const { i } = fits[0]!;
    if (c.subject.shape && c.subject.colour) covered.add(`${i}:identity`);
    if (c.subject.size && (c.subject.shape || c.subject.colour)) covered.add(`${i}:size`);
    if (c.predicate?.kind === "motion" && c.predicate.motion !== "moving") covered.add(`${i}:motion`);
    if (c.predicate?.kind === "event") covered.add(`${i}:event`);
  }
  return covered;
}

/** Scores a free-text answer against the whole scene (open questions, captions, descriptions). */
export function scoreDescription(scene: Scene, text: string): AnswerScore {
  const { claims, unparsed } = extractClaims(scene, text);
  const trueClaims = claims.filter((c) => c.holds).length;
  const precision = claims.length > 0 ? trueClaims / claims.length : 0;
  const facts = sceneFacts(scene);
  const covered = coveredFacts(scene, claims);
  const recall = facts.filter((f) => covered.has(f)).length / facts.length;
  const pScore = claims.length + unparsed.length > 0 ? trueClaims / (claims.length + unparsed.length) : 0;
  const score = pScore + recall > 0 ? (5 * 2 * pScore * recall) / (pScore + recall) : 0;
  return { precision, recall, score, claims, hallucinations: claims.filter((c) => !c.holds), unparsed };
}

function shortValues(check: Exclude<AnswerCheck, { kind: "open" } | { kind: "object" }>, words: string[]): Set<string> {
  const values = new Set<string>();
  words.forEach((w, i) => {
    switch (check.kind) {
      case "colour":
        if (COLOUR_WORDS.has(w)) values.add(w);
        break;
      case "shape":
        if (SHAPE_WORDS.has(w)) values.add(SHAPE_WORDS.get(w)!);
        break;
      case "size":
        if (SIZE_WORDS.has(w)) values.add(SIZE_WORDS.get(w)!);
        break;
      case "motion":
        if (DIRECTION_WORDS.has(w)) values.add(DIRECTION_WORDS.get(w)!);
        else if (STILL_WORDS.has(w) || STAY_VERBS.has(w) || (w === "not" && MOVE_VERBS.has(words[i + 1] ?? "")) || w === "none")
          values.add("still");
        break;
      case "count": {
        const n = numeral(w);
        if (n !== undefined) values.add(String(n));
        else if (w === "none" || (w === "no" && (i + 1 === words.length || NOUNS.has(words[i + 1]!) || SHAPE_WORDS.has(words[i + 1]!))))
          values.add("0");
        break;
      }
      case "yesno":
        if (w === "yes" || w === "yeah" || w === "yep") values.add("yes");
        else if (w === "no" || w === "nope") values.add("no");
        break;
    }
  });
  return values;
}

function scoreShort(check: Exclude<AnswerCheck, { kind: "open" }>, text: string): AnswerScore {
  const fail = (): AnswerScore => ({
    correct: false,
    precision: 0,
    recall: 0,
    score: 0,
    claims: [],
    hallucinations: [],
    unparsed: text.trim() ? [text.trim()] : [],
  });
  let value: string;
  let correct: boolean;
  if (check.kind === "object") {
    const words = normalizeWords(text)
      .split(/[^a-z0-9]+/)
      .filter(Boolean);
    const mention = parseSubject(words).mentions.find((m) => hasAttributes(m.desc));
    if (!mention) return fail();
    const fitsDesc = (target: ObjectDesc) =>
      (mention.desc.shape === undefined || mention.desc.shape === target.shape) &&
      (mention.desc.colour === undefined || mention.desc.colour === target.colour) &&
      (mention.desc.size === undefined || target.size === undefined || mention.desc.size === target.size);
    value = [mention.desc.size, mention.desc.colour, mention.desc.shape].filter(Boolean).join(" ");
    correct = fitsDesc(check.value) && !fitsDesc(check.other);
  } else {
    const values = shortValues(
      check,
      normalizeWords(text)
        .split(/[^a-z0-9]+/)
        .filter(Boolean),
    );
    if (values.size === 0) return fail();
    value = [...values].join(" ");
    correct = values.size === 1 && values.has(String(check.value));
  }
  const claim: Claim = { kind: "answer", text: text.trim(), value, holds: correct };
  const s = correct ? 1 : 0;
  return { correct, precision: s, recall: s, score: 5 * s, claims: [claim], hallucinations: correct ? [] : [claim], unparsed: [] };
}

/**
 * Scores a model's answer to an instruction item of this scene. Pure: same inputs, same result.
 * Open questions get claim precision / recall / a 0–5 score; short answers also get `correct`.
 */
export function scoreAnswer(scene: Scene, item: Pick<InstructionItem, "check">, answerText: string): AnswerScore {
  if (item.check.kind === "open") return scoreDescription(scene, answerText);
  return scoreShort(item.check, answerText);
}
