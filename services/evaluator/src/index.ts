import { EvaluatorService } from "@isrdpo/contracts";
import { modelService } from "@isrdpo/serving";
import { evaluatorRpc } from "./rpc.ts";
import { evaluateHandler } from "./work.ts";

export const evaluatorService = modelService({
  name: "evaluator",
  defaultPort: 50056,
  service: EvaluatorService,
  rpc: evaluatorRpc,
  queue: "evaluate",
  handler: evaluateHandler,
  threaded: { module: new URL("./work.ts", import.meta.url).href, handler: "evaluateHandler" },
});
