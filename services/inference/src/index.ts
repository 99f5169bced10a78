import { InferenceService } from "@isrdpo/contracts";
import { modelService } from "@isrdpo/serving";
import { inferenceRpc } from "./rpc.ts";
import { responsesHandler } from "./work.ts";

export const inferenceService = modelService({
  name: "inference",
  defaultPort: 50052,
  service: InferenceService,
  rpc: inferenceRpc,
  queue: "responses",
  handler: responsesHandler,
  threaded: { module: new URL("./work.ts", import.meta.url).href, handler: "responsesHandler" },
});
