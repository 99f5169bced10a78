export {
  JUDGE_METHODS,
  LIKELIHOOD_SCORES,
  JudgeInputError,
  OracleInputError,
  judgeItems,
  type ItemToJudge,
  type JudgeMethod,
  type JudgeOptions,
  type LikelihoodScore,
} from "./strategies.ts";
export { bestVsWorst, firstCopies, sameAnswer, type Preference } from "./preferences.ts";
export {
  CRITIQUE_FILTERS,
  judgeAll,
  missingCaption,
  type CaptionProxyJudge,
  type CritiqueFilter,
  type JudgeOutcome,
  type JudgeStats,
  type Strategy,
  type StrategyOptions,
} from "./judge.ts";
