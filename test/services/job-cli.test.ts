// Issue 16: VLM-RLAIF from the command line — `isrdpo job start --watch` trains a reward model on a
// trainer, then PPO against it; the last line of each is the output model's digest.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { PreferenceShardSchema } from "@isrdpo/contracts";
import { LocalArtifactStore } from "@isrdpo/bus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishTinyModel } from "../support/model.ts";
import { runToEnd, startServer, type ServerProcess } from "../support/processes.ts";

describe("isrdpo job start: reward model, then PPO against it", () => {
  const dir = mkdtempSync(join(tmpdir(), "isrdpo-job-cli-"));
  let server: ServerProcess;
  let digest: string;

  beforeAll(async () => {
    digest = await publishTinyModel(dir);
    server = await startServer(
      "apps/cli/src/main.ts",
      ["serve", "trainer", "--port", "0"],
      { ISRDPO_ARTIFACT_DIR: dir, ISRDPO_CHECKPOINT_DIR: join(dir, "ckpt") },
      120_000,
    );
  }, 150_000);
  afterAll(async () => {
    server?.child.kill("SIGTERM");
    await server?.exited;
  });

  const job = (name: string, yaml: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, yaml);
    return runToEnd("apps/cli/src/main.ts", ["job", "start", "--spec", file, "--server", `http://127.0.0.1:${server.port}`, "--watch"]);
  };

  it("trains the reward model, then PPO with it; a bad spec names its field", async () => {
    const records = ["red", "blue", "green", "white"].map((c, i) => ({
      itemId: `i${i}`,
      videoId: "syn-3-train-f8-0",
      prompt: "What colour?",
      context: `a ${c} circle.`,
      chosen: c,
      rejected: i === 0 ? "blue" : "red",
    }));
    const shard = await new LocalArtifactStore(dir).put(
      "artifact://test/prefs/cli.pb",
      toBinary(PreferenceShardSchema, create(PreferenceShardSchema, { records })),
    );
    const rm = await job(
      "rm",
      `kind: JOB_KIND_REWARD_MODEL
baseModel: { digest: ${digest} }
data: [{ uri: "${shard.uri}", sha256: ${shard.sha256} }]
rewardModel: { heldOutFraction: 0.25 }
training: { epochs: 2, batchSize: 2 }
`,
    );
    expect(rm.stderr).toMatch(/step 1\/4 loss/);
    expect(rm.code).toBe(0);
    const rmLines = rm.stdout.trim().split("\n");
    expect(rmLines[0]).toMatch(/eval_accuracy/);
    const rmDigest = rmLines.at(-1)!;
    expect(rmDigest).toMatch(/^[0-9a-f]{64}$/);
    const ppo = await job(
      "ppo",
      `kind: JOB_KIND_PPO
baseModel: { digest: ${digest} }
data: [{ uri: "${shard.uri}", sha256: ${shard.sha256} }]
ppo: { rewardModel: { digest: ${rmDigest} }, rolloutBatchSize: 2, rollouts: 1, ppoEpochs: 1, maxNewTokens: 4 }
`,
    );
    expect(ppo.code).toBe(0);
    expect(ppo.stderr).toMatch(/objective\/kl/);
    expect(ppo.stdout.trim().split("\n").at(-1)).toMatch(/^[0-9a-f]{64}$/);
    const bad = await job("bad", "kind: JOB_KIND_PPO\nppo: { klCoeff: 1 }\n");
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/bad\.yaml: ppo/);
  }, 300_000);
});
