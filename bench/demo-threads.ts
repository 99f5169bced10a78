/**
 * The demo's wall time with 1 and with N stage threads, in one run of this bench: each is a fresh
 * `isrdpo demo` process with its own output folder (no cached π_1), the same preset, iterations and
 * seed. Also checks that both runs made the same models (the threads must not change results).
 * Run: pnpm exec tsx bench/demo-threads.ts [--preset test] [--iterations 2] [--threads 2]
 * Prints a line per run (with /proc/loadavg), then one JSON object.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "../test/support/processes.ts";

const { values } = parseArgs({
  options: {
    preset: { type: "string", default: "test" },
    iterations: { type: "string", default: "2" },
    threads: { type: "string", default: "2" },
  },
});
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

function demo(threads: string): { wallS: number; digests: string[]; loadavgBefore: string; loadavgAfter: string } {
  const out = mkdtempSync(join(tmpdir(), `isrdpo-demo-threads-${threads}-`));
  try {
    const before = loadavg();
    const t0 = performance.now();
    const args = ["--import", "tsx", "apps/cli/src/main.ts", "demo", "--preset", values.preset!, "--iterations", values.iterations!];
    const r = spawnSync(process.execPath, [...args, "--threads", threads, "--out", out, "--no-cache"], {
      cwd: REPO_ROOT,
      encoding: "utf8",
      timeout: 60 * 60_000,
    });
    const wallS = (performance.now() - t0) / 1000;
    if (r.status !== 0)
      throw new Error(`demo with ${threads} thread(s) failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout).slice(-2000)}`);
    const run = JSON.parse(readFileSync(join(out, "run.json"), "utf8")) as { iterations: { trained?: { digest: string } }[] };
    const digests = run.iterations.map((i) => i.trained?.digest ?? "");
    const result = { wallS: +wallS.toFixed(1), digests, loadavgBefore: before, loadavgAfter: loadavg() };
    console.log(
      `demo --preset ${values.preset} --iterations ${values.iterations} --threads ${threads}: ${result.wallS} s (loadavg ${before} → ${result.loadavgAfter})`,
    );
    return result;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const one = demo("1");
const many = demo(values.threads!);
if (one.digests.join() !== many.digests.join()) throw new Error(`the runs made different models: ${one.digests} vs ${many.digests}`);
console.log(
  JSON.stringify({
    preset: values.preset,
    iterations: Number(values.iterations),
    threads: Number(values.threads),
    wallS1: one.wallS,
    wallSN: many.wallS,
    speedup: +(one.wallS / many.wallS).toFixed(2),
    sameModels: true,
    loadavg: [one.loadavgBefore, many.loadavgAfter],
  }),
);
