export { WorkerPool, PoolAbortError, PoolClosedError, WorkerCrashError, type PoolOptions } from "./pool.ts";
export { serveInWorker, type WorkerHandler } from "./worker.ts";
