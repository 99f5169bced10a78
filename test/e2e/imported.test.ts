// Issue 11 acceptance, in embedded mode (every service in one process, as `isrdpo demo` runs them):
//  - round trip: `data synth` → `data import` → a run on the imported URI gives the same preferences
//    (and the same trained model) as the same run on the synthetic source;
//  - run specs evaluate imported QA splits beside synthetic ones;
//  - export: TRL and LLaVA-Hound files whose pair counts match the run record;
//  - evaluation on videos drawn by a different renderer, scored by an LM judge on a local
//    chat-completions server (and by the built-in model, whose unparsable answers are counted).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  AnswerJudgeKind,
  ContextMode,
  EvaluatorService,
  PreferenceShardSchema,
  RunService,
  RunSpecSchema,
  RunState,
  Stage,
  type DatasetRef,
  type Run,
} from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus } from "@isrdpo/bus";
import { importDataset, writeSyntheticDataset } from "@isrdpo/datasets";
import { answerMatches } from "@isrdpo/eval";
import { startChatServer, type ChatServer } from "@isrdpo/lm/testing";
import { createLogger, loadConfig, startServer, type RunningServer } from "@isrdpo/runtime";
import { SERVICES } from "@isrdpo/cli/services";
import { clipFromId } from "@isrdpo/video";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishTinyModel } from "../support/model.ts";
import { runToEnd as runCli } from "../support/processes.ts";
import { runToEnd } from "./cluster.ts";
import { writeAltDataset } from "./fixtures/alt-render.ts";

const root = mkdtempSync(join(tmpdir(), "isrdpo-imported-"));

const cli = (args: string[]) => runCli("apps/cli/src/main.ts", args);

