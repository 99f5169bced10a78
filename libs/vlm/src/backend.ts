import * as tf from "@tensorflow/tfjs";

/** The backends `initBackend` knows, in its automatic order. */
export const BACKENDS = ["tensorflow", "webgpu", "wasm", "cpu"] as const;
export type BackendPreference = (typeof BACKENDS)[number];

export interface BackendInfo {
  /** The tfjs backend in use, with its package for `tensorflow`, e.g. "tensorflow (@tensorflow/tfjs-node-gpu)". */
  name: string;
  /** The GPU that WebGPU runs on (vendor, architecture, device, description), "" on other backends. */
  adapter: string;
}

/** The ways to start a backend, in the automatic order (`tensorflow` is the two native packages). */
const SLOTS = ["tfjsNodeGpu", "webgpu", "tfjsNode", "wasm", "cpu"] as const;
type Slot = (typeof SLOTS)[number];
const SLOTS_OF: Record<BackendPreference, readonly Slot[]> = {
  tensorflow: ["tfjsNodeGpu", "tfjsNode"],
  webgpu: ["webgpu"],
  wasm: ["wasm"],
  cpu: ["cpu"],
};
const GPU_SLOTS: readonly Slot[] = ["tfjsNodeGpu", "webgpu"];

/**
 * How each slot starts: resolves with what runs, or rejects with why it cannot. Injectable so the
 * order and the error paths are tested on machines without a GPU.
 */
export type BackendProbes = Record<Slot, () => Promise<BackendInfo>>;

let onGpu = false;

/**
 * Picks the compute backend: tfjs-node-gpu, WebGPU (Dawn, only when it finds a GPU adapter),
 * tfjs-node, WebAssembly, then the plain JS backend. `prefer` (or ISRDPO_BACKEND) forces one and
 * fails if it is unavailable, so a misconfigured GPU node never silently runs on the CPU.
 */
export async function initBackend(
  prefer?: BackendPreference,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  probes: BackendProbes = defaultProbes,
): Promise<BackendInfo> {
  const env = process.env.ISRDPO_BACKEND;
  const forced = prefer ?? (env === "" ? undefined : (env as BackendPreference | undefined));
  if (forced !== undefined && !BACKENDS.includes(forced)) {
    throw new Error(`backend: unknown preference "${forced}" (expected ${BACKENDS.join(", ")})`);
  }
  const failures: string[] = [];
  for (const slot of forced ? SLOTS_OF[forced] : SLOTS) {
    try {
      const info = await probes[slot]();
      onGpu = GPU_SLOTS.includes(slot);
      const unavailable = failures.length ? ` (unavailable: ${failures.join("; ")})` : "";
      log(`tfjs backend: ${info.name}${info.adapter ? ` on ${info.adapter}` : ""}${unavailable}`);
      return info;
    } catch (err) {
      failures.push(firstLine(err));
    }
  }
  if (forced) throw new Error(`backend: ${forced} was asked for and cannot start: ${failures.join("; ")}`);
  throw new Error(`backend: none could start: ${failures.join("; ")}`);
}

/** Whether the backend chosen by initBackend computes on a GPU, where reading a tensor to the CPU is a transfer. */
export function isGpuBackend(): boolean {
  return onGpu;
}

const defaultProbes: BackendProbes = {
  tfjsNodeGpu: () => startNative("@tensorflow/tfjs-node-gpu"),
  webgpu: startWebgpu,
  tfjsNode: () => startNative("@tensorflow/tfjs-node"),
  wasm: async () => {
    await import("@tensorflow/tfjs-backend-wasm");
    return startTfjs("wasm");
  },
  cpu: () => startTfjs("cpu"),
};

async function startTfjs(name: string): Promise<BackendInfo> {
  if (!(await tf.setBackend(name))) throw new Error(`${name}: setBackend returned false`);
  await tf.ready();
  return { name, adapter: "" };
}

/** Optional native packages: the import itself fails where they are not installed or not built. */
async function startNative(pkg: string): Promise<BackendInfo> {
  try {
    await import(/* @vite-ignore */ pkg);
    await startTfjs("tensorflow");
  } catch (err) {
    throw new Error(`${pkg}: ${firstLine(err)}`);
  }
  return { name: `tensorflow (${pkg})`, adapter: "" };
}

/** Why Dawn may find no adapter, said once in every failure. */
const NO_ADAPTER =
  "webgpu: no GPU adapter (Dawn needs libvulkan1 and the GPU's Vulkan driver; in Kubernetes NVIDIA_DRIVER_CAPABILITIES must include graphics; CPU Vulkan such as lavapipe is refused)";

/**
 * WebGPU in Node through Dawn (the `webgpu` package): its globals and `navigator.gpu` must exist
 * before tfjs-backend-webgpu is imported, which registers the backend only when they do.
 */
async function startWebgpu(): Promise<BackendInfo> {
  let gpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
  if (!gpu) {
    let dawn: { create: (flags: string[]) => GpuLike; globals: object };
    try {
      dawn = (await import(/* @vite-ignore */ "webgpu")) as unknown as typeof dawn;
    } catch (err) {
      throw new Error(`webgpu: the optional package "webgpu" (Dawn) is not installed: ${firstLine(err)}`);
    }
    Object.assign(globalThis, dawn.globals);
    gpu = dawn.create([]);
    // Node 21+ has a read-only navigator; Node 20 has none.
    Object.defineProperty(globalThis, "navigator", {
      value: { ...(globalThis as { navigator?: object }).navigator, gpu },
      configurable: true,
      writable: true,
    });
  }
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error(NO_ADAPTER);
  const i = adapter.info ?? {};
  const described = [i.vendor, i.architecture, i.device, i.description].filter((x) => x).join(" ") || "unknown adapter";
  try {
    await import(/* @vite-ignore */ "@tensorflow/tfjs-backend-webgpu");
  } catch (err) {
    throw new Error(`webgpu: the optional package "@tensorflow/tfjs-backend-webgpu" is not installed: ${firstLine(err)}`);
  }
  await startTfjs("webgpu");
  return { name: "webgpu", adapter: described };
}

interface GpuLike {
  requestAdapter(o?: object): Promise<{ info?: { vendor?: string; architecture?: string; device?: string; description?: string } } | null>;
}

/** A tensor's values, read without blocking (the only read a GPU backend has in Node), then disposed. */
export async function readAndDispose(t: tf.Tensor): Promise<Float32Array | Int32Array | Uint8Array> {
  try {
    return (await t.data()) as Float32Array | Int32Array | Uint8Array;
  } finally {
    t.dispose();
  }
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split("\n")[0] ?? "";
}
