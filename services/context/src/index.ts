import type { ServiceModule } from "@isrdpo/runtime";
import { ContextService } from "@isrdpo/contracts";

// Not built yet: every RPC of ContextService answers UNIMPLEMENTED (see README, "Current state").
export const contextService: ServiceModule = {
  name: "context",
  defaultPort: 50053,
  services: [ContextService],
  register(router) {
    router.service(ContextService, {});
  },
};
