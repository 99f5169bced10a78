// `isrdpo data import` as a user runs it: a real CLI process against a running orchestrator
// (--server), its exit code and output; then a run spec naming a plain path is refused at CreateRun
// with the way to fix it, one naming a URI not in the store too, and the imported URI is accepted.
// (NATS and directory targets, and usage mistakes: apps/cli/test/data-import.test.ts.)
import { appendFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { JudgeStrategy, RunService } from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus } from "@isrdpo/bus";
import { readArtifactLines, writeSyntheticDataset } from "@isrdpo/datasets";
import { createLogger, loadConfig, startServer, type RunningServer } from "@isrdpo/runtime";
import { orchestratorService } from "@isrdpo/service-orchestrator";
import { clipFromId } from "@isrdpo/video";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runToEnd } from "../support/processes.ts";

const root = mkdtempSync(join(tmpdir(), "isrdpo-cli-import-"));
const cli = (args: string[]) => runToEnd("apps/cli/src/main.ts", args);

describe("isrdpo data import", () => {
  let server: RunningServer;
  let store: LocalArtifactStore;
  const dir = join(root, "synth");

  beforeAll(async () => {
    await writeSyntheticDataset(dir, { seed: 21, train: 3, testIn: 0, testOut: 0 });
    store = new LocalArtifactStore(join(root, "server-artifacts"));
    const config = loadConfig({ env: {}, flags: { host: "127.0.0.1", metricsPort: 0, logLevel: "silent" } });
    server = await startServer(
      [orchestratorService],
      { config, logger: createLogger("t", "silent"), bus: new MemoryBus(), artifacts: store },
      0,
    );
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("reports a bad JSON line, a missing video and a corrupt mp4 by line and reason, imports the rest, exits 3", async () => {
    const jsonl = join(dir, "train.jsonl");
    const lines = readFileSync(jsonl, "utf8").trimEnd().split("\n").length;
    const corrupt = join(dir, "clips", "syn-21-train-f8-0.mp4");
    writeFileSync(corrupt, readFileSync(corrupt).subarray(0, 300));
    unlinkSync(join(dir, "clips", "syn-21-train-f8-1.mp4"));
    appendFileSync(jsonl, '{"id": "cut off", "video": "clips/syn-21-train-f8-2.mp4", "conversa\n');
    const n = [0, 1, 2].map((i) => clipFromId(`syn-21-train-f8-${i}`).items.length);

    const res = await cli(["data", "import", "--jsonl", jsonl, "--videos", dir, "--server", `http://127.0.0.1:${server.port}`]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(3); // imported, some lines bad
    const out = res.stdout.trimEnd().split("\n");
    expect(out.filter((l) => l.startsWith("bad line "))).toHaveLength(n[0]! + n[1]! + 1);
    expect(out[0]).toMatch(
      new RegExp(`^bad line 1 \\(id syn-21-train-f8-0-q0\\): ${corrupt}: (not a readable video|truncated or corrupt)`),
    );
    expect(out).toContain(
      `bad line ${n[0]! + 1} (id syn-21-train-f8-1-q0): ${join(dir, "clips", "syn-21-train-f8-1.mp4")}: file not found`,
    );
    expect(out.find((l) => l.startsWith(`bad line ${lines + 1}: `))).toMatch(
      new RegExp(`^bad line ${lines + 1}: ${jsonl}:${lines + 1}: not valid JSON`),
    );
    expect(out.at(-2)).toBe(
      `imported into server http://127.0.0.1:${server.port}: ${n[2]} records (${n[2]} QA items) of ${lines + 1} lines; ` +
        `videos: 1 decoded, 0 already stored; ${n[0]! + n[1]! + 1} bad`,
    );
    const uri = out.at(-1)!;
    expect(uri).toMatch(/^artifact:\/\/datasets\/[0-9a-f]{64}\.jsonl$/);
    // Stored on the server side, through ArtifactService: the good clip's records.
    const ids: string[] = [];
    for await (const { text } of readArtifactLines(store, uri)) ids.push(JSON.parse(text).id);
    expect(ids).toEqual(clipFromId("syn-21-train-f8-2").items.map((i) => i.id));

    // A run spec names the dataset: a plain path is refused at CreateRun, the imported URI accepted.
    const runs = createClient(RunService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
    const spec = (u: string) => ({
      initialModel: { source: { case: "model" as const, value: { digest: "a".repeat(64) } } },
      prompts: { source: { case: "sharegptJsonl" as const, value: { uri: u } } },
      iterations: 1,
      judge: { strategy: JudgeStrategy.SELF },
    });
    await expect(runs.createRun({ spec: spec(jsonl) })).rejects.toThrow(
      `[invalid_argument] spec.prompts.sharegpt_jsonl.uri: "${jsonl}" is not an artifact URI: import the dataset first ` +
        `(isrdpo data import --jsonl ${jsonl} --videos <dir>) and use the artifact:// URI it prints`,
    );
    const typo = `${uri.slice(0, -8)}0000.jsonl`;
    await expect(runs.createRun({ spec: spec(typo) })).rejects.toThrow(
      `[invalid_argument] spec.prompts.sharegpt_jsonl.uri: ${typo} is not in the artifact store (isrdpo data import prints the URIs it stores)`,
    );
    const { run } = await runs.createRun({ spec: spec(uri) });
    expect(run!.id).toBeTruthy();
    await runs.cancelRun({ runId: run!.id, reason: "test" });
  }, 120_000);
});
