// `isrdpo demo`: defined here, run by ../actions/demo.ts (loaded only when the command runs).
import { Command, Option } from "commander";
import { CONTEXT_MODE_NAMES, DEMO_PRESET_NAMES, JUDGE_NAMES } from "../choices.ts";

export function demoCommand(): Command {
  return new Command("demo")
    .description("run ISR-DPO end to end in this process on the synthetic video world and print what changed per iteration")
    .addOption(new Option("--preset <preset>", "model and data size").choices(DEMO_PRESET_NAMES).default("small"))
    .option("--iterations <n>", "ISR-DPO iterations", "3")
    .addOption(new Option("--context-mode <mode>", "self-retrospective context mode").choices(CONTEXT_MODE_NAMES).default("retrospective"))
    .addOption(new Option("--judge <strategy>", "who judges the pairs (oracle: analysis only)").choices(JUDGE_NAMES).default("self"))
    .option("--seed <n>", "seed of data, model and sampling", "1")
    .option("--out <dir>", "where artifacts, checkpoints, logs, report.html, metrics/ and tensorboard/ go", ".isrdpo/demo")
    .option("--threads <n>", "worker threads for stage work (default: ISRDPO_THREADS, else the cores)")
    .option("--no-cache", "train π_1 again even if an earlier demo made the same SFT model")
    .action(async (opts) => {
      const { demo } = await import("../actions/demo.ts");
      await demo(opts);
    });
}
