export {
  dpoLoss,
  dpoLossTensor,
  parseDpoParams,
  DpoParamsSchema,
  DPO_LOSS_TYPES,
  type DpoLossType,
  type DpoParams,
  type DpoLossInputs,
  type DpoLossResult,
} from "./dpo.ts";
export { AdamW, learningRate, clipByGlobalNorm, type Schedule } from "./optimizer.ts";
export {
  trainSft,
  batchPlan,
  trainDpo,
  TrainingParamsSchema,
  type TrainingParams,
  type TrainOptions,
  type DpoTrainOptions,
  type SftTrainOptions,
  type TrainResult,
  type StepMetrics,
  type SftExample,
  type DpoPair,
} from "./train.ts";
export { sftLoss, splitShards, type ObjectiveData } from "./objective.ts";
export { evaluateRewardModel, splitHeldOut, trainRewardModel, type RewardPair } from "./reward.ts";
export {
  bradleyTerryLoss,
  bradleyTerryMetrics,
  clippedValueLoss,
  gae,
  klPenalisedRewards,
  maskedMean,
  ppoPolicyLoss,
  tokenEntropy,
} from "./rl.ts";
export { PpoParamsSchema, trainPpo, type PpoParams, type PpoPrompt, type PpoTrainOptions, type RewardFn } from "./ppo.ts";
