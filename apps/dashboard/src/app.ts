// The dashboard in the browser: lists runs (ListRuns), follows one live (WatchRun; WatchJob for its
// training jobs) over Connect-Web on the page's own origin, and draws the run report's charts with
// the same Vega-Lite specs as `isrdpo report`.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { RunService, RunState, Stage, StageState, TrainerService, type Run, type RunEvent } from "@isrdpo/contracts";
import {
  ITERATION_COLUMNS,
  iterationCells,
  iterationChartSpecs,
  iterationRows,
  nothingToTrain,
  raw,
  renderSvg,
  table,
  trainingChartSpecs,
} from "@isrdpo/report";
import { parseJsonl, type HistoryRecord } from "@isrdpo/tracking";

const $ = (id: string) => document.getElementById(id)!;
const TOKEN_KEY = "isrdpo.token";
const token = () => sessionStorage.getItem(TOKEN_KEY) ?? "";
const bearer = (): Record<string, string> => (token() ? { authorization: `Bearer ${token()}` } : {});

const auth: Interceptor = (next) => (req) => {
  for (const [k, v] of Object.entries(bearer())) req.header.set(k, v);
  return next(req);
};
const transport = createConnectTransport({ baseUrl: location.origin, interceptors: [auth] });
const runs = createClient(RunService, transport);
const trainer = createClient(TrainerService, transport);

const state = (s: RunState) => RunState[s].toLowerCase();
const age = (run: Run) => {
  const t = run.createTime ? Number(run.createTime.seconds) * 1000 : Date.now();
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
};

function status(text: string) {
  $("status").textContent = text;
}

/** Shows the token form after an UNAUTHENTICATED answer; the token lives in this tab's session only. */
function needToken(err: unknown): boolean {
  if (ConnectError.from(err).code !== Code.Unauthenticated) return false;
  $("token-form").classList.add("shown");
  status("this server needs a bearer token");
  return true;
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, ($("token") as HTMLInputElement).value);
  $("token-form").classList.remove("shown");
  void refreshList();
});

async function refreshList(): Promise<void> {
  try {
    const { runs: list } = await runs.listRuns({ pageSize: 100 });
    const rows = list.map((r) => ({
      run: raw(`<a href="#run=${r.id}" data-run-id="${r.id}">${r.id}</a>`), // run ids are [A-Za-z0-9_-]
      name: r.spec?.name ?? "",
      state: state(r.state),
      iteration: `${r.currentIteration}/${r.spec?.iterations ?? "?"}`,
      age: age(r),
    }));
    $("runs").innerHTML = table(rows, ["run", "name", "state", "iteration", "age"]);
    status(`${list.length} run(s) · updated ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    if (!needToken(err)) status(`cannot list runs: ${ConnectError.from(err).message}`);
  }
}

/** Everything about the run being followed; a new selection aborts the old one. */
let following: AbortController | undefined;

async function follow(runId: string): Promise<void> {
  following?.abort();
  const abort = new AbortController();
  following = abort;
  const curves = new Map<string, { label: string; steps: HistoryRecord[] }>();
  const watchedJobs = new Set<string>();
  $("run").hidden = false;
  $("run-title").textContent = `run ${runId}`;
  $("log").textContent = "";
  $("training").innerHTML = "";

  let drawing = false;
  let again = false;
  const draw = async () => {
    if (drawing) return void (again = true);
    drawing = true;
    try {
      const { run } = await runs.getRun({ runId }, { signal: abort.signal });
      if (!run || abort.signal.aborted) return;
      $("run-state").textContent = state(run.state) + (run.failureReason ? `: ${run.failureReason}` : "");
      $("run-iteration").textContent = `${run.currentIteration} of ${run.spec?.iterations ?? "?"}`;
      const rows = iterationRows(run);
      $("table").innerHTML =
        table(rows.map(iterationCells), [...ITERATION_COLUMNS]) +
        nothingToTrain(rows)
          .map((w) => `<p><strong>warning:</strong> ${w}</p>`)
          .join("");
      $("charts").innerHTML = (await Promise.all(iterationChartSpecs(run).map(renderSvg))).join("");
      const training = [...curves.values()].filter((c) => c.steps.length > 0).flatMap(trainingChartSpecs);
      $("training").innerHTML = (await Promise.all(training.map(renderSvg))).join("");
    } finally {
      drawing = false;
      if (again) {
        again = false;
        void draw();
      }
    }
  };

  const watchJob = async (jobId: string, label: string) => {
    if (watchedJobs.has(jobId)) return;
    watchedJobs.add(jobId);
    const curve = { label, steps: [] as HistoryRecord[] };
    curves.set(jobId, curve);
    // What the job logged before this page looked: its stored history.
    const stored = await fetch(`jobs/${encodeURIComponent(jobId)}/metrics.jsonl`, { headers: bearer(), signal: abort.signal });
    if (stored.ok) curve.steps = parseJsonl(await stored.text(), jobId);
    try {
      for await (const { job } of trainer.watchJob({ jobId }, { signal: abort.signal })) {
        const p = job?.progress;
        if (!p || p.step === 0) continue;
        curve.steps = curve.steps.filter((s) => s.step < p.step);
        curve.steps.push({ step: p.step, loss: p.loss, learning_rate: p.learningRate, ...p.metrics });
        void draw();
      }
    } catch {
      // The trainer may live in another process (WatchJob is then not on this port): the stored
      // history, refreshed with the run's events, is what the page shows.
    }
  };

  const refreshJobs = async () => {
    const res = await fetch(`runs/${encodeURIComponent(runId)}/jobs.json`, { headers: bearer(), signal: abort.signal });
    if (!res.ok) return;
    const jobs = (await res.json()) as Array<{ jobId: string; label: string }>;
    for (const j of jobs) void watchJob(j.jobId, j.label);
  };

  const log = (e: RunEvent) => {
    const where = e.stage === Stage.UNSPECIFIED ? "run" : `iter ${e.iteration} ${Stage[e.stage].toLowerCase()}`;
    const what =
      e.kind.case === "runStateChanged"
        ? state(e.kind.value.state)
        : e.kind.case === "stageStateChanged"
          ? StageState[e.kind.value.state].toLowerCase()
          : e.kind.case === "shardProgress"
            ? `items ${e.kind.value.itemsDone}/${e.kind.value.itemsTotal}`
            : (e.kind.case ?? "");
    $("log").textContent += `#${e.sequence} ${where} ${what}\n`;
    $("log").scrollTop = $("log").scrollHeight;
  };

  await draw();
  await refreshJobs();
  try {
    for await (const { event } of runs.watchRun({ runId }, { signal: abort.signal })) {
      if (!event) continue;
      log(event);
      if (event.kind.case === "stageStateChanged" && (event.stage === Stage.SFT || event.stage === Stage.TRAIN)) await refreshJobs();
      void draw();
    }
  } catch (err) {
    if (abort.signal.aborted) return;
    if (!needToken(err)) status(`lost run ${runId}: ${ConnectError.from(err).message}`);
  }
  await draw();
}

const fromHash = () => /run=([A-Za-z0-9_-]+)/.exec(location.hash)?.[1];
window.addEventListener("hashchange", () => {
  const id = fromHash();
  if (id) void follow(id);
});
void refreshList();
setInterval(() => void refreshList(), 2000);
const initial = fromHash();
if (initial) void follow(initial);
