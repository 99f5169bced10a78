// `isrdpo study`: defined here, run by ../actions/study.ts (loaded only when the command runs).
import { Command, Option } from "commander";
import { CONTEXT_MODE_NAMES, DEMO_PRESET_NAMES, JUDGE_NAMES } from "../choices.ts";

export function studyCommand(): Command {
  return new Command("study")
    .description(
      "the ablation grid: one demo-sized run per (seed, judge, context mode), π_1 shared per seed; report.html and report.json with mean ± sd over seeds",
    )
    .addOption(new Option("--preset <preset>", "model and data size").choices(DEMO_PRESET_NAMES).default("small"))
    .option("--seeds <list>", "comma-separated seeds (each trains its own π_1)", "1,2,3")
    .option("--iterations <n>", "ISR-DPO iterations per run", "5")
    .option("--context-modes <list>", `comma-separated context modes (${CONTEXT_MODE_NAMES.join(", ")})`, "none,fixed,renew,retrospective")
    .option("--judges <list>", `comma-separated judges (${JUDGE_NAMES.join(", ")}; oracle: an upper bound)`, "self-verify")
    .option(
      "--out <dir>",
      "runs/, report.html, report.json, artifacts and checkpoints; a finished run found there is reused",
      ".isrdpo/study",
    )
    .option("--no-cache", "train each seed's π_1 again even if an earlier run in --out made it")
    .action(async (opts) => {
      const { study } = await import("../actions/study.ts");
      await study(opts);
    });
}
