// `isrdpo run create|watch|list|cancel`: runs on a cluster, through RunService (--server), or
// straight through the bus (--nats) with the same orchestrator engine the service runs.
import { RunState, type Run, type RunSpec } from "@isrdpo/contracts";
import { connectNats } from "@isrdpo/bus";
import { Orchestrator } from "@isrdpo/orchestration";
import { PROMPT_TEMPLATES } from "@isrdpo/vlm";
import { Command } from "commander";
import { DEFAULT_SERVER, runClient, trainerClient } from "../client.ts";
import { iterationRows, nothingToTrain } from "@isrdpo/report";
import { ProgressPrinter, iterationTable } from "../report.ts";
import { readRunSpec } from "../spec.ts";
import { followRun } from "../watch.ts";
import { exportCommand } from "./run-export.ts";

interface Target {
  server?: string;
  nats?: string;
  trainer?: string;
}

/** The four run operations, over gRPC or over NATS. */
interface Runs {
  create(spec: RunSpec, key: string): Promise<Run>;
  list(): Promise<Run[]>;
  cancel(id: string, reason: string): Promise<Run>;
  watch(id: string, printer: ProgressPrinter): Promise<Run>;
  close(): Promise<void>;
}

async function open(t: Target): Promise<Runs> {
  if (t.nats) {
    const { bus, artifacts } = await connectNats({ servers: t.nats.split(",") });
    const o = new Orchestrator({ bus, artifacts, promptTemplates: PROMPT_TEMPLATES });
    return {
      create: (spec, key) => o.createRun(spec, key),
      list: async () => (await o.listRuns({ pageSize: 1000 })).runs,
      cancel: (id, reason) => o.cancelRun(id, reason),
      watch: async (id, printer) => {
        for await (const e of o.watchRun(id)) printer.event(e);
        return o.getRun(id);
      },
      close: () => bus.close(),
    };
  }
  const runs = runClient(t.server ?? DEFAULT_SERVER);
  return {
    create: async (spec, key) => (await runs.createRun({ spec, idempotencyKey: key })).run!,
    list: async () => (await runs.listRuns({ pageSize: 1000 })).runs,
    cancel: async (id, reason) => (await runs.cancelRun({ runId: id, reason })).run!,
    watch: (id, printer) => followRun(runs, id, printer, t.trainer ? { trainer: trainerClient(t.trainer) } : {}),
    close: async () => undefined,
  };
}

const withTarget = (c: Command) =>
  c
    .option("--server <url>", `RunService address (default ${DEFAULT_SERVER}; bearer token from $ISRDPO_GRPC_TOKEN)`)
    .option("--nats <url>", "talk to the cluster's NATS directly instead of RunService")
    .option("--trainer <url>", "TrainerService address, for training progress while watching");

const say = (line: string) => process.stdout.write(`${line}\n`);

async function watchAndReport(runs: Runs, id: string): Promise<void> {
  const run = await runs.watch(id, new ProgressPrinter(say));
  say("");
  const rows = iterationRows(run);
  say(iterationTable(rows));
  for (const w of nothingToTrain(rows)) say(`warning: ${w}`);
  say(`run ${run.id}: ${RunState[run.state].toLowerCase()}${run.failureReason ? ` (${run.failureReason})` : ""}`);
  if (run.state !== RunState.SUCCEEDED) process.exitCode = 1;
}

export function runCommand(): Command {
  const run = new Command("run").description("create, watch, list and cancel runs on a cluster");
  run.addCommand(
    withTarget(new Command("create"))
      .description("create a run from a YAML spec (see examples/)")
      .requiredOption("--spec <file>", "run spec (YAML or JSON, RunSpec fields)")
      .option("--idempotency-key <key>", "a repeat with the same key returns the same run", "")
      .option("--watch", "follow the run until it ends")
      .action(async (opts: Target & { spec: string; idempotencyKey: string; watch?: boolean }) => {
        const runs = await open(opts);
        try {
          const created = await runs.create(readRunSpec(opts.spec), opts.idempotencyKey);
          say(created.id);
          if (opts.watch) await watchAndReport(runs, created.id);
        } finally {
          await runs.close();
        }
      }),
  );
  run.addCommand(
    withTarget(new Command("watch"))
      .description("follow a run's progress until it ends, then print its iteration table")
      .argument("<run-id>")
      .action(async (id: string, opts: Target) => {
        const runs = await open(opts);
        try {
          await watchAndReport(runs, id);
        } finally {
          await runs.close();
        }
      }),
  );
  run.addCommand(
    withTarget(new Command("list"))
      .description("list runs, newest first")
      .action(async (opts: Target) => {
        const runs = await open(opts);
        try {
          for (const r of await runs.list())
            say(
              `${r.id}  ${RunState[r.state].toLowerCase().padEnd(10)} iteration ${r.currentIteration}/${r.spec?.iterations ?? "?"}  ${r.spec?.name ?? ""}`,
            );
        } finally {
          await runs.close();
        }
      }),
  );
  run.addCommand(
    withTarget(new Command("cancel"))
      .description("cancel a run: no new work starts; it ends CANCELLED")
      .argument("<run-id>")
      .option("--reason <text>", "recorded with the run", "cancelled from the CLI")
      .action(async (id: string, opts: Target & { reason: string }) => {
        const runs = await open(opts);
        try {
          const r = await runs.cancel(id, opts.reason);
          say(`${r.id}: ${RunState[r.state].toLowerCase()}`);
        } finally {
          await runs.close();
        }
      }),
  );
  run.addCommand(exportCommand());
  return run;
}
