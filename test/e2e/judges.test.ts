// Issue 15 acceptance: the judge stage of a short run on the `test` preset with every built judge
// strategy (the caption-proxy judge against a real local chat-completions server, and the built-in
// policy text-only; self-critique with its filters), the Judge RPC for the new strategies, and the
// caption-proxy judge's API key in no log line and no run record.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toJsonString } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  Alignment,
  CaptionSource,
  ContextMode,
  CritiqueFilter,
  JudgeService,
  JudgeStrategy,
  PreferenceShardSchema,
  RunSchema,
  RunService,
  RunSpecSchema,
  RunState,
  Stage,
  StageState,
  Verdict,
} from "@isrdpo/contracts";
import { LocalArtifactStore } from "@isrdpo/bus";
import { startChatServer, type ChatServer, type Reply } from "@isrdpo/lm/testing";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { clipFromId, referenceCaption } from "@isrdpo/video";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishTinyModel } from "../support/model.ts";
import { startServer, type ServerProcess } from "../support/processes.ts";
import { runToEnd } from "./cluster.ts";
import { status } from "../support/status.ts";

const SECRET = "sk-isrdpo-judge-test-6b1f0c2d9e";
const CLIP = "syn-3-test-in-f8-0";

describe("judge strategies, end to end on the test preset", () => {
  let server: ServerProcess;
  let lm: ChatServer;
  let digest: string;
  let rewardDigest: string;
  let artifacts: LocalArtifactStore;
  let base: string;
  const failures: Reply[] = [];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "isrdpo-judges-"));
    digest = await publishTinyModel(dir);
    rewardDigest = await publishTinyModel(dir, { rewardHead: true });
    artifacts = new LocalArtifactStore(dir);
    // The judge LM: the scripted failures first (retried), then a score by the answer's length, so
    // different answers get different scores; "Answer: unreadable" gets prose without a score.
    lm = await startChatServer((req) => {
      if (failures.length > 0) return failures.shift()!;
      const answer = /Answer: (.*)/.exec(req.body.messages.map((m) => m.content).join("\n"))?.[1] ?? "";
      if (answer === "unreadable") return { text: "I would rather not say." };
      return { text: `The answer is judged.\nScore: ${answer.length % 6}` };
    });
    server = await startServer("apps/cli/src/main.ts", ["serve", "all", "--port", "0"], {
      ISRDPO_ARTIFACT_DIR: dir,
      ISRDPO_CHECKPOINT_DIR: mkdtempSync(join(tmpdir(), "isrdpo-judges-ckpt-")),
      ISRDPO_LOG_LEVEL: "debug",
      JUDGE_KEY: SECRET,
    });
    base = `http://127.0.0.1:${server.port}`;
  }, 60_000);
  afterAll(async () => {
    server?.child.kill("SIGTERM");
    await server?.exited;
    await lm?.close();
  });

  const transport = () => createGrpcTransport({ baseUrl: base });
  const endpoint = () => ({ endpoint: lm.url, model: "judge-lm", apiKeyEnv: "JUDGE_KEY", timeoutMs: 5_000 });

  /** `more`: the alignment and PPO settings of a run that trains by PPO. */
  function spec(
    judge: MessageInitShape<typeof RunSpecSchema>["judge"],
    evaluate = false,
    more: Pick<MessageInitShape<typeof RunSpecSchema>, "alignment" | "ppo"> = {},
  ) {
    return create(RunSpecSchema, {
      ...more,
      name: "judges",
      initialModel: { source: { case: "model", value: { digest } } },
      prompts: { source: { case: "synthetic", value: { seed: 6n, split: "train", clipCount: 1 } } },
      iterations: 1,
      context: { mode: ContextMode.RETROSPECTIVE, sampling: { temperature: 0, maxNewTokens: 16 } },
      judge,
      responseSampling: { temperature: 0.9, maxNewTokens: 8, seed: 5n },
      training: { learningRate: 1e-3, epochs: 1, batchSize: 8, seed: 5n },
      evaluation: evaluate
        ? {
            splits: [{ source: { case: "synthetic", value: { seed: 7n, split: "test-in", clipCount: 1 } } }],
            sampling: { maxNewTokens: 4 },
          }
        : { disabled: true },
      // Two judge shards: the request budget is split between them.
      shardSize: 4,
      seed: 5n,
    });
  }

  async function run(
    judge: MessageInitShape<typeof RunSpecSchema>["judge"],
    evaluate = false,
    more: Pick<MessageInitShape<typeof RunSpecSchema>, "alignment" | "ppo"> = {},
  ) {
    const runs = createClient(RunService, transport());
    const { run: created } = await runs.createRun({ spec: spec(judge, evaluate, more) });
    const done = await runToEnd(runs, created!.id);
    expect(done.failureReason).toBe("");
    expect(done.state).toBe(RunState.SUCCEEDED);
    const stage = done.iterations.find((i) => i.iteration === 1)!.stages.find((s) => s.stage === Stage.JUDGE)!;
    const shards = await Promise.all(stage.outputs.map(async (ref) => fromBinary(PreferenceShardSchema, await artifacts.get(ref))));
    return { run: done, shards, records: shards.flatMap((s) => s.records) };
  }

  const everyTieSaysWhy = (records: { tie: boolean; tieReason: string }[]) =>
    expect(records.filter((r) => r.tie && r.tieReason === "")).toEqual([]);

  for (const strategy of [JudgeStrategy.SELF, JudgeStrategy.SELF_LIKELIHOOD, JudgeStrategy.SELF_VERIFY, JudgeStrategy.ORACLE]) {
    it(`${JudgeStrategy[strategy]}: the judge stage writes a record per item`, async () => {
      const { records, run: r } = await run({ strategy });
      expect(records.length).toBe(r.iterations[1]!.stages.find((s) => s.stage === Stage.RESPONSES)!.itemsTotal);
      everyTieSaysWhy(records);
    }, 120_000);
  }

  it("REWARD_MODEL: the judge stage scores every item's answers with the named reward model", async () => {
    const { records, run: r } = await run({ strategy: JudgeStrategy.REWARD_MODEL, rewardModel: { digest: rewardDigest } });
    expect(records.length).toBe(r.iterations[1]!.stages.find((s) => s.stage === Stage.RESPONSES)!.itemsTotal);
    everyTieSaysWhy(records);
    // The pair is the highest and the lowest reward.
    expect(records.some((x) => x.chosen !== x.rejected && x.chosenScore !== x.rejectedScore)).toBe(true);
    for (const x of records.filter((y) => !y.tie)) expect(x.chosenScore).toBeGreaterThan(x.rejectedScore);
  }, 120_000);

  it("ALIGNMENT_PPO with the reward-model judge: VLM-RLAIF's loop, π_2 trained by PPO against the reward model", async () => {
    const rewardModel = { digest: rewardDigest };
    const { run: r } = await run({ strategy: JudgeStrategy.REWARD_MODEL, rewardModel }, false, {
      alignment: Alignment.PPO,
      ppo: { rewardModel, rolloutBatchSize: 2, rollouts: 1, ppoEpochs: 1, maxNewTokens: 4 },
    });
    const it1 = r.iterations.find((i) => i.iteration === 1)!;
    expect(it1.stages.find((s) => s.stage === Stage.TRAIN)!.state).toBe(StageState.SUCCEEDED);
    expect(it1.trained!.digest).not.toBe(digest);
    expect(it1.trained!.name).toMatch(/\/iter-2$/);
  }, 180_000);

  it("CAPTION_PROXY on an endpoint: reference captions judged, 429/500 retried, the key sent and never logged or recorded", async () => {
    const before = lm.requests.length;
    failures.push({ status: 429, headers: { "retry-after": "0" } }, { status: 500 });
    const { records, shards, run: r } = await run({ strategy: JudgeStrategy.CAPTION_PROXY, captionProxy: endpoint() }, true);
    expect(records.length).toBeGreaterThan(0);
    everyTieSaysWhy(records);
    expect(records.some((x) => !x.tie)).toBe(true);
    const requests = lm.requests.slice(before);
    const stats = shards.map((s) => s.stats!);
    expect(stats.reduce((n, s) => n + s.lmRequests, 0)).toBe(requests.length);
    expect(stats.reduce((n, s) => n + s.lmRetries, 0)).toBe(2);
    // The caption is the clip's reference caption; the prompt template is recorded with the run.
    const clipId = records[0]!.videoId;
    const caption = referenceCaption(clipFromId(clipId).scene).replace(/\s+/g, " ").trim();
    expect(requests.some((q) => q.body.messages[1]!.content.includes(`Video caption: ${caption}`))).toBe(true);
    expect(r.promptTemplates["caption-proxy/caption-proxy-v1"]).toContain("{caption}");
    expect(r.iterations[1]!.preferences!.lmRequests).toBe(requests.length);
    // The key: in the Authorization header, nowhere in the run record or the server's logs.
    expect(requests.every((q) => q.headers.authorization === `Bearer ${SECRET}`)).toBe(true);
    expect(toJsonString(RunSchema, r)).not.toContain(SECRET);
    expect(server.stderr()).toMatch(/LM request failed; retrying/);
    expect(server.stderr()).not.toContain(SECRET);
  }, 180_000);

  it("CAPTION_PROXY with a request budget: the run stops calling at its budget and ends, the rest explicit ties", async () => {
    const before = lm.requests.length;
    const { records, shards } = await run({ strategy: JudgeStrategy.CAPTION_PROXY, captionProxy: { ...endpoint(), maxRequests: 3 } });
    expect(lm.requests.length - before).toBeLessThanOrEqual(3);
    expect(records.some((x) => x.tie && /^not judged: .*budget/.test(x.tieReason))).toBe(true);
    expect(shards.some((s) => s.stats!.stopped !== "")).toBe(true);
  }, 120_000);

  it("CAPTION_PROXY on the built-in policy, text only, reading c_t: unreadable answers are counted ties", async () => {
    const { records, shards } = await run({
      strategy: JudgeStrategy.CAPTION_PROXY,
      captionProxy: { captionSource: CaptionSource.CONTEXT },
    });
    expect(records.length).toBeGreaterThan(0);
    everyTieSaysWhy(records);
    const unscored = shards.reduce((n, s) => n + s.stats!.unscoredAnswers, 0);
    const unreadable = records.filter((x) => /unparsable/.test(x.tieReason)).length;
    expect(unreadable).toBeGreaterThan(0); // a random tiny model writes no scores
    expect(unscored).toBeGreaterThanOrEqual(unreadable);
    expect(shards.every((s) => s.stats!.lmRequests === 0)).toBe(true);
  }, 120_000);

  for (const filter of [CritiqueFilter.NONE, CritiqueFilter.SELF_VERIFY, CritiqueFilter.CAPTION_PROXY]) {
    it(`SELF_CRITIQUE filtered by ${CritiqueFilter[filter]}: (revision ≻ original) pairs with their critique`, async () => {
      const { records } = await run({
        strategy: JudgeStrategy.SELF_CRITIQUE,
        critiqueFilter: filter,
        ...(filter === CritiqueFilter.CAPTION_PROXY ? { captionProxy: endpoint() } : {}),
      });
      expect(records.length).toBeGreaterThan(0);
      everyTieSaysWhy(records);
      expect(records.every((x) => x.candidates === 2)).toBe(true);
      expect(records.some((x) => x.critique !== "")).toBe(true);
      if (filter === CritiqueFilter.NONE) expect(records.some((x) => !x.tie)).toBe(true);
      if (filter !== CritiqueFilter.NONE)
        for (const x of records.filter((y) => y.tie)) expect(x.tieReason).toMatch(/^filter |identical|empty|too long/);
    }, 120_000);
  }

  it("Judge RPC: caption-proxy without a model on an endpoint, self-critique with one, and typed errors", async () => {
    const judge = createClient(JudgeService, transport());
    const base = {
      instruction: "what moves?",
      responseA: "a red circle moves left",
      responseB: "unreadable",
      caption: "A red circle moves left.",
    };
    const ok = await judge.judge({ ...base, strategy: JudgeStrategy.CAPTION_PROXY, captionProxy: endpoint() });
    expect(ok).toMatchObject({ verdict: Verdict.TIE, tieReason: "caption-proxy judge's answer unparsable for 1 of 2 answers" });
    expect(ok.stats).toMatchObject({ lmRequests: 2, unparsableJudgements: 1, unscoredAnswers: 1 });
    const decided = await judge.judge({
      ...base,
      responseB: "a blue square",
      strategy: JudgeStrategy.CAPTION_PROXY,
      captionProxy: endpoint(),
    });
    expect([Verdict.A, Verdict.B, Verdict.TIE]).toContain(decided.verdict);
    expect(decided.scoreA).toBe("a red circle moves left".length % 6);
    const critique = await judge.judge({
      ...base,
      model: { digest },
      video: { source: { case: "syntheticClipId", value: CLIP } },
      strategy: JudgeStrategy.SELF_CRITIQUE,
      critiqueFilter: CritiqueFilter.NONE,
    });
    expect(critique.verdict === Verdict.A || critique.tieReason !== "").toBe(true);
    expect(typeof critique.revision).toBe("string");
    expect(await status(judge.judge({ ...base, caption: "", strategy: JudgeStrategy.CAPTION_PROXY, captionProxy: endpoint() }))).toEqual({
      code: Code.InvalidArgument,
      message: "caption: must not be empty",
    });
    expect(
      await status(judge.judge({ ...base, strategy: JudgeStrategy.CAPTION_PROXY, captionProxy: { endpoint: "vllm:8000", model: "m" } })),
    ).toMatchObject({ code: Code.InvalidArgument, message: expect.stringMatching(/^caption_proxy\.endpoint: must be an http\(s\) URL/) });
    expect(
      await status(
        judge.judge({ ...base, strategy: JudgeStrategy.CAPTION_PROXY, captionProxy: { ...endpoint(), apiKeyEnv: "NOT_SET_ANYWHERE" } }),
      ),
    ).toEqual({ code: Code.FailedPrecondition, message: "caption_proxy.apiKeyEnv: environment variable NOT_SET_ANYWHERE is not set" });
    expect(await status(judge.judge({ ...base, strategy: JudgeStrategy.SELF, critiqueFilter: CritiqueFilter.NONE }))).toMatchObject({
      code: Code.InvalidArgument,
      message: "critique_filter: is only for JUDGE_STRATEGY_SELF_CRITIQUE",
    });
    const clip = { source: { case: "syntheticClipId" as const, value: CLIP } };
    const rm = await judge.judge({
      ...base,
      context: "a red circle moves left.",
      model: { digest },
      video: clip,
      strategy: JudgeStrategy.REWARD_MODEL,
      rewardModel: { digest: rewardDigest },
    });
    expect(rm.scoreA).not.toBe(rm.scoreB);
    expect(rm.verdict).toBe(rm.confidence < 0.05 ? Verdict.TIE : rm.scoreA > rm.scoreB ? Verdict.A : Verdict.B);
    expect(rm.confidence).toBeCloseTo(Math.tanh(Math.abs(rm.scoreA - rm.scoreB) / 2), 6);
    expect(await status(judge.judge({ ...base, strategy: JudgeStrategy.REWARD_MODEL, model: { digest }, video: clip }))).toEqual({
      code: Code.InvalidArgument,
      message: "reward_model.digest: required for JUDGE_STRATEGY_REWARD_MODEL (a JOB_KIND_REWARD_MODEL output)",
    });
    expect(
      await status(judge.judge({ ...base, strategy: JudgeStrategy.REWARD_MODEL, model: { digest }, video: clip, rewardModel: { digest } })),
    ).toEqual({
      code: Code.InvalidArgument,
      message: `reward_model: model ${digest} has no reward head (train one with a JOB_KIND_REWARD_MODEL job)`,
    });
    expect(server.stderr()).not.toContain(SECRET);
  }, 60_000);
});
