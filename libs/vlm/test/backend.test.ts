// Backend choice without a GPU: the automatic order with injected probes, a forced backend that
// cannot start failing with one line (never a fallback), and WebGPU without an adapter.
import * as tf from "@tensorflow/tfjs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type BackendInfo, type BackendProbes, initBackend, isGpuBackend } from "../src/index.ts";

beforeAll(async () => {
  await initBackend("wasm", () => {});
});

/** Probes that succeed for `up` (in the order asked) and record every attempt. */
function probes(up: string[]): { probes: BackendProbes; tried: string[] } {
  const tried: string[] = [];
  const make = (slot: string, info: BackendInfo) => async () => {
    tried.push(slot);
    if (!up.includes(slot)) throw new Error(`${slot}: not here\nsecond line`);
    return info;
  };
  return {
    tried,
    probes: {
      tfjsNodeGpu: make("tfjsNodeGpu", { name: "tensorflow (@tensorflow/tfjs-node-gpu)", adapter: "" }),
      webgpu: make("webgpu", { name: "webgpu", adapter: "nvidia hopper NVIDIA H200" }),
      tfjsNode: make("tfjsNode", { name: "tensorflow (@tensorflow/tfjs-node)", adapter: "" }),
      wasm: make("wasm", { name: "wasm", adapter: "" }),
      cpu: make("cpu", { name: "cpu", adapter: "" }),
    },
  };
}

describe("initBackend", () => {
  const env = process.env.ISRDPO_BACKEND;
  afterEach(() => {
    if (env === undefined) delete process.env.ISRDPO_BACKEND;
    else process.env.ISRDPO_BACKEND = env;
  });

  it("automatic order: tfjs-node-gpu, webgpu, tfjs-node, wasm, cpu; the first that starts wins and is logged", async () => {
    delete process.env.ISRDPO_BACKEND;
    const cases: [string[], string[], string][] = [
      [["tfjsNodeGpu", "webgpu", "wasm"], ["tfjsNodeGpu"], "tensorflow (@tensorflow/tfjs-node-gpu)"],
      [["webgpu", "tfjsNode", "wasm"], ["tfjsNodeGpu", "webgpu"], "webgpu"],
      [["tfjsNode", "wasm"], ["tfjsNodeGpu", "webgpu", "tfjsNode"], "tensorflow (@tensorflow/tfjs-node)"],
      [["wasm", "cpu"], ["tfjsNodeGpu", "webgpu", "tfjsNode", "wasm"], "wasm"],
      [["cpu"], ["tfjsNodeGpu", "webgpu", "tfjsNode", "wasm", "cpu"], "cpu"],
    ];
    for (const [up, expectTried, name] of cases) {
      const p = probes(up);
      const lines: string[] = [];
      const info = await initBackend(undefined, (l) => lines.push(l), p.probes);
      expect(info.name).toBe(name);
      expect(p.tried).toEqual(expectTried);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^tfjs backend: ${name.replace(/[()]/g, "\\$&")}`));
      if (name === "webgpu") expect(lines[0]).toContain("on nvidia hopper NVIDIA H200 (unavailable: tfjsNodeGpu: not here)");
      expect(isGpuBackend()).toBe(name === "webgpu" || name.includes("node-gpu"));
    }
    const none = probes([]);
    await expect(initBackend(undefined, () => {}, none.probes)).rejects.toThrow(
      /^backend: none could start: tfjsNodeGpu: not here; webgpu/,
    );
  });

  it("a forced backend is the only one tried; one that cannot start is an error of one line, not a fallback", async () => {
    const p = probes(["wasm", "cpu"]);
    const err = await initBackend("webgpu", () => {}, p.probes).catch((e: Error) => e);
    expect(p.tried).toEqual(["webgpu"]);
    expect((err as Error).message).toBe("backend: webgpu was asked for and cannot start: webgpu: not here");
    // `tensorflow` means either native package, GPU build first.
    const t = probes(["tfjsNode"]);
    expect((await initBackend("tensorflow", () => {}, t.probes)).name).toBe("tensorflow (@tensorflow/tfjs-node)");
    expect(t.tried).toEqual(["tfjsNodeGpu", "tfjsNode"]);
    // ISRDPO_BACKEND forces one the same way; an unknown name is refused.
    process.env.ISRDPO_BACKEND = "cpu";
    const e = probes(["wasm", "cpu"]);
    expect((await initBackend(undefined, () => {}, e.probes)).name).toBe("cpu");
    expect(e.tried).toEqual(["cpu"]);
    process.env.ISRDPO_BACKEND = "gpu";
    await expect(initBackend(undefined, () => {}, e.probes)).rejects.toThrow(
      'backend: unknown preference "gpu" (expected tensorflow, webgpu, wasm, cpu)',
    );
  });

  it("webgpu with no adapter (no Vulkan GPU) fails with one clear line and leaves the backend as it was", async () => {
    const saved = Object.getOwnPropertyDescriptor(globalThis, "navigator");
    // navigator.gpu as Dawn gives it on a machine without a usable GPU: requestAdapter() resolves null.
    Object.defineProperty(globalThis, "navigator", {
      value: { gpu: { requestAdapter: async () => null } },
      configurable: true,
      writable: true,
    });
    try {
      const err = (await initBackend("webgpu", () => {}).catch((e: Error) => e)) as Error;
      expect(err.message).toMatch(/^backend: webgpu was asked for and cannot start: webgpu: no GPU adapter \(Dawn needs libvulkan1/);
      expect(err.message).not.toContain("\n");
      expect(tf.getBackend()).toBe("wasm");
    } finally {
      if (saved) Object.defineProperty(globalThis, "navigator", saved);
      else delete (globalThis as { navigator?: unknown }).navigator;
    }
  });

  it("webgpu through the real Dawn binding: starts on a GPU machine, else the same one-line error", async () => {
    const outcome = await initBackend("webgpu", () => {}).then(
      (info) => info,
      (e: Error) => e,
    );
    if (outcome instanceof Error) {
      expect(outcome.message).toMatch(/^backend: webgpu was asked for and cannot start: webgpu: no GPU adapter/);
      expect(tf.getBackend()).toBe("wasm");
    } else {
      expect(outcome.name).toBe("webgpu");
      expect(outcome.adapter).not.toBe("");
      await initBackend("wasm", () => {});
    }
  });
});
