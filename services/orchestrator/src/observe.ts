// What an operator sees of runs: a log line per run and stage transition (ids, counts, durations)
// and Prometheus gauges of runs by state and of each running stage's items, read at scrape time.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { RunState, StageState, type RunEvent } from "@isrdpo/contracts";
import { stageName, type Orchestrator } from "@isrdpo/orchestration";
import { gauge, type Logger } from "@isrdpo/runtime";

const secondsOf = (e: RunEvent) => (e.time ? timestampDate(e.time).getTime() / 1000 : Date.now() / 1000);

/** Logs run and stage transitions; a stage's end carries its duration. */
export function transitionLogger(logger: Logger): (e: RunEvent) => void {
  const started = new Map<string, number>();
  return (e) => {
    const stage = stageName(e.stage);
    const ids = { runId: e.runId, iteration: e.iteration, ...(e.stage ? { stage } : {}), sequence: Number(e.sequence) };
    switch (e.kind.case) {
      case "runStateChanged":
        logger.info({ ...ids, state: RunState[e.kind.value.state], reason: e.kind.value.reason || undefined }, "run state");
        return;
      case "stageStateChanged": {
        const key = `${e.runId}/${e.iteration}/${e.stage}`;
        const state = e.kind.value.state;
        if (state === StageState.RUNNING) started.set(key, secondsOf(e));
        const from = started.get(key);
        if (state !== StageState.RUNNING) started.delete(key);
        const durationS = state !== StageState.RUNNING && from !== undefined ? Math.round((secondsOf(e) - from) * 10) / 10 : undefined;
        logger.info({ ...ids, state: StageState[state], durationS, reason: e.kind.value.reason || undefined }, "stage state");
        return;
      }
      case "shardProgress": {
        const p = e.kind.value;
        logger.info(
          {
            ...ids,
            shard: p.shardIndex,
            shardsDone: p.shardsDone,
            shardsTotal: p.shardsTotal,
            itemsDone: p.itemsDone,
            itemsTotal: p.itemsTotal,
            itemsFailed: p.itemsFailed,
          },
          "shard done",
        );
        return;
      }
      default:
        return;
    }
  };
}

/** The engines of this process (one per served orchestrator), read by the gauges at scrape time. */
const engines = new Set<Orchestrator>();

/**
 * isrdpo_runs{state} and, for runs not ended, isrdpo_stage_items{run_id, iteration, stage,
 * kind=done|total|failed}. Returns the function that stops counting this engine's runs.
 */
export function runGauges(engine: Orchestrator): () => void {
  engines.add(engine);
  gauge({
    name: "isrdpo_runs",
    help: "Runs known to the orchestrator, by state.",
    labelNames: ["state"],
    async collect() {
      this.reset();
      const runs = (await Promise.all([...engines].map((e) => e.listRuns({ pageSize: 1000 })))).flatMap((l) => l.runs);
      for (const state of Object.values(RunState).filter((v): v is RunState => typeof v === "number" && v !== RunState.UNSPECIFIED))
        this.set({ state: RunState[state].toLowerCase() }, runs.filter((r) => r.state === state).length);
      const items = stageItems;
      items.reset();
      for (const run of runs) {
        if (run.state === RunState.SUCCEEDED || run.state === RunState.FAILED || run.state === RunState.CANCELLED) continue;
        for (const it of run.iterations)
          for (const s of it.stages) {
            if (s.state !== StageState.RUNNING) continue;
            const labels = { run_id: run.id, iteration: String(it.iteration), stage: stageName(s.stage) };
            items.set({ ...labels, kind: "done" }, s.itemsDone);
            items.set({ ...labels, kind: "total" }, s.itemsTotal);
            items.set({ ...labels, kind: "failed" }, s.itemsFailed);
          }
      }
    },
  });
  const stageItems = gauge({
    name: "isrdpo_stage_items",
    help: "Items of each running stage of the runs that have not ended: done, total, failed (set when isrdpo_runs is collected).",
    labelNames: ["run_id", "iteration", "stage", "kind"],
  });
  return () => engines.delete(engine);
}
