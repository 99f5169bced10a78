export { RunSpecError, DEFAULTS, normalizeCaptionProxy, normalizeRunSpec, judgeTemplates } from "./spec.ts";
export { serveWorkQueue } from "./worker.ts";
export type { ServeOptions, WorkerHandle } from "./worker.ts";
export { eventIds, workEventIds, jobId, msgIds, promptShardUri, runEventLog, runKey, shardOutputUri, stageName } from "./ids.ts";
export { MACHINE_VERSION, transition, pendingCommands, newRunRecord, isTerminal } from "./machine.ts";
export { answerJudgeProblem, datasetUriProblem, envNameProblem } from "./datasets.ts";
export type { Transition } from "./machine.ts";
export { Orchestrator, RunNotFoundError, skipEndedRuns } from "./engine.ts";
export type { OrchestratorOptions } from "./engine.ts";
