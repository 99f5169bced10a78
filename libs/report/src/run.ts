// A run record as numbers per iteration, charts and one HTML page: what `isrdpo report` and `demo`
// write and what the live dashboard draws (the same specs).
import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { JudgeStrategy, RunSpecSchema, RunState, Stage, type Run, type SplitMetrics } from "@isrdpo/contracts";
import type { TopLevelSpec } from "vega-lite";
import { barChartSpec, lineChartSpec, renderSvg, type Series } from "./charts.ts";
import { chartRow, escapeHtml, htmlPage, pre, raw, table, type Html, type Section } from "./html.ts";

export const SPLITS = ["test-in", "test-out"] as const;

export interface SplitRow {
  accuracy: number;
  score: number;
  claimPrecision: number;
  answerWords: number;
}

export interface IterationRow {
  iteration: number;
  /** Evaluation of the model this iteration produced (iteration 0: π_1), by split. */
  splits: Partial<Record<string, SplitRow>>;
  pairs?: number;
  ties?: number;
  /** Pairs the judge decided (pairs − ties): what DPO trains on. */
  decisive?: number;
  /** undefined with `pairs` set: n/a (no decisive pair to measure). */
  lengthRatio?: number;
  judgeOracle?: number;
}

const splitRow = (s: SplitMetrics): SplitRow => ({
  accuracy: s.accuracy,
  score: s.meanScore,
  claimPrecision: s.claimPrecision,
  answerWords: s.meanAnswerWords,
});

/** One row per iteration: evaluation of the model it produced (iteration 0: π_1) and its preferences. */
export function iterationRows(run: Run): IterationRow[] {
  // With the oracle as judge, agreement with the oracle is 100% by construction: not a result.
  const oracleJudge = run.spec?.judge?.strategy === JudgeStrategy.ORACLE;
  return run.iterations.map((it) => {
    const row: IterationRow = {
      iteration: it.iteration,
      splits: Object.fromEntries((it.evaluation?.splits ?? []).map((s) => [s.split, splitRow(s)])),
    };
    const p = it.preferences;
    if (p && p.pairs > 0) {
      row.pairs = p.pairs;
      row.ties = p.ties;
      row.decisive = p.pairs - p.ties;
      // Without a decisive pair there are no chosen/rejected answers to compare: n/a, not 0. The
      // agreement also needs pairs the oracle separates (0 with oracle_decided 0 means none did).
      if (row.decisive > 0) {
        row.lengthRatio = p.chosenRejectedLengthRatio;
        if (!oracleJudge && (p.oracleDecided > 0 || p.judgeOracleAgreement > 0)) row.judgeOracle = p.judgeOracleAgreement;
      }
    }
    return row;
  });
}

/** Iterations whose judge decided no pair: DPO had nothing to train on. */
export function nothingToTrain(rows: readonly IterationRow[]): string[] {
  return rows
    .filter((r) => r.pairs !== undefined && r.decisive === 0)
    .map((r) => `iteration ${r.iteration}: nothing to train: ${r.ties}/${r.pairs} ties`);
}

/**
 * The same numbers as history records (step = iteration; n/a values left out), for the run's
 * evaluations.jsonl and its TensorBoard scalars.
 */
export function evaluationRecords(run: Run): Array<Record<string, number> & { step: number }> {
  return iterationRows(run).map((r) => {
    const rec: Record<string, number> & { step: number } = { step: r.iteration };
    for (const [split, m] of Object.entries(r.splits)) {
      rec[`${split}/accuracy`] = m!.accuracy;
      rec[`${split}/score`] = m!.score;
      rec[`${split}/claim_precision`] = m!.claimPrecision;
      rec[`${split}/answer_words`] = m!.answerWords;
    }
    if (r.pairs !== undefined) {
      rec["preferences/pairs"] = r.pairs;
      rec["preferences/ties"] = r.ties!;
      rec["preferences/decisive"] = r.decisive!;
      if (r.lengthRatio !== undefined) rec["preferences/chosen_rejected_length_ratio"] = r.lengthRatio;
      if (r.judgeOracle !== undefined) rec["preferences/judge_oracle_agreement"] = r.judgeOracle;
    }
    return rec;
  });
}

const perSplit = (rows: readonly IterationRow[], pick: (s: SplitRow) => number): Series[] =>
  SPLITS.map((split) => ({
    name: split,
    points: rows.filter((r) => r.splits[split]).map((r) => ({ x: r.iteration, y: pick(r.splits[split]!) })),
  })).filter((s) => s.points.length > 0);

