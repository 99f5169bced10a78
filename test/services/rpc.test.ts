// Issue 6 acceptance: every RPC rejects bad input with a typed status and a message, and the services
// keep serving; buf curl reaches Generate and GenerateStream through reflection alone.
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  ContextMode,
  ContextService,
  EvaluatorService,
  InferenceService,
  JobKind,
  JudgeService,
  JudgeStrategy,
  RunService,
  TrainerService,
} from "@isrdpo/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishTinyModel } from "../support/model.ts";
import { REPO_ROOT, startServer, type ServerProcess } from "../support/processes.ts";
import { status } from "../support/status.ts";

const exec = promisify(execFile);
const BUF = `${REPO_ROOT}node_modules/.bin/buf`;
const CLIP = "syn-3-test-in-f8-0";

describe("services on bad input", () => {
  let server: ServerProcess;
  let digest: string;
  let base: string;

  beforeAll(async () => {
    const artifacts = mkdtempSync(join(tmpdir(), "isrdpo-rpc-"));
    digest = await publishTinyModel(artifacts);
    server = await startServer("apps/cli/src/main.ts", ["serve", "all", "--port", "0"], {
      ISRDPO_ARTIFACT_DIR: artifacts,
      ISRDPO_CHECKPOINT_DIR: mkdtempSync(join(tmpdir(), "isrdpo-rpc-ckpt-")),
    });
    base = `http://127.0.0.1:${server.port}`;
  }, 60_000);
  afterAll(async () => {
    server?.child.kill("SIGTERM");
    await server?.exited;
  });

  const transport = () => createGrpcTransport({ baseUrl: base });
  const video = { source: { case: "syntheticClipId" as const, value: CLIP } };

  it("Generate: INVALID_ARGUMENT or NOT_FOUND naming what is wrong", async () => {
    const c = createClient(InferenceService, transport());
    const model = { digest };
    expect(await status(c.generate({ model, inputs: [] }))).toEqual({ code: Code.InvalidArgument, message: "inputs: must not be empty" });
    expect(await status(c.generate({ model, inputs: [{ video, prompt: "  " }] }))).toEqual({
      code: Code.InvalidArgument,
      message: "inputs[0].prompt: must not be empty",
    });
    expect(await status(c.generate({ model, inputs: [{ video, prompt: "q" }], sampling: { maxNewTokens: 1_000_000 } }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^sampling\.max_new_tokens: must be at most 192/),
    });
    expect(await status(c.generate({ model, inputs: [{ video, prompt: "red circle ".repeat(500) }] }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^inputs\[0\]\.prompt: \d+ tokens leave no room to answer/),
    });
    expect(await status(c.generate({ model, inputs: [{ video, prompt: "q" }], numSamples: 1000 }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^num_samples/),
    });
    expect(await status(c.generate({ model, inputs: [{ video, prompt: "q" }], sampling: { temperature: -1 } }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^sampling\.temperature/),
    });
    expect(await status(c.generate({ model: { digest: "0".repeat(64) }, inputs: [{ video, prompt: "q" }] }))).toMatchObject({
      code: Code.NotFound,
      message: expect.stringContaining("not found"),
    });
    expect(await status(c.generate({ model: { digest: "latest" }, inputs: [{ video, prompt: "q" }] }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^model\.digest/),
    });
    expect(await status(c.generate({ inputs: [{ video, prompt: "q" }] }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^model\.digest: required/),
    });
    const frames = { count: 8, height: 16, width: 16, channels: 3, data: new Uint8Array(8 * 16 * 16 * 3) };
    expect(
      await status(c.generate({ model, inputs: [{ video: { id: "v", source: { case: "frames", value: frames } }, prompt: "q" }] })),
    ).toEqual({
      code: Code.InvalidArgument,
      message: "inputs[0].video.frames: must be 8×32×32 (frames×height×width), got 8×16×16",
    });
    expect(
      await status(c.generate({ model, inputs: [{ video: { source: { case: "syntheticClipId", value: "clip-7" } }, prompt: "q" }] })),
    ).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^inputs\[0\]\.video\.synthetic_clip_id: not a synthetic clip id/),
    });
  });

  it("ScoreSequences, Describe, Judge, trainer, evaluator and RunService reject bad input", async () => {
    const model = { digest };
    const inference = createClient(InferenceService, transport());
    expect(await status(inference.scoreSequences({ model, inputs: [{ video, prompt: "q", candidates: [] }] }))).toEqual({
      code: Code.InvalidArgument,
      message: "inputs[0].candidates: must not be empty",
    });
    const context = createClient(ContextService, transport());
    expect(await status(context.describe({ model, video }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^mode: required/),
    });
    expect(await status(context.describe({ model, video, mode: ContextMode.CLIP_NARRATIVE, clipCount: 99 }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^clip_count: at most 8/),
    });
    const judge = createClient(JudgeService, transport());
    expect(
      await status(judge.judge({ model, video, strategy: JudgeStrategy.SELF, instruction: "q", responseA: "a", responseB: "" })),
    ).toEqual({ code: Code.InvalidArgument, message: "response_b: must not be empty" });
    expect(
      await status(judge.judge({ model, video, strategy: JudgeStrategy.REWARD_MODEL, instruction: "q", responseA: "a", responseB: "b" })),
    ).toMatchObject({ code: Code.InvalidArgument, message: expect.stringMatching(/^reward_model\.digest: required/) });
    const trainer = createClient(TrainerService, transport());
    expect(await status(trainer.startJob({}))).toEqual({ code: Code.InvalidArgument, message: "spec: required" });
    expect(await status(trainer.startJob({ spec: { kind: JobKind.DPO } }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^spec\.base_model\.digest/),
    });
    expect(await status(trainer.getJob({ jobId: "nope" }))).toEqual({ code: Code.NotFound, message: 'job "nope" not found' });
    const evaluator = createClient(EvaluatorService, transport());
    expect(await status(evaluator.evaluate({ model }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^spec\.splits/),
    });
    const runs = createClient(RunService, transport());
    expect(await status(runs.createRun({}))).toMatchObject({ code: Code.InvalidArgument, message: expect.stringMatching(/^spec/) });
    expect(await status(runs.getRun({ runId: "r-unknown" }))).toMatchObject({ code: Code.NotFound });
  });

  it("keeps serving: Generate works and GenerateStream streams the same greedy text", async () => {
    const c = createClient(InferenceService, transport());
    const sampling = { temperature: 0, maxNewTokens: 12 };
    const { generations } = await c.generate({
      model: { digest },
      inputs: [{ video, prompt: "question: What colour is the circle?\nanswer:" }],
      sampling,
    });
    expect(generations).toHaveLength(1);
    let streamed = "";
    let last: { finishReason: unknown } | undefined;
    for await (const m of c.generateStream({
      model: { digest },
      input: { video, prompt: "question: What colour is the circle?\nanswer:" },
      sampling,
    })) {
      streamed += m.textDelta;
      last = m;
    }
    expect(streamed).toBe(generations[0]!.text);
    expect(last!.finishReason).toBe(generations[0]!.finishReason);
  });

  it("buf curl calls Generate and streams GenerateStream through reflection", async () => {
    const body = JSON.stringify({
      model: { digest },
      inputs: [{ video: { syntheticClipId: CLIP }, prompt: "question: What colour is the circle?\nanswer:" }],
      sampling: { maxNewTokens: 6 },
    });
    const unary = await exec(BUF, [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-d",
      body,
      `${base}/isrdpo.v1.InferenceService/Generate`,
    ]);
    expect(JSON.parse(unary.stdout).generations).toHaveLength(1);
    const streamBody = JSON.stringify({
      model: { digest },
      input: { video: { syntheticClipId: CLIP }, prompt: "question: What colour is the circle?\nanswer:" },
      sampling: { maxNewTokens: 6 },
    });
    const stream = await exec(BUF, [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-d",
      streamBody,
      `${base}/isrdpo.v1.InferenceService/GenerateStream`,
    ]);
    // One JSON object per message; the last carries the finish reason.
    const messages = stream.stdout
      .trim()
      .split(/\n(?=\{)/)
      .map((m) => JSON.parse(m));
    expect(messages.length).toBeGreaterThan(1);
    expect(messages.at(-1).finishReason).toMatch(/^FINISH_REASON_(STOP|LENGTH)$/);
  });
});
