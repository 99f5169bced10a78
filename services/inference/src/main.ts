// Process entry point of the inference service: `tsx services/inference/src/main.ts` (same as `isrdpo serve inference`).
import { main, runServices } from "@isrdpo/runtime";
import { inferenceService } from "./index.ts";

await main(() => runServices([inferenceService]));
