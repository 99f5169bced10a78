// Issue 6 acceptance: the ISR-DPO loop in distributed mode (a private nats-server, every service its
// own process), and a judge killed mid-stage that the run survives with the same preferences.
import { RunService, RunState, Stage, StageState, type Run } from "@isrdpo/contracts";
import type { ArtifactStore, Bus } from "@isrdpo/bus";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { LocalArtifactStore, MemoryBus } from "@isrdpo/bus";
import { createLogger, loadConfig, startServer } from "@isrdpo/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVICES } from "@isrdpo/cli/services";
import { Cluster, e2eSpec, preferences, runToEnd } from "./cluster.ts";

describe("ISR-DPO in distributed mode", () => {
  let cluster: Cluster;
  let client: { bus: Bus; artifacts: ArtifactStore };
  let first: Run;

  beforeAll(async () => {
    cluster = await Cluster.start();
    client = await cluster.connect();
  }, 120_000);
  afterAll(async () => {
    await client?.bus.close();
    await cluster?.stop();
  });

  it("runs SFT and two iterations; every artifact verifies; every iteration is evaluated", async () => {
    const runs = cluster.runs();
    const { run: created } = await runs.createRun({ spec: e2eSpec({ sft: true }) });
    first = await runToEnd(runs, created!.id);
    expect(first.failureReason).toBe("");
    expect(first.state).toBe(RunState.SUCCEEDED);
    expect(first.iterations.map((i) => i.iteration)).toEqual([0, 1, 2]);
    // π_1 is evaluated too.
    expect(first.iterations[0]!.evaluation?.splits.map((s) => s.split)).toEqual(["test-in", "test-out"]);
    for (const it of first.iterations.filter((i) => i.iteration > 0)) {
      expect(it.policy?.digest).toMatch(/^[0-9a-f]{64}$/);
      expect(it.trained?.digest).toMatch(/^[0-9a-f]{64}$/);
      expect(it.evaluation?.splits.map((s) => s.split)).toEqual(["test-in", "test-out"]);
      expect(it.evaluation!.splits.every((s) => s.items > 0)).toBe(true);
      expect(it.preferences!.pairs).toBeGreaterThan(0);
      for (const stage of it.stages) expect(stage.state, Stage[stage.stage]).toBe(StageState.SUCCEEDED);
    }
    // π_2 is what iteration 1 trained; π_3 comes from π_2.
    expect(first.iterations[2]!.policy!.digest).toBe(first.iterations[1]!.trained!.digest);
    // Every stage output and every model file is in the object store and matches its sha256.
    const outputs = first.iterations.flatMap((i) => i.stages.flatMap((s) => s.outputs));
    expect(outputs.length).toBeGreaterThan(6);
    for (const ref of outputs) expect((await client.artifacts.get(ref)).length).toBe(Number(ref.sizeBytes));
    // Every model version: a manifest and its three files, all verifying.
    const models = await client.artifacts.list("artifact://models/");
    const digests = new Set(first.iterations.flatMap((i) => [i.policy?.digest, i.trained?.digest]).filter(Boolean));
    expect(models.length).toBe(4 * digests.size);
    for (const ref of models) await client.artifacts.get(ref);
  }, 240_000);

  it("gives the same preferences and model digests in embedded mode (one process, in-memory bus, 2 stage threads, 2 gradient-shard threads) as the 1-thread cluster", async () => {
    const dir = mkdtempSync(join(tmpdir(), "isrdpo-embedded-"));
    const config = loadConfig({
      env: {},
      flags: {
        host: "127.0.0.1",
        metricsPort: 0,
        logLevel: "silent",
        artifactDir: join(dir, "artifacts"),
        checkpointDir: join(dir, "checkpoints"),
        threads: 2,
      },
    });
    const ctx = {
      config,
      logger: createLogger("embedded", "silent"),
      bus: new MemoryBus(),
      artifacts: new LocalArtifactStore(config.artifactDir),
    };
    const server = await startServer(Object.values(SERVICES), ctx, 0);
    try {
      const runs = createClient(RunService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
      const { run: created } = await runs.createRun({ spec: e2eSpec({ sft: true }) });
      const embedded = await runToEnd(runs, created!.id);
      expect(embedded.state).toBe(RunState.SUCCEEDED);
      const digests = (r: Run) => r.iterations.map((i) => [i.policy?.digest ?? "", i.trained?.digest ?? ""]);
      expect(digests(embedded)).toEqual(digests(first));
      for (const t of [1, 2]) expect(await preferences(ctx.artifacts, embedded, t)).toEqual(await preferences(client.artifacts, first, t));
    } finally {
      await server.close();
      await ctx.bus.close();
    }
  }, 240_000);

  it("survives kill -9 of the judge during judging with the same preferences", async () => {
    const runs = cluster.runs();
    // Same π_1 as the first run: the responses, contexts and judgments are the same by seed.
    const pi1 = first.iterations[1]!.policy!;
    const { run: created } = await runs.createRun({ spec: e2eSpec({ model: pi1 }) });
    let killed = false;
    const run = await runToEnd(runs, created!.id, async (e) => {
      const judging = e.iteration === 1 && e.stage === Stage.JUDGE && e.kind.case === "shardProgress" && e.kind.value.shardsDone === 1;
      if (judging && !killed) {
        killed = true;
        await cluster.kill("judge");
        await cluster.startService("judge");
      }
    });
    expect(killed).toBe(true);
    expect(run.failureReason).toBe("");
    expect(run.state).toBe(RunState.SUCCEEDED);
    const undisturbed = await preferences(client.artifacts, first, 1);
    const disturbed = await preferences(client.artifacts, run, 1);
    expect(disturbed.length).toBe(undisturbed.length);
    expect(disturbed).toEqual(undisturbed);
  }, 240_000);
});
