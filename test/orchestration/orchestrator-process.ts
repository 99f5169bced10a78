// An orchestrator process for the fault tests: creates (or finds) the run of IDEMPOTENCY_KEY,
// recovers, and applies events until killed. Prints "run <id>" and "applied <n>" after each write.
// With CRASH_AFTER_WRITES=n it kills itself with SIGKILL right after its n-th state write, before
// publishing that write's commands: the worst moment for the outbox.
import { connectNats } from "@isrdpo/bus";
import { Orchestrator, runKey } from "@isrdpo/orchestration";
import { testRunSpec } from "@isrdpo/orchestration/testing";

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const { bus, artifacts } = await connectNats({ servers: env("NATS_URL"), ackWaitMs: Number(env("ACK_WAIT_MS")) });
const crashAfter = Number(process.env.CRASH_AFTER_WRITES ?? 0);
let writes = 0;
const kvUpdate = bus.kvUpdate.bind(bus);
bus.kvUpdate = async (key, value, revision) => {
  const r = await kvUpdate(key, value, revision);
  if (!key.startsWith(runKey(""))) return r; // a shard's own key, written while publishing
  console.log(`applied ${++writes}`);
  if (writes === crashAfter) process.kill(process.pid, "SIGKILL");
  return r;
};
const orchestrator = new Orchestrator({ bus, artifacts, onError: (err) => console.error("orchestrator:", err) });
const run = await orchestrator.createRun(testRunSpec({ iterations: 2, shardSize: 4 }), env("IDEMPOTENCY_KEY"));
await orchestrator.recover();
const serving = orchestrator.serve();
console.log(`run ${run.id}`);
process.once("SIGTERM", async () => {
  await serving.stop();
  await bus.close();
  process.exit(0);
});
