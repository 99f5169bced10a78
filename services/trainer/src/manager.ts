// Jobs of this trainer: one runs at a time, the others wait in order. Run-driven jobs arrive on the
// "train" work queue; TrainerService.StartJob adds jobs directly. State is kept in memory for the
// life of the process (a run's jobs are also recorded by the orchestrator).
import { rm } from "node:fs/promises";
import { create, clone } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  JobKind,
  JobProgressSchema,
  JobSchema,
  JobState,
  ModelRefSchema,
  type ArtifactRef,
  type Job,
  type JobSpec,
} from "@isrdpo/contracts";
import { counter, gauge, type ServiceContext } from "@isrdpo/runtime";
import { eventFile, jobEventsUri, jobHistoryUri, MetricsHistory, parseJsonl, stepRecord, toJsonl } from "@isrdpo/tracking";
import { jobCheckpointDir, runJob } from "./jobs.ts";

const trainSteps = counter({ name: "isrdpo_train_steps_total", help: "Optimizer steps done, by job kind.", labelNames: ["kind"] });
const trainLoss = gauge({ name: "isrdpo_train_loss", help: "Loss of the latest optimizer step, by job kind.", labelNames: ["kind"] });
const trainTokens = gauge({
  name: "isrdpo_train_tokens_per_second",
  help: "Tokens (visual + text) per second of the latest optimizer step, by job kind.",
  labelNames: ["kind"],
});

/** How often a running job's metrics history is written to the artifact store (and at its end). */
const HISTORY_FLUSH_MS = 10_000;

/**
 * A job's metrics history in the artifact store: JSONL (TRL names) and a TensorBoard event file,
 * rewritten every HISTORY_FLUSH_MS while it runs. A restarted job continues the stored history.
 */
async function historyWriter(ctx: ServiceContext, jobId: string, onWritten: (ref: ArtifactRef) => void) {
  const uri = jobHistoryUri(jobId);
  const stored = (await ctx.artifacts.stat(uri)) ? parseJsonl(new TextDecoder().decode(await ctx.artifacts.get(uri)), uri) : [];
  const history = new MetricsHistory(stored);
  const start = stored[0]?.wall_time ?? Date.now() / 1000;
  let written = history.records.length;
  let lastWrite = Date.now();
  let writing: Promise<void> = Promise.resolve();
  const write = () =>
    (writing = writing.then(async () => {
      if (history.records.length === written) return;
      written = history.records.length;
      const records = [...history.records];
      onWritten(await ctx.artifacts.put(uri, new TextEncoder().encode(toJsonl(records)), "application/jsonl"));
      await ctx.artifacts.put(jobEventsUri(jobId), eventFile(records, start));
    }));
  return {
    add(m: Parameters<typeof stepRecord>[0]) {
      history.add(stepRecord(m, Date.now() / 1000));
      if (Date.now() - lastWrite < HISTORY_FLUSH_MS) return;
      lastWrite = Date.now();
      write().catch((err: unknown) => ctx.logger.warn({ err, jobId }, "metrics history not written; retried at the next flush"));
    },
    /** The final write; its failure fails the job (the history is part of its output). */
    close: () => write(),
  };
}

interface Entry {
  job: Job;
  abort: AbortController;
  done: Promise<Job>;
  listeners: Set<() => void>;
}

const TERMINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED]);
export const isTerminal = (state: JobState) => TERMINAL.has(state);

export class JobManager {
  readonly #jobs = new Map<string, Entry>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly ctx: ServiceContext) {}

  get(jobId: string): Job | undefined {
    const e = this.#jobs.get(jobId);
    return e && clone(JobSchema, e.job);
  }

