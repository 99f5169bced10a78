import type { ServiceModule } from "@isrdpo/runtime";
import { TrainerService } from "@isrdpo/contracts";

// Not built yet: every RPC of TrainerService answers UNIMPLEMENTED (see README, "Current state").
export const trainerService: ServiceModule = {
  name: "trainer",
  defaultPort: 50055,
  services: [TrainerService],
  register(router) {
    router.service(TrainerService, {});
  },
};
