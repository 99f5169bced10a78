import type { ServiceModule } from "@isrdpo/runtime";
import { RunService } from "@isrdpo/contracts";

// Not built yet: every RPC of RunService answers UNIMPLEMENTED (see README, "Current state").
export const orchestratorService: ServiceModule = {
  name: "orchestrator",
  defaultPort: 50051,
  services: [RunService],
  register(router) {
    router.service(RunService, {});
  },
};
