export {
  initBackend,
  isGpuBackend,
  readAndDispose,
  BACKENDS,
  type BackendPreference,
  type BackendInfo,
  type BackendProbes,
} from "./backend.ts";
export { Tokenizer, DEFAULT_SPECIAL_TOKENS, type TokenizerJson } from "./tokenizer.ts";
export {
  modelConfig,
  parseModelConfig,
  ModelConfigSchema,
  numVisualTokens,
  patchDim,
  PRESET_NAMES,
  type ModelConfig,
  type Preset,
} from "./config.ts";
export { VideoLMM, attentionBias, groupedAttention, layerNorm, linear2d, type KvCache, type VideoInput } from "./model.ts";
export { generate, SamplingSchema, type Sampling, type GenerateInput, type Generation, type GenerateOptions } from "./generate.ts";
export { choiceLogProbs, sequenceLogProbs, type ScoreItem } from "./logprobs.ts";
export {
  buildPackedBatch,
  buildScoreBatch,
  encodeRow,
  logProbsFromHidden,
  segmentSums,
  sequenceHidden,
  targetLogProbs,
  type ScoreBatch,
  type TextRow,
} from "./sequence.ts";
export { REWARD_HEAD, REWARD_HEAD_FILE, ScalarHead, rewardScores, scoreRewards } from "./reward.ts";
export { saveCheckpoint, loadCheckpoint, openCheckpoint, writeCheckpointFiles, manifestDigest, MANIFEST } from "./checkpoint.ts";
export { encodeSafetensors, decodeSafetensors } from "./safetensors.ts";
export { Rng } from "./rng.ts";
export { matmulGflops, forwardFlops, parameterCount } from "./perf.ts";
export * as tf from "@tensorflow/tfjs";
export {
  prompts,
  skillText,
  asTarget,
  PROMPT_TEMPLATES,
  PROMPT_TEMPLATES_VERSION,
  VERDICTS,
  VERIFY_VERDICTS,
  type PromptKind,
  type SkillRecord,
} from "./prompts.ts";
export {
  answerQuestions,
  describeVideos,
  describeClips,
  fitPrompt,
  judgePairs,
  answerLogProbs,
  verifyAnswers,
  critiqueAnswers,
  type AnswerToCritique,
  type Critiqued,
  type AnswerToScore,
  type Policy,
  type PairToJudge,
  type Judgment,
} from "./skills.ts";
export { ModelCache, publishCheckpoint, sharedModels, modelUri, type BlobStore, type ModelLease, type PublishedModel } from "./store.ts";
export { InputError } from "./errors.ts";
