// `isrdpo job start|watch`: training jobs (SFT, DPO, reward model, PPO) straight on a TrainerService,
// e.g. the reward model a VLM-RLAIF run then judges and trains against. Run by ../actions/job.ts.
import { Command } from "commander";

const DEFAULT_SERVER = "http://127.0.0.1:50051";
const actions = () => import("../actions/job.ts");
const withServer = (c: Command) =>
  c.option("--server <url>", `TrainerService address (default ${DEFAULT_SERVER}: \`serve all\`; bearer token from $ISRDPO_GRPC_TOKEN)`);

export function jobCommand(): Command {
  const job = new Command("job").description("start and follow training jobs (SFT, DPO, reward model, PPO) on a trainer");
  job.addCommand(
    withServer(new Command("start"))
      .description("start a job from a YAML spec (JobSpec fields, e.g. examples/reward-model-job.yaml); prints its id")
      .requiredOption("--spec <file>", "job spec (YAML or JSON, JobSpec fields)")
      .option("--id <job-id>", "a repeat with the same id returns the same job")
      .option("--watch", "follow the job until it ends; the last line is its output model's digest")
      .action(async (o) => (await actions()).start(o)),
  );
  job.addCommand(
    withServer(new Command("watch"))
      .description("follow a job until it ends; the last line is its output model's digest")
      .argument("<job-id>")
      .action(async (id: string, o) => (await actions()).watch(id, o)),
  );
  return job;
}
