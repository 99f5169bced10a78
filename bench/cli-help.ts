// How long `isrdpo --help` takes, against the floor it sits on: node alone, and node + tsx (which runs
// the TypeScript CLI without a build step). The CLI loads tfjs, the services and NATS only inside
// the commands that need them, so help should cost little above that floor. Medians of N runs: wall
// time, and CPU time of the child processes (from /proc/self/stat, so a busy machine's waiting is
// told apart from work).
// Run: pnpm exec tsx bench/cli-help.ts [--runs N]
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { runs: { type: "string", default: "7" } } });
const runs = Number(values.runs);
const bin = fileURLToPath(new URL("../apps/cli/bin/isrdpo.js", import.meta.url));
const main = fileURLToPath(new URL("../apps/cli/src/main.ts", import.meta.url));
const tsx = import.meta.resolve("tsx");

/** User + system CPU seconds of this process's waited-for children (cutime + cstime, 100 Hz ticks). */
function childCpuS(): number {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function measure(label: string, args: string[]): { label: string; wallMs: number; cpuMs: number } {
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < runs; i++) {
    const cpu0 = childCpuS();
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { encoding: "utf8", cwd: "/" });
    walls.push(performance.now() - t0);
    cpus.push((childCpuS() - cpu0) * 1000);
    if (r.status !== 0) throw new Error(`${label}: exit ${r.status}: ${r.stderr}`);
  }
  const m = { label, wallMs: Math.round(median(walls)), cpuMs: Math.round(median(cpus)) };
  console.log(`${label.padEnd(44)} ${String(m.wallMs).padStart(6)} ms wall ${String(m.cpuMs).padStart(6)} ms cpu`);
  return m;
}

const results = [
  measure("node -e 0", ["-e", "0"]),
  measure("node --import tsx (empty program)", ["--import", tsx, "-e", "0"]),
  measure("isrdpo --help (tsx src/main.ts)", ["--import", tsx, main, "--help"]),
  measure("isrdpo --help (bin, from /)", [bin, "--help"]),
  measure("isrdpo run create --help (bin)", [bin, "run", "create", "--help"]),
];
console.log(JSON.stringify({ bench: "cli-help", runs, results }));
