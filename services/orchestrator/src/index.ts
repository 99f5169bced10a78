import { ArtifactService, RunService } from "@isrdpo/contracts";
import { Orchestrator } from "@isrdpo/orchestration";
import type { ServiceContext, ServiceModule } from "@isrdpo/runtime";
import { serveStage } from "@isrdpo/serving";
import { PROMPT_TEMPLATES } from "@isrdpo/vlm";
import { artifactRpc } from "./artifacts.ts";
import { runGauges, transitionLogger } from "./observe.ts";
import { prepareHandler } from "./prepare.ts";
import { runRpc } from "./rpc.ts";

// One engine per process, shared by RunService and the event loop.
const engines = new WeakMap<ServiceContext, Orchestrator>();
const engineOf = (ctx: ServiceContext) => {
  let o = engines.get(ctx);
  if (!o) {
    o = new Orchestrator({
      bus: ctx.bus,
      artifacts: ctx.artifacts,
      promptTemplates: PROMPT_TEMPLATES,
      onError: (err) => ctx.logger.warn({ err }, "orchestrator"),
      onEvent: transitionLogger(ctx.logger),
    });
    engines.set(ctx, o);
  }
  return o;
};

export const orchestratorService: ServiceModule = {
  name: "orchestrator",
  defaultPort: 50051,
  services: [RunService, ArtifactService],
  register(router, ctx) {
    router.service(RunService, runRpc(engineOf(ctx), ctx.artifacts));
    router.service(ArtifactService, artifactRpc(ctx.artifacts));
  },
  async start(ctx) {
    const engine = engineOf(ctx);
    // A restarted orchestrator re-publishes every run's pending commands (duplicates are dropped by id).
    await engine.recover();
    const loop = engine.serve();
    const stopGauges = runGauges(engine);
    const stopPrepare = serveStage(ctx, "prepare", prepareHandler(ctx.artifacts));
    return async () => {
      stopGauges();
      await stopPrepare();
      await loop.stop();
    };
  },
};
