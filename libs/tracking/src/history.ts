// A training job's metrics history: one JSON object per logged step, with TRL's log_history names
// (loss, learning_rate, grad_norm, epoch, step, rewards/*, logps/*), so TRL users' tools read it.

/** One logged step (or one evaluation): numbers by name; `step` is always there. */
export type HistoryRecord = Record<string, number> & { step: number };

/** What the training loop reports per optimizer step (StepMetrics of @isrdpo/train, structurally). */
export interface StepReport {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm?: number;
  tokensPerSecond?: number;
  metrics: Record<string, number>;
}

export function stepRecord(m: StepReport, wallTimeSec: number): HistoryRecord {
  return {
    step: m.step,
    epoch: m.epoch,
    loss: m.loss,
    learning_rate: m.lr,
    ...(m.gradNorm !== undefined ? { grad_norm: m.gradNorm } : {}),
    ...(m.tokensPerSecond !== undefined ? { tokens_per_second: m.tokensPerSecond } : {}),
    ...m.metrics,
    wall_time: wallTimeSec,
  };
}

/**
 * A job's history as it grows. A job resumed from a checkpoint logs steps again from there: a step
 * replaces every record from that step on, so the history never holds two runs of one step.
 */
export class MetricsHistory {
  readonly records: HistoryRecord[];
  constructor(records: readonly HistoryRecord[] = []) {
    this.records = [...records];
  }

  add(record: HistoryRecord): void {
    let keep = this.records.length;
    while (keep > 0 && this.records[keep - 1]!.step >= record.step) keep--;
    this.records.length = keep;
    this.records.push(record);
  }
}

export const toJsonl = (records: readonly HistoryRecord[]): string => records.map((r) => `${JSON.stringify(r)}\n`).join("");

/** Parses a JSONL history; a bad line fails naming the source and the line number. */
export function parseJsonl(text: string, source: string): HistoryRecord[] {
  const out: HistoryRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new Error(`${source}:${i + 1}: not JSON (${(err as Error).message})`);
    }
    if (typeof value !== "object" || value === null || typeof (value as { step?: unknown }).step !== "number")
      throw new Error(`${source}:${i + 1}: expected an object with a numeric "step"`);
    out.push(value as HistoryRecord);
  });
  return out;
}

/** Where a training job's history lives in the artifact store (job ids are artifact-path safe). */
export const jobHistoryUri = (jobId: string) => `artifact://jobs/${jobId}/metrics.jsonl`;
export const jobEventsUri = (jobId: string) => `artifact://jobs/${jobId}/events.out.tfevents.isrdpo`;
