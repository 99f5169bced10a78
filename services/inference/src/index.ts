import type { ServiceModule } from "@isrdpo/runtime";
import { InferenceService } from "@isrdpo/contracts";

// Not built yet: every RPC of InferenceService answers UNIMPLEMENTED (see README, "Current state").
export const inferenceService: ServiceModule = {
  name: "inference",
  defaultPort: 50052,
  services: [InferenceService],
  register(router) {
    router.service(InferenceService, {});
  },
};
