// `isrdpo report`: defined here, run by ../actions/report.ts (loaded only when the command runs).
import { Command } from "commander";

export function reportCommand(): Command {
  return new Command("report")
    .description("write a run's report as one self-contained HTML file: per-iteration charts, training curves, config, prompts")
    .argument("<run>", "a run record file (e.g. a demo's run.json) or a run id on a cluster")
    .option("--out <file>", "where the HTML goes", "report.html")
    .option("--server <url>", "RunService address, for a run id (bearer token from $ISRDPO_GRPC_TOKEN)")
    .option("--nats <url>", "read the run and its training histories from the cluster's NATS instead")
    .option("--artifacts <dir>", "local artifact directory with the training histories (default: artifacts/ beside run.json)")
    .action(async (run: string, o: { out: string; server?: string; nats?: string; artifacts?: string }) => {
      const { report } = await import("../actions/report.ts");
      await report(run, o, (line) => process.stdout.write(`${line}\n`));
    });
}
