import { clone, create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JudgeSpecSchema, JudgeStrategy, RunSchema, RunState } from "@isrdpo/contracts";
import { describe, expect, it } from "vitest";
import { evaluationRecords, iterationCells, iterationChartSpecs, iterationRows, renderSvg, runReportHtml } from "../src/index.ts";

/** A fixed run record: π_1, one iteration with decisive pairs, one where every pair was a tie. */
const run = create(RunSchema, {
  id: "r-fixed",
  state: RunState.SUCCEEDED,
  currentIteration: 2,
  createTime: timestampFromDate(new Date("2026-01-02T03:04:05Z")),
  spec: { name: "fixture <run>", iterations: 2 },
  promptTemplates: { answer: "Q: {question}\nA:" },
  iterations: [0, 1, 2].map((t) => ({
    iteration: t,
    evaluation: {
      splits: [
        { split: "test-in", accuracy: [0.4, 0.5, 0.6][t], meanScore: 1.5 + t, claimPrecision: [0.1, 0.2, 0.3][t], meanAnswerWords: 6 - t },
        {
          split: "test-out",
          accuracy: [0.3, 0.35, 0.4][t],
          meanScore: 1 + t,
          claimPrecision: [0.05, 0.1, 0.15][t],
          meanAnswerWords: 7 - t,
        },
      ],
    },
    ...(t === 1
      ? { preferences: { pairs: 20, ties: 5, chosenRejectedLengthRatio: 0.8, judgeOracleAgreement: 0.6, oracleDecided: 10 } }
      : {}),
    ...(t === 2 ? { preferences: { pairs: 20, ties: 20 } } : {}),
  })),
});

const marks = (svg: string) => [...svg.matchAll(/aria-label="([^"]*)"/g)].map((m) => m[1]!);

describe("run report", () => {
  it("charts every per-iteration number, by split, from the run record", async () => {
    const svgs = await Promise.all(iterationChartSpecs(run).map(renderSvg));
    const [acc, score, precision, words, pairs, ratio, agreement] = svgs.map(marks) as [
      string[],
      string[],
      string[],
      string[],
      string[],
      string[],
      string[],
    ];
    expect(acc).toContain("Symbol legend for fill color and stroke color with 2 values: test-in, test-out");
    expect(acc).toContain("iteration (0: π_1): 2; accuracy: 60%; series: test-in");
    expect(acc).toContain("iteration (0: π_1): 0; accuracy: 30%; series: test-out");
    expect(score).toContain("iteration (0: π_1): 1; score: 2.5; series: test-in");
    expect(precision).toContain("iteration (0: π_1): 2; claim precision: 15%; series: test-out");
    expect(words).toContain("iteration (0: π_1): 2; words per answer: 4; series: test-in");
    expect(pairs).toEqual(
      expect.arrayContaining([
        "iteration: 1; pairs: 15; series: decisive",
        "iteration: 1; pairs: 5; series: ties",
        "iteration: 2; pairs: 0; series: decisive",
        "iteration: 2; pairs: 20; series: ties",
      ]),
    );
    // iteration 2 had no decisive pair: n/a, so no point at all (never a 0)
    expect(new Set(ratio.filter((l) => l.includes("series:")))).toEqual(
      new Set(["iteration: 1; length ratio: 0.8; series: chosen/rejected words"]),
    );
    expect(new Set(agreement.filter((l) => l.includes("series:")))).toEqual(new Set(["iteration: 1; agreement: 60%; series: agreement"]));
  });

  it("is one self-contained page with the table, charts, training curves, config and prompts", async () => {
    const html = await runReportHtml({
      run,
      jobs: [
        { label: "SFT of π_1", steps: [1, 2, 3].map((step) => ({ step, loss: 3 / step })) },
        {
          label: "iteration 1 DPO",
          steps: [1, 2].map((step) => ({ step, loss: 0.69 - 0.1 * step, "rewards/margins": 0.1 * step, "rewards/accuracies": 0.5 })),
        },
      ],
      links: [{ label: "run record", href: "run.json" }],
    });
    expect(html).not.toMatch(/<script|<link |src="http|href="http/);
    expect(html.match(/<svg /g)).toHaveLength(7 + 1 + 3);
    expect(html).toContain("<td>n/a</td>");
    expect(html).toContain("warning:</strong> iteration 2: nothing to train: 20/20 ties");
    expect(html).toContain('aria-label="step: 3; loss: 1; series: loss"');
    expect(html).toContain('aria-label="step: 2; reward: 0.2; series: rewards/margins"');
    expect(html).toContain("fixture &lt;run&gt;");
    expect(html).toContain("Q: {question}\nA:");
    expect(html).toContain('<a href="run.json">run record</a>');
  });

  it("gives the same numbers as history records, n/a left out", () => {
    const [r0, r1, r2] = evaluationRecords(run);
    expect(r0).toEqual({
      step: 0,
      "test-in/accuracy": 0.4,
      "test-in/score": 1.5,
      "test-in/claim_precision": 0.1,
      "test-in/answer_words": 6,
      "test-out/accuracy": 0.3,
      "test-out/score": 1,
      "test-out/claim_precision": 0.05,
      "test-out/answer_words": 7,
    });
    expect(r1!["preferences/judge_oracle_agreement"]).toBe(0.6);
    expect(r2!["preferences/decisive"]).toBe(0);
    expect(r2).not.toHaveProperty("preferences/chosen_rejected_length_ratio");
  });

  it("does not report the oracle judge's agreement with itself", () => {
    const oracle = clone(RunSchema, run);
    oracle.spec!.judge = create(JudgeSpecSchema, { strategy: JudgeStrategy.ORACLE });
    const row = iterationRows(oracle)[1]!;
    expect(row.judgeOracle).toBeUndefined();
    expect(iterationCells(row)["judge–oracle agreement"]).toBe("n/a");
    expect(iterationRows(run)[1]!.judgeOracle).toBe(0.6);
  });
});
