import { InferenceService } from "@isrdpo/contracts";
import type { ServiceModule } from "@isrdpo/runtime";
import { serveStage } from "@isrdpo/serving";
import { inferenceRpc } from "./rpc.ts";
import { responsesHandler } from "./work.ts";

export const inferenceService: ServiceModule = {
  name: "inference",
  defaultPort: 50052,
  services: [InferenceService],
  register(router, ctx) {
    router.service(InferenceService, inferenceRpc(ctx));
  },
  async start(ctx) {
    return serveStage(ctx, "responses", responsesHandler(ctx));
  },
};
