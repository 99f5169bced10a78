// Process entry point of the trainer service: `tsx services/trainer/src/main.ts` (same as `isrdpo serve trainer`).
import { main, runServices } from "@isrdpo/runtime";
import { trainerService } from "./index.ts";

await main(() => runServices([trainerService]));
