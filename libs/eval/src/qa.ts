// Metrics of an imported video-QA set (MSVD-QA, MSRVTT-QA, ActivityNet-QA, TGIF-QA style: a question,
// a reference answer, maybe a question type). Two protocols, as the seeds report them:
//   short answers   normalised exact / contains match against the reference (deterministic);
//   LM judge        a language model's yes/no and 0–5 score (Video-ChatGPT): accuracy = share of
//                   "yes", score = mean score.
// Pure: answers and verdicts in, numbers out.
import { wordCount } from "./metrics.ts";

const NUMBER_WORDS = [
  "zero",
  "one",
  "two",
  "three",
  "four",
  "five",
  "six",
  "seven",
  "eight",
  "nine",
  "ten",
  "eleven",
  "twelve",
  "thirteen",
  "fourteen",
  "fifteen",
  "sixteen",
  "seventeen",
  "eighteen",
  "nineteen",
  "twenty",
];

/**
 * SQuAD-style normalisation: lower case, accents and punctuation dropped, articles dropped, number
 * words as digits ("two" = "2", counting questions answer either way), whitespace collapsed.
 */
export function normaliseAnswer(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s]/gu, " ")
    .split(/\s+/)
    .filter((w) => w !== "" && w !== "a" && w !== "an" && w !== "the")
    .map((w) => {
      const n = NUMBER_WORDS.indexOf(w);
      return n >= 0 ? String(n) : w;
    })
    .join(" ");
}

/** The prediction equals the reference, or contains it as whole words, after normalisation. */
export function answerMatches(prediction: string, reference: string): boolean {
  const p = normaliseAnswer(prediction);
  const r = normaliseAnswer(reference);
  if (r === "") return p === "";
  return p === r || ` ${p} `.includes(` ${r} `);
}

export interface QaScored {
  questionType?: string;
  reference: string;
  answer: string;
  /** The LM judge's verdict; absent when no LM judged. */
  verdict?: { match: boolean; score: number };
}

export interface QaTypeMetrics {
  questionType: string;
  items: number;
  accuracy: number;
  meanScore: number;
  matchAccuracy: number;
  /** Most-frequent-reference baseline, fitted on the split itself. */
  chanceAccuracy: number;
}

export interface QaSplitMetrics {
  split: string;
  items: number;
  /** LM-judged: share of "yes"; otherwise the match accuracy. */
  accuracy: number;
  /** LM-judged: mean 0–5 score; otherwise 0 (no score). */
  meanScore: number;
  matchAccuracy: number;
  meanAnswerWords: number;
  /** Per question type, when the records carry one. */
  byQuestionType: QaTypeMetrics[];
}

const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((s, x) => s + x, 0) / xs.length);

/** The share of items whose normalised reference is the most frequent one among them. */
function chance(items: readonly QaScored[]): number {
  const counts = new Map<string, number>();
  for (const it of items) {
    const r = normaliseAnswer(it.reference);
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  return items.length === 0 ? 0 : Math.max(...counts.values()) / items.length;
}

function scoreOf(items: readonly QaScored[]): { accuracy: number; meanScore: number; matchAccuracy: number } {
  const matchAccuracy = mean(items.map((it) => (answerMatches(it.answer, it.reference) ? 1 : 0)));
  const judged = items.filter((it) => it.verdict);
  if (judged.length === 0) return { accuracy: matchAccuracy, meanScore: 0, matchAccuracy };
  return {
    accuracy: mean(judged.map((it) => (it.verdict!.match ? 1 : 0))),
    meanScore: mean(judged.map((it) => it.verdict!.score)),
    matchAccuracy,
  };
}

export function qaSplitMetrics(split: string, items: readonly QaScored[]): QaSplitMetrics {
  const types = [...new Set(items.flatMap((it) => (it.questionType ? [it.questionType] : [])))].sort();
  return {
    split,
    items: items.length,
    ...scoreOf(items),
    meanAnswerWords: mean(items.map((it) => wordCount(it.answer))),
    byQuestionType: types.map((questionType) => {
      const of = items.filter((it) => it.questionType === questionType);
      return { questionType, items: of.length, ...scoreOf(of), chanceAccuracy: chance(of) };
    }),
  };
}
