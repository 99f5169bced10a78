import { EvaluatorService } from "@isrdpo/contracts";
import type { ServiceModule } from "@isrdpo/runtime";
import { serveStage } from "@isrdpo/serving";
import { evaluatorRpc } from "./rpc.ts";
import { evaluateHandler } from "./work.ts";

export const evaluatorService: ServiceModule = {
  name: "evaluator",
  defaultPort: 50056,
  services: [EvaluatorService],
  register(router, ctx) {
    router.service(EvaluatorService, evaluatorRpc(ctx));
  },
  async start(ctx) {
    return serveStage(ctx, "evaluate", evaluateHandler(ctx));
  },
};
