// The long fuzz run of issue 18: N seeded mixed requests per service (default 10 000) against one
// `serve all` process with a tiny published model — random field values, huge sizes, path-like
// strings, undecodable bodies (one in ten). Reports per service the status codes, any INTERNAL /
// UNKNOWN answer from a handler (with its request), the slowest health answer seen while fuzzing, the
// server's RSS at the end, and wall time. Last line: JSON.
// Run: pnpm exec tsx bench/fuzz.ts [--per-service N] [--seed S] [--concurrency C]
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fuzzServer } from "../test/support/fuzz.ts";
import { publishTinyModel } from "../test/support/model.ts";
import { serveAll } from "../test/support/processes.ts";

const { values } = parseArgs({
  options: {
    "per-service": { type: "string", default: "10000" },
    seed: { type: "string", default: "18" },
    concurrency: { type: "string", default: "8" },
  },
});
const dir = mkdtempSync(join(tmpdir(), "isrdpo-bench-fuzz-"));
const digest = await publishTinyModel(join(dir, "artifacts"));
const server = await serveAll(dir);
try {
  const result = await fuzzServer({
    base: `http://127.0.0.1:${server.port}`,
    targets: { digest },
    perService: Number(values["per-service"]),
    seed: Number(values.seed),
    concurrency: Number(values.concurrency),
    bytesEvery: 10,
    pid: server.child.pid!,
  });
  const alive = server.child.exitCode === null;
  for (const r of result.reports)
    console.log(
      `${r.service.padEnd(13)} ${JSON.stringify(r.codes)}${r.bad.length ? `  BAD ${r.bad.length}: ${JSON.stringify(r.bad.slice(0, 3))}` : ""}`,
    );
  console.log(
    `health: ${result.healthChecks} checks, slowest ${result.maxHealthMs} ms; server RSS ${result.rssMiB} MiB, alive ${alive}; ${result.wallS} s; load ${readFileSync("/proc/loadavg", "utf8").trim()}`,
  );
  console.log(
    JSON.stringify({
      bench: "fuzz",
      perService: Number(values["per-service"]),
      alive,
      loadavg: readFileSync("/proc/loadavg", "utf8").trim(),
      ...result,
    }),
  );
} finally {
  await server.stop();
}
