import * as tf from "@tensorflow/tfjs";

export type BackendPreference = "tensorflow" | "wasm" | "cpu";

/**
 * Picks the compute backend: tfjs-node-gpu, then tfjs-node (optional dependencies, usually absent),
 * then WebAssembly, then the plain JS backend. `prefer` (or ISRDPO_TF_BACKEND) forces one and fails
 * if it is unavailable, so a misconfigured GPU node never silently runs on the CPU.
 */
export async function initBackend(
  prefer?: BackendPreference,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<{ name: string }> {
  const forced = prefer ?? (process.env.ISRDPO_TF_BACKEND as BackendPreference | undefined);
  if (forced !== undefined && !["tensorflow", "wasm", "cpu"].includes(forced)) {
    throw new Error(`backend: unknown preference "${forced}" (expected tensorflow, wasm or cpu)`);
  }
  const order: BackendPreference[] = forced ? [forced] : ["tensorflow", "wasm", "cpu"];
  const failures: string[] = [];
  for (const kind of order) {
    const name = await tryBackend(kind, failures);
    if (name !== null) {
      log(`tfjs backend: ${name}${failures.length ? ` (unavailable: ${failures.join("; ")})` : ""}`);
      return { name };
    }
  }
  throw new Error(`backend: none of [${order.join(", ")}] could start: ${failures.join("; ")}`);
}

async function tryBackend(kind: BackendPreference, failures: string[]): Promise<string | null> {
  if (kind === "tensorflow") {
    // Optional native packages: the import itself fails where they are not installed or not built.
    for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
      try {
        await import(/* @vite-ignore */ pkg);
        if (await tf.setBackend("tensorflow")) {
          await tf.ready();
          return `tensorflow (${pkg})`;
        }
      } catch (err) {
        failures.push(`${pkg}: ${firstLine(err)}`);
      }
    }
    return null;
  }
  try {
    if (kind === "wasm") await import("@tensorflow/tfjs-backend-wasm");
    if (!(await tf.setBackend(kind))) throw new Error("setBackend returned false");
    await tf.ready();
    return kind;
  } catch (err) {
    failures.push(`${kind}: ${firstLine(err)}`);
    return null;
  }
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split("\n")[0] ?? "";
}
