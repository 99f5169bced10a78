// Pairwise judgments by strategy. `self` is the policy judging itself with the context (ISR-DPO);
// `oracle` reads the synthetic world's ground truth (analysis only). Identical answers are a tie
// without asking anyone.
import { Code, ConnectError } from "@connectrpc/connect";
import { JudgeStrategy } from "@isrdpo/contracts";
import { clipFromId, scoreAnswer } from "@isrdpo/video";
import { judgePairs, type PairToJudge, type Policy } from "@isrdpo/vlm";

export interface PairVerdict {
  verdict: "a" | "b" | "tie";
  /** Strategy-specific scores of a and b: P(better) for self, the oracle's 0–5 score for oracle. */
  scoreA: number;
  scoreB: number;
  confidence: number;
  /** P(a better) per order judged (self only). */
  orders: number[];
  tieReason: string;
}

export interface PairInput extends PairToJudge {
  /** For the oracle: the synthetic clip and item the question belongs to. */
  clipId?: string;
  itemId?: string;
}

export function judge(
  strategy: JudgeStrategy,
  policy: Policy | undefined,
  pairs: readonly PairInput[],
  opts: { tieMargin: number; singleOrder: boolean },
): PairVerdict[] {
  const identical = (p: PairInput) => p.a.trim() === p.b.trim();
  const out: (PairVerdict | undefined)[] = pairs.map((p) =>
    identical(p) ? { verdict: "tie", scoreA: 0.5, scoreB: 0.5, confidence: 0, orders: [], tieReason: "identical answers" } : undefined,
  );
  const open = pairs.flatMap((p, i) => (out[i] ? [] : [{ p, i }]));
  if (strategy === JudgeStrategy.SELF) {
    const judged = judgePairs(
      policy!,
      open.map((o) => o.p),
      opts,
    );
    open.forEach(({ i }, k) => {
      const j = judged[k]!;
      out[i] = {
        verdict: j.verdict,
        scoreA: j.probA,
        scoreB: 1 - j.probA,
        confidence: j.confidence,
        orders: j.orders,
        tieReason: j.tieReason,
      };
    });
  } else if (strategy === JudgeStrategy.ORACLE) {
    for (const { p, i } of open) {
      const clip = clipFromId(p.clipId ?? "");
      const item = clip.items.find((it) => (p.itemId ? it.id === p.itemId : it.question === p.question));
      if (!item) throw new ConnectError(`oracle: no question "${p.question}" in clip ${clip.id}`, Code.InvalidArgument);
      const a = scoreAnswer(clip.scene, item, p.a).score;
      const b = scoreAnswer(clip.scene, item, p.b).score;
      out[i] = {
        verdict: a === b ? "tie" : a > b ? "a" : "b",
        scoreA: a,
        scoreB: b,
        confidence: Math.abs(a - b) / 5,
        orders: [],
        tieReason: a === b ? "equal oracle scores" : "",
      };
    }
  } else {
    throw new ConnectError(`judge strategy ${JudgeStrategy[strategy]} is not implemented yet (self and oracle are)`, Code.Unimplemented);
  }
  return out as PairVerdict[];
}