const X = "iteration (0: π_1)";

/** The per-iteration charts of a run, as Vega-Lite specs. */
export function iterationChartSpecs(run: Run): TopLevelSpec[] {
  const rows = iterationRows(run);
  const prefRows = rows.filter((r) => r.pairs !== undefined);
  const pref = (name: string, pick: (r: IterationRow) => number | undefined): Series => ({
    name,
    points: prefRows.map((r) => ({ x: r.iteration, y: pick(r) ?? null })),
  });
  return [
    lineChartSpec({
      title: "Short-answer accuracy",
      xTitle: X,
      yTitle: "accuracy",
      yFormat: ".0%",
      yDomain: [0, 1],
      series: perSplit(rows, (s) => s.accuracy),
    }),
    lineChartSpec({ title: "Oracle score (0–5)", xTitle: X, yTitle: "score", yDomain: [0, 5], series: perSplit(rows, (s) => s.score) }),
    lineChartSpec({
      title: "Claim precision (1 − hallucination rate)",
      xTitle: X,
      yTitle: "claim precision",
      yFormat: ".0%",
      yDomain: [0, 1],
      series: perSplit(rows, (s) => s.claimPrecision),
    }),
    lineChartSpec({ title: "Answer length", xTitle: X, yTitle: "words per answer", series: perSplit(rows, (s) => s.answerWords) }),
    barChartSpec({
      title: "Judged pairs",
      xTitle: "iteration",
      yTitle: "pairs",
      series: [pref("decisive", (r) => r.decisive), pref("ties", (r) => r.ties)],
    }),
    lineChartSpec({
      title: "Chosen / rejected length (decisive pairs)",
      xTitle: "iteration",
      yTitle: "length ratio",
      series: [pref("chosen/rejected words", (r) => r.lengthRatio)],
    }),
    lineChartSpec({
      title: "Judge–oracle agreement",
      xTitle: "iteration",
      yTitle: "agreement",
      yFormat: ".0%",
      yDomain: [0, 1],
      series: [pref("agreement", (r) => r.judgeOracle)],
    }),
  ];
}

/** What a run's training job is called in reports: SFT of π_1, the seed-preference pass, or iteration t's DPO. */
export const jobLabel = (iteration: number, stage: Stage): string =>
  stage === Stage.SFT ? "SFT of π_1" : iteration === 0 ? "DPO on seed preferences" : `iteration ${iteration} DPO`;

/** One training job's logged steps (TRL's log_history names: loss, rewards/margins, …). */
export interface JobCurve {
  label: string;
  steps: ReadonlyArray<Readonly<Record<string, number>>>;
}

const curve = (job: JobCurve, key: string): Series => ({
  name: key,
  points: job.steps.filter((s) => typeof s[key] === "number").map((s) => ({ x: s.step!, y: s[key]! })),
});

