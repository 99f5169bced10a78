import type { ServiceModule } from "@isrdpo/runtime";
import { JudgeService } from "@isrdpo/contracts";

// Not built yet: every RPC of JudgeService answers UNIMPLEMENTED (see README, "Current state").
export const judgeService: ServiceModule = {
  name: "judge",
  defaultPort: 50054,
  services: [JudgeService],
  register(router) {
    router.service(JudgeService, {});
  },
};
