import type { ServiceModule } from "@isrdpo/runtime";
import { contextService } from "@isrdpo/service-context";
import { evaluatorService } from "@isrdpo/service-evaluator";
import { inferenceService } from "@isrdpo/service-inference";
import { judgeService } from "@isrdpo/service-judge";
import { orchestratorService } from "@isrdpo/service-orchestrator";
import { trainerService } from "@isrdpo/service-trainer";

/** Every service `isrdpo serve` can run, by name. */
export const SERVICES: Record<string, ServiceModule> = Object.fromEntries(
  [orchestratorService, inferenceService, contextService, judgeService, trainerService, evaluatorService].map((m) => [m.name, m]),
);
