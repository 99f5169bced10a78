/**
 * The physical reference: large square-matmul GFLOP/s of the active tfjs backend on this machine
 * (process CPU time, best of 10 after warm-up), plus the plain JS backend for comparison.
 * Run: pnpm exec tsx bench/vlm-matmul.ts [--backend wasm|cpu|tensorflow]
 * Last line: one JSON object with the figures.
 */
import { parseArgs } from "node:util";
import { initBackend, matmulGflops, tf } from "@isrdpo/vlm";

const { values } = parseArgs({ options: { backend: { type: "string" } } });
const active = await initBackend(values.backend as "wasm" | "cpu" | "tensorflow" | undefined);
const result: Record<string, unknown> = { backend: active.name };
for (const n of [256, 512, 1024, 2048]) result[`n${n}`] = +(await matmulGflops(n, n >= 2048 ? 3 : 10)).toFixed(2);
if (tf.getBackend() !== "cpu") {
  await tf.setBackend("cpu");
  result.cpuBackendN512 = +(await matmulGflops(512, 2)).toFixed(2);
}
console.log(JSON.stringify(result));
