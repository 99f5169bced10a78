// Issue 10 acceptance: `isrdpo study` runs its grid through the CLI (one π_1 per seed, one run per
// arm), writes report.json and report.html, reuses finished runs when run again, refuses bad lists
// with one line, and its page renders in a real browser (Debian's chromium via playwright-core).
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { launchBrowser } from "../support/browser.ts";
import { runToEnd } from "../support/processes.ts";

const CLI = "apps/cli/src/main.ts";

describe("isrdpo study", () => {
  const out = mkdtempSync(join(tmpdir(), "isrdpo-study-"));
  const args = ["study", "--preset", "test", "--seeds", "1", "--iterations", "1", "--context-modes", "none,retrospective", "--out", out];

  it("runs the grid, writes the report, and reuses finished runs", { timeout: 600_000 }, async () => {
    const first = await runToEnd(CLI, args);
    expect(first.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/\[1\/2\] seed 1, judge self-verify, context none: π_1 by SFT/);
    // The second arm starts from the first arm's π_1: same seed, same SftSpec.
    expect(first.stdout).toMatch(/\[2\/2\] seed 1, judge self-verify, context retrospective: π_1 [0-9a-f]{12} \(cached\)/);
    expect(readdirSync(join(out, "runs")).sort()).toEqual(["seed1-self-verify-none.json", "seed1-self-verify-retrospective.json"]);
    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
    expect(report.runs).toBe(2);
    const arms = report.cells.map((c: { contextMode: string; iteration: number }) => `${c.contextMode}@${c.iteration}`).sort();
    expect(arms).toEqual(["none@0", "none@1", "retrospective@0", "retrospective@1"]);
    for (const c of report.cells) expect(c.seeds).toEqual([1]);

    const again = await runToEnd(CLI, args);
    expect(again.code).toBe(0);
    expect(again.stdout.match(/reusing/g)).toHaveLength(2);
    expect(JSON.parse(readFileSync(join(out, "report.json"), "utf8")).cells).toEqual(report.cells);

    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(pathToFileURL(join(out, "report.html")).href);
      expect(await page.locator("table tr").count()).toBeGreaterThanOrEqual(3); // header, π_1, two arms
      expect(await page.locator("svg").count()).toBeGreaterThanOrEqual(4);
      // Charts rendered with marks, not empty frames.
      expect(await page.locator("svg path, svg line").count()).toBeGreaterThan(20);
      await page.screenshot({ path: browser.screenshotPath("study-report.png"), fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it("refuses an unknown context mode with one line and exit code ≠ 0", async () => {
    const bad = await runToEnd(CLI, ["study", "--context-modes", "none,sideways", "--out", out]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/--context-modes: unknown "sideways"/);
  });
});
