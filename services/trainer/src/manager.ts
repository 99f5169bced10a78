// Jobs of this trainer: one runs at a time, the others wait in order. Run-driven jobs arrive on the
// "train" work queue; TrainerService.StartJob adds jobs directly. State is kept in memory for the
// life of the process (a run's jobs are also recorded by the orchestrator).
import { create, clone } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { JobProgressSchema, JobSchema, JobState, ModelRefSchema, type Job, type JobSpec } from "@isrdpo/contracts";
import type { ServiceContext } from "@isrdpo/runtime";
import { runJob } from "./jobs.ts";

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
      try {
        const outcome = await runJob(this.ctx, jobId, spec, {
          seed,
          signal: entry.abort.signal,
          onProgress: (m) =>
            update((j) => {
              j.progress = create(JobProgressSchema, {
                step: m.step,
                totalSteps: m.totalSteps,
                epoch: m.epoch,
                loss: m.loss,
                learningRate: m.lr,
                metrics: m.metrics,
              });
            }),
        });
        update((j) => {
          j.state = JobState.SUCCEEDED;
          j.outputModel = create(ModelRefSchema, outcome.model);
          if (outcome.note) j.failureReason = outcome.note;
        });
      } catch (err) {
        const reason = (err as Error).message;
        this.ctx.logger.error({ err, jobId }, "training job failed");
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
