// From candidate answers to one preference: every strategy scores the distinct answers of an item,
// the best and the worst become (chosen, rejected), and a pair the judge cannot separate is an
// explicit tie with its reason. With two answers this is the paper's pairwise comparison; with N it
// is best-vs-worst of N.

/** The judgment of one item's candidate answers. */
export interface Preference {
  /** Indices into the item's answers; equal when there is nothing to compare. */
  chosen: number;
  rejected: number;
  /** The strategy's score per answer (identical answers share their first copy's score). */
  scores: number[];
  /** How sure the judge is that `chosen` beats `rejected`, in [0, 1]. */
  confidence: number;
  /** Pairwise strategies: P(chosen ≻ rejected) in each presentation order judged. */
  orders: number[];
  tie: boolean;
  tieReason: string;
  /** When the judge wrote answers of its own (self-critique: [revision, original]): the indices refer to these. */
  answers?: string[];
  /** self-critique: the critique the revision was written from. */
  critique?: string;
}

/** Answers that say the same thing: case, spacing and final punctuation do not make a new answer. */
export function sameAnswer(a: string, b: string): boolean {
  return normalise(a) === normalise(b);
}

function normalise(text: string): string {
  return text
    .toLowerCase()
    .replace(/\s+/g, " ")
    .replace(/[\s.!?]+$/, "")
    .trim();
}

/** Index of each answer's first equivalent: distinct[i] === i for the answers that get judged. */
export function firstCopies(answers: readonly string[]): number[] {
  return answers.map((a, i) => answers.findIndex((b, j) => j <= i && sameAnswer(a, b)));
}

/** A tie before judging: fewer than two distinct answers. */
export function nothingToCompare(answers: readonly string[]): Preference | undefined {
  const distinct = new Set(firstCopies(answers));
  if (answers.length < 2)
    return tie(
      answers.map(() => 0),
      "fewer than two answers",
    );
  if (distinct.size < 2)
    return tie(
      answers.map(() => 0),
      "identical answers",
    );
  return undefined;
}

export function tie(scores: number[], reason: string, chosen = 0, rejected = 0, confidence = 0, orders: number[] = []): Preference {
  return { chosen, rejected, scores, confidence, orders, tie: true, tieReason: reason };
}

/**
 * Best vs worst of pointwise scores (higher is better). `confidence(best, worst)` maps the two scores
 * to [0, 1]; below `tieMargin` the pair is a tie. Equal best and worst scores are a tie whatever the margin.
 */
export function bestVsWorst(
  answers: readonly string[],
  score: (index: number) => number,
  confidence: (best: number, worst: number) => number,
  tieMargin: number,
): Preference {
  const first = firstCopies(answers);
  const own = new Map<number, number>();
  for (const i of new Set(first)) own.set(i, score(i));
  const scores = first.map((i) => own.get(i)!);
  const judged = [...own.keys()];
  // Ties between equal scores go to the earlier answer, so the result does not depend on sort order.
  const best = judged.reduce((b, i) => (scores[i]! > scores[b]! ? i : b));
  const worst = judged.reduce((w, i) => (scores[i]! < scores[w]! ? i : w));
  if (scores[best] === scores[worst]) return tie(scores, "equal scores", best, worst);
  const c = confidence(scores[best]!, scores[worst]!);
  if (c < tieMargin) return tie(scores, `confidence ${c.toFixed(3)} below margin ${Number(tieMargin.toPrecision(6))}`, best, worst, c);
  return { chosen: best, rejected: worst, scores, confidence: c, orders: [], tie: false, tieReason: "" };
}

/** Confidence of a Bradley–Terry comparison of two log-scores: |2σ(Δ) − 1| = tanh(|Δ| / 2). */
export function logScoreConfidence(best: number, worst: number): number {
  return Math.tanh(Math.abs(best - worst) / 2);
}

/** Confidence of two probabilities of being right: their difference. */
export function probabilityConfidence(best: number, worst: number): number {
  return Math.abs(best - worst);
}
