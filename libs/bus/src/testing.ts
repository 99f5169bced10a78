// Test helpers: a private nats-server per test, never the shared one on 4222.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface NatsServer {
  url: string;
  port: number;
  /** JetStream store directory; survives restart(). */
  storeDir: string;
  /** Stops the server (SIGTERM) and removes the store directory if this helper created it. */
  stop(): Promise<void>;
  /** kill -9: no clean shutdown. */
  kill(): Promise<void>;
  /** Stops (SIGTERM, or SIGKILL with hard) and starts again on the same port and store. */
  restart(opts?: { hard?: boolean }): Promise<void>;
}

export function natsServerBinary(): string {
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, "nats-server"))) return join(dir, "nats-server");
  }
  if (existsSync("/usr/sbin/nats-server")) return "/usr/sbin/nats-server";
  throw new Error("nats-server not found: install it (apt-get install nats-server) or set NATS_SERVER_BIN");
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

export async function startNatsServer(opts: { storeDir?: string; port?: number } = {}): Promise<NatsServer> {
  const ownsDir = opts.storeDir === undefined;
  const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), "isrdpo-nats-")));
  const port = opts.port ?? (await freePort());
  const bin = natsServerBinary();
  let proc: ChildProcess | undefined;

  const launch = async () => {
    const p = spawn(bin, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], { stdio: ["ignore", "ignore", "pipe"] });
    proc = p;
    let log = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not start in 15 s:\n${log}`)), 15_000);
      p.stderr!.on("data", (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes("Server is ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      p.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code}:\n${log}`));
      });
    });
    p.stderr!.resume();
  };

  const halt = async (signal: NodeJS.Signals) => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill(signal);
    await exited;
  };

  await launch();
  // A test that forgets stop() must not leave a server behind.
  const onExit = () => proc?.kill("SIGKILL");
  process.once("exit", onExit);

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    stop: async () => {
      await halt("SIGTERM");
      process.removeListener("exit", onExit);
      if (ownsDir) await rm(storeDir, { recursive: true, force: true });
    },
    kill: () => halt("SIGKILL"),
    restart: async (o = {}) => {
      await halt(o.hard ? "SIGKILL" : "SIGTERM");
      await launch();
    },
  };
}
