/**
 * Judge learnability (bench/judge-probe.ts says what the probe is): can the pairwise verdict judge
 * learn a rule that needs the context?
 * Run: pnpm exec tsx bench/judge-learnability.ts [--steps 1500] [--lr 3e-3] [--position-encoding rope] [--prompt-loss] [--seed 4]
 * Last line: one JSON object with the settings and accuracies (chance 50%).
 */
import { parseArgs } from "node:util";
import { initBackend, type Preset } from "@isrdpo/vlm";
import { judgeProbe } from "./judge-probe.ts";

const { values: v } = parseArgs({
  options: {
    preset: { type: "string", default: "test" },
    steps: { type: "string", default: "1500" },
    lr: { type: "string", default: "3e-3" },
    batch: { type: "string", default: "16" },
    "position-encoding": { type: "string", default: "learned" },
    seed: { type: "string", default: "3" },
    "prompt-loss": { type: "boolean", default: false },
  },
});
const backend = await initBackend(undefined, () => {});
const result = await judgeProbe({
  preset: v.preset as Preset,
  steps: Number(v.steps),
  lr: Number(v.lr),
  batch: Number(v.batch),
  positionEncoding: v["position-encoding"] as "learned" | "rope",
  promptLoss: v["prompt-loss"] as boolean,
  seed: Number(v.seed),
  onStep: (step, total, loss) => step % 50 === 0 && console.error(`step ${step}/${total} loss ${loss.toFixed(3)}`),
});
console.log(
  JSON.stringify({ bench: "judge-learnability", backend, settings: v, ...result, trainSeconds: Math.round(result.trainSeconds) }),
);
