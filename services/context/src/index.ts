import { ContextService } from "@isrdpo/contracts";
import { modelService } from "@isrdpo/serving";
import { contextRpc } from "./rpc.ts";
import { contextHandler } from "./work.ts";

export const contextService = modelService({
  name: "context",
  defaultPort: 50053,
  service: ContextService,
  rpc: contextRpc,
  queue: "context",
  handler: contextHandler,
  threaded: { module: new URL("./work.ts", import.meta.url).href, handler: "contextHandler" },
});
