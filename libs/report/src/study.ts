// An ablation study: one run per (seed, judge, context mode) on the same π_1 per seed, summarised
// per (judge, context mode, iteration) as mean ± sd over seeds — the numbers, the curves (ISR-DPO
// Fig. 4's length plots among them) and the table of the last iteration (its Table 5).
import type { TopLevelSpec } from "vega-lite";
import type { Run } from "@isrdpo/contracts";
import { lineChartSpec, renderSvg, type Series } from "./charts.ts";
import { chartRow, htmlPage, pre, table } from "./html.ts";
import { iterationRows } from "./run.ts";

/** One run of the grid. */
export interface StudyRun {
  seed: number;
  judge: string;
  contextMode: string;
  run: Run;
}

/** The numbers of one iteration of one run (undefined: not measured, or n/a). */
export interface StudyValues {
  accIn?: number;
  accOut?: number;
  scoreIn?: number;
  scoreOut?: number;
  claimPrecisionIn?: number;
  claimPrecisionOut?: number;
  wordsIn?: number;
  /** Mean words of the chosen answers of decisive pairs (ISR-DPO Fig. 4). */
  chosenWords?: number;
  lengthRatio?: number;
  /** Decisive pairs / judged items. */
  decisiveRate?: number;
  judgeOracle?: number;
}

export const STUDY_METRICS: readonly { key: keyof StudyValues; title: string; percent: boolean }[] = [
  { key: "accIn", title: "accuracy (test-in)", percent: true },
  { key: "accOut", title: "accuracy (test-out)", percent: true },
  { key: "scoreIn", title: "score (test-in)", percent: false },
  { key: "scoreOut", title: "score (test-out)", percent: false },
  { key: "claimPrecisionIn", title: "claim precision (test-in)", percent: true },
  { key: "claimPrecisionOut", title: "claim precision (test-out)", percent: true },
  { key: "wordsIn", title: "answer words (test-in)", percent: false },
  { key: "chosenWords", title: "chosen answer words", percent: false },
  { key: "lengthRatio", title: "chosen / rejected length", percent: false },
  { key: "decisiveRate", title: "decisive-pair rate", percent: true },
  { key: "judgeOracle", title: "judge–oracle agreement (decisive pairs)", percent: true },
];

/** Per iteration of a run: the evaluation of the model it produced (0: π_1) and its preferences. */
export function studyValues(run: Run): { iteration: number; values: StudyValues }[] {
  const stats = new Map(run.iterations.map((it) => [it.iteration, it.preferences]));
  return iterationRows(run).map((r) => {
    const v: StudyValues = {};
    const tin = r.splits["test-in"];
    const tout = r.splits["test-out"];
    if (tin) Object.assign(v, { accIn: tin.accuracy, scoreIn: tin.score, claimPrecisionIn: tin.claimPrecision, wordsIn: tin.answerWords });
    if (tout) Object.assign(v, { accOut: tout.accuracy, scoreOut: tout.score, claimPrecisionOut: tout.claimPrecision });
    if (r.pairs !== undefined && r.pairs > 0) {
      v.decisiveRate = r.decisive! / r.pairs;
      v.lengthRatio = r.lengthRatio;
      v.judgeOracle = r.judgeOracle;
      if (r.decisive! > 0) v.chosenWords = stats.get(r.iteration)?.meanChosenWords;
    }
    return { iteration: r.iteration, values: v };
  });
}

/** Mean and sample standard deviation (0 for one value) of the defined values; n: how many. */
export interface Summary {
  mean: number;
  sd: number;
  n: number;
}

export function summarise(xs: readonly (number | undefined)[]): Summary | undefined {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  if (v.length === 0) return undefined;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, sd, n: v.length };
}

/** One arm of the grid (a judge with a context mode) at one iteration, over seeds. */
export interface StudyCell {
  judge: string;
  contextMode: string;
  iteration: number;
  seeds: number[];
  metrics: Partial<Record<keyof StudyValues, Summary>>;
}

export const armName = (c: { judge: string; contextMode: string }) => `${c.contextMode} · ${c.judge}`;

