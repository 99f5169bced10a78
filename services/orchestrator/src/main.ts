// Process entry point of the orchestrator service: `tsx services/orchestrator/src/main.ts` (same as `isrdpo serve orchestrator`).
import { main, runServices } from "@isrdpo/runtime";
import { orchestratorService } from "./index.ts";

await main(() => runServices([orchestratorService]));
