import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { DatasetRefSchema, ModelRefSchema, SplitMetricsSchema } from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus } from "@isrdpo/bus";
import { createLogger, loadConfig } from "@isrdpo/runtime";
import { withModel } from "@isrdpo/serving";
import { describe, expect, it } from "vitest";
import { publishTinyModel } from "../../../test/support/model.ts";
import { EVAL_SAMPLING } from "../src/evaluate.ts";
import { evaluateSpecSplit } from "../src/qa.ts";
import { splitCacheUri } from "../src/cache.ts";

describe("evaluation cache", () => {
  it("evaluates a (model, split, sampling) once and reuses the stored result; other sampling is evaluated anew", async () => {
    const dir = mkdtempSync(join(tmpdir(), "isrdpo-evalcache-"));
    const digest = await publishTinyModel(dir);
    const artifacts = new LocalArtifactStore(dir);
    const config = loadConfig({
      env: {},
      flags: { host: "127.0.0.1", metricsPort: 0, artifactDir: dir, checkpointDir: mkdtempSync(join(tmpdir(), "isrdpo-evalcache-ckpt-")) },
    });
    const ctx = { config, logger: createLogger("test", "silent"), bus: new MemoryBus(), artifacts };
    const ref = create(DatasetRefSchema, { source: { case: "synthetic", value: { seed: 5n, split: "test-in", clipCount: 2 } } });
    const model = create(ModelRefSchema, { digest });
    const sampling = { ...EVAL_SAMPLING, topP: 1, topK: 0, stop: [], seed: 0, maxNewTokens: 8 };
    const evaluate = (s = sampling) =>
      withModel(ctx, model, "model", (policy) => evaluateSpecSplit(ctx, policy, model, ref, undefined, s, "split"));

    const first = await evaluate();
    expect(first.items).toBeGreaterThan(0);
    const stored = await artifacts.list("artifact://evaluations/");
    expect(stored).toHaveLength(1);
    // Overwrite the stored result with a marked one: the next evaluation must return it, not recompute.
    await artifacts.put(stored[0]!.uri, toBinary(SplitMetricsSchema, create(SplitMetricsSchema, { ...first, scorer: "from-cache" })));
    expect((await evaluate()).scorer).toBe("from-cache");

    const other = await evaluate({ ...sampling, maxNewTokens: 9 });
    expect(other.scorer).toBe("oracle");
    expect(await artifacts.list("artifact://evaluations/")).toHaveLength(2);
  });

  it("keys on the model, the split content, the sampling and the answer judge", () => {
    const s = { temperature: 0, topP: 1, topK: 0, maxNewTokens: 8, stop: [], seed: 0 };
    const base = splitCacheUri({ model: "a".repeat(64), split: "x", sampling: s });
    expect(splitCacheUri({ model: "a".repeat(64), split: "x", sampling: s })).toBe(base);
    expect(splitCacheUri({ model: "b".repeat(64), split: "x", sampling: s })).not.toBe(base);
    expect(splitCacheUri({ model: "a".repeat(64), split: "y", sampling: s })).not.toBe(base);
    expect(splitCacheUri({ model: "a".repeat(64), split: "x", sampling: { ...s, temperature: 0.5 } })).not.toBe(base);
  });
});
