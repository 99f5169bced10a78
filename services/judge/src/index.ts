import { JudgeService } from "@isrdpo/contracts";
import { modelService } from "@isrdpo/serving";
import { judgeRpc } from "./rpc.ts";
import { judgeHandler } from "./work.ts";

export const judgeService = modelService({
  name: "judge",
  defaultPort: 50054,
  service: JudgeService,
  rpc: judgeRpc,
  queue: "judge",
  handler: judgeHandler,
  threaded: { module: new URL("./work.ts", import.meta.url).href, handler: "judgeHandler" },
});
