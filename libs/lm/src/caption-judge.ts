// Scoring an answer against a caption of the video, by a language model that never sees the video:
// the caption-proxy reward of LLaVA-Hound-DPO (Zhang et al. 2024), which scores a video LMM's answers
// pointwise against a detailed caption. Protocols are versioned like the QA protocols: the id is
// recorded with the run, and a wording change is a new id.
import type { ChatMessage, ChatModel } from "./client.ts";
import { majorityScore, parseScore, sampleJudgements } from "./qa-judge.ts";

export interface CaptionToJudge {
  caption: string;
  question: string;
  answer: string;
}

export interface CaptionJudgeProtocol {
  readonly id: string;
  readonly scale: { min: number; max: number };
  messages(item: CaptionToJudge): ChatMessage[];
  /** The score in a judge's answer; undefined when the answer cannot be read or is off the scale. */
  parse(text: string): number | undefined;
}

const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();

/**
 * Our wording of LLaVA-Hound-DPO's caption-proxy prompt: the caption stands in for the video; the
 * answer is scored 0–5 for how well it answers the question and agrees with the caption, with an
 * explanation first and the score last as "Score: N" (their judge's output form) or a JSON object.
 */
export const CAPTION_PROXY_V1: CaptionJudgeProtocol = {
  id: "caption-proxy-v1",
  scale: { min: 0, max: 5 },
  messages: (c) => [
    {
      role: "system",
      content:
        "You evaluate answers to questions about a video you cannot see. A detailed caption of the video stands in for it: " +
        "treat the caption as the truth about the video.\n" +
        "- An answer that states something the caption contradicts, or invents what the caption does not show, is wrong.\n" +
        "- Judge correctness first, then whether the answer is relevant, complete and concise.",
    },
    {
      role: "user",
      content:
        `Video caption: ${oneLine(c.caption)}\n` +
        `Question: ${oneLine(c.question)}\n` +
        `Answer: ${oneLine(c.answer)}\n\n` +
        "Rate the answer with an integer from 0 (wrong or unrelated) to 5 (correct, complete and concise, fully consistent " +
        'with the caption). Explain briefly in one sentence, then end with a last line "Score: N".',
    },
  ],
  parse: (text) => parseCaptionScore(text, { min: 0, max: 5 }),
};

/** A short form for the built-in model, whose text length cannot hold the full instructions. */
export const COMPACT_CAPTION_V1: CaptionJudgeProtocol = {
  id: "compact-caption-v1",
  scale: { min: 0, max: 5 },
  messages: (c) => [
    {
      role: "user",
      content: `caption: ${oneLine(c.caption)}\nquestion: ${oneLine(c.question)}\nanswer: ${oneLine(c.answer)}\nscore (0-5):`,
    },
  ],
  parse: (text) => parseCaptionScore(text, { min: 0, max: 5 }),
};

export const CAPTION_JUDGE_PROTOCOLS: Record<string, CaptionJudgeProtocol> = {
  [CAPTION_PROXY_V1.id]: CAPTION_PROXY_V1,
  [COMPACT_CAPTION_V1.id]: COMPACT_CAPTION_V1,
};

export function captionJudgeProtocol(id: string): CaptionJudgeProtocol {
  const p = CAPTION_JUDGE_PROTOCOLS[id];
  if (!p) throw new Error(`protocol: unknown "${id}" (known: ${Object.keys(CAPTION_JUDGE_PROTOCOLS).join(", ")})`);
  return p;
}

/** A protocol's messages with {caption}, {question} and {answer} placeholders: what a run records. */
export function protocolTemplate(protocol: CaptionJudgeProtocol): string {
  return protocol
    .messages({ caption: "{caption}", question: "{question}", answer: "{answer}" })
    .map((m) => `[${m.role}]\n${m.content}`)
    .join("\n");
}

/**
 * A JSON object with a numeric "score" (also inside text or a code fence), else "Score: N" (the last
 * one), else a bare number. Off the scale: undefined.
 */
export function parseCaptionScore(text: string, scale: { min: number; max: number }): number | undefined {
  for (const m of text.matchAll(/\{[^{}]*\}/g)) {
    try {
      const v = JSON.parse(m[0]) as { score?: unknown };
      const n = typeof v.score === "number" ? v.score : typeof v.score === "string" ? Number(v.score) : Number.NaN;
      if (Number.isFinite(n)) return n >= scale.min && n <= scale.max ? n : undefined;
    } catch {
      // not JSON: try the other forms
    }
  }
  return parseScore(text, scale);
}

export interface CaptionScoring {
  protocol: string;
  judge: string;
  /** Aligned with the input: the majority score, or undefined (no sample parsed, or not judged). */
  scores: (number | undefined)[];
  /** Judge answers no parser understood, over all samples. */
  unparsable: number;
  /** Items without a score: none of their samples parsed, or the budget stopped judging first. */
  unscored: number;
  /** Why judging stopped early (the budget), or "". */
  stopped: string;
}

export interface ScoreAnswersOptions {
  protocol?: CaptionJudgeProtocol;
  /** Judgements per item; the most frequent score is kept (a tie goes to the lower). Default 1. */
  samples?: number;
  /** Default 0 with one sample, 0.7 with more. */
  temperature?: number;
  signal?: AbortSignal;
}

/**
 * Scores every item with `model` (requests run concurrently up to the model's own limit). An answer
 * that does not parse is counted, never given a default score; a spent budget stops judging (the
 * rest stay unscored, `stopped` says why); any other error (an endpoint that keeps failing) is thrown.
 */
export async function scoreAnswers(
  model: ChatModel,
  items: readonly CaptionToJudge[],
  options: ScoreAnswersOptions = {},
): Promise<CaptionScoring> {
  const protocol = options.protocol ?? CAPTION_PROXY_V1;
  const { answers, stopped } = await sampleJudgements(model, items, protocol, options);
  let unparsable = 0;
  let unscored = 0;
  const scores = answers.map((sampled) => {
    const read = sampled.filter((s): s is number => typeof s === "number");
    unparsable += sampled.filter((s) => s === undefined).length;
    // A partly judged item (the budget ran out between its samples) keeps no score: fewer samples
    // than asked would make a different judge.
    if (sampled.includes("skipped") || read.length === 0) {
      unscored++;
      return undefined;
    }
    return majorityScore(read);
  });
  return { protocol: protocol.id, judge: model.name, scores, unparsable, unscored, stopped };
}
