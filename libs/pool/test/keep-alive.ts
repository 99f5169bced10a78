// Run as a process by pool.test.ts: a request in flight must keep it alive until the answer comes,
// then the idle pool must let it exit.
import { WorkerPool } from "../src/index.ts";

const pool = new WorkerPool({ size: 1, script: new URL("./echo-worker.ts", import.meta.url) });
const out = (await pool.run({ op: "echo", value: 7 })) as { value: number };
process.stdout.write(`answer ${out.value}\n`);
