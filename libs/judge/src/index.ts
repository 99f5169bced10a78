export {
  JUDGE_METHODS,
  LIKELIHOOD_SCORES,
  OracleInputError,
  judgeItems,
  type ItemToJudge,
  type JudgeMethod,
  type JudgeOptions,
  type LikelihoodScore,
} from "./strategies.ts";
export { bestVsWorst, firstCopies, sameAnswer, type Preference } from "./preferences.ts";
