// Process entry point of the evaluator service: `tsx services/evaluator/src/main.ts` (same as `isrdpo serve evaluator`).
import { main, runServices } from "@isrdpo/runtime";
import { evaluatorService } from "./index.ts";

await main(() => runServices([evaluatorService]));
