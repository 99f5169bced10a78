// Judging a free-form answer against a reference answer with a language model, as video-QA papers
// evaluate (Video-ChatGPT's MSVD/MSRVTT/ActivityNet/TGIF-QA protocol, reused by LLaVA-Hound and
// ISR-DPO): the model says yes/no (does the prediction match?) and gives an integer score 0–5.
// Protocols are versioned: the id is recorded with every result, and a wording change is a new id.
import type { ChatMessage, ChatModel } from "./client.ts";
import { LmBudgetError, LmResponseError } from "./errors.ts";

export interface QaToJudge {
  question: string;
  reference: string;
  prediction: string;
}

export interface QaVerdict {
  /** The judge's yes/no: the prediction matches the reference. */
  match: boolean;
  score: number;
}

export interface QaJudgeProtocol {
  readonly id: string;
  readonly scale: { min: number; max: number };
  messages(item: QaToJudge): ChatMessage[];
  /** The verdict in a judge's answer; undefined when the answer cannot be read. */
  parse(text: string): QaVerdict | undefined;
}

const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();

/**
 * Video-ChatGPT's QA evaluation (Maaz et al. 2023, quantitative_evaluation/evaluate_activitynet_qa.py):
 * a meaningful-match judgement with synonyms and paraphrases allowed, answered as a Python dict
 * `{'pred': 'yes'|'no', 'score': <int 0–5>}`. Scores are truncated to integers, as that script does.
 */
export const VIDEO_CHATGPT_QA_V1: QaJudgeProtocol = {
  id: "video-chatgpt-qa-v1",
  scale: { min: 0, max: 5 },
  messages: (q) => [
    {
      role: "system",
      content:
        "You evaluate the correctness of answers to questions about videos. Compare the predicted answer with the correct " +
        "answer and decide whether they match in meaning.\n" +
        "- Judge the meaning, not the wording: synonyms and paraphrases match.\n" +
        "- Judge only whether the prediction is correct given the correct answer.",
    },
    {
      role: "user",
      content:
        "Evaluate this video question-answer pair:\n\n" +
        `Question: ${oneLine(q.question)}\n` +
        `Correct Answer: ${oneLine(q.reference)}\n` +
        `Predicted Answer: ${oneLine(q.prediction)}\n\n` +
        "Reply with yes or no (does the prediction match?) and an integer score from 0 to 5, 5 being the best match, " +
        "as a Python dictionary string with the keys 'pred' and 'score': 'pred' is the string 'yes' or 'no', 'score' is an " +
        "INTEGER. Reply with the dictionary only, nothing else, e.g. {'pred': 'yes', 'score': 4}.",
    },
  ],
  parse: (text) => {
    const v = parsePredScore(text);
    return v && v.score >= 0 && v.score <= 5 ? { match: v.match, score: Math.trunc(v.score) } : undefined;
  },
};

/**
 * A short form for the built-in model, whose text length cannot hold the full instructions. The
 * built-in model is not trained to judge: expect most of its answers to be unparsable (and counted).
 */
export const COMPACT_QA_V1: QaJudgeProtocol = {
  id: "compact-qa-v1",
  scale: { min: 0, max: 5 },
  messages: (q) => [
    {
      role: "user",
      content: `question: ${oneLine(q.question)}\ncorrect answer: ${oneLine(q.reference)}\npredicted answer: ${oneLine(q.prediction)}\nmatch (yes or no) and score (0-5):`,
    },
  ],
  parse: (text) => {
    const m = /\b(yes|no)\b\W*(?:score\W*)?([0-5])\b/i.exec(text);
    return m ? { match: m[1]!.toLowerCase() === "yes", score: Number(m[2]) } : parsePredScore(text);
  },
};

export const QA_JUDGE_PROTOCOLS: Record<string, QaJudgeProtocol> = {
  [VIDEO_CHATGPT_QA_V1.id]: VIDEO_CHATGPT_QA_V1,
  [COMPACT_QA_V1.id]: COMPACT_QA_V1,
};

export function qaJudgeProtocol(id: string): QaJudgeProtocol {
  const p = QA_JUDGE_PROTOCOLS[id];
  if (!p) throw new Error(`protocol: unknown "${id}" (known: ${Object.keys(QA_JUDGE_PROTOCOLS).join(", ")})`);
  return p;
}

/** A number after "score" (`Score: 4`, `score = 3.5`, `**Score:** 2/5`); the last one when several. */
export function parseScore(text: string, scale: { min: number; max: number }): number | undefined {
  const all = [...text.matchAll(/score\W{0,6}?(-?\d+(?:\.\d+)?)/gi)];
  const raw = all.length ? all[all.length - 1]![1]! : /^\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text)?.[1];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return n >= scale.min && n <= scale.max ? n : undefined;
}

/**
 * `{'pred': 'yes', 'score': 4}` as a Python dict or JSON, possibly inside other text or a code fence;
 * failing that, "pred: yes … score: 4" written out. Undefined without both fields.
 */
export function parsePredScore(text: string): QaVerdict | undefined {
  for (const m of text.matchAll(/\{[^{}]*\}/g)) {
    const obj = looseObject(m[0]);
    if (!obj) continue;
    const pred = typeof obj.pred === "string" ? obj.pred.trim().toLowerCase() : undefined;
    const score = typeof obj.score === "number" ? obj.score : typeof obj.score === "string" ? Number(obj.score) : Number.NaN;
    if ((pred === "yes" || pred === "no") && Number.isFinite(score)) return { match: pred === "yes", score };
  }
  const pred = /\bpred\w*\W{0,6}?\b(yes|no)\b/i.exec(text)?.[1];
  const score = /\bscore\W{0,6}?(-?\d+(?:\.\d+)?)/i.exec(text)?.[1];
  return pred && score !== undefined ? { match: pred.toLowerCase() === "yes", score: Number(score) } : undefined;
}

