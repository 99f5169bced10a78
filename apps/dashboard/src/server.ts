// The dashboard's HTTP side, on the services' own port (requests that are not RPCs): the page, its
// script (bundled with esbuild on first request and kept in memory), and two small read-only
// endpoints the page needs besides RPCs: a run's training jobs and a job's metrics history.
import { timingSafeEqual } from "node:crypto";
import { fileURLToPath } from "node:url";
import { fromBinary } from "@bufbuild/protobuf";
import { RunRecordSchema } from "@isrdpo/contracts";
import { runKey } from "@isrdpo/orchestration";
import type { NodeHandler, ServiceContext } from "@isrdpo/runtime";
import { jobHistoryUri } from "@isrdpo/tracking";
import { build } from "esbuild";

const APP = fileURLToPath(new URL("./app.ts", import.meta.url));

/**
 * The browser bundle: built from source when first asked for (~1 s), so it can never be stale and no
 * generated megabyte of JavaScript is committed. esbuild is a dependency of this package.
 */
let bundle: Promise<string> | undefined;
export const dashboardBundle = () =>
  (bundle ??= build({
    entryPoints: [APP],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    write: false,
    logLevel: "silent",
  }).then((r) => r.outputFiles[0]!.text));

/** The page; @isrdpo/report (Vega) loads on the first request, not when the orchestrator starts. */
const page = (css: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>isrdpo dashboard</title>
<style>${css}
#runs td:first-child a { font-family: monospace; } .log { max-height: 12rem; overflow-y: auto; }
#token-form { display: none; } #token-form.shown { display: block; }
</style>
</head>
<body>
<h1>isrdpo</h1>
<form id="token-form"><label>Bearer token <input id="token" type="password" autocomplete="off"></label> <button>use</button></form>
<p id="status" class="note">loading…</p>
<section><h2>Runs</h2><div id="runs"></div></section>
<section id="run" hidden>
<h2 id="run-title"></h2>
<p><span id="run-state"></span> · iteration <span id="run-iteration"></span></p>
<div id="table"></div>
<div id="charts" class="charts"></div>
<h2>Training</h2>
<div id="training" class="charts"></div>
<h2>Events</h2>
<pre id="log" class="log"></pre>
</section>
<script type="module" src="app.js"></script>
</body>
</html>
`;

type Req = Parameters<NodeHandler>[0];
type Res = Parameters<NodeHandler>[1];

const send = (res: Res, status: number, type: string, body: string | Uint8Array) => {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
};

function authorized(req: Req, token: string | undefined): boolean {
  if (!token) return true;
  const given = Buffer.from(String(req.headers.authorization ?? ""));
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const RUN_ID = /^[A-Za-z0-9_-]{1,128}$/;
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function dashboardHandler(ctx: ServiceContext): NodeHandler {
  const serve = async (req: Req, res: Res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "dashboard: GET only\n");
    const { jobLabel, PAGE_CSS } = await import("@isrdpo/report");
    if (path === "/" || path === "/index.html") return send(res, 200, "text/html; charset=utf-8", page(PAGE_CSS));
    if (path === "/app.js") return send(res, 200, "text/javascript; charset=utf-8", await dashboardBundle());
    if (path === "/favicon.ico") return send(res, 204, "image/x-icon", "");
    const jobs = /^\/runs\/([^/]+)\/jobs\.json$/.exec(path);
    const history = /^\/jobs\/([^/]+)\/metrics\.jsonl$/.exec(path);
    if (!jobs && !history) return send(res, 404, "text/plain", `not found: ${path} (the dashboard is at /)\n`);
    // Run data: the bearer token applies, as to RPCs.
    if (!authorized(req, ctx.config.grpcToken)) return send(res, 401, "text/plain", "missing or wrong bearer token\n");
    if (jobs) {
      const runId = decodeURIComponent(jobs[1]!);
      const entry = RUN_ID.test(runId) ? await ctx.bus.kvGet(runKey(runId)) : undefined;
      if (!entry) return send(res, 404, "text/plain", `run "${runId}" not found\n`);
      const list = fromBinary(RunRecordSchema, entry.value).jobs.map((j) => ({
        jobId: j.jobId,
        iteration: j.iteration,
        stage: j.stage,
        label: jobLabel(j.iteration, j.stage),
      }));
      return send(res, 200, "application/json", JSON.stringify(list));
    }
    const jobId = decodeURIComponent(history![1]!);
    const uri = JOB_ID.test(jobId) ? jobHistoryUri(jobId) : undefined;
    if (!uri || !(await ctx.artifacts.stat(uri))) return send(res, 404, "text/plain", `no metrics history for job "${jobId}" yet\n`);
    return send(res, 200, "application/jsonl", await ctx.artifacts.get(uri));
  };
  return (req, res) => {
    serve(req, res).catch((err: unknown) => {
      ctx.logger.error({ err, url: req.url }, "dashboard request failed");
      if (!res.headersSent) send(res, 500, "text/plain", `dashboard: ${(err as Error).message}\n`);
      else res.end();
    });
  };
}