/** Mean ± sd over seeds per (judge, context mode, iteration), arms in the order they first appear. */
export function studyCells(runs: readonly StudyRun[]): StudyCell[] {
  const groups = new Map<
    string,
    { judge: string; contextMode: string; iteration: number; rows: { seed: number; values: StudyValues }[] }
  >();
  for (const r of runs) {
    for (const { iteration, values } of studyValues(r.run)) {
      const key = `${r.judge}\u0000${r.contextMode}\u0000${iteration}`;
      const g = groups.get(key) ?? { judge: r.judge, contextMode: r.contextMode, iteration, rows: [] };
      g.rows.push({ seed: r.seed, values });
      groups.set(key, g);
    }
  }
  return [...groups.values()].map((g) => ({
    judge: g.judge,
    contextMode: g.contextMode,
    iteration: g.iteration,
    seeds: g.rows.map((r) => r.seed),
    metrics: Object.fromEntries(
      STUDY_METRICS.flatMap(({ key }) => {
        const s = summarise(g.rows.map((r) => r.values[key]));
        return s ? [[key, s]] : [];
      }),
    ),
  }));
}

/** The study's curves: one line per arm over iterations, ±sd bands. */
export function studyChartSpecs(cells: readonly StudyCell[]): TopLevelSpec[] {
  const arms = [...new Map(cells.map((c) => [armName(c), c])).values()];
  return STUDY_METRICS.map(({ key, title, percent }) => {
    const series: Series[] = arms.map((a) => ({
      name: armName(a),
      points: cells
        .filter((c) => armName(c) === armName(a) && c.metrics[key])
        .map((c) => ({ x: c.iteration, y: c.metrics[key]!.mean, sd: c.metrics[key]!.sd })),
    }));
    return lineChartSpec({
      title,
      xTitle: "iteration (0: π_1)",
      yTitle: title,
      series: series.filter((s) => s.points.length > 0),
      ...(percent ? { yFormat: ".0%", yDomain: [0, 1] as [number, number] } : {}),
    });
  });
}

const fmt = (s: Summary | undefined, percent: boolean) =>
  s === undefined
    ? "n/a"
    : percent
      ? `${(100 * s.mean).toFixed(1)} ± ${(100 * s.sd).toFixed(1)}%`
      : `${s.mean.toFixed(2)} ± ${s.sd.toFixed(2)}`;

/** π_1 and the last iteration of every arm, mean ± sd over seeds (ISR-DPO Table 5's shape). */
export function studyTable(cells: readonly StudyCell[]): Record<string, string>[] {
  const last = Math.max(...cells.map((c) => c.iteration));
  const pi1 = cells.filter((c) => c.iteration === 0).slice(0, 1);
  const rows = [
    ...pi1.map((c) => ({ ...c, label: "π_1 (SFT)" })),
    ...cells.filter((c) => c.iteration === last).map((c) => ({ ...c, label: armName(c) })),
  ];
  return rows.map((c) => ({
    arm: c.label,
    iteration: String(c.iteration),
    seeds: String(c.seeds.length),
    ...Object.fromEntries(STUDY_METRICS.map(({ key, title, percent }) => [title, fmt(c.metrics[key], percent)])),
  }));
}

export interface StudyReportInput {
  cells: readonly StudyCell[];
  /** The command that produced the study and what it covered, shown under the title. */
  command: string;
  /** Anything else to show verbatim (settings, durations). */
  notes?: string;
}

/** The study as one self-contained HTML page: the table, then the curves. */
export async function studyReportHtml(input: StudyReportInput): Promise<string> {
  const svgs = await Promise.all(studyChartSpecs(input.cells).map((s) => renderSvg(s)));
  const rows = studyTable(input.cells);
  const columns = ["arm", "iteration", "seeds", ...STUDY_METRICS.map((m) => m.title)];
  return htmlPage({
    title: "isrdpo study",
    subtitle: input.command,
    sections: [
      { heading: "π_1 and the last iteration (mean ± sd over seeds)", html: table(rows, columns) },
      { heading: "Per iteration (mean, band: ± sd over seeds)", html: chartRow(svgs) },
      ...(input.notes ? [{ heading: "Settings", html: pre(input.notes) }] : []),
    ],
  });
}
