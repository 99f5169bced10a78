// The thread side of a WorkerPool: answers each request with the handler's result or its error.
import { parentPort } from "node:worker_threads";
import type { Answer } from "./pool.ts";

export type WorkerHandler = (request: unknown) => Promise<{ value: unknown; transfer?: ArrayBuffer[] }>;

/** Serves requests one at a time (the pool sends a thread one request at a time). */
export function serveInWorker(handler: WorkerHandler): void {
  if (!parentPort) throw new Error("serveInWorker: not in a worker thread");
  const port = parentPort;
  port.on("message", (request: unknown) => {
    handler(request).then(
      ({ value, transfer }) => port.postMessage({ kind: "isrdpo-pool-answer", ok: true, value } satisfies Answer, transfer ?? []),
      (err: unknown) =>
        port.postMessage({
          kind: "isrdpo-pool-answer",
          ok: false,
          error: err instanceof Error ? err.message : String(err),
        } satisfies Answer),
    );
  });
}
