// The run the demo makes: ISR-DPO on the synthetic world, sized per model preset so that the
// default (small) finishes on a 2-core CPU machine. examples/demo-run.yaml is the same spec as a file.
import { create } from "@bufbuild/protobuf";
import { ContextMode, DpoLossType, type JudgeStrategy, LrSchedule, RunSpecSchema, type RunSpec } from "@isrdpo/contracts";
import { DEFAULTS } from "@isrdpo/orchestration";

export const DEMO_PRESETS = {
  /** Minutes on a CPU: a model to watch the loop run end to end, not to learn much. */
  test: { sftClips: 48, sftEpochs: 2, sftBatch: 16, sftLr: 3e-3, promptClips: 8, evalClips: 8, dpoLr: 1e-3, dpoEpochs: 1 },
  /** The default: π_1 clearly above chance, clearly below perfect. */
  small: { sftClips: 600, sftEpochs: 1, sftBatch: 16, sftLr: 2e-3, promptClips: 48, evalClips: 48, dpoLr: 2e-4, dpoEpochs: 2 },
} as const;
export type DemoPreset = keyof typeof DEMO_PRESETS;

/** Each batch in two gradient shards: a 2-core machine trains on both cores, with the same result on one. */
const GRAD_SHARDS = 2;

export interface DemoOptions {
  preset: DemoPreset;
  iterations: number;
  contextMode: ContextMode;
  judge: JudgeStrategy;
  seed: number;
}

export function demoSpec(o: DemoOptions): RunSpec {
  const p = DEMO_PRESETS[o.preset];
  const seed = BigInt(o.seed);
  return create(RunSpecSchema, {
    name: `demo-${o.preset}-${ContextMode[o.contextMode].toLowerCase()}`,
    initialModel: {
      source: {
        case: "sft",
        value: {
          preset: o.preset,
          data: { seed, split: "train", clipCount: p.sftClips },
          training: {
            learningRate: p.sftLr,
            epochs: p.sftEpochs,
            batchSize: p.sftBatch,
            warmupSteps: 20,
            schedule: LrSchedule.COSINE,
            maxGradNorm: 1,
            checkpointEverySteps: 100,
            gradShards: GRAD_SHARDS,
            seed,
          },
        },
      },
    },
    // Prompts come from train clips the SFT mix did not use: the loop aligns on unseen videos.
    prompts: { source: { case: "synthetic", value: { seed: seed + 1000n, split: "train", clipCount: p.promptClips } } },
    iterations: o.iterations,
    // Tie margin, answers per item, max new tokens, β, clips per video and shard size: the RunSpec
    // defaults (normalizeRunSpec). The temperature is set because the seed is.
    context: { mode: o.contextMode },
    judge: { strategy: o.judge },
    responseSampling: { temperature: DEFAULTS.responseTemperature, seed },
    dpo: { lossType: DpoLossType.SIGMOID },
    training: {
      learningRate: p.dpoLr,
      epochs: p.dpoEpochs,
      batchSize: 8,
      schedule: LrSchedule.COSINE,
      maxGradNorm: 1,
      checkpointEverySteps: 50,
      gradShards: GRAD_SHARDS,
      seed,
    },
    evaluation: {
      splits: [
        { source: { case: "synthetic", value: { seed: seed + 2000n, split: "test-in", clipCount: p.evalClips } } },
        { source: { case: "synthetic", value: { seed: seed + 2000n, split: "test-out", clipCount: p.evalClips } } },
      ],
      blocking: false,
    },
    seed,
  });
}
