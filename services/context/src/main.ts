// Process entry point of the context service: `tsx services/context/src/main.ts` (same as `isrdpo serve context`).
import { main, runServices } from "@isrdpo/runtime";
import { contextService } from "./index.ts";

await main(() => runServices([contextService]));
