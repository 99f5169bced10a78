import type { ServiceModule } from "@isrdpo/runtime";
import { EvaluatorService } from "@isrdpo/contracts";

// Not built yet: every RPC of EvaluatorService answers UNIMPLEMENTED (see README, "Current state").
export const evaluatorService: ServiceModule = {
  name: "evaluator",
  defaultPort: 50056,
  services: [EvaluatorService],
  register(router) {
    router.service(EvaluatorService, {});
  },
};
