// `isrdpo run …` (defined in ../commands/run.ts): runs on a cluster, through RunService (--server),
// or straight through the bus (--nats) with the same orchestrator engine the service runs.
import { toJson, toJsonString } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { RunEventSchema, RunSchema, RunState, type Run, type RunEvent, type RunSpec } from "@isrdpo/contracts";
import { connectNats } from "@isrdpo/bus";
import { Orchestrator } from "@isrdpo/orchestration";
import { iterationRows, nothingToTrain } from "@isrdpo/report";
import { PROMPT_TEMPLATES } from "@isrdpo/vlm";
import { DEFAULT_SERVER, NATS_CONNECT_TIMEOUT_MS, runClient, trainerClient } from "../client.ts";
import { ProgressPrinter, duration, iterationTable } from "../report.ts";
import { readRunSpec } from "../spec.ts";
import { followRun } from "../watch.ts";

export interface Target {
  server?: string;
  nats?: string;
  trainer?: string;
  output?: "text" | "json";
  /** Seconds `watch` keeps reconnecting to a server that went away (default: RECONNECT_TIMEOUT_S). */
  reconnectTimeout?: number;
}

/** The run operations, over gRPC or over NATS. */
interface Runs {
  create(spec: RunSpec, key: string): Promise<Run>;
  get(id: string): Promise<Run>;
  list(): Promise<Run[]>;
  cancel(id: string, reason: string): Promise<Run>;
  watch(id: string, onEvent: (e: RunEvent) => void, printer: ProgressPrinter): Promise<Run>;
  close(): Promise<void>;
}

async function open(t: Target): Promise<Runs> {
  if (t.nats) {
    const { bus, artifacts } = await connectNats({ servers: t.nats.split(","), connectTimeoutMs: NATS_CONNECT_TIMEOUT_MS });
    const o = new Orchestrator({ bus, artifacts, promptTemplates: PROMPT_TEMPLATES });
    return {
      create: (spec, key) => o.createRun(spec, key),
      get: (id) => o.getRun(id),
      list: async () => (await o.listRuns({ pageSize: 1000 })).runs,
      cancel: (id, reason) => o.cancelRun(id, reason),
      watch: async (id, onEvent) => {
        for await (const e of o.watchRun(id)) onEvent(e);
        return o.getRun(id);
      },
      close: () => bus.close(),
    };
  }
  const server = t.server ?? DEFAULT_SERVER;
  const runs = runClient(server);
  return {
    create: async (spec, key) => (await runs.createRun({ spec, idempotencyKey: key })).run!,
    get: async (id) => (await runs.getRun({ runId: id })).run!,
    list: async () => (await runs.listRuns({ pageSize: 1000 })).runs,
    cancel: async (id, reason) => (await runs.cancelRun({ runId: id, reason })).run!,
    watch: (id, onEvent, printer) =>
      followRun(runs, id, printer, {
        ...(t.trainer ? { trainer: trainerClient(t.trainer) } : {}),
        onEvent,
        server,
        ...(t.reconnectTimeout !== undefined ? { reconnectForMs: t.reconnectTimeout * 1000 } : {}),
        onReconnect: (why, next) =>
          process.stderr.write(`isrdpo: lost connection to ${server}, reconnecting… (${why}; resuming at event ${next})\n`),
      }),
    close: async () => undefined,
  };
}

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const stateOf = (r: Run) => RunState[r.state].toLowerCase();
const ageOf = (r: Run, now = Date.now()) => (r.createTime ? duration(now - timestampDate(r.createTime).getTime()) : "?");

function summary(run: Run): void {
  const rows = iterationRows(run);
  say(iterationTable(rows));
  for (const w of nothingToTrain(rows)) say(`warning: ${w}`);
  say(`run ${run.id}: ${stateOf(run)}${run.failureReason ? ` (${run.failureReason})` : ""}`);
}

async function watchAndReport(runs: Runs, id: string, json: boolean): Promise<void> {
  // -o json: one RunEvent per line as it happens, then the final Run on the last line.
  const onEvent = json ? (e: RunEvent) => say(toJsonString(RunEventSchema, e)) : undefined;
  const printer = new ProgressPrinter(json ? () => undefined : say);
  const run = await runs.watch(id, onEvent ?? ((e) => printer.event(e)), printer);
  if (json) say(toJsonString(RunSchema, run));
  else {
    say("");
    summary(run);
  }
  if (run.state !== RunState.SUCCEEDED) process.exitCode = 1;
}

async function withRuns(t: Target, fn: (runs: Runs) => Promise<void>): Promise<void> {
  const runs = await open(t);
  try {
    await fn(runs);
  } finally {
    await runs.close();
  }
}

export const create = (o: Target & { spec: string; idempotencyKey: string; watch?: boolean }) =>
  withRuns(o, async (runs) => {
    const created = await runs.create(readRunSpec(o.spec), o.idempotencyKey);
    say(o.output === "json" && !o.watch ? toJsonString(RunSchema, created) : created.id);
    if (o.watch) await watchAndReport(runs, created.id, o.output === "json");
  });

export const watch = (id: string, o: Target) => withRuns(o, (runs) => watchAndReport(runs, id, o.output === "json"));

export const get = (id: string, o: Target) =>
  withRuns(o, async (runs) => {
    const run = await runs.get(id);
    if (o.output === "json") return say(toJsonString(RunSchema, run, { prettySpaces: 2 }));
    say(
      `${run.id}  ${run.spec?.name ?? ""}  ${stateOf(run)}  iteration ${run.currentIteration}/${run.spec?.iterations ?? "?"}  age ${ageOf(run)}`,
    );
    say("");
    summary(run);
  });

export const list = (o: Target) =>
  withRuns(o, async (runs) => {
    const all = await runs.list();
    if (o.output === "json") return say(JSON.stringify(all.map((r) => toJson(RunSchema, r))));
    const rows = [
      ["RUN", "STATE", "ITERATION", "AGE", "NAME"],
      ...all.map((r) => [r.id, stateOf(r), `${r.currentIteration}/${r.spec?.iterations ?? "?"}`, ageOf(r), r.spec?.name ?? ""]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) say(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  "));
  });

export const cancel = (id: string, o: Target & { reason: string }) =>
  withRuns(o, async (runs) => {
    const r = await runs.cancel(id, o.reason);
    say(o.output === "json" ? toJsonString(RunSchema, r) : `${r.id}: ${stateOf(r)}`);
  });
