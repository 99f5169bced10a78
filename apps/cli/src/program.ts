// The `isrdpo` command tree. Only commander and the command definitions load here; each command
// imports what it needs (tfjs, the services, NATS) when it runs, so `--help` and `--version` are fast.
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { dataCommand } from "./commands/data.ts";
import { demoCommand } from "./commands/demo.ts";
import { studyCommand } from "./commands/study.ts";
import { evalCommand } from "./commands/eval.ts";
import { reportCommand } from "./commands/report.ts";
import { runCommand } from "./commands/run.ts";
import { jobCommand } from "./commands/job.ts";
import { serveCommand } from "./commands/serve.ts";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

/** Help shows which options must be given. */
function markRequired(cmd: Command): void {
  for (const o of cmd.options) if (o.mandatory && !o.description.endsWith("(required)")) o.description += " (required)";
  cmd.commands.forEach(markRequired);
}

export function buildProgram(): Command {
  const program = new Command("isrdpo")
    .description("Iterative Self-Retrospective DPO for video LMMs")
    .version(version, "-V, --version", "print the version")
    .showHelpAfterError("(run with --help for usage)")
    .addCommand(demoCommand())
    .addCommand(studyCommand())
    .addCommand(runCommand())
    .addCommand(jobCommand())
    .addCommand(reportCommand())
    .addCommand(evalCommand())
    .addCommand(serveCommand())
    .addCommand(dataCommand());
  markRequired(program);
  return program;
}
