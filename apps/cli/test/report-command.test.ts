// `isrdpo report run.json`: a run record file with the artifact store beside it, as a demo leaves it.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toJson } from "@bufbuild/protobuf";
import { RunSchema, RunState, Stage, StageState } from "@isrdpo/contracts";
import { LocalArtifactStore } from "@isrdpo/bus";
import { jobId } from "@isrdpo/orchestration";
import { jobHistoryUri, stepRecord, toJsonl } from "@isrdpo/tracking";
import { describe, expect, it } from "vitest";
import { report } from "../src/actions/report.ts";

describe("isrdpo report", () => {
  it("writes the HTML report of a run.json, with the training curves found in artifacts/ beside it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "isrdpo-report-"));
    const run = create(RunSchema, {
      id: "r-1",
      state: RunState.SUCCEEDED,
      spec: { iterations: 1 },
      iterations: [
        {
          iteration: 0,
          stages: [{ stage: Stage.SFT, state: StageState.SUCCEEDED }],
          evaluation: { splits: [{ split: "test-in", accuracy: 0.25 }] },
        },
        {
          iteration: 1,
          stages: [{ stage: Stage.TRAIN, state: StageState.SUCCEEDED }],
          evaluation: { splits: [{ split: "test-in", accuracy: 0.5 }] },
          preferences: { pairs: 4, ties: 4 },
        },
      ],
    });
    writeFileSync(join(dir, "run.json"), JSON.stringify(toJson(RunSchema, run)));
    const store = new LocalArtifactStore(join(dir, "artifacts"));
    const steps = [1, 2].map((step) => stepRecord({ step, epoch: 0, loss: 2 / step, lr: 1e-3, metrics: {} }, 100 + step));
    await store.put(jobHistoryUri(jobId("r-1", 0, Stage.SFT)), new TextEncoder().encode(toJsonl(steps)));
    const lines: string[] = [];
    const out = join(dir, "out.html");
    await report(join(dir, "run.json"), { out }, (l) => lines.push(l));
    expect(lines).toEqual([`wrote ${out}: 2 iterations, 1 training curves`]);
    const html = readFileSync(out, "utf8");
    expect(html).toContain("Training: SFT of π_1");
    expect(html).toContain('aria-label="step: 2; loss: 1; series: loss"');
    expect(html).toContain('aria-label="iteration (0: π_1): 1; accuracy: 50%; series: test-in"');
    expect(html).toContain("iteration 1: nothing to train: 4/4 ties");
    expect(html).toContain('<a href="run.json">run record</a>');
  });

  it("fails with one line for a file that is missing or not a run record", async () => {
    const dir = mkdtempSync(join(tmpdir(), "isrdpo-report-"));
    await expect(report(join(dir, "nope.json"), { out: join(dir, "r.html") }, () => {})).rejects.toThrow(/nope\.json: no such file$/);
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ iterations: "x" }));
    await expect(report(join(dir, "bad.json"), { out: join(dir, "r.html") }, () => {})).rejects.toThrow(/bad\.json: not a run record: /);
  });
});
