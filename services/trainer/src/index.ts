import { TrainerService } from "@isrdpo/contracts";
import type { ServiceContext, ServiceModule } from "@isrdpo/runtime";
import { serveStage } from "@isrdpo/serving";
import { JobManager } from "./manager.ts";
import { trainerRpc } from "./rpc.ts";
import { trainHandler } from "./work.ts";

// One job manager per process, shared by the RPCs and the work queue.
const managers = new WeakMap<ServiceContext, JobManager>();
const managerOf = (ctx: ServiceContext) => {
  let m = managers.get(ctx);
  if (!m) managers.set(ctx, (m = new JobManager(ctx)));
  return m;
};

export const trainerService: ServiceModule = {
  name: "trainer",
  defaultPort: 50055,
  services: [TrainerService],
  register(router, ctx) {
    router.service(TrainerService, trainerRpc(managerOf(ctx)));
  },
  async start(ctx) {
    return serveStage(ctx, "train", trainHandler(managerOf(ctx)));
  },
};
