// `isrdpo report RUN_ID|run.json --out report.html`: the run report as one self-contained HTML file,
// from a run record file (a demo's run.json) or from a cluster (RunService or NATS).
import { existsSync, readFileSync, statSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fromJson } from "@bufbuild/protobuf";
import { RunSchema, type Run } from "@isrdpo/contracts";
import { connectNats, LocalArtifactStore, redactNatsUrl, type ArtifactStore } from "@isrdpo/bus";
import { Orchestrator } from "@isrdpo/orchestration";
import { runReportHtml } from "@isrdpo/report";
import { DEFAULT_SERVER, NATS_CONNECT_TIMEOUT_MS, runClient } from "../client.ts";
import { jobHistories } from "../outputs.ts";

export interface ReportFlags {
  out: string;
  server?: string;
  nats?: string;
  artifacts?: string;
}

/** Raised for input the report cannot use; main prints its message as one line. */
export class ReportError extends Error {
  override name = "ReportError";
}

function readRunFile(path: string): Run {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ReportError(`${path}: not a JSON run record (${(err as Error).message})`);
  }
  try {
    return fromJson(RunSchema, json as never, { ignoreUnknownFields: true });
  } catch (err) {
    throw new ReportError(`${path}: not a run record: ${(err as Error).message}`);
  }
}

export async function report(target: string, o: ReportFlags, say: (line: string) => void): Promise<void> {
  let run: Run;
  let artifacts: ArtifactStore | undefined = o.artifacts ? new LocalArtifactStore(o.artifacts) : undefined;
  let close: () => Promise<void> = async () => undefined;
  let source: string;
  const out = resolve(o.out);
  const links: Array<{ label: string; href: string }> = [];
  if (existsSync(target) && statSync(target).isFile()) {
    run = readRunFile(target);
    source = target;
    links.push({ label: "run record", href: relative(dirname(out), resolve(target)) });
    // A demo directory keeps its artifact store next to run.json.
    const beside = join(dirname(target), "artifacts");
    if (!artifacts && existsSync(beside)) artifacts = new LocalArtifactStore(beside);
  } else if (/\.json$/i.test(target) || target.includes("/")) {
    throw new ReportError(`${target}: no such file`);
  } else if (o.nats) {
    const nats = await connectNats({ servers: o.nats.split(","), connectTimeoutMs: NATS_CONNECT_TIMEOUT_MS });
    close = () => nats.bus.close();
    artifacts ??= nats.artifacts;
    run = await new Orchestrator({ bus: nats.bus, artifacts: nats.artifacts }).getRun(target);
    source = `run ${target} on ${redactNatsUrl(o.nats)}`;
  } else {
    const server = o.server ?? DEFAULT_SERVER;
    run = (await runClient(server).getRun({ runId: target })).run!;
    source = `run ${target} on ${server}`;
  }
  try {
    const jobs = artifacts ? await jobHistories(run, artifacts) : [];
    if (!artifacts) say("no artifact store given (--artifacts DIR or --nats URL): the report has no training curves");
    await writeFile(out, await runReportHtml({ run, jobs, links, source }));
    say(`wrote ${o.out}: ${run.iterations.length} iterations, ${jobs.length} training curves`);
  } finally {
    await close();
  }
}
