// Process entry point of the judge service: `tsx services/judge/src/main.ts` (same as `isrdpo serve judge`).
import { main, runServices } from "@isrdpo/runtime";
import { judgeService } from "./index.ts";

await main(() => runServices([judgeService]));
