import { Command } from "commander";
import { dataCommand } from "./commands/data.ts";
import { demoCommand } from "./commands/demo.ts";
import { evalCommand } from "./commands/eval.ts";
import { reportCommand } from "./commands/report.ts";
import { runCommand } from "./commands/run.ts";
import { serveCommand } from "./commands/serve.ts";

export function buildProgram(): Command {
  return new Command("isrdpo")
    .description("Iterative Self-Retrospective DPO for video LMMs")
    .showHelpAfterError("(run with --help for usage)")
    .addCommand(demoCommand())
    .addCommand(runCommand())
    .addCommand(reportCommand())
    .addCommand(evalCommand())
    .addCommand(serveCommand())
    .addCommand(dataCommand());
}
