// The trainer service's jobs: SFT from the synthetic mix and/or imported datasets, DPO on preference shards (ties skipped),
// progress over WatchJob, cancellation, and published models that load and verify.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { JobKind, JobState, PreferenceShardSchema, ToyReward, TrainerService, type Job } from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus } from "@isrdpo/bus";
import { createLogger, loadConfig, startServer, type RunningServer } from "@isrdpo/runtime";
import { importDataset, writeSyntheticDataset } from "@isrdpo/datasets";
import { trainerService } from "@isrdpo/service-trainer";
import { ModelCache, modelUri } from "@isrdpo/vlm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeEvent, jobEventsUri, jobHistoryUri, parseJsonl, readRecords } from "@isrdpo/tracking";
import { publishTinyModel } from "../support/model.ts";

describe("TrainerService jobs", () => {
  let server: RunningServer;
  let artifacts: LocalArtifactStore;
  let digest: string;
  let artifactDir: string;
  let trainer: ReturnType<typeof createClient<typeof TrainerService>>;

  const checkpointDir = mkdtempSync(join(tmpdir(), "isrdpo-trainer-ckpt-"));
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "isrdpo-trainer-"));
    digest = await publishTinyModel(dir);
    artifactDir = dir;
    artifacts = new LocalArtifactStore(dir);
    const config = loadConfig({
      env: {},
      flags: {
        host: "127.0.0.1",
        metricsPort: 0,
        artifactDir: dir,
        checkpointDir,
        logLevel: "silent",
      },
    });
    server = await startServer([trainerService], { config, logger: createLogger("test", "silent"), bus: new MemoryBus(), artifacts }, 0);
    trainer = createClient(TrainerService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
  }, 60_000);
  afterAll(() => server?.close());

  async function finished(jobId: string): Promise<Job[]> {
    const updates: Job[] = [];
    for await (const res of trainer.watchJob({ jobId })) updates.push(res.job!);
    return updates;
  }

  it("trains DPO on the decisive pairs of a preference shard and publishes a new model", async () => {
    const clip = "syn-3-train-f8-0";
    const pair = (chosen: string, rejected: string, tie = false) => ({
      itemId: `i-${chosen}`,
      videoId: clip,
      prompt: "What colour is the circle?",
      chosen,
      rejected,
      tie,
    });
    const shard = create(PreferenceShardSchema, {
      records: [pair("red", "blue"), pair("green", "white"), pair("small", "large"), pair("yes", "yes", true)],
    });
    const ref = await artifacts.put("artifact://test/prefs/shard-0000.pb", toBinary(PreferenceShardSchema, shard));
    const { job } = await trainer.startJob({
      jobId: "dpo-1",
      spec: {
        kind: JobKind.DPO,
        baseModel: { digest },
        data: [ref],
        training: { learningRate: 1e-2, epochs: 3, batchSize: 2 },
        outputName: "dpo-1",
      },
    });
    expect(job!.state === JobState.QUEUED || job!.state === JobState.RUNNING).toBe(true);
    const updates = await finished("dpo-1");
    const last = updates.at(-1)!;
    expect(last.failureReason).toBe("");
    expect(last.state).toBe(JobState.SUCCEEDED);
    // 3 decisive pairs (the tie is skipped), batch 2, 3 epochs: 6 steps, reported as they happen.
    expect(last.progress!.totalSteps).toBe(6);
    expect(last.progress!.metrics["rewards/margins"]).toBeGreaterThan(0);
    // Every step's metrics, TRL-named, as JSONL and as a TensorBoard event file in the store.
    expect(last.metricsHistory!.uri).toBe(jobHistoryUri("dpo-1"));
    const history = parseJsonl(new TextDecoder().decode(await artifacts.get(last.metricsHistory!)), "history");
    expect(history.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const key of [
      "loss",
      "learning_rate",
      "grad_norm",
      "tokens_per_second",
      "rewards/chosen",
      "rewards/margins",
      "rewards/accuracies",
    ])
      expect(history[5]).toHaveProperty([key]);
    const events = readRecords(await artifacts.get(jobEventsUri("dpo-1"))).map(decodeEvent);
    expect(events.map((e) => e.step)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(events[6]!.scalars.loss).toBeCloseTo(history[5]!.loss!, 5);
    const out = last.outputModel!;
    expect(out.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(out.digest).not.toBe(digest);
    const { policy: loaded } = await new ModelCache(artifacts, mkdtempSync(join(tmpdir(), "isrdpo-load-"))).acquire(
      out.digest,
      modelUri(out.digest, "manifest.json"),
    );
    expect(loaded.model.config.vocabSize).toBeGreaterThan(0);
    // A second StartJob with the same id returns the same job.
    expect(
      (await trainer.startJob({ jobId: "dpo-1", spec: { kind: JobKind.DPO, baseModel: { digest }, data: [ref] } })).job!.outputModel!
        .digest,
    ).toBe(out.digest);
  }, 120_000);

  it("trains a context-aware reward model on preference shards and synthetic judge pairs, measured on held-out pairs", async () => {
    const clip = "syn-3-train-f8-0";
    const shard = create(PreferenceShardSchema, {
      records: [
        { itemId: "a", videoId: clip, prompt: "What colour is the circle?", context: "a red circle.", chosen: "red", rejected: "blue" },
        { itemId: "b", videoId: clip, prompt: "What colour is the circle?", context: "a blue circle.", chosen: "blue", rejected: "red" },
        { itemId: "c", videoId: clip, prompt: "q", chosen: "a", rejected: "a", tie: true },
      ],
    });
    const ref = await artifacts.put("artifact://test/prefs/rm-0000.pb", toBinary(PreferenceShardSchema, shard));
    await trainer.startJob({
      jobId: "rm-1",
      spec: {
        kind: JobKind.REWARD_MODEL,
        baseModel: { digest },
        data: [ref],
        syntheticData: { seed: 5n, split: "train", clipCount: 4 },
        rewardModel: { heldOutFraction: 0.25 },
        training: { learningRate: 3e-3, epochs: 2, batchSize: 4 },
        outputName: "rm-1",
      },
    });
    const last = (await finished("rm-1")).at(-1)!;
    expect(last.state).toBe(JobState.SUCCEEDED);
    // 2 decisive shard pairs + 8 synthetic judge pairs (2 per clip), of which 6 do not fit the tiny
    // model's byte-level tokenizer (counted, never cut): 4 pairs, ⌈0.25·4⌉ = 1 held out.
    expect(last.failureReason).toBe("6 pairs longer than 192 tokens left out");
    expect(last.evalMetrics.eval_pairs).toBe(1);
    for (const key of ["eval_loss", "eval_accuracy", "eval_margin"]) expect(Number.isFinite(last.evalMetrics[key])).toBe(true);
    for (const key of ["accuracy", "margin", "mean_reward"]) expect(last.progress!.metrics).toHaveProperty([key]);
    expect(last.progress!.totalSteps).toBe(2); // 3 training pairs, batch 4, 2 epochs
    // Published with its head: it loads as a reward model.
    const out = last.outputModel!;
    expect(out.digest).not.toBe(digest);
    const { policy: rm } = await new ModelCache(artifacts, mkdtempSync(join(tmpdir(), "isrdpo-load-"))).acquire(
      out.digest,
      out.checkpoint!,
    );
    expect(rm.rewardHead).toBeDefined();
    await expect(
      trainer.startJob({
        jobId: "rm-bad",
        spec: { kind: JobKind.REWARD_MODEL, baseModel: { digest }, data: [ref], rewardModel: { heldOutFraction: 1 } },
      }),
    ).rejects.toThrow("[invalid_argument] spec.reward_model.held_out_fraction: must be in [0, 1), got 1");
    await expect(trainer.startJob({ jobId: "rm-none", spec: { kind: JobKind.REWARD_MODEL, data: [ref] } })).rejects.toThrow(
      /invalid_argument\] spec\.base_model\.digest/,
    );
  }, 120_000);

  it("runs PPO against the colour toy reward and against a reward model, reporting entropy and KL per step", async () => {
    const ppo = { rolloutBatchSize: 4, rollouts: 2, ppoEpochs: 1, maxNewTokens: 4 };
    await trainer.startJob({
      jobId: "ppo-toy",
      spec: {
        kind: JobKind.PPO,
        baseModel: { digest },
        syntheticData: { seed: 5n, split: "train", clipCount: 4 },
        ppo: { ...ppo, toyReward: ToyReward.COLOUR },
        training: { learningRate: 1e-3 },
      },
    });
    const toy = (await finished("ppo-toy")).at(-1)!;
    expect(toy.failureReason).toBe("");
    expect(toy.state).toBe(JobState.SUCCEEDED);
    expect(toy.progress!.totalSteps).toBe(2);
    for (const key of ["objective/scores", "objective/kl", "policy/entropy_avg", "policy/approxkl_avg", "loss/value_avg"])
      expect(toy.progress!.metrics).toHaveProperty([key]);
    expect(toy.outputModel!.digest).not.toBe(digest);
    // Rewards from a reward model, prompts (with their contexts) from a preference shard.
    const rm = await publishTinyModel(artifactDir, { rewardHead: true });
    const shard = create(PreferenceShardSchema, {
      records: [
        {
          itemId: "p",
          videoId: "syn-3-train-f8-0",
          prompt: "What colour is the circle?",
          context: "a red circle.",
          chosen: "a",
          rejected: "a",
          tie: true,
        },
      ],
    });
    const ref = await artifacts.put("artifact://test/prefs/ppo-0000.pb", toBinary(PreferenceShardSchema, shard));
    await trainer.startJob({
      jobId: "ppo-rm",
      spec: { kind: JobKind.PPO, baseModel: { digest }, data: [ref], ppo: { ...ppo, rewardModel: { digest: rm } } },
    });
    const withRm = (await finished("ppo-rm")).at(-1)!;
    expect(withRm.failureReason).toBe("");
    expect(withRm.state).toBe(JobState.SUCCEEDED);
    expect(withRm.progress!.metrics["objective/scores"]).not.toBe(0); // a real-valued reward, not the toy's 0/1
    await expect(
      trainer.startJob({
        jobId: "ppo-both",
        spec: { kind: JobKind.PPO, baseModel: { digest }, data: [ref], ppo: { toyReward: ToyReward.COLOUR, rewardModel: { digest: rm } } },
      }),
    ).rejects.toThrow("[invalid_argument] spec.ppo.reward_model: PPO needs exactly one of reward_model.digest and toy_reward");
    await expect(
      trainer.startJob({
        jobId: "ppo-no-prompts",
        spec: { kind: JobKind.PPO, baseModel: { digest }, ppo: { toyReward: ToyReward.COLOUR } },
      }),
    ).rejects.toThrow("[invalid_argument] spec.data: PPO needs prompts: preference shards, synthetic_data or both");
  }, 120_000);

  it("leaves the model unchanged, and says so, when every pair is a tie", async () => {
    const shard = create(PreferenceShardSchema, {
      records: [{ itemId: "t", videoId: "syn-3-train-f8-0", prompt: "q", chosen: "a", rejected: "a", tie: true }],
    });
    const ref = await artifacts.put("artifact://test/prefs/ties.pb", toBinary(PreferenceShardSchema, shard));
    await trainer.startJob({ jobId: "dpo-ties", spec: { kind: JobKind.DPO, baseModel: { digest }, data: [ref] } });
    const last = (await finished("dpo-ties")).at(-1)!;
    expect(last.state).toBe(JobState.SUCCEEDED);
    expect(last.outputModel!.digest).toBe(digest);
    expect(last.failureReason).toBe("no non-tie preference pairs: the model is unchanged");
  }, 60_000);

  it("runs SFT from the synthetic mix and can be cancelled", async () => {
    await trainer.startJob({
      jobId: "sft-1",
      spec: {
        kind: JobKind.SFT,
        preset: "test",
        syntheticData: { seed: 4n, split: "train", clipCount: 2 },
        training: { maxSteps: 3, batchSize: 4 },
      },
    });
    const sft = (await finished("sft-1")).at(-1)!;
    expect(sft.state).toBe(JobState.SUCCEEDED);
    expect(sft.progress!.step).toBe(3);
    expect(sft.outputModel!.digest).toMatch(/^[0-9a-f]{64}$/);
    // Published, so its resumable checkpoints are gone (they filled disks: 75 MB for 33 tiny jobs).
    expect(existsSync(join(checkpointDir, "jobs", "sft-1"))).toBe(false);
    // The published model loads: config, tokenizer and weights agree.
    const { policy: pi1 } = await new ModelCache(artifacts, mkdtempSync(join(tmpdir(), "isrdpo-load-"))).acquire(
      sft.outputModel!.digest,
      sft.outputModel!.checkpoint!,
    );
    expect(pi1.tok.vocabSize).toBe(pi1.model.config.vocabSize);
    await trainer.startJob({
      jobId: "sft-2",
      spec: {
        kind: JobKind.SFT,
        preset: "test",
        syntheticData: { seed: 4n, split: "train", clipCount: 8 },
        training: { epochs: 50, batchSize: 2, checkpointEverySteps: 2 },
      },
    });
    const watching = finished("sft-2");
    await new Promise((r) => setTimeout(r, 1500));
    await trainer.cancelJob({ jobId: "sft-2" });
    const cancelled = (await watching).at(-1)!;
    expect(cancelled.state).toBe(JobState.CANCELLED);
    // A cancelled job keeps what a resume needs.
    expect(existsSync(join(checkpointDir, "jobs", "sft-2"))).toBe(true);
  }, 120_000);

  it("runs SFT on an imported dataset, alone or mixed with the synthetic mix", async () => {
    const dir = mkdtempSync(join(tmpdir(), "isrdpo-sft-data-"));
    await writeSyntheticDataset(dir, { seed: 12, train: 2, testIn: 0, testOut: 0 });
    const { dataset, items } = await importDataset({ jsonl: join(dir, "train.jsonl"), videos: dir, store: artifacts });
    // One step per example (batch 1, one epoch): an answer per QA pair, a description per captioned clip.
    const training = { epochs: 1, batchSize: 1, learningRate: 1e-3 };
    await trainer.startJob({ jobId: "sft-data", spec: { kind: JobKind.SFT, preset: "test", data: [dataset!], training } });
    const alone = (await finished("sft-data")).at(-1)!;
    expect(alone.failureReason).toBe("");
    expect(alone.state).toBe(JobState.SUCCEEDED);
    expect(alone.progress!.totalSteps).toBe(items + 2);
    await trainer.startJob({
      jobId: "sft-mixed",
      spec: { kind: JobKind.SFT, preset: "test", syntheticData: { seed: 4n, split: "train", clipCount: 1 }, data: [dataset!], training },
    });
    const mixed = (await finished("sft-mixed")).at(-1)!;
    expect(mixed.state).toBe(JobState.SUCCEEDED);
    // Both sources: the dataset's examples and the synthetic clip's.
    expect(mixed.progress!.totalSteps).toBeGreaterThan(items + 2);
    expect(mixed.outputModel!.digest).not.toBe(alone.outputModel!.digest);
    await expect(trainer.startJob({ jobId: "sft-none", spec: { kind: JobKind.SFT, preset: "test" } })).rejects.toThrow(
      "[invalid_argument] spec.synthetic_data: SFT needs synthetic_data, data (imported datasets) or both",
    );
  }, 120_000);
});
