// Entry of every pool thread: TypeScript through tsx's loader (hooks of the parent thread do not
// reach a worker in Node 20), then the pool's script.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.script);
