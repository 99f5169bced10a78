import { create } from "@bufbuild/protobuf";
import { JobState, RunEventSchema, RunSchema, RunState, Stage, StageState } from "@isrdpo/contracts";
import { describe, expect, it } from "vitest";
import { iterationRows, nothingToTrain } from "@isrdpo/report";
import { iterationTable, ProgressPrinter } from "../src/report.ts";

describe("ProgressPrinter", () => {
  it("prints stage changes, shard progress with rate and ETA, and throttled job progress", () => {
    let now = 0;
    const lines: string[] = [];
    const p = new ProgressPrinter(
      (l) => lines.push(l),
      () => now,
    );
    const ev = (iteration: number, stage: Stage, kind: any) => create(RunEventSchema, { runId: "r", iteration, stage, kind });
    p.event(ev(0, Stage.UNSPECIFIED, { case: "runStateChanged", value: { state: RunState.RUNNING } }));
    p.event(ev(1, Stage.JUDGE, { case: "stageStateChanged", value: { state: StageState.RUNNING } }));
    now = 10_000;
    p.event(
      ev(1, Stage.JUDGE, {
        case: "shardProgress",
        value: { shardsDone: 1, shardsTotal: 4, itemsDone: 20, itemsTotal: 80, itemsFailed: 1 },
      }),
    );
    now = 40_000;
    p.event(ev(1, Stage.JUDGE, { case: "stageStateChanged", value: { state: StageState.SUCCEEDED } }));
    const job = { id: "j", state: JobState.RUNNING, progress: { step: 5, totalSteps: 10, loss: 0.5, metrics: {} } } as any;
    p.job("sft", job);
    now = 45_000;
    p.job("sft", { ...job, progress: { ...job.progress, step: 6 } });
    expect(lines).toEqual([
      "[    0s] run running",
      "[    0s] iter 1 judge running",
      "[   10s] iter 1 judge shards 1/4, items 20/80, 1 failed (2.0 items/s ETA 30s)",
      "[   40s] iter 1 judge succeeded in 40s",
      "[   40s] sft step 5/10 loss 0.5000",
    ]);
  });
});

describe("iteration table", () => {
  it("has one row per iteration, with – where nothing was measured and n/a where nothing could be", () => {
    const run = create(RunSchema, {
      iterations: [
        {
          iteration: 0,
          evaluation: {
            splits: [
              { split: "test-in", accuracy: 0.5, meanScore: 2.5, claimPrecision: 0.25, meanAnswerWords: 3 },
              { split: "test-out", accuracy: 0.25, meanScore: 1.25 },
            ],
          },
        },
        { iteration: 1, preferences: { pairs: 10, ties: 4, chosenRejectedLengthRatio: 1.5, judgeOracleAgreement: 0.75, oracleDecided: 4 } },
        // every pair a tie: nothing to compare lengths or agreement on
        { iteration: 2, preferences: { pairs: 10, ties: 10 } },
        // decisive pairs, but the oracle scored every pair's answers the same
        { iteration: 3, preferences: { pairs: 10, ties: 8, chosenRejectedLengthRatio: 0.5, oracleDecided: 0 } },
      ],
    });
    expect(iterationTable(iterationRows(run)).split("\n").slice(2)).toEqual([
      "| 0 (π_1) | 50.0% | 2.50 | 25.0% | 1.25 | 25.0% | 3.0 | – | – | – |",
      "| 1 | – | – | – | – | – | – | 10 (4) | 1.50 | 75.0% |",
      "| 2 | – | – | – | – | – | – | 10 (10) | n/a | n/a |",
      "| 3 | – | – | – | – | – | – | 10 (8) | 0.50 | n/a |",
    ]);
    expect(nothingToTrain(iterationRows(run))).toEqual(["iteration 2: nothing to train: 10/10 ties"]);
  });
});
