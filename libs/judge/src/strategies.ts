// Judge strategies: who decides which of an item's answers is better, and how.
//
//   self             the policy compares two answers side by side (ISR-DPO's judge prompt), in both
//                    orders; with N answers every pair is compared and the Borda winner and loser
//                    are kept, decisive only if their own comparison is.
//   self-likelihood  pointwise: log π(y | V, x[, c_t]) of each answer (`sequence`), or how much the
//                    context raises it, log π(y | V, x, c_t) − log π(y | V, x) (`context-gain`).
//   self-verify      pointwise: P(yes) of "is the answer right?" given V, x[, c_t] and the answer.
//   oracle           the synthetic world's ground truth (analysis and upper bounds only).
//
// Every strategy returns a Preference (preferences.ts): identical answers and undecided pairs are
// explicit ties with their reason.
import { clipFromId, scoreAnswer } from "@isrdpo/video";
import { answerLogProbs, judgePairs, verifyAnswers, type Policy, type VideoInput } from "@isrdpo/vlm";
import {
  bestVsWorst,
  firstCopies,
  logScoreConfidence,
  nothingToCompare,
  probabilityConfidence,
  tie,
  type Preference,
} from "./preferences.ts";

export const JUDGE_METHODS = ["self", "self-likelihood", "self-verify", "oracle"] as const;
export type JudgeMethod = (typeof JUDGE_METHODS)[number];

export const LIKELIHOOD_SCORES = ["sequence", "context-gain"] as const;
export type LikelihoodScore = (typeof LIKELIHOOD_SCORES)[number];

export interface ItemToJudge {
  video: VideoInput;
  question: string;
  /** c_t; "" for none. */
  context: string;
  answers: string[];
  /** The dataset's caption of the video (a synthetic clip's reference caption), for the caption-proxy judge. */
  caption?: string;
  /** For the oracle: the synthetic clip and item the question belongs to. */
  clipId?: string;
  itemId?: string;
}

export interface JudgeOptions {
  /** Below this confidence a pair is a tie. */
  tieMargin: number;
  /** `self` only: judge one presentation order (ablation of position debiasing). */
  singleOrder?: boolean;
  /** `self-likelihood` only. Default "sequence". */
  likelihood?: LikelihoodScore;
}

/** Judges every item's answers with one strategy. The oracle needs no policy; the others do. */
export async function judgeItems(
  method: JudgeMethod,
  policy: Policy | undefined,
  items: readonly ItemToJudge[],
  opts: JudgeOptions,
): Promise<Preference[]> {
  const out: (Preference | undefined)[] = items.map((it) => nothingToCompare(it.answers));
  const open = items.flatMap((it, i) => (out[i] ? [] : [{ it, i }]));
  if (open.length === 0) return out as Preference[];
  if (method !== "oracle" && !policy) throw new Error(`judge: the ${method} strategy needs a policy model`);
  const judged =
    method === "self"
      ? await pairwise(
          policy!,
          open.map((o) => o.it),
          opts,
        )
      : method === "self-likelihood"
        ? await likelihood(
            policy!,
            open.map((o) => o.it),
            opts,
          )
        : method === "self-verify"
          ? await verify(
              policy!,
              open.map((o) => o.it),
              opts,
            )
          : open.map((o) => oracle(o.it));
  open.forEach(({ i }, k) => (out[i] = judged[k]));
  return out as Preference[];
}

/** Distinct answers of each item, by index, and the flat list of (item, index) to score once each. */
function distinctAnswers(items: readonly ItemToJudge[]): { item: number; answer: number }[] {
  return items.flatMap((it, item) => [...new Set(firstCopies(it.answers))].map((answer) => ({ item, answer })));
}

function scored(
  items: readonly ItemToJudge[],
  flat: number[],
  confidence: (b: number, w: number) => number,
  tieMargin: number,
): Preference[] {
  const list = distinctAnswers(items);
  const byItem = items.map(() => new Map<number, number>());
  list.forEach(({ item, answer }, k) => byItem[item]!.set(answer, flat[k]!));
  return items.map((it, i) => bestVsWorst(it.answers, (a) => byItem[i]!.get(a)!, confidence, tieMargin));
}

