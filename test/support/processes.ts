// Spawns repo commands as real processes and waits until a server logs that it is serving.
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
}

/**
 * Runs a TypeScript entry point, e.g. ("apps/cli/src/main.ts", ["serve", "all", "--port", "0"]), as one
 * node process with tsx's loader: the tsx CLI would run it in a child process that a SIGKILL of the
 * parent leaves running.
 */
export function spawnTs(entry: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", `${REPO_ROOT}${entry}`, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ISRDPO_METRICS_PORT: "0", ISRDPO_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Starts a server process and resolves once it logged `serving` (with its bound port). */
export async function startServer(entry: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<ServerProcess> {
  const child = spawnTs(entry, args, env);
  let err = "";
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL"); // no stray server behind a failed start
      reject(new Error(`${entry} did not start in ${timeoutMs} ms:\n${err}`));
    }, timeoutMs);
    child.stderr!.on("data", (chunk: Buffer) => {
      err += chunk.toString();
      for (const line of err.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          const record = JSON.parse(line) as { msg?: string; port?: number };
          if (record.msg === "serving" && record.port) {
            clearTimeout(timer);
            resolve(record.port);
          }
        } catch {
          // a partial line; wait for the rest
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited (${code}) before serving:\n${err}`));
    });
  });
  return { child, port, stderr: () => err, exited };
}

/**
 * Resolves with a process's exit code once it has exited; after `timeoutMs` kills it and fails,
 * naming `what` and showing its output so far.
 */
export async function exitWithin(child: ChildProcess, timeoutMs: number, what: string, output: () => string): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c))),
    new Promise<"hung">((resolve) => (timer = setTimeout(() => resolve("hung"), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (code === "hung") {
    child.kill("SIGKILL");
    throw new Error(`${what} did not exit within ${timeoutMs} ms; output:\n${output()}`);
  }
  return code;
}

/** Runs a command to completion and returns its exit code and output. */
export function runToEnd(
  entry: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTs(entry, args, env);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr })));
}

/**
 * `isrdpo serve all` on a free port with its artifacts and checkpoints under `dir` (removed by
 * `stop()`, which also ends the process).
 */
export async function serveAll(dir: string, env: NodeJS.ProcessEnv = {}): Promise<ServerProcess & { stop(): Promise<void> }> {
  const server = await startServer("apps/cli/src/main.ts", ["serve", "all", "--port", "0"], {
    ISRDPO_ARTIFACT_DIR: join(dir, "artifacts"),
    ISRDPO_CHECKPOINT_DIR: join(dir, "ckpt"),
    ...env,
  });
  return {
    ...server,
    stop: async () => {
      server.child.kill("SIGTERM");
      await server.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
