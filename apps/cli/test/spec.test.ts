import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { equals } from "@bufbuild/protobuf";
import { Alignment, ContextMode, JudgeStrategy, RunSpecSchema } from "@isrdpo/contracts";
import { normalizeRunSpec } from "@isrdpo/orchestration";
import { describe, expect, it } from "vitest";
import { CONTEXT_MODE_NAMES, DEMO_PRESET_NAMES, JUDGE_NAMES } from "../src/choices.ts";
import { DEMO_PRESETS, demoSpec } from "../src/demo-spec.ts";
import { parseRunSpec, readRunSpec, SpecError } from "../src/spec.ts";

const example = (name: string) => fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url));

describe("run specs", () => {
  it("examples/demo-run.yaml is exactly the demo's default spec", () => {
    const file = readRunSpec(example("demo-run.yaml"));
    const demo = demoSpec({ preset: "small", iterations: 3, contextMode: ContextMode.RETROSPECTIVE, judge: JudgeStrategy.SELF, seed: 1 });
    expect(equals(RunSpecSchema, file, demo)).toBe(true);
  });

  it("the examples pass the orchestrator's validation", () => {
    for (const name of ["demo-run.yaml", "cluster-run.yaml", "caption-proxy-openai.yaml", "vlm-rlaif-run.yaml"])
      expect(() => normalizeRunSpec(readRunSpec(example(name)))).not.toThrow();
    const proxy = normalizeRunSpec(readRunSpec(example("caption-proxy-openai.yaml"))).judge!;
    expect(proxy.captionProxy).toMatchObject({ endpoint: "http://vllm:8000/v1", apiKeyEnv: "OPENAI_API_KEY", maxRequests: 5000 });
    const rlaif = normalizeRunSpec(readRunSpec(example("vlm-rlaif-run.yaml")));
    expect(rlaif).toMatchObject({ alignment: Alignment.PPO, judge: { strategy: JudgeStrategy.REWARD_MODEL } });
  });

  it("names the field of a mistake", () => {
    expect(() => parseRunSpec("iterations: three\n", "spec.yaml")).toThrow(SpecError);
    expect(() => parseRunSpec("iterations: three\n", "spec.yaml")).toThrow(/^spec\.yaml: iterations: .*isrdpo\.v1\.RunSpec\.iterations/);
    expect(() => parseRunSpec("iteratons: 3\n", "spec.yaml")).toThrow(/iteratons/);
    expect(() => parseRunSpec("- a\n", "spec.yaml")).toThrow("spec.yaml: expected a mapping of RunSpec fields");
    expect(() => parseRunSpec("judge: { strategy: JUDGE_STRATEGY_MAGIC }\n", "spec.yaml")).toThrow(/^spec\.yaml: judge\.strategy: /);
    expect(() => parseRunSpec("evaluation: { splits: [ { synthetic: { clipCount: -1 } } ] }\n", "s.yaml")).toThrow(
      /^s\.yaml: evaluation\.splits\[0\]\.synthetic\.clipCount: /,
    );
    expect(() => readRunSpec("/nonexistent/spec.yaml")).toThrow("/nonexistent/spec.yaml: no such file");
    expect(readFileSync(example("cluster-run.yaml"), "utf8")).toContain("iterations: 4");
  });

  it("the demo's --preset and --context-mode choices (listed without loading the contracts) are the presets and modes", () => {
    expect([...DEMO_PRESET_NAMES].sort()).toEqual(Object.keys(DEMO_PRESETS).sort());
    const modes = Object.keys(ContextMode).filter((k) => Number.isNaN(Number(k)) && k !== "UNSPECIFIED");
    expect(CONTEXT_MODE_NAMES.map((m) => m.toUpperCase().replace("-", "_")).sort()).toEqual(modes.sort());
  });

  it("the demo's --judge choices are judge strategies a run accepts", () => {
    for (const name of JUDGE_NAMES) {
      const judge = JudgeStrategy[name.toUpperCase().replace("-", "_") as keyof typeof JudgeStrategy];
      expect(judge, name).toBeDefined();
      expect(() =>
        normalizeRunSpec(demoSpec({ preset: "test", iterations: 1, contextMode: ContextMode.RETROSPECTIVE, judge, seed: 1 })),
      ).not.toThrow();
    }
  });
});
