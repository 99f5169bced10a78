// Issues 16 and 18: a reward-model, PPO, SFT or DPO job whose trainer is killed with SIGKILL mid-job
// resumes from its last checkpoint when the job is started again on a new trainer process, and ends
// exactly where the same job run undisturbed ends: the same steps, metrics, held-out metrics and
// published model.
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { JobKind, JobState, PreferenceShardSchema, ToyReward, TrainerService, type Job, type JobSpec } from "@isrdpo/contracts";
import { LocalArtifactStore } from "@isrdpo/bus";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { JobSpecSchema } from "@isrdpo/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishTinyModel } from "../support/model.ts";
import { startServer, type ServerProcess } from "../support/processes.ts";

describe("trainer killed with SIGKILL mid-job: reward-model, PPO, SFT and DPO jobs resume exactly", () => {
  const dir = mkdtempSync(join(tmpdir(), "isrdpo-trainer-crash-"));
  const env = { ISRDPO_ARTIFACT_DIR: dir, ISRDPO_CHECKPOINT_DIR: join(dir, "ckpt") };
  let digest: string;
  let server: ServerProcess;
  // A generous start-up limit: on a loaded 2-core machine tsx takes long to load the CLI.
  const start = () => startServer("apps/cli/src/main.ts", ["serve", "trainer", "--port", "0"], env, 120_000);
  const client = () => createClient(TrainerService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));

  beforeAll(async () => {
    digest = await publishTinyModel(dir);
    server = await start();
  }, 150_000);
  afterAll(async () => {
    server?.child.kill("SIGKILL");
    await server?.exited;
  });

  async function last(jobId: string): Promise<Job> {
    let job: Job | undefined;
    for await (const res of client().watchJob({ jobId })) job = res.job;
    return job!;
  }

  async function killedAndResumed(jobId: string, spec: MessageInitShape<typeof JobSpecSchema>, killAtStep: number): Promise<Job> {
    await client().startJob({ jobId, spec });
    for await (const res of client().watchJob({ jobId })) {
      if ((res.job!.progress?.step ?? 0) >= killAtStep) break;
      expect(res.job!.state).not.toBe(JobState.SUCCEEDED); // the kill must land mid-job
    }
    server.child.kill("SIGKILL");
    await server.exited;
    // Killed before the end: the job's checkpoints are still there (a finished job removes them).
    expect(readdirSync(join(dir, "ckpt", "jobs", jobId)).some((n) => n.startsWith("step-"))).toBe(true);
    server = await start();
    await client().startJob({ jobId, spec }); // what a redelivered "train" work item does
    return last(jobId);
  }

  /** Eight decisive preference pairs on one clip, stored as a shard. */
  async function preferenceShard(name: string) {
    const colours = ["red", "blue", "green", "white"];
    const records = colours.flatMap((c, i) =>
      colours
        .filter((d) => d !== c)
        .slice(0, 2)
        .map((d) => ({
          itemId: `${i}-${d}`,
          videoId: "syn-3-train-f8-0",
          prompt: "What colour?",
          context: `a ${c} circle.`,
          chosen: c,
          rejected: d,
        })),
    );
    return new LocalArtifactStore(dir).put(
      `artifact://test/prefs/${name}.pb`,
      toBinary(PreferenceShardSchema, create(PreferenceShardSchema, { records })),
    );
  }

  // Each job is killed after `killAt` steps of `steps`, with a checkpoint after every step; `note` is
  // the job's failure_reason when it succeeds (empty, or a note such as examples left out).
  const cases: {
    name: string;
    id: string;
    killAt: number;
    steps: number;
    note: string | RegExp;
    spec: () => Promise<MessageInitShape<typeof JobSpecSchema>>;
  }[] = [
    {
      // 8 pairs, 2 held out, batch 2, 4 epochs: 12 steps.
      name: "reward model",
      note: "",
      id: "rm",
      killAt: 4,
      steps: 12,
      spec: async () => ({
        kind: JobKind.REWARD_MODEL,
        baseModel: { digest },
        data: [await preferenceShard("crash-rm")],
        rewardModel: { heldOutFraction: 0.25 },
        training: { learningRate: 3e-3, epochs: 4, batchSize: 2, checkpointEverySteps: 1 },
      }),
    },
    {
      // 4 rollouts × 2 epochs: 8 steps; killed inside a rollout's epochs (the rollout in flight is in the checkpoint).
      name: "PPO",
      note: "",
      id: "ppo",
      killAt: 3,
      steps: 8,
      spec: async () => ({
        kind: JobKind.PPO,
        baseModel: { digest },
        syntheticData: { seed: 5n, split: "train", clipCount: 4 },
        ppo: { toyReward: ToyReward.COLOUR, rolloutBatchSize: 4, rollouts: 4, ppoEpochs: 2, maxNewTokens: 4 },
        training: { learningRate: 1e-3, checkpointEverySteps: 1 },
      }),
    },
    {
      // From scratch, 2 gradient shards (as the demo trains), 8 steps of batch 4.
      name: "SFT with 2 gradient shards",
      note: /^8 of 40 SFT examples longer than 192 tokens left out/,
      id: "sft",
      killAt: 3,
      steps: 8,
      spec: async () => ({
        kind: JobKind.SFT,
        preset: "test",
        syntheticData: { seed: 5n, split: "train", clipCount: 4 },
        training: { learningRate: 5e-3, maxSteps: 8, batchSize: 4, gradShards: 2, seed: 5n, checkpointEverySteps: 1 },
      }),
    },
    {
      // 8 pairs, batch 2, 2 epochs: 8 steps.
      name: "DPO",
      note: "",
      id: "dpo",
      killAt: 3,
      steps: 8,
      spec: async () => ({
        kind: JobKind.DPO,
        baseModel: { digest },
        data: [await preferenceShard("crash-dpo")],
        training: { learningRate: 1e-2, epochs: 2, batchSize: 2, seed: 5n, checkpointEverySteps: 1 },
      }),
    },
  ];

  it.each(cases)(
    "$name",
    async ({ id, killAt, steps, note, spec: makeSpec }) => {
      const spec = await makeSpec();
      const resumed = await killedAndResumed(`${id}-crash`, spec, killAt);
      await client().startJob({ jobId: `${id}-straight`, spec });
      const straight = await last(`${id}-straight`);
      for (const job of [resumed, straight]) {
        expect(job.state, job.failureReason).toBe(JobState.SUCCEEDED);
        expect(job.failureReason).toMatch(typeof note === "string" ? new RegExp(`^${note}$`) : note);
      }
      expect(resumed.progress!.step).toBe(steps);
      expectSameEnd(resumed, straight);
    },
    400_000,
  );
});

/** The same last step, metrics and published model. */
function expectSameEnd(resumed: Job, straight: Job) {
  const spec = (j: Job) => j.spec as JobSpec;
  expect(spec(resumed).kind).toBe(spec(straight).kind);
  expect(resumed.progress!.step).toBe(straight.progress!.step);
  expect(resumed.progress!.metrics).toEqual(straight.progress!.metrics);
  expect(resumed.progress!.loss).toBe(straight.progress!.loss);
  expect(resumed.evalMetrics).toEqual(straight.evalMetrics);
  expect(resumed.failureReason).toBe(straight.failureReason); // a note such as examples left out
  expect(resumed.outputModel!.digest).toBe(straight.outputModel!.digest);
}
