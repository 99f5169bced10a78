// Issue 14 acceptance: the live dashboard in a real browser (Debian's chromium via playwright-core):
// the page loads from the services' port, a run started by the test appears, and following it the
// iteration count advances as the run does. Also: plain HTTP/1.1 JSON (what curl sends) answers.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ContextMode, JudgeStrategy, RunService, RunSpecSchema, RunState } from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus } from "@isrdpo/bus";
import { SERVICES } from "@isrdpo/cli/services";
import { dashboardHandler } from "@isrdpo/dashboard";
import { createLogger, domainMetrics, loadConfig, startServer, type RunningServer } from "@isrdpo/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, type Browser } from "../support/browser.ts";
import { publishTinyModel } from "../support/model.ts";

describe("dashboard", () => {
  let server: RunningServer;
  let browser: Browser;
  let digest: string;
  let ctx: Parameters<typeof dashboardHandler>[0];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "isrdpo-dashboard-"));
    digest = await publishTinyModel(join(dir, "artifacts"));
    const config = loadConfig({
      env: {},
      flags: { host: "127.0.0.1", metricsPort: 0, artifactDir: join(dir, "artifacts"), checkpointDir: join(dir, "checkpoints") },
    });
    ctx = {
      config,
      logger: createLogger("dashboard-test", "silent"),
      bus: new MemoryBus(),
      artifacts: new LocalArtifactStore(config.artifactDir),
    };
    server = await startServer(Object.values(SERVICES), ctx, 0, { web: dashboardHandler(ctx) });
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await ctx?.bus.close();
  });

  it("lists a run started in the test and follows it live until its iterations are done", async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const runs = createClient(RunService, createGrpcTransport({ baseUrl: base }));
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    await page.waitForSelector("#runs table", { timeout: 30_000 });

    const { run } = await runs.createRun({
      spec: create(RunSpecSchema, {
        name: "dashboard-test",
        initialModel: { source: { case: "model", value: { digest } } },
        prompts: { source: { case: "synthetic", value: { seed: 6n, split: "train", clipCount: 2 } } },
        iterations: 2,
        context: { mode: ContextMode.RETROSPECTIVE },
        judge: { strategy: JudgeStrategy.SELF },
        responseSampling: { temperature: 0.7, maxNewTokens: 8, seed: 5n },
        training: { learningRate: 1e-3, epochs: 1, batchSize: 8, seed: 5n },
        evaluation: {
          splits: [{ source: { case: "synthetic", value: { seed: 7n, split: "test-in", clipCount: 1 } } }],
          sampling: { temperature: 0, maxNewTokens: 8 },
        },
        seed: 5n,
      }),
    });
    const id = run!.id;
    // The list refreshes on its own: the new run appears without a reload.
    await page.locator(`a[data-run-id="${id}"]`).click({ timeout: 30_000 });
    const shows = (selector: string, text: RegExp, timeout: number) => page.locator(selector, { hasText: text }).waitFor({ timeout });
    // The count advances as the page watches (on a loaded machine iteration 1 may be brief: ≥ 1 first).
    await shows("#run-iteration", /^[12] of 2$/, 180_000);
    await shows("#run-iteration", /^2 of 2$/, 180_000);
    await shows("#run-state", /^succeeded/, 180_000);
    // The run report's charts, drawn in the page from the live record.
    await page.locator("#charts svg").nth(6).waitFor({ timeout: 30_000 });
    const labels = await page.locator("#charts svg [aria-label]").evaluateAll((els) => els.map((e) => e.getAttribute("aria-label")));
    expect(labels).toContain("Symbol legend for fill color with 2 values: decisive, ties");
    expect(labels.some((l) => l?.startsWith("iteration (0: π_1): 2; accuracy:") && l.endsWith("series: test-in"))).toBe(true);
    await shows("#log", /#\d+ run succeeded\n$/, 10_000);
    await page.screenshot({ path: browser.screenshotPath("dashboard.png"), fullPage: true });
    expect(errors).toEqual([]);
    expect((await runs.getRun({ runId: id })).run!.state).toBe(RunState.SUCCEEDED);
  }, 600_000);

  it("counts runs by state and work items by queue in the process's Prometheus metrics", async () => {
    const text = await domainMetrics.metrics();
    expect(text).toContain('isrdpo_runs{state="succeeded"} 1');
    expect(text).toContain('isrdpo_runs{state="running"} 0');
    expect(text).toMatch(/isrdpo_queue_items_total\{queue="judge",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/isrdpo_queue_items_total\{queue="evaluate",outcome="ok"\} 3/);
  });

  it("answers curl-style HTTP/1.1 JSON without prior knowledge", async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/isrdpo.v1.RunService/ListRuns`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { runs: Array<{ name?: string; spec?: { name: string } }> };
    expect(body.runs.map((r) => r.spec?.name)).toContain("dashboard-test");
  });
});