describe("your own videos, end to end", () => {
  let server: RunningServer;
  let url: string;
  let artifacts: LocalArtifactStore;
  let digest: string;
  let trainUri: string;
  let altUri: string;
  let altItems: number;
  const runs: Record<"synthetic" | "imported", Run> = {} as never;

  beforeAll(async () => {
    const artifactDir = join(root, "artifacts");
    digest = await publishTinyModel(artifactDir);
    artifacts = new LocalArtifactStore(artifactDir);
    const config = loadConfig({
      env: {},
      flags: { host: "127.0.0.1", metricsPort: 0, logLevel: "silent", artifactDir, checkpointDir: join(root, "checkpoints") },
    });
    server = await startServer(
      Object.values(SERVICES),
      { config, logger: createLogger("e2e", "silent"), bus: new MemoryBus(), artifacts },
      0,
    );
    url = `http://127.0.0.1:${server.port}`;
    const synth = join(root, "synth");
    await writeSyntheticDataset(synth, { seed: 6, train: 3, testIn: 0, testOut: 0 });
    trainUri = (await importDataset({ jsonl: join(synth, "train.jsonl"), videos: synth, store: artifacts })).dataset!.uri;
    const alt = join(root, "alt");
    const written = await writeAltDataset(alt, { seed: 41, clips: 2 });
    const imported = await importDataset({ jsonl: written.jsonl, videos: alt, store: artifacts });
    expect(imported).toMatchObject({ records: written.items, bad: 0, videosDecoded: 2 });
    altUri = imported.dataset!.uri;
    altItems = written.items;
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const spec = (prompts: DatasetRef["source"]) =>
    create(RunSpecSchema, {
      name: "imported",
      initialModel: { source: { case: "model", value: { digest } } },
      prompts: { source: prompts },
      iterations: 1,
      context: { mode: ContextMode.RETROSPECTIVE, sampling: { temperature: 0, maxNewTokens: 12 } },
      // One order and a tiny margin: the untrained model's judgements are decisive, so there are
      // pairs to compare, train on and export.
      judge: { singleOrder: true, tieMargin: 1e-6 },
      responseSampling: { temperature: 0.7, maxNewTokens: 8, seed: 3n },
      training: { learningRate: 1e-3, epochs: 1, batchSize: 8, seed: 3n },
      evaluation: {
        blocking: true,
        splits: [
          { source: { case: "synthetic", value: { seed: 7n, split: "test-in", clipCount: 1 } } },
          { source: { case: "sharegptJsonl", value: { uri: altUri } } },
        ],
        sampling: { temperature: 0, maxNewTokens: 8 },
      },
      shardSize: 8,
      seed: 3n,
    });

  async function preferences(run: Run) {
    const judge = run.iterations.find((i) => i.iteration === 1)!.stages.find((s) => s.stage === Stage.JUDGE)!;
    const records = [];
    for (const ref of judge.outputs) records.push(...fromBinary(PreferenceShardSchema, await artifacts.get(ref)).records);
    // Imported items are "<record id>#<k>": the synthetic item id with the pair's index.
    return records.map((r) => ({
      item: r.itemId.replace(/#0$/, ""),
      prompt: r.prompt,
      chosen: r.chosen,
      rejected: r.rejected,
      tie: r.tie,
    }));
  }

  it("a run on the imported dataset gives the same preferences and model as on the synthetic source", async () => {
    const client = createClient(RunService, createGrpcTransport({ baseUrl: url }));
    for (const [name, prompts] of [
      ["synthetic", { case: "synthetic", value: { seed: 6n, split: "train", clipCount: 3 } }],
      ["imported", { case: "sharegptJsonl", value: { uri: trainUri } }],
    ] as const) {
      const { run } = await client.createRun({ spec: spec(prompts as DatasetRef["source"]) });
      runs[name] = await runToEnd(client, run!.id);
      expect(runs[name].failureReason, name).toBe("");
      expect(runs[name].state, name).toBe(RunState.SUCCEEDED);
    }
    const a = await preferences(runs.synthetic);
    const b = await preferences(runs.imported);
    const items = [0, 1, 2].reduce((n, i) => n + clipFromId(`syn-6-train-f8-${i}`).items.length, 0);
    expect(a).toHaveLength(items);
    expect(b).toEqual(a);
    expect(a.filter((p) => !p.tie).length).toBeGreaterThan(0);
    // DPO on the same pairs of the same frames: the same π_2.
    expect(runs.imported.iterations[1]!.trained!.digest).toBe(runs.synthetic.iterations[1]!.trained!.digest);
    expect(runs.imported.iterations[1]!.trained!.digest).not.toBe(digest);
    for (const run of [runs.synthetic, runs.imported]) {
      const it1 = run.iterations[1]!;
      // Preference counts cover imported videos too.
      expect(it1.preferences).toMatchObject({ pairs: items });
      // The imported QA split is evaluated beside the synthetic one, with its own scorer.
      expect(it1.evaluation!.splits.map((s) => [s.scorer, s.items])).toEqual([
        ["oracle", clipFromId("syn-7-test-in-f8-0").items.length],
        ["match", altItems],
      ]);
    }
  }, 240_000);

  it("exports every decisive pair as TRL and LLaVA-Hound JSONL; counts match the run record", async () => {
    const decisive = (run: Run) =>
      run.iterations.filter((i) => i.iteration > 0).reduce((n, i) => n + i.preferences!.pairs - i.preferences!.ties, 0);
    const lines = (path: string) =>
      readFileSync(path, "utf8")
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l));
    const out = (name: string) => join(root, name);
    const trl = await cli(["run", "export", runs.imported.id, "--format", "trl", "--out", out("trl.jsonl"), "--server", url]);
    expect(trl.stderr).toBe("");
    expect(trl.code).toBe(0);
    const n = decisive(runs.imported);
    expect(trl.stdout).toBe(`wrote ${n} decisive pairs to ${out("trl.jsonl")} (trl; iteration 1: ${n})\n`);
    const rows = lines(out("trl.jsonl"));
    expect(rows).toHaveLength(n);
    for (const r of rows) {
      // What datasets.load_dataset("json") and TRL's DPOTrainer need: three string columns per line.
      expect(Object.keys(r).slice(0, 3)).toEqual(["prompt", "chosen", "rejected"]);
      expect([typeof r.prompt, typeof r.chosen, typeof r.rejected]).toEqual(["string", "string", "string"]);
      expect(r).toMatchObject({ iteration: 1, video: expect.stringMatching(/^clips\/syn-6-train-f8-\d\.mp4$/) });
    }
    // The same pairs from the synthetic run, in LLaVA-Hound's layout, name the same videos.
    const hound = await cli(["run", "export", runs.synthetic.id, "--format", "llava-hound", "--out", out("hound.jsonl"), "--server", url]);
    expect(hound.code).toBe(0);
    const houndRows = lines(out("hound.jsonl"));
    expect(houndRows).toHaveLength(decisive(runs.synthetic));
    expect(houndRows.map((r) => [r.id, r.video, r.prompt, r.chosen, r.rejected])).toEqual(
      rows.map((r) => [r.id.replace(/#0$/, ""), r.video, r.prompt, r.chosen, r.rejected]),
    );
    expect(Object.keys(houndRows[0]!)).toEqual([
      "id",
      "video",
      "prompt",
      "chosen",
      "rejected",
      "chosen_score",
      "rejected_score",
      "context",
      "iteration",
      "confidence",
    ]);
  }, 120_000);

  describe("evaluation on videos from another renderer", () => {
    let chat: ChatServer;
    const KEY = "sk-e2e-judge-7d1c";
    /** yes/5 for colour questions, no/1 for the rest, and an unreadable answer for "how many" questions. */
    const verdictFor = (question: string) =>
      /how many/i.test(question) ? undefined : /colou?r/i.test(question) ? { match: true, score: 5 } : { match: false, score: 1 };
    beforeAll(async () => {
      chat = await startChatServer((req) => {
        const question = /Question: (.*)\n/.exec(req.body.messages[1]!.content)![1]!;
        const v = verdictFor(question);
        return { text: v ? `{'pred': '${v.match ? "yes" : "no"}', 'score': ${v.score}}` : "The prediction seems partly right." };
      });
      process.env.ISRDPO_E2E_JUDGE_KEY = KEY;
    });
    afterAll(async () => {
      delete process.env.ISRDPO_E2E_JUDGE_KEY;
      await chat?.close();
    });

    it("reports accuracy and score from an LM judge on a chat-completions server, unparsable answers counted", async () => {
      const evaluator = createClient(EvaluatorService, createGrpcTransport({ baseUrl: url }));
      const { report } = await evaluator.evaluate({
        model: { digest },
        spec: {
          splits: [{ source: { case: "sharegptJsonl", value: { uri: altUri } } }],
          sampling: { temperature: 0, maxNewTokens: 8 },
          answerJudge: { kind: AnswerJudgeKind.LM, endpoint: chat.url, model: "judge-e2e", apiKeyEnv: "ISRDPO_E2E_JUDGE_KEY" },
        },
      });
      const [split] = report!.splits;
      expect(chat.requests).toHaveLength(altItems);
      expect(chat.requests.every((r) => r.headers.authorization === `Bearer ${KEY}`)).toBe(true);
      // What the judge was shown, and what it said, item by item.
      const shown = chat.requests.map((r) => {
        const c = r.body.messages[1]!.content;
        return {
          question: /Question: (.*)\n/.exec(c)![1]!,
          reference: /Correct Answer: (.*)\n/.exec(c)![1]!,
          prediction: /Predicted Answer: (.*)\n/.exec(c)![1]!,
        };
      });
      const verdicts = shown.map((s) => verdictFor(s.question));
      const unparsable = verdicts.filter((v) => !v).length;
      expect(unparsable).toBeGreaterThan(0);
      expect(split).toMatchObject({
        items: altItems,
        scorer: `lm judge-e2e@${chat.url} video-chatgpt-qa-v1`,
        unparsableJudgements: unparsable,
        unjudgedItems: unparsable,
        failures: [],
      });
      expect(split!.accuracy).toBeCloseTo(verdicts.filter((v) => v?.match).length / altItems, 9);
      expect(split!.meanScore).toBeCloseTo(verdicts.reduce((s, v) => s + (v?.score ?? 0), 0) / altItems, 9);
      expect(split!.matchAccuracy).toBeCloseTo(shown.filter((s) => answerMatches(s.prediction, s.reference)).length / altItems, 9);
      expect(split!.byQuestionType.map((t) => t.questionType).sort()).toEqual(
        [...new Set(split!.byQuestionType.map((t) => t.questionType))].sort(),
      );
      expect(split!.byQuestionType.reduce((n, t) => n + t.items, 0)).toBe(altItems);
    }, 120_000);

    it("isrdpo eval --dataset prints the table; the built-in judge's unreadable answers are counted", async () => {
      const res = await cli(["eval", "--model", digest, "--dataset", altUri, "--judge", "builtin", "--server", url]);
      expect(res.stderr).toBe("");
      expect(res.code).toBe(0);
      const split = `imported:${altUri.slice("artifact://datasets/".length, "artifact://datasets/".length + 12)}`;
      expect(res.stdout).toContain(`| ${split} | all | ${altItems} |`);
      expect(res.stdout).toMatch(
        new RegExp(`${split}: scored by builtin builtin:${digest.slice(0, 12)} compact-qa-v1; \\d+ unparsable judgement\\(s\\)`),
      );
    }, 120_000);
  });
});
