export { RunSpecError, DEFAULTS, SFT_PRESETS, normalizeCaptionProxy, normalizeRunSpec, judgeTemplates } from "./spec.ts";
export { serveWorkQueue } from "./worker.ts";
export type { ServeOptions, WorkerHandle } from "./worker.ts";
export { eventIds, workEventIds, jobId, msgIds, promptShardUri, runEventLog, runKey, shardKey, shardOutputUri, stageName } from "./ids.ts";
export {
  MACHINE_VERSION,
  transition,
  pendingCommands,
  outboxCommands,
  runView,
  storedRecord,
  newRunRecord,
  isTerminal,
} from "./machine.ts";
export { answerJudgeProblem, datasetUriProblem, envNameProblem } from "./datasets.ts";
export { LIMITS, ppoParamsProblem, syntheticDatasetProblem, trainingParamsProblem, type Problem } from "./limits.ts";
export type { Transition } from "./machine.ts";
export { Orchestrator, RunNotFoundError, skipEndedRuns } from "./engine.ts";
export type { OrchestratorOptions } from "./engine.ts";
