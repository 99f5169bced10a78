export { RunSpecError, DEFAULTS, normalizeRunSpec } from "./spec.ts";
export {
  transition,
  pendingCommands,
  newRunRecord,
  isTerminal,
  jobId,
  msgIds,
  eventIds,
  promptShardUri,
  shardOutputUri,
  stageName,
} from "./machine.ts";
export type { Transition } from "./machine.ts";
export { Orchestrator, RunNotFoundError, runKey, runEventLog, skipEndedRuns } from "./engine.ts";
export type { OrchestratorOptions } from "./engine.ts";
