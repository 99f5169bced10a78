// Issue 18: CancelRun stops the work, not only the record. A run cancelled during SFT ends its trainer
// job (CANCELLED within seconds, far from its last step) and every watcher exits with the final state.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { JobState, RunService, RunState, Stage, TrainerService } from "@isrdpo/contracts";
import { jobId } from "@isrdpo/orchestration";
import { testRunSpec } from "@isrdpo/orchestration/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitWithin, serveAll, spawnTs } from "../support/processes.ts";

describe("cancelling a run during SFT", () => {
  let server: Awaited<ReturnType<typeof serveAll>>;
  beforeAll(async () => {
    server = await serveAll(mkdtempSync(join(tmpdir(), "isrdpo-cancel-")));
  }, 60_000);
  afterAll(() => server?.stop());

  it("cancels the trainer job within 10 s and the watcher exits with the final state", async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const transport = createGrpcTransport({ baseUrl: base });
    const runs = createClient(RunService, transport);
    const trainer = createClient(TrainerService, transport);
    // Thousands of tiny steps: minutes of training unless the cancel reaches the job.
    const spec = testRunSpec({
      initialModel: {
        source: {
          case: "sft",
          value: { preset: "test", data: { seed: 1n, split: "train", clipCount: 200 }, training: { epochs: 200, batchSize: 4, seed: 1n } },
        },
      },
    });
    const { run } = await runs.createRun({ spec });
    const id = jobId(run!.id, 0, Stage.SFT);
    const watcher = spawnTs("apps/cli/src/main.ts", ["run", "watch", run!.id, "--server", base]);
    let out = "";
    watcher.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    watcher.stderr!.on("data", (c: Buffer) => (out += c.toString()));

    let step = 0;
    for (let i = 0; i < 600 && step < 2; i++) {
      await new Promise((r) => setTimeout(r, 200));
      step = (await trainer.getJob({ jobId: id }).catch(() => undefined))?.job?.progress?.step ?? 0;
    }
    expect(step, "the SFT job is training").toBeGreaterThanOrEqual(2);
    await runs.cancelRun({ runId: run!.id, reason: "test" });
    const cancelledAt = Date.now();

    let job = (await trainer.getJob({ jobId: id })).job!;
    while (job.state !== JobState.CANCELLED && Date.now() - cancelledAt < 10_000) {
      await new Promise((r) => setTimeout(r, 200));
      job = (await trainer.getJob({ jobId: id })).job!;
    }
    expect(JobState[job.state]).toBe("CANCELLED");
    expect(job.progress!.step).toBeLessThan(job.progress!.totalSteps);

    // A run that did not succeed is exit code 1 for scripts; what matters is that it exits, saying so.
    expect(await exitWithin(watcher, 10_000, "run watch", () => out), out).toBe(1);
    expect(out).toMatch(/cancelled/i);
    expect((await runs.getRun({ runId: run!.id })).run!.state).toBe(RunState.CANCELLED);
  }, 120_000);
});
