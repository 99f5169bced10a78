// A test worker: echoes, fails on request, or dies.
import { threadId } from "node:worker_threads";
import { serveInWorker } from "../src/index.ts";

serveInWorker(async (req) => {
  const r = req as { op: "echo" | "fail" | "die" | "sum" | "spin"; value?: number; data?: Float32Array };
  if (r.op === "spin") {
    // Busy for `value` ms without yielding: only stopping the thread can cut it short.
    const end = Date.now() + (r.value ?? 0);
    while (Date.now() < end);
    return { value: { value: r.value, threadId } };
  }
  if (r.op === "fail") throw new Error(`failed on ${r.value}`);
  if (r.op === "die") process.exit(3);
  if (r.op === "sum") {
    const out = new Float32Array([r.data!.reduce((a, b) => a + b, 0)]);
    return { value: out, transfer: [out.buffer as ArrayBuffer] };
  }
  // Busy for a moment, so several threads get work.
  const until = Date.now() + 30;
  while (Date.now() < until);
  return { value: { value: r.value, threadId } };
});
