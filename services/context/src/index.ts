import { ContextService } from "@isrdpo/contracts";
import type { ServiceModule } from "@isrdpo/runtime";
import { serveStage } from "@isrdpo/serving";
import { contextRpc } from "./rpc.ts";
import { contextHandler } from "./work.ts";

export const contextService: ServiceModule = {
  name: "context",
  defaultPort: 50053,
  services: [ContextService],
  register(router, ctx) {
    router.service(ContextService, contextRpc(ctx));
  },
  async start(ctx) {
    return serveStage(ctx, "context", contextHandler(ctx));
  },
};
