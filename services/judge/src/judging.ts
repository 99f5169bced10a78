// The judge service's side of a strategy: the contract's enums mapped onto libs/judge, and which
// strategies are built. Every judgment itself happens in libs/judge.
import { Code, ConnectError } from "@connectrpc/connect";
import { JudgeStrategy, LikelihoodScore } from "@isrdpo/contracts";
import { judgeItems, OracleInputError, type ItemToJudge, type JudgeMethod, type Preference } from "@isrdpo/judge";
import type { Policy } from "@isrdpo/vlm";

const METHODS: Partial<Record<JudgeStrategy, JudgeMethod>> = {
  [JudgeStrategy.SELF]: "self",
  [JudgeStrategy.SELF_LIKELIHOOD]: "self-likelihood",
  [JudgeStrategy.SELF_VERIFY]: "self-verify",
  [JudgeStrategy.ORACLE]: "oracle",
};

/** The library's method for a strategy; UNIMPLEMENTED for strategies that are not built. */
export function judgeMethod(strategy: JudgeStrategy): JudgeMethod {
  const method = METHODS[strategy];
  if (!method) {
    const built = Object.keys(METHODS).map((s) => `JUDGE_STRATEGY_${JudgeStrategy[Number(s)]}`);
    throw new ConnectError(
      `judge strategy JUDGE_STRATEGY_${JudgeStrategy[strategy]} is not implemented yet (${built.join(", ")} are)`,
      Code.Unimplemented,
    );
  }
  return method;
}

export function judge(
  strategy: JudgeStrategy,
  policy: Policy | undefined,
  items: readonly ItemToJudge[],
  opts: { tieMargin: number; singleOrder: boolean; likelihoodScore: LikelihoodScore },
): Preference[] {
  try {
    return judgeItems(judgeMethod(strategy), policy, items, {
      tieMargin: opts.tieMargin,
      singleOrder: opts.singleOrder,
      likelihood: opts.likelihoodScore === LikelihoodScore.CONTEXT_GAIN ? "context-gain" : "sequence",
    });
  } catch (err) {
    if (err instanceof OracleInputError) throw new ConnectError(err.message, Code.InvalidArgument);
    throw err;
  }
}
