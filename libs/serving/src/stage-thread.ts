// One stage thread of the pool (threads.ts): its own transports (the same artifact store as the
// process), logger (lines go to the main thread) and handlers, built on first use.
import { Writable } from "node:stream";
import { parentPort, workerData } from "node:worker_threads";
import { decodePayload, type WorkHandler } from "@isrdpo/bus";
import { serveInWorker } from "@isrdpo/pool";
import { openTransports, type Config, type ServiceContext } from "@isrdpo/runtime";
import { pino } from "pino";
import { answerBytes, type ThreadTask } from "./threads.ts";

const { config } = (workerData as { data: { config: Config } }).data;
const lines = new Writable({
  write(chunk: Buffer, _enc, done) {
    parentPort!.postMessage({ log: chunk.toString() });
    done();
  },
});
const { bus, artifacts } = await openTransports(config);
const ctx: ServiceContext = { config, logger: pino({ level: config.logLevel }, lines), bus, artifacts };
const handlers = new Map<string, WorkHandler>();

serveInWorker(async (request) => {
  const t = request as ThreadTask;
  const key = `${t.handler.module}#${t.handler.handler}`;
  let handler = handlers.get(key);
  if (!handler) {
    const make = (await import(t.handler.module))[t.handler.handler] as ((c: ServiceContext) => WorkHandler) | undefined;
    if (typeof make !== "function") throw new Error(`stage thread: ${t.handler.module} exports no function ${t.handler.handler}`);
    handler = make(ctx);
    handlers.set(key, handler);
  }
  const { payload } = decodePayload(t.queue, t.payload);
  const kind = await handler({
    queue: t.queue,
    payload,
    msgId: t.msgId,
    deliveries: t.deliveries,
    signal: new AbortController().signal,
  } as Parameters<WorkHandler>[0]);
  const bytes = answerBytes(kind);
  return { value: bytes, transfer: [bytes.buffer as ArrayBuffer] };
});
