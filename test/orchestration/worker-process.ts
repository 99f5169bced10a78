// A worker process for the fault tests: serves the given queues with the deterministic handlers.
// Prints "ready" once serving, and "start <msgId> <deliveries>" when a task begins.
import { byQueue, connectNats } from "@isrdpo/bus";
import type { WorkQueue } from "@isrdpo/bus";
import { serveWorkQueue } from "@isrdpo/orchestration";
import { deterministicHandlers } from "@isrdpo/orchestration/testing";

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const queues = env("QUEUES").split(",") as WorkQueue[];
const { bus, artifacts } = await connectNats({ servers: env("NATS_URL"), ackWaitMs: Number(env("ACK_WAIT_MS")) });
const handle = byQueue(deterministicHandlers(artifacts, { itemDelayMs: Number(process.env.ITEM_DELAY_MS ?? 0) }));
const workers = queues.map((q) =>
  serveWorkQueue(
    bus,
    q,
    async (task) => {
      console.log(`start ${task.msgId} ${task.deliveries}`);
      return handle(task);
    },
    { pullExpiresMs: 1000, onError: (err) => console.error(`worker ${q}:`, err) },
  ),
);
console.log("ready");
process.once("SIGTERM", async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await bus.close();
  process.exit(0);
});
