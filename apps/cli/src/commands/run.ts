// `isrdpo run create|get|watch|list|cancel`: defined here, run by ../actions/run.ts (loaded only when
// a subcommand runs).
import { Command, Option } from "commander";
import { OUTPUT_FORMATS, RECONNECT_TIMEOUT_S } from "../choices.ts";
import { intArg } from "./args.ts";
import { exportCommand } from "./run-export.ts";

const DEFAULT_SERVER = "http://127.0.0.1:50051";

const withTarget = (c: Command) =>
  c
    .option("--server <url>", `RunService address (default ${DEFAULT_SERVER}; bearer token from $ISRDPO_GRPC_TOKEN)`)
    .option("--nats <url>", "talk to the cluster's NATS directly instead of RunService")
    .option("--trainer <url>", "TrainerService address, for training progress while watching")
    .addOption(
      new Option("-o, --output <format>", "text for people, json for programs (protobuf JSON)").choices(OUTPUT_FORMATS).default("text"),
    );

const withReconnect = (c: Command) =>
  c.option(
    "--reconnect-timeout <seconds>",
    `how long the watch keeps reconnecting to a server that went away, resuming where it was (default ${RECONNECT_TIMEOUT_S})`,
    intArg(1, 86_400),
  );

const actions = () => import("../actions/run.ts");

export function runCommand(): Command {
  const run = new Command("run").description("create, inspect, watch, list and cancel runs on a cluster");
  run.addCommand(
    withReconnect(withTarget(new Command("create")))
      .description("create a run from a YAML spec (see examples/); prints its id")
      .requiredOption("--spec <file>", "run spec (YAML or JSON, RunSpec fields)")
      .option("--idempotency-key <key>", "a repeat with the same key returns the same run", "")
      .option("--watch", "follow the run until it ends")
      .action(async (o) => (await actions()).create(o)),
  );
  run.addCommand(
    withTarget(new Command("get"))
      .description("show a run: state, iteration, age and its iteration table")
      .argument("<run-id>")
      .action(async (id: string, o) => (await actions()).get(id, o)),
  );
  run.addCommand(
    withReconnect(withTarget(new Command("watch")))
      .description("follow a run's progress until it ends (reconnecting if the server restarts), then print its iteration table")
      .argument("<run-id>")
      .action(async (id: string, o) => (await actions()).watch(id, o)),
  );
  run.addCommand(
    withTarget(new Command("list"))
      .description("list runs, newest first: id, state, iteration, age, name")
      .action(async (o) => (await actions()).list(o)),
  );
  run.addCommand(
    withTarget(new Command("cancel"))
      .description("cancel a run: no new work starts; it ends CANCELLED")
      .argument("<run-id>")
      .option("--reason <text>", "recorded with the run", "cancelled from the CLI")
      .action(async (id: string, o) => (await actions()).cancel(id, o)),
  );
  run.addCommand(exportCommand());
  return run;
}
