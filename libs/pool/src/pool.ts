// A fixed set of worker threads (node:worker_threads) running one script, fed from a FIFO queue.
// Why threads: the tfjs wasm backend is single-threaded in Node, so one process uses one core; a
// worker thread has its own backend and model cache, so N threads use N cores.
import { Worker } from "node:worker_threads";

export interface PoolOptions {
  /** Threads; each runs one task at a time. */
  size: number;
  /** The worker's module (it calls serveInWorker). */
  script: URL;
  /** Given to every worker: `workerData.data`. */
  workerData?: unknown;
  /** Messages a worker posts besides answers (e.g. log lines). */
  onMessage?: (message: unknown, thread: number) => void;
}

export class PoolClosedError extends Error {
  constructor() {
    super("worker pool: closed");
    this.name = "PoolClosedError";
  }
}

/** A request whose signal aborted: dropped from the queue, or its thread stopped and replaced. */
export class PoolAbortError extends Error {
  constructor(reason: unknown) {
    super(`worker pool: request cancelled${reason instanceof Error ? `: ${reason.message}` : ""}`);
    this.name = "PoolAbortError";
  }
}

export class WorkerCrashError extends Error {
  constructor(thread: number, detail: string) {
    super(`worker thread ${thread} died: ${detail}`);
    this.name = "WorkerCrashError";
  }
}

interface Job {
  request: unknown;
  transfer: ArrayBuffer[];
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  /** Detaches the abort listener once the job is settled. */
  done: () => void;
}

interface Slot {
  index: number;
  worker: Worker;
  job: Job | undefined;
}

/** The answer envelope serveInWorker posts; anything else goes to onMessage. */
export interface Answer {
  kind: "isrdpo-pool-answer";
  ok: boolean;
  value?: unknown;
  error?: string;
}

const isAnswer = (m: unknown): m is Answer => typeof m === "object" && m !== null && (m as Answer).kind === "isrdpo-pool-answer";

const BOOTSTRAP = new URL("./bootstrap.mjs", import.meta.url);

export class WorkerPool<Req = unknown, Res = unknown> {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private closed = false;

  constructor(private readonly opts: PoolOptions) {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new Error(`worker pool: size must be a positive integer, got ${opts.size}`);
    for (let i = 0; i < opts.size; i++) this.slots.push(this.spawn(i));
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * Runs one request on the next free thread; `transfer` moves buffers instead of copying them. When
   * `signal` aborts, a queued request is dropped and a running one's thread is stopped and replaced
   * (a thread cannot be interrupted mid-computation otherwise); either way it rejects with PoolAbortError.
   */
  run(request: Req, transfer: ArrayBuffer[] = [], signal?: AbortSignal): Promise<Res> {
    if (this.closed) return Promise.reject(new PoolClosedError());
    if (signal?.aborted) return Promise.reject(new PoolAbortError(signal.reason));
    return new Promise<Res>((resolve, reject) => {
      const onAbort = () => this.abort(job, signal?.reason);
      const job: Job = {
        request,
        transfer,
        resolve: (v) => {
          job.done();
          resolve(v as Res);
        },
        reject: (err) => {
          job.done();
          reject(err);
        },
        done: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(job);
      this.dispatch();
    });
  }

  private abort(job: Job, reason: unknown): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    const slot = this.slots.find((s) => s.job === job);
    if (slot) {
      // Replace the slot first, so the old thread's exit is not taken for a crash.
      slot.job = undefined;
      this.slots[slot.index] = this.spawn(slot.index);
      void slot.worker.terminate();
    }
    if (queued >= 0 || slot) job.reject(new PoolAbortError(reason));
    this.dispatch();
  }

  /** Stops every thread; queued and running requests are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new PoolClosedError());
    await Promise.all(
      this.slots.map(async (s) => {
        s.job?.reject(new PoolClosedError());
        s.job = undefined;
        await s.worker.terminate();
      }),
    );
  }

  private spawn(index: number): Slot {
    const worker = new Worker(BOOTSTRAP, { workerData: { script: this.opts.script.href, data: this.opts.workerData } });
    const slot: Slot = { index, worker, job: undefined };
    worker.on("message", (m: unknown) => {
      if (!isAnswer(m)) {
        this.opts.onMessage?.(m, index);
        return;
      }
      const job = slot.job;
      slot.job = undefined;
      worker.unref();
      if (job) {
        if (m.ok) job.resolve(m.value);
        else job.reject(new Error(m.error));
      }
      this.dispatch();
    });
    // A thread that dies fails its request (the work queue redelivers it) and is replaced.
    const died = (detail: string) => {
      if (this.closed || this.slots[index]?.worker !== worker) return;
      slot.job?.reject(new WorkerCrashError(index, detail));
      slot.job = undefined;
      this.slots[index] = this.spawn(index);
      this.dispatch();
    };
    worker.on("error", (err) => died(err.message));
    worker.on("exit", (code) => died(`exit code ${code}`));
    worker.unref();
    return slot;
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.job || this.queue.length === 0) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      // A thread with a request keeps the process alive until it answers; an idle one does not.
      slot.worker.ref();
      slot.worker.postMessage(job.request, job.transfer);
    }
  }
}