async function likelihood(policy: Policy, items: readonly ItemToJudge[], opts: JudgeOptions): Promise<Preference[]> {
  const rows = distinctAnswers(items).map(({ item, answer }) => ({ ...items[item]!, answer: items[item]!.answers[answer]! }));
  const withContext = (await answerLogProbs(policy, rows)).map((s) => s.sum);
  if ((opts.likelihood ?? "sequence") === "sequence") return scored(items, withContext, logScoreConfidence, opts.tieMargin);
  const without = await answerLogProbs(
    policy,
    rows.map((r) => ({ ...r, context: "" })),
  );
  const gains = withContext.map((w, k) => w - without[k]!.sum);
  // Without a context there is nothing to gain: every answer ties.
  return scored(items, gains, logScoreConfidence, opts.tieMargin).map((p, i) =>
    items[i]!.context.trim() === "" ? tie(p.scores, "no context to gain from") : p,
  );
}

async function verify(policy: Policy, items: readonly ItemToJudge[], opts: JudgeOptions): Promise<Preference[]> {
  const list = distinctAnswers(items);
  const p = await verifyAnswers(
    policy,
    list.map(({ item, answer }) => ({ ...items[item]!, answer: items[item]!.answers[answer]! })),
  );
  return scored(items, p, probabilityConfidence, opts.tieMargin);
}

/**
 * Pairwise self-judgment of every pair of distinct answers (both orders unless `singleOrder`). The
 * Borda score of an answer is its mean P(better) against the others; the best and worst by Borda
 * score are the pair, decisive only when their own comparison is.
 */
async function pairwise(policy: Policy, items: readonly ItemToJudge[], opts: JudgeOptions): Promise<Preference[]> {
  const pairs = items.flatMap((it, item) => {
    const d = [...new Set(firstCopies(it.answers))];
    return d.flatMap((a, x) => d.slice(x + 1).map((b) => ({ item, a, b })));
  });
  const judged = await judgePairs(
    policy,
    pairs.map(({ item, a, b }) => {
      const it = items[item]!;
      return { video: it.video, question: it.question, context: it.context, a: it.answers[a]!, b: it.answers[b]! };
    }),
    { tieMargin: opts.tieMargin, singleOrder: opts.singleOrder ?? false },
  );
  return items.map((it, item) => {
    const mine = pairs.flatMap((p, k) => (p.item === item ? [{ ...p, j: judged[k]! }] : []));
    const first = firstCopies(it.answers);
    const borda = new Map<number, number[]>();
    for (const { a, b, j } of mine) {
      borda.set(a, [...(borda.get(a) ?? []), j.probA]);
      borda.set(b, [...(borda.get(b) ?? []), 1 - j.probA]);
    }
    const scores = first.map((i) => mean(borda.get(i)!));
    const judgedIdx = [...borda.keys()];
    const best = judgedIdx.reduce((x, i) => (scores[i]! > scores[x]! ? i : x));
    const worst = judgedIdx.reduce((x, i) => (scores[i]! < scores[x]! ? i : x));
    if (best === worst) return tie(scores, "equal scores", best, worst);
    const direct = mine.find((p) => (p.a === best && p.b === worst) || (p.a === worst && p.b === best))!;
    const bestIsA = direct.a === best;
    const orders = direct.j.orders.map((p) => (bestIsA ? p : 1 - p));
    if (direct.j.verdict === "tie") return tie(scores, direct.j.tieReason, best, worst, direct.j.confidence, orders);
    // The direct comparison can disagree with the Borda order only with N > 2: keep the direct winner.
    const [chosen, rejected] = (direct.j.verdict === "a") === bestIsA ? [best, worst] : [worst, best];
    const chosenOrders = chosen === best ? orders : orders.map((p) => 1 - p);
    return { chosen, rejected, scores, confidence: direct.j.confidence, orders: chosenOrders, tie: false, tieReason: "" };
  });
}

function oracle(it: ItemToJudge): Preference {
  let clip: ReturnType<typeof clipFromId>;
  try {
    clip = clipFromId(it.clipId ?? "");
  } catch (err) {
    throw new OracleInputError(`oracle: judges questions about synthetic clips only: ${(err as Error).message}`);
  }
  const item = clip.items.find((x) => (it.itemId ? x.id === it.itemId : x.question === it.question));
  if (!item) throw new OracleInputError(`oracle: no question "${it.question}" in clip ${clip.id}`);
  return bestVsWorst(
    it.answers,
    (i) => scoreAnswer(clip.scene, item, it.answers[i]!).score,
    (b, w) => Math.abs(b - w) / 5,
    0,
  );
}

/** An item a strategy cannot judge: the caller's mistake (INVALID_ARGUMENT at the service). */
export class JudgeInputError extends Error {}

/** A question the oracle cannot answer. */
export class OracleInputError extends JudgeInputError {}

function mean(xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length;
}
