// Evaluation metrics (docs/design.md §5), computed with the synthetic world's oracle. Pure: a model enters
// only through the answers it gave, so every number here can be checked by hand.
import { chanceBaseline, clipFromId, scoreAnswer, type InstructionItem, type SyntheticClip } from "@isrdpo/video";

export interface QuestionTypeMetrics {
  questionType: string;
  items: number;
  /** Short answers: fraction correct. Open questions: 0 (they have no single right answer). */
  accuracy: number;
  meanScore: number;
  /** Most-frequent-answer baseline on the same items, fitted on train (short answers only). */
  chanceAccuracy: number;
}

export interface SplitMetrics {
  split: string;
  items: number;
  /** Short-answer accuracy and the 0–5 score over all items ("acc / score" in the papers). */
  accuracy: number;
  meanScore: number;
  /** Open questions: claim precision (1 − hallucination rate) and recall of the caption's facts. */
  claimPrecision: number;
  claimRecall: number;
  meanAnswerWords: number;
  byQuestionType: QuestionTypeMetrics[];
}

export function wordCount(text: string): number {
  const words = text.trim().split(/\s+/);
  return words[0] === "" ? 0 : words.length;
}

const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((s, x) => s + x, 0) / xs.length);

/**
 * Metrics of one split from answers aligned with `items`. `fitItems` (normally train) fits the
 * chance baseline.
 */
export function splitMetrics(
  split: string,
  clips: readonly SyntheticClip[],
  items: readonly InstructionItem[],
  answers: readonly string[],
  fitItems: readonly InstructionItem[],
): SplitMetrics {
  if (answers.length !== items.length) throw new Error(`answers: expected ${items.length}, got ${answers.length}`);
  const scenes = new Map(clips.map((c) => [c.id, c.scene]));
  const scored = items.map((item, i) => {
    const scene = scenes.get(item.clipId);
    if (!scene) throw new Error(`item ${item.id}: clip ${item.clipId} is not in split ${split}`);
    return { item, answer: answers[i]!, score: scoreAnswer(scene, item, answers[i]!) };
  });
  const short = scored.filter((s) => s.item.check.kind !== "open");
  const open = scored.filter((s) => s.item.check.kind === "open");
  const chance = new Map(chanceBaseline(fitItems, items).map((c) => [c.questionType, c.accuracy]));
  const types = [...new Set(items.map((i) => i.questionType))].sort();
  return {
    split,
    items: items.length,
    accuracy: mean(short.map((s) => (s.score.correct ? 1 : 0))),
    meanScore: mean(scored.map((s) => s.score.score)),
    claimPrecision: mean(open.map((s) => s.score.precision)),
    claimRecall: mean(open.map((s) => s.score.recall)),
    meanAnswerWords: mean(scored.map((s) => wordCount(s.answer))),
    byQuestionType: types.map((questionType) => {
      const of = scored.filter((s) => s.item.questionType === questionType);
      return {
        questionType,
        items: of.length,
        accuracy: mean(of.filter((s) => s.item.check.kind !== "open").map((s) => (s.score.correct ? 1 : 0))),
        meanScore: mean(of.map((s) => s.score.score)),
        chanceAccuracy: chance.get(questionType as never) ?? 0,
      };
    }),
  };
}

export interface JudgedPair {
  itemId: string;
  /** The synthetic clip the item belongs to (`Video.synthetic_clip_id`); "" for other videos (no oracle). */
  clipId: string;
  chosen: string;
  rejected: string;
  tie: boolean;
}

export interface PreferenceStats {
  pairs: number;
  ties: number;
  meanChosenWords: number;
  meanRejectedWords: number;
  /** mean chosen words / mean rejected words (ISR-DPO Fig. 4); 0 without non-tie pairs. */
  chosenRejectedLengthRatio: number;
  /**
   * Among non-tie pairs whose two answers the oracle scores differently: the fraction where the
   * judge chose the one the oracle scores higher. Pairs the oracle cannot separate are left out.
   */
  judgeOracleAgreement: number;
  /** How many pairs the agreement is computed on. */
  oracleDecided: number;
}

/** What an iteration's preferences look like, and how often the judge agrees with the oracle (synthetic clips only). */
export function preferenceStats(pairs: readonly JudgedPair[]): PreferenceStats {
  const decided = pairs.filter((p) => !p.tie);
  const clips = new Map<string, SyntheticClip>();
  let agree = 0;
  let oracleDecided = 0;
  for (const p of decided) {
    if (p.clipId === "") continue;
    const clip = clips.get(p.clipId) ?? clipFromId(p.clipId);
    clips.set(p.clipId, clip);
    const item = clip.items.find((i) => i.id === p.itemId);
    if (!item) throw new Error(`pair ${p.itemId}: no such item in clip ${p.clipId}`);
    const chosen = scoreAnswer(clip.scene, item, p.chosen).score;
    const rejected = scoreAnswer(clip.scene, item, p.rejected).score;
    if (chosen === rejected) continue;
    oracleDecided++;
    if (chosen > rejected) agree++;
  }
  const chosenWords = mean(decided.map((p) => wordCount(p.chosen)));
  const rejectedWords = mean(decided.map((p) => wordCount(p.rejected)));
  return {
    pairs: pairs.length,
    ties: pairs.length - decided.length,
    meanChosenWords: chosenWords,
    meanRejectedWords: rejectedWords,
    chosenRejectedLengthRatio: rejectedWords === 0 ? 0 : chosenWords / rejectedWords,
    judgeOracleAgreement: oracleDecided === 0 ? 0 : agree / oracleDecided,
    oracleDecided,
  };
}
