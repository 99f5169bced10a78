import { JudgeService } from "@isrdpo/contracts";
import type { ServiceModule } from "@isrdpo/runtime";
import { serveStage } from "@isrdpo/serving";
import { judgeRpc } from "./rpc.ts";
import { judgeHandler } from "./work.ts";

export const judgeService: ServiceModule = {
  name: "judge",
  defaultPort: 50054,
  services: [JudgeService],
  register(router, ctx) {
    router.service(JudgeService, judgeRpc(ctx));
  },
  async start(ctx) {
    return serveStage(ctx, "judge", judgeHandler(ctx));
  },
};