/** A JSON object, or a Python dict literal of strings and numbers (single quotes, True/False/None). */
function looseObject(text: string): Record<string, unknown> | undefined {
  for (const candidate of [
    text,
    text
      .replace(/'([^'\\]*)'/g, (_, s: string) => JSON.stringify(s))
      .replace(/\bTrue\b/g, "true")
      .replace(/\bFalse\b/g, "false")
      .replace(/\bNone\b/g, "null"),
  ]) {
    try {
      const v: unknown = JSON.parse(candidate);
      if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // not this form
    }
  }
  return undefined;
}

/**
 * One verdict from several samples: the majority yes/no (a tie is "no") and the most frequent score
 * (a tie goes to the lower). No parsable sample: `fallback`.
 */
export function majorityVerdict(samples: readonly (QaVerdict | undefined)[], fallback: QaVerdict): QaVerdict {
  const parsed = samples.filter((s): s is QaVerdict => s !== undefined);
  if (parsed.length === 0) return fallback;
  const yes = parsed.filter((s) => s.match).length;
  return { match: yes > parsed.length - yes, score: majorityScore(parsed.map((s) => s.score)) };
}

/** The most frequent of one or more scores; a tie goes to the lower. */
export function majorityScore(scores: readonly number[]): number {
  if (scores.length === 0) throw new Error("majorityScore: no scores");
  const counts = new Map<number, number>();
  for (const s of scores) counts.set(s, (counts.get(s) ?? 0) + 1);
  let score = Number.POSITIVE_INFINITY;
  let best = 0;
  for (const [value, n] of counts) if (n > best || (n === best && value < score)) [score, best] = [value, n];
  return score;
}

export interface JudgedQa extends QaVerdict {
  /** Samples whose answer parsed. 0: the verdict is the fallback. */
  parsed: number;
  /** Samples whose answer did not parse (malformed or empty). */
  unparsable: number;
}

export interface QaJudgement {
  protocol: string;
  judge: string;
  /** Aligned with the input; undefined for items not judged because the budget ran out. */
  results: (JudgedQa | undefined)[];
  /** Answers no parser understood, over all samples. */
  unparsable: number;
  /** Items where no sample parsed (they carry the fallback verdict). */
  unjudged: number;
  /** Why judging stopped early (the budget), or "". */
  stopped: string;
}

export interface JudgeQaOptions {
  protocol?: QaJudgeProtocol;
  /** Judgements per item, majority-voted; > 1 samples at `temperature`. Default 1. */
  samples?: number;
  temperature?: number;
  /** The verdict of an item none of whose answers parse. Default: no, score = the scale's minimum. */
  fallback?: QaVerdict;
  signal?: AbortSignal;
}

/**
 * Judges every item with `model` (requests run concurrently up to the model's own limit). A malformed
 * or empty answer counts as unparsable; a spent budget stops judging and is reported in `stopped`;
 * any other error (an endpoint that keeps failing) is thrown.
 */
export async function judgeQa(model: ChatModel, items: readonly QaToJudge[], options: JudgeQaOptions = {}): Promise<QaJudgement> {
  const protocol = options.protocol ?? VIDEO_CHATGPT_QA_V1;
  const fallback = options.fallback ?? { match: false, score: protocol.scale.min };
  const { answers, stopped } = await sampleJudgements(model, items, protocol, options);
  let unparsable = 0;
  let unjudged = 0;
  const results = answers.map((verdicts) => {
    if (verdicts.includes("skipped")) return undefined;
    const vs = verdicts as (QaVerdict | undefined)[];
    const parsed = vs.filter((v) => v !== undefined).length;
    unparsable += vs.length - parsed;
    if (parsed === 0) unjudged++;
    return { ...majorityVerdict(vs, fallback), parsed, unparsable: vs.length - parsed };
  });
  return { protocol: protocol.id, judge: model.name, results, unparsable, unjudged, stopped };
}

/**
 * `samples` judgements of every item (seeded 0…samples−1; temperature 0 for one sample, 0.7 for
 * more), each parsed by the protocol: the parsed value, undefined for an answer that does not parse
 * (malformed or empty), or "skipped" once a spent budget stopped judging (`stopped` says why). Any
 * other error (an endpoint that keeps failing) is thrown.
 */
export async function sampleJudgements<I, V>(
  model: ChatModel,
  items: readonly I[],
  protocol: { messages(item: I): ChatMessage[]; parse(text: string): V | undefined },
  options: { samples?: number; temperature?: number; signal?: AbortSignal },
): Promise<{ answers: (V | undefined | "skipped")[][]; stopped: string }> {
  const samples = options.samples ?? 1;
  if (!Number.isInteger(samples) || samples < 1) throw new Error(`samples: must be a positive integer, got ${samples}`);
  const temperature = options.temperature ?? (samples > 1 ? 0.7 : 0);
  let stopped = "";
  const ask = async (item: I, sample: number): Promise<V | undefined | "skipped"> => {
    if (stopped) return "skipped";
    try {
      const text = await model.complete(protocol.messages(item), {
        temperature,
        seed: sample,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return protocol.parse(text);
    } catch (err) {
      if (err instanceof LmBudgetError) {
        stopped ||= err.message;
        return "skipped";
      }
      if (err instanceof LmResponseError) return undefined;
      throw err;
    }
  };
  const answers = await Promise.all(items.map((item) => Promise.all(Array.from({ length: samples }, (_, s) => ask(item, s)))));
  return { answers, stopped };
}
