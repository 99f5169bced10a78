// Issue 18 acceptance: ≥ 1 000 seeded mixed requests per service against one `serve all` process —
// random field values, huge sizes, path-like strings in every string field, undecodable bytes. No
// handler answers INTERNAL or UNKNOWN, the process stays up, health keeps answering, RSS stays bounded.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fuzzServer } from "../support/fuzz.ts";
import { publishTinyModel } from "../support/model.ts";
import { serveAll } from "../support/processes.ts";

describe("fuzzing every service", () => {
  let server: Awaited<ReturnType<typeof serveAll>>;
  let digest: string;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "isrdpo-fuzz-"));
    digest = await publishTinyModel(join(dir, "artifacts"));
    server = await serveAll(dir);
  }, 60_000);
  afterAll(() => server?.stop());

  it("1 000 requests per service: no INTERNAL, no exit, health answered throughout", async () => {
    const result = await fuzzServer({
      base: `http://127.0.0.1:${server.port}`,
      targets: { digest },
      perService: 1_000,
      seed: 18,
      bytesEvery: 10,
      pid: server.child.pid!,
    });
    console.log(JSON.stringify(result));
    for (const r of result.reports) {
      expect(r.requests, r.service).toBe(1_000);
      expect(r.bad, r.service).toEqual([]);
    }
    expect(server.child.exitCode).toBeNull();
    expect(result.healthChecks).toBeGreaterThan(0);
    // Measured 0.9 s at load 12 on 2 cores; the bound catches a frozen loop (the issue saw 100 s),
    // not a slow machine. The 1 s figure belongs to the bench (bench/fuzz.ts, docs/benchmarks.md).
    expect(result.maxHealthMs).toBeLessThan(5_000);
    expect(result.rssMiB).toBeLessThan(2_048);
  }, 600_000);
});
