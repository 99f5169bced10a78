// What a person reads about a run: a progress line per event while it runs, and at the end one row
// per iteration (iteration 0 is π_1) with the numbers that say whether the model got better.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { stageName } from "@isrdpo/orchestration";
import { JobState, RunState, Stage, StageState, type Job, type RunEvent, type SplitMetrics } from "@isrdpo/contracts";
import { ITERATION_COLUMNS, iterationCells, type IterationRow } from "@isrdpo/report";

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const where = (e: RunEvent) =>
  e.stage === Stage.UNSPECIFIED ? "run" : e.iteration > 0 ? `iter ${e.iteration} ${stageName(e.stage)}` : stageName(e.stage);

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/**
 * Turns run events into progress lines: stage, done / total, rate and ETA. Times come from the
 * events themselves when they carry one, so a replay (watching a run that started earlier, or a
 * reconnect) shows when things happened and the rates they happened at, not the replay's speed.
 */
export class ProgressPrinter {
  readonly #startedAt = new Map<string, number>();
  readonly #lastJobLine = new Map<string, number>();
  #now = 0;
  #t0: number | undefined;
  constructor(
    private readonly write: (line: string) => void,
    private readonly clock: () => number = Date.now,
  ) {}

  #stamp(): string {
    return `[${duration(this.#now - (this.#t0 ?? this.#now)).padStart(6)}]`;
  }

  event(e: RunEvent): void {
    this.#now = e.time ? timestampDate(e.time).getTime() : this.clock();
    this.#t0 ??= this.#now;
    const key = `${e.iteration}/${e.stage}`;
    switch (e.kind.case) {
      case "runStateChanged":
        this.write(
          `${this.#stamp()} run ${RunState[e.kind.value.state].toLowerCase()}${e.kind.value.reason ? `: ${e.kind.value.reason}` : ""}`,
        );
        return;
      case "stageStateChanged": {
        const state = e.kind.value.state;
        if (state === StageState.RUNNING) this.#startedAt.set(key, this.#now);
        const took =
          state !== StageState.RUNNING && this.#startedAt.has(key) ? ` in ${duration(this.#now - this.#startedAt.get(key)!)}` : "";
        this.write(
          `${this.#stamp()} ${where(e)} ${StageState[state].toLowerCase()}${took}${e.kind.value.reason ? `: ${e.kind.value.reason}` : ""}`,
        );
        return;
      }
      case "shardProgress": {
        const p = e.kind.value;
        const elapsed = (this.#now - (this.#startedAt.get(key) ?? this.#now)) / 1000;
        const rate = elapsed > 0 ? p.itemsDone / elapsed : 0;
        const eta = rate > 0 ? ` ETA ${duration(((p.itemsTotal - p.itemsDone) / rate) * 1000)}` : "";
        const failed = p.itemsFailed ? `, ${p.itemsFailed} failed` : "";
        this.write(
          `${this.#stamp()} ${where(e)} shards ${p.shardsDone}/${p.shardsTotal}, items ${p.itemsDone}/${p.itemsTotal}${failed} (${rate.toFixed(1)} items/s${eta})`,
        );
        return;
      }
      case "evaluationCompleted": {
        const r = e.kind.value.report;
        const parts = (r?.splits ?? []).map((s) => `${s.split} acc ${pct(s.accuracy)} score ${s.meanScore.toFixed(2)}`);
        this.write(`${this.#stamp()} ${where(e)} evaluation: ${parts.join(", ")}`);
        return;
      }
      default:
        return;
    }
  }

  /** A training job's progress, at most every `everyMs`. */
  job(label: string, job: Job, everyMs = 10_000): void {
    const p = job.progress;
    const last = this.#lastJobLine.get(job.id) ?? 0;
    const ended = job.state !== JobState.RUNNING && job.state !== JobState.QUEUED;
    if (!p || (!ended && this.clock() - last < everyMs)) return;
    this.#lastJobLine.set(job.id, this.clock());
    this.#now = this.clock();
    this.#t0 ??= this.#now;
    // ETA from the job's own start, when the trainer reported it.
    const elapsed = job.createTime ? this.clock() - timestampDate(job.createTime).getTime() : 0;
    const eta = elapsed > 0 && p.step > 0 && p.totalSteps > p.step ? ` ETA ${duration((elapsed / p.step) * (p.totalSteps - p.step))}` : "";
    const margins = p.metrics["rewards/margins"];
    const extra = margins !== undefined ? ` margin ${margins.toFixed(3)} acc ${pct(p.metrics["rewards/accuracies"] ?? 0)}` : "";
    const note = ended && job.failureReason ? ` (${job.failureReason})` : "";
    this.write(`${this.#stamp()} ${label} step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)}${extra}${eta}${note}`);
  }
}

/** The iteration table as Markdown (also valid as plain text in a terminal): "–" where nothing was
 * measured, "n/a" where nothing could be (no decisive pair). */
export function iterationTable(rows: IterationRow[]): string {
  const header = `| ${ITERATION_COLUMNS.join(" | ")} |`;
  const lines = rows.map((r) => {
    const cells = iterationCells(r);
    return `| ${ITERATION_COLUMNS.map((c) => cells[c]).join(" | ")} |`;
  });
  return [header, `|${"---|".repeat(ITERATION_COLUMNS.length)}`, ...lines].join("\n");
}

/** A model's metrics per split and question type (`isrdpo eval`). */
export function splitTable(splits: SplitMetrics[]): string {
  const rows = splits.flatMap((s) => [
    `| ${s.split} | all | ${s.items} | ${pct(s.accuracy)} | ${s.meanScore.toFixed(2)} | – | ${pct(s.claimPrecision)} | ${pct(s.claimRecall)} | ${s.meanAnswerWords.toFixed(1)} |`,
    ...s.byQuestionType.map(
      (t) =>
        `| ${s.split} | ${t.questionType} | ${t.items} | ${t.questionType === "open" ? "–" : pct(t.accuracy)} | ${t.meanScore.toFixed(2)} | ${t.questionType === "open" ? "–" : pct(t.chanceAccuracy)} | | | |`,
    ),
  ]);
  return [
    "| split | question type | items | accuracy | score (0–5) | chance | claim precision | claim recall | words |",
    `|${"---|".repeat(9)}`,
    ...rows,
  ].join("\n");
}