  /** Starts (or returns the existing job of) `jobId`; resolves when it ends. */
  start(jobId: string, spec: JobSpec, seed = 0): { job: Job; done: Promise<Job> } {
    const existing = this.#jobs.get(jobId);
    if (existing) return { job: clone(JobSchema, existing.job), done: existing.done };
    const now = timestampNow();
    const entry: Entry = {
      job: create(JobSchema, { id: jobId, spec, state: JobState.QUEUED, createTime: now, updateTime: now }),
      abort: new AbortController(),
      listeners: new Set(),
      done: undefined as unknown as Promise<Job>,
    };
    const update = (change: (job: Job) => void) => {
      change(entry.job);
      entry.job.updateTime = timestampNow();
      for (const notify of entry.listeners) notify();
    };
    entry.done = (this.#queue = this.#queue.then(async () => {
      if (entry.abort.signal.aborted) {
        update((j) => (j.state = JobState.CANCELLED));
        return clone(JobSchema, entry.job);
      }
      update((j) => (j.state = JobState.RUNNING));
      const kind = JobKind[spec.kind].toLowerCase();
      const t0 = Date.now();
      this.ctx.logger.info({ jobId, kind }, "training job started");
      let history: Awaited<ReturnType<typeof historyWriter>> | undefined;
      try {
        history = await historyWriter(this.ctx, jobId, (ref) => update((j) => (j.metricsHistory = ref)));
        const outcome = await runJob(this.ctx, jobId, spec, {
          seed,
          signal: entry.abort.signal,
          onProgress: (m) => {
            history!.add(m);
            trainSteps.inc({ kind });
            trainLoss.set({ kind }, m.loss);
            trainTokens.set({ kind }, m.tokensPerSecond);
            update((j) => {
              j.progress = create(JobProgressSchema, {
                step: m.step,
                totalSteps: m.totalSteps,
                epoch: m.epoch,
                loss: m.loss,
                learningRate: m.lr,
                metrics: m.metrics,
              });
            });
          },
        });
        await history.close();
        // The model is in the artifact store now; the job's checkpoints only served a resume. A
        // failed or cancelled job keeps them, so running it again resumes.
        await rm(jobCheckpointDir(this.ctx, jobId), { recursive: true, force: true }).catch((err: unknown) =>
          this.ctx.logger.warn({ err, jobId }, "job checkpoints not removed"),
        );
        this.ctx.logger.info(
          {
            jobId,
            kind,
            steps: outcome.steps,
            durationS: (Date.now() - t0) / 1000,
            digest: outcome.model.digest,
            note: outcome.note || undefined,
          },
          "training job succeeded",
        );
        update((j) => {
          j.state = JobState.SUCCEEDED;
          j.outputModel = create(ModelRefSchema, outcome.model);
          if (outcome.evalMetrics) j.evalMetrics = outcome.evalMetrics;
          if (outcome.note) j.failureReason = outcome.note;
        });
      } catch (err) {
        const reason = (err as Error).message;
        this.ctx.logger.error({ err, jobId, kind, durationS: (Date.now() - t0) / 1000 }, "training job failed");
        // The steps a failed or cancelled job made are worth keeping too.
        await history?.close().catch((e: unknown) => this.ctx.logger.warn({ err: e, jobId }, "metrics history not written"));
        update((j) => {
          j.state = entry.abort.signal.aborted ? JobState.CANCELLED : JobState.FAILED;
          j.failureReason = reason;
        });
      }
      return clone(JobSchema, entry.job);
    })) as Promise<Job>;
    this.#jobs.set(jobId, entry);
    return { job: clone(JobSchema, entry.job), done: entry.done };
  }

  cancel(jobId: string): Job | undefined {
    const e = this.#jobs.get(jobId);
    if (!e) return undefined;
    if (!isTerminal(e.job.state)) e.abort.abort();
    return clone(JobSchema, e.job);
  }

  /** The job now and after every change, until it ends. */
  async *watch(jobId: string, signal: AbortSignal): AsyncGenerator<Job> {
    const e = this.#jobs.get(jobId);
    if (!e) return;
    let changed = true;
    const wake: { fn?: () => void } = {};
    const listener = () => {
      changed = true;
      wake.fn?.();
    };
    e.listeners.add(listener);
    signal.addEventListener("abort", listener, { once: true });
    try {
      while (!signal.aborted) {
        if (changed) {
          changed = false;
          yield clone(JobSchema, e.job);
          if (isTerminal(e.job.state)) return;
        }
        await new Promise<void>((resolve) => (wake.fn = resolve));
      }
    } finally {
      e.listeners.delete(listener);
      signal.removeEventListener("abort", listener);
    }
  }
}
