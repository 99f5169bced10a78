import { create } from "@bufbuild/protobuf";
import { RunSchema, RunState } from "@isrdpo/contracts";
import { describe, expect, it } from "vitest";
import { renderSvg, studyCells, studyChartSpecs, studyReportHtml, studyTable, summarise, type StudyRun } from "../src/index.ts";

/** A run whose test-in accuracy is `acc[t]` at iteration t, with fixed preferences at iterations ≥ 1. */
const run = (acc: number[], agreement: number) =>
  create(RunSchema, {
    id: `r-${acc.join("-")}`,
    state: RunState.SUCCEEDED,
    iterations: acc.map((a, t) => ({
      iteration: t,
      evaluation: {
        splits: [
          { split: "test-in", accuracy: a, meanScore: 5 * a, claimPrecision: a / 2, meanAnswerWords: 4 - t },
          { split: "test-out", accuracy: a / 2, meanScore: 2.5 * a, claimPrecision: a / 4, meanAnswerWords: 5 },
        ],
      },
      ...(t > 0
        ? {
            preferences: {
              pairs: 100,
              ties: 60,
              meanChosenWords: 3,
              meanRejectedWords: 4,
              chosenRejectedLengthRatio: 0.75,
              judgeOracleAgreement: agreement,
              oracleDecided: 30,
            },
          }
        : {}),
    })),
  });

const runs: StudyRun[] = [
  { seed: 1, judge: "self-verify", contextMode: "none", run: run([0.5, 0.52, 0.54], 0.6) },
  { seed: 2, judge: "self-verify", contextMode: "none", run: run([0.6, 0.62, 0.66], 0.8) },
  { seed: 1, judge: "self-verify", contextMode: "retrospective", run: run([0.5, 0.55, 0.6], 0.7) },
  { seed: 2, judge: "self-verify", contextMode: "retrospective", run: run([0.6, 0.65, 0.7], 0.7) },
];

describe("study report", () => {
  it("summarises each arm and iteration as mean ± sample sd over seeds", () => {
    expect(summarise([1, 3])).toEqual({ mean: 2, sd: Math.SQRT2, n: 2 });
    expect(summarise([undefined, 4])).toEqual({ mean: 4, sd: 0, n: 1 });
    expect(summarise([undefined])).toBeUndefined();
    const cells = studyCells(runs);
    expect(cells).toHaveLength(6);
    const retro2 = cells.find((c) => c.contextMode === "retrospective" && c.iteration === 2)!;
    expect(retro2.seeds).toEqual([1, 2]);
    expect(retro2.metrics.accIn!.mean).toBeCloseTo(0.65, 12);
    expect(retro2.metrics.accIn!.sd).toBeCloseTo(Math.sqrt(0.005), 12);
    expect(retro2.metrics.decisiveRate!.mean).toBeCloseTo(0.4, 12);
    expect(retro2.metrics.chosenWords!.mean).toBe(3);
    const none1 = cells.find((c) => c.contextMode === "none" && c.iteration === 1)!;
    expect(none1.metrics.judgeOracle).toMatchObject({ mean: 0.7, n: 2 });
    expect(none1.metrics.judgeOracle!.sd).toBeCloseTo(Math.sqrt(0.02), 12);
    // π_1 has no preferences: those numbers are absent, not 0.
    expect(cells.find((c) => c.iteration === 0)!.metrics.decisiveRate).toBeUndefined();
  });

  it("tables π_1 and the last iteration of each arm; n/a where nothing was measured", () => {
    const rows = studyTable(studyCells(runs));
    expect(rows.map((r) => r.arm)).toEqual(["π_1 (SFT)", "none · self-verify", "retrospective · self-verify"]);
    expect(rows[2]!["accuracy (test-in)"]).toBe("65.0 ± 7.1%");
    expect(rows[0]!["decisive-pair rate"]).toBe("n/a");
  });

  it("draws one line per arm, with the per-iteration means, in every chart", async () => {
    const svgs = await Promise.all(studyChartSpecs(studyCells(runs)).map(renderSvg));
    const acc = [...svgs[0]!.matchAll(/aria-label="([^"]*)"/g)].map((m) => m[1]!);
    expect(acc).toContain("Symbol legend for fill color and stroke color with 2 values: none · self-verify, retrospective · self-verify");
    expect(acc).toContain("iteration (0: π_1): 2; accuracy (test-in): 65%; series: retrospective · self-verify");
    const html = await studyReportHtml({ cells: studyCells(runs), command: "isrdpo study --seeds 1,2" });
    expect(html).toContain("<title>isrdpo study</title>");
    expect(html.match(/<svg/g)).toHaveLength(svgs.length);
  });
});