/** Per job: the loss, and for DPO the implicit rewards and their accuracy. */
export function trainingChartSpecs(job: JobCurve): TopLevelSpec[] {
  const specs = [lineChartSpec({ title: `${job.label}: loss`, xTitle: "step", yTitle: "loss", series: [curve(job, "loss")] })];
  const rewards = ["rewards/chosen", "rewards/rejected", "rewards/margins"].map((k) => curve(job, k)).filter((s) => s.points.length > 0);
  if (rewards.length > 0) {
    specs.push(lineChartSpec({ title: `${job.label}: implicit rewards`, xTitle: "step", yTitle: "reward", series: rewards }));
    specs.push(
      lineChartSpec({
        title: `${job.label}: reward accuracy`,
        xTitle: "step",
        yTitle: "rewards/accuracies",
        yFormat: ".0%",
        yDomain: [0, 1],
        series: [curve(job, "rewards/accuracies")],
      }),
    );
  }
  return specs;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The iteration table's cells, as text: "–" where nothing was measured, "n/a" where nothing could be. */
export function iterationCells(r: IterationRow): Record<string, string> {
  const s = (split: string, pick: (s: SplitRow) => number, fmt: (x: number) => string) => {
    const m = r.splits[split];
    return m ? fmt(pick(m)) : "–";
  };
  const pref = (x: number | undefined, fmt: (x: number) => string) => (r.pairs === undefined ? "–" : x === undefined ? "n/a" : fmt(x));
  return {
    iteration: r.iteration === 0 ? "0 (π_1)" : String(r.iteration),
    "acc in": s("test-in", (m) => m.accuracy, pct),
    "score in": s(
      "test-in",
      (m) => m.score,
      (x) => x.toFixed(2),
    ),
    "acc out": s("test-out", (m) => m.accuracy, pct),
    "score out": s(
      "test-out",
      (m) => m.score,
      (x) => x.toFixed(2),
    ),
    "claim precision in": s("test-in", (m) => m.claimPrecision, pct),
    "words in": s(
      "test-in",
      (m) => m.answerWords,
      (x) => x.toFixed(1),
    ),
    "pairs (ties)": r.pairs === undefined ? "–" : `${r.pairs} (${r.ties})`,
    "chosen/rejected length": pref(r.lengthRatio, (x) => x.toFixed(2)),
    "judge–oracle agreement": pref(r.judgeOracle, pct),
  };
}

export const ITERATION_COLUMNS = [
  "iteration",
  "acc in",
  "score in",
  "acc out",
  "score out",
  "claim precision in",
  "words in",
  "pairs (ties)",
  "chosen/rejected length",
  "judge–oracle agreement",
] as const;

export interface RunReportInput {
  run: Run;
  /** Training curves, one per job (SFT of π_1, DPO of each iteration) that has a metrics history. */
  jobs?: readonly JobCurve[];
  /** Files worth opening next to the report, as relative links. */
  links?: ReadonlyArray<{ label: string; href: string }>;
  /** Where the record came from (file path or server), shown under the title. */
  source?: string;
}

const when = (run: Run) => (run.createTime ? timestampDate(run.createTime).toISOString() : "unknown");

/** The whole run report as one self-contained HTML page. */
export async function runReportHtml(input: RunReportInput): Promise<string> {
  const { run } = input;
  const rows = iterationRows(run);
  const warnings = nothingToTrain(rows);
  const summary = table(
    [
      { field: "run", value: run.id },
      { field: "name", value: run.spec?.name },
      { field: "state", value: RunState[run.state].toLowerCase() + (run.failureReason ? `: ${run.failureReason}` : "") },
      { field: "iterations", value: `${run.currentIteration} of ${run.spec?.iterations ?? "?"}` },
      { field: "created", value: when(run) },
    ],
    ["field", "value"],
  );
  const iterCharts = await Promise.all(iterationChartSpecs(run).map(renderSvg));
  const sections: Section[] = [
    { heading: "Run", html: summary },
    {
      heading: "Per iteration",
      html: [
        `<p class="note">Row t: the model iteration t produced (row 0: π_1), evaluated on held-out clips, and the pairs its judge produced. "–": not measured; "n/a": no decisive pair to measure on.</p>`,
        table(rows.map(iterationCells), [...ITERATION_COLUMNS]),
        ...warnings.map((w) => `<p><strong>warning:</strong> ${escapeHtml(w)}</p>`),
        chartRow(iterCharts),
      ].join("\n"),
    },
  ];
  const jobs = input.jobs ?? [];
  for (const job of jobs) {
    sections.push({ heading: `Training: ${job.label}`, html: chartRow(await Promise.all(trainingChartSpecs(job).map(renderSvg))) });
  }
  if (jobs.length === 0)
    sections.push({ heading: "Training", html: `<p class="note">No training metrics history was found for this run.</p>` });
  sections.push({ heading: "Config", html: pre(JSON.stringify(run.spec ? toJson(RunSpecSchema, run.spec) : {}, null, 2)) });
  const templates = Object.entries(run.promptTemplates).sort(([a], [b]) => a.localeCompare(b));
  sections.push({
    heading: "Prompt templates",
    html: templates.length
      ? templates.map(([name, text]) => `<h3>${escapeHtml(name)}</h3>${pre(text)}`).join("\n")
      : "<p>none recorded</p>",
  });
  const links = input.links ?? [];
  if (links.length > 0) {
    const link = (l: { label: string; href: string }): Html => raw(`<a href="${escapeHtml(encodeURI(l.href))}">${escapeHtml(l.label)}</a>`);
    sections.push({
      heading: "Artifacts",
      html: table(
        links.map((l) => ({ file: link(l) })),
        ["file"],
      ),
    });
  }
  return htmlPage({ title: `isrdpo run ${run.id}`, ...(input.source ? { subtitle: `from ${input.source}` } : {}), sections });
}
