// Issue 18 acceptance on one `serve all` process: video paths confined to media roots with one
// refusal whatever exists, size limits named by field, health answered during a large request, and
// client cancellation stopping model work.
import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  ContextMode,
  ContextService,
  EvaluatorService,
  health,
  InferenceService,
  JobKind,
  JudgeService,
  JudgeStrategy,
  RunService,
  TrainerService,
} from "@isrdpo/contracts";
import { LIMITS } from "@isrdpo/orchestration";
import { testRunSpec } from "@isrdpo/orchestration/testing";
import { generateScene, renderClip, writeMp4 } from "@isrdpo/video";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishTinyModel } from "../support/model.ts";
import { status } from "../support/status.ts";
import { serveAll } from "../support/processes.ts";

const CLIP = "syn-3-test-in-f8-0";

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

describe("a hardened server", () => {
  let server: Awaited<ReturnType<typeof serveAll>>;
  let digest: string;
  let base: string;
  let metricsUrl: string;
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "isrdpo-hard-")));
  const root = join(dir, "media");
  const outside = join(dir, "outside");

  beforeAll(async () => {
    mkdirSync(root);
    mkdirSync(outside);
    const dims = { frames: 8, height: 32, width: 32 };
    await writeMp4(renderClip(generateScene(4)), dims, join(root, "clip.mp4"));
    await writeMp4(renderClip(generateScene(5)), dims, join(outside, "secret.mp4"));
    writeFileSync(join(outside, "notes.txt"), "private");
    const artifacts = join(dir, "artifacts");
    digest = await publishTinyModel(artifacts);
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    server = await serveAll(dir, { ISRDPO_MEDIA_ROOTS: root, ISRDPO_METRICS_PORT: String(metricsPort), ISRDPO_BACKEND: "wasm" });
    base = `http://127.0.0.1:${server.port}`;
  }, 60_000);
  afterAll(() => server?.stop());

  const transport = () => createGrpcTransport({ baseUrl: base });
  const fileVideo = (path: string) => ({ source: { case: "uri" as const, value: path } });

  it("every RPC that takes a video refuses paths outside the media root with one message, present or absent", async () => {
    const model = { digest };
    const inference = createClient(InferenceService, transport());
    const context = createClient(ContextService, transport());
    const judge = createClient(JudgeService, transport());
    const rpcs: Record<string, (path: string) => Promise<unknown>> = {
      Generate: (p) => inference.generate({ model, inputs: [{ video: fileVideo(p), prompt: "q" }] }),
      GenerateStream: async (p) => {
        for await (const _ of inference.generateStream({ model, input: { video: fileVideo(p), prompt: "q" } }));
      },
      ScoreSequences: (p) => inference.scoreSequences({ model, inputs: [{ video: fileVideo(p), prompt: "q", candidates: ["a"] }] }),
      Describe: (p) => context.describe({ model, video: fileVideo(p), mode: ContextMode.RENEW }),
      Judge: (p) =>
        judge.judge({ model, video: fileVideo(p), strategy: JudgeStrategy.SELF, instruction: "q", responseA: "a", responseB: "b" }),
    };
    const hostile = [
      "/etc/passwd",
      "/etc/shadow",
      "/root/.ssh/id_rsa",
      "/no/such/file.mp4",
      join(outside, "secret.mp4"), // a real video, beside the root
      join(outside, "notes.txt"),
      "../outside/secret.mp4",
      "../../../../etc/passwd",
      `${root}/../outside/secret.mp4`,
      "concat:/etc/passwd|/etc/hosts",
    ];
    const messages = new Set<string>();
    for (const [name, call] of Object.entries(rpcs)) {
      for (const path of hostile) {
        const s = await status(call(path));
        expect(s.code, `${name} ${path}`).toBe(Code.InvalidArgument);
        expect(s.message, `${name} ${path}`).toMatch(/video\.uri: /);
        messages.add(s.message.replace(/^.*video\.uri: /, ""));
      }
    }
    expect([...messages]).toEqual([
      "not under a media root of this server (media.roots): send frames, a synthetic_clip_id, an artifact:// URI or a path inside a media root",
    ]);
    // Inside the root: read, by relative or absolute path.
    for (const path of ["clip.mp4", join(root, "clip.mp4")]) {
      const res = await inference.generate({ model, inputs: [{ video: fileVideo(path), prompt: "q" }], sampling: { maxNewTokens: 2 } });
      expect(res.generations).toHaveLength(1);
    }
  });

  it("refuses sizes beyond the limits up front, naming the field and the limit", async () => {
    const model = { digest };
    const video = { source: { case: "syntheticClipId" as const, value: CLIP } };
    const inference = createClient(InferenceService, transport());
    expect(await status(inference.generate({ model, inputs: [{ video, prompt: "x".repeat(16_385) }] }))).toEqual({
      code: Code.InvalidArgument,
      message: "inputs[0].prompt: at most 16384 characters (limits.maxTextChars), got 16385",
    });
    const candidates = Array.from({ length: 1025 }, (_, i) => `answer ${i}`);
    expect(await status(inference.scoreSequences({ model, inputs: [{ video, prompt: "q", candidates }] }))).toEqual({
      code: Code.InvalidArgument,
      message: "inputs: at most 1024 candidates in all (limits.maxSequences), got 1025",
    });
    const judge = createClient(JudgeService, transport());
    expect(
      await status(
        judge.judge({
          model,
          video,
          strategy: JudgeStrategy.SELF,
          instruction: "q",
          context: "c. ".repeat(10_000),
          responseA: "a",
          responseB: "b",
        }),
      ),
    ).toMatchObject({ code: Code.InvalidArgument, message: expect.stringMatching(/^context: at most 16384 characters/) });
    const trainer = createClient(TrainerService, transport());
    const sft = (over: object) => ({ spec: { kind: JobKind.SFT, preset: "test", syntheticData: { clipCount: 4 }, ...over } });
    expect(await status(trainer.startJob(sft({ syntheticData: { clipCount: 4_000_000_000 } })))).toEqual({
      code: Code.InvalidArgument,
      message: `spec.synthetic_data.clip_count: must be ≤ ${LIMITS.datasetClips}, got 4000000000`,
    });
    expect(await status(trainer.startJob(sft({ training: { schedule: 7 } })))).toEqual({
      code: Code.InvalidArgument,
      message: "spec.training.schedule: unknown value 7",
    });
    expect(await status(trainer.startJob(sft({ training: { epochs: 1_000_000 } })))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^spec\.training\.epochs: must be ≤ 1000/),
    });
    const evaluator = createClient(EvaluatorService, transport());
    const split = (clipCount: number) => ({ source: { case: "synthetic" as const, value: { clipCount, split: "test-in" } } });
    expect(await status(evaluator.evaluate({ model, spec: { splits: [split(1_000_000)] } }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^spec\.splits\[0\]\.clip_count: must be ≤ 2000/),
    });
    const runs = createClient(RunService, transport());
    const spec = testRunSpec({ prompts: { source: { case: "synthetic", value: { clipCount: 4_000_000_000 } } } });
    expect(await status(runs.createRun({ spec }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^spec\.prompts\.synthetic\.clip_count: must be ≤ 20000/),
    });
  });

  it("answers client mistakes the fuzzer found with typed statuses, not INTERNAL", async () => {
    const video = { source: { case: "syntheticClipId" as const, value: CLIP } };
    const inference = createClient(InferenceService, transport());
    const ask = (over: object) => status(inference.generate({ model: { digest }, inputs: [{ video, prompt: "q" }], ...over }));
    expect(await ask({ model: { digest, checkpoint: { uri: "/etc/passwd" } } })).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringMatching(/^model\.checkpoint\.uri: /),
    });
    expect(await ask({ model: { digest, checkpoint: { uri: "artifact://../.." } } })).toMatchObject({ code: Code.InvalidArgument });
    expect(await ask({ sampling: { maxNewTokens: 2, stop: ["", "x"] } })).toEqual({
      code: Code.InvalidArgument,
      message: "sampling.stop[0]: must be 1–256 characters, got 0",
    });
    const evaluator = createClient(EvaluatorService, transport());
    const split = { source: { case: "synthetic" as const, value: { clipCount: 1, split: "test-in", frames: 6 } } };
    expect(await status(evaluator.compare({ modelA: { digest }, modelB: { digest }, spec: { splits: [split] } }))).toEqual({
      code: Code.InvalidArgument,
      message: "spec.splits[0].frames: must be the model's 8 frames per clip (or 0), got 6",
    });
  });

  it("answers health checks while a large ScoreSequences runs", async () => {
    const model = { digest };
    const video = { source: { case: "syntheticClipId" as const, value: CLIP } };
    const candidates = Array.from({ length: 1024 }, (_, i) => `a small red circle moves left ${i}`);
    const inference = createClient(InferenceService, transport());
    const checks = createClient(health.Health, transport());
    let done = false;
    const big = inference
      .scoreSequences({ model, inputs: [{ video, prompt: "question: what moves?\nanswer:", candidates }] })
      .finally(() => {
        done = true;
      });
    // Answered between the request's batches, not after it: the model loop yields to the event loop.
    let answeredDuring = 0;
    while (!done) {
      const res = await checks.check({ service: "" });
      if (!done && res.status === health.HealthCheckResponse_ServingStatus.SERVING) answeredDuring++;
    }
    expect((await big).results[0]!.scores).toHaveLength(1024);
    expect(answeredDuring).toBeGreaterThan(0);
  });

  it("a cancelled Generate stops its model work: the server records it CANCELLED, not finished", async () => {
    const model = { digest };
    const video = { source: { case: "syntheticClipId" as const, value: CLIP } };
    const inference = createClient(InferenceService, transport());
    const inputs = Array.from({ length: 256 }, (_, i) => ({ video, prompt: `question: what moves? ${i}\nanswer:` }));
    const abort = new AbortController();
    // 1 024 sequences of up to 192 tokens: minutes of work on the tiny model, unless it stops.
    const call = inference.generate(
      { model, inputs, numSamples: 4, sampling: { temperature: 1, maxNewTokens: 192, seed: 1n } },
      { signal: abort.signal },
    );
    setTimeout(() => abort.abort(), 500);
    expect((await status(call)).code).toBe(Code.Canceled);
    const handled = async () => {
      const text = await (await fetch(metricsUrl)).text();
      const line = (code: string) =>
        text
          .split("\n")
          .find(
            (l) => l.startsWith("grpc_server_handled_total") && l.includes('grpc_method="Generate"') && l.includes(`grpc_code="${code}"`),
          );
      return { canceled: line("Canceled"), ok: line("OK") };
    };
    const deadline = Date.now() + 20_000;
    let seen = await handled();
    while (!seen.canceled && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      seen = await handled();
    }
    expect(seen.canceled, "the server recorded the Generate as cancelled").toBeDefined();
    // The backend the model ran on is a metric label (the GPU adapter too, on webgpu).
    expect(await (await fetch(metricsUrl)).text()).toMatch(/^isrdpo_tfjs_backend_info\{backend="wasm",adapter=""\} 1$/m);
  });
});
