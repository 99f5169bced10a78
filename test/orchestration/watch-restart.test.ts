// Issue 18: `isrdpo run watch` outlives the orchestrator. A real `serve orchestrator` on a private
// nats-server (deterministic workers in their own process) is killed with SIGKILL mid-run and started
// again on the same port: the watch reconnects, resumes at the next event and ends with the run's
// final state, every event printed once. When the server never comes back, it gives up at its
// deadline with one line saying what it waited for.
import type { ChildProcess } from "node:child_process";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RunService, RunState } from "@isrdpo/contracts";
import { startNatsServer, type NatsServer } from "@isrdpo/bus/testing";
import { testRunSpec } from "@isrdpo/orchestration/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitWithin, spawnTs, startServer, type ServerProcess } from "../support/processes.ts";
import { Proc } from "./cluster.ts";

/** `isrdpo run watch <id> -o json` as a process: stdout lines (events, then the run), stderr, exit code. */
function watch(runId: string, server: string, reconnectTimeoutS: number) {
  const child: ChildProcess = spawnTs("apps/cli/src/main.ts", [
    "run",
    "watch",
    runId,
    "--server",
    server,
    "-o",
    "json",
    "--reconnect-timeout",
    String(reconnectTimeoutS),
  ]);
  const lines: string[] = [];
  let stdout = "";
  let stderr = "";
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  child.stdout!.on("data", (c: Buffer) => {
    stdout += c.toString();
    const parts = stdout.split("\n");
    stdout = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters.filter((w) => lines.length >= w.n)) w.resolve();
  });
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  return {
    child,
    lines,
    stderr: () => stderr,
    /** Resolves once `n` lines were printed; fails after `timeoutMs`, saying so. */
    printed(n: number, timeoutMs = 120_000): Promise<void> {
      if (lines.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`run watch printed ${lines.length} of ${n} lines in ${timeoutMs} ms; stderr:\n${stderr}`)),
          timeoutMs,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}

describe("run watch across an orchestrator restart", () => {
  let nats: NatsServer;
  let worker: Proc | undefined;
  let orchestrator: ServerProcess;
  const serveOrchestrator = (port: number) =>
    startServer("apps/cli/src/main.ts", ["serve", "orchestrator", "--port", String(port), "--nats", nats.url], {}, 60_000);
  // The orchestrator prepares; every other stage is the deterministic handlers'. Without this worker
  // a run stops after prepare, so how fast the watch process starts never decides what it sees.
  const startWorker = () =>
    new Proc("worker", "worker-process.ts", {
      NATS_URL: nats.url,
      ACK_WAIT_MS: "1500",
      QUEUES: "responses,context,judge,train,evaluate",
      ITEM_DELAY_MS: "100",
    });

  beforeAll(async () => {
    nats = await startNatsServer();
    orchestrator = await serveOrchestrator(0);
  }, 90_000);
  afterAll(async () => {
    orchestrator?.child.kill("SIGKILL");
    await orchestrator?.exited;
    await worker?.kill();
    await nats?.stop();
  });

  const base = () => `http://127.0.0.1:${orchestrator.port}`;
  const runs = () => createClient(RunService, createGrpcTransport({ baseUrl: base() }));

  it("reconnects after kill -9 and a restart on the same port: every event once, the run's final state", async () => {
    const { run } = await runs().createRun({ spec: testRunSpec() });
    const w = watch(run!.id, base(), 60);
    await w.printed(1);
    worker = startWorker();
    await w.printed(3);
    const port = orchestrator.port;
    orchestrator.child.kill("SIGKILL");
    await orchestrator.exited;
    const seenBeforeKill = w.lines.length;
    orchestrator = await serveOrchestrator(port);

    expect(await exitWithin(w.child, 90_000, "run watch", w.stderr), w.stderr()).toBe(0);
    const events = w.lines.slice(0, -1).map((l) => JSON.parse(l) as { sequence: string; runStateChanged?: { state: string } });
    const final = JSON.parse(w.lines.at(-1)!) as { state: string; lastEventSequence: string };
    expect(final.state).toBe("RUN_STATE_SUCCEEDED");
    // Interrupted mid-run: the run's end came after the kill.
    expect(seenBeforeKill).toBeLessThan(events.length);
    // Every event exactly once, in order: 1..last.
    expect(events.map((e) => Number(e.sequence))).toEqual(Array.from({ length: Number(final.lastEventSequence) }, (_, i) => i + 1));
    const lost = w
      .stderr()
      .split("\n")
      .filter((l) => l.includes("lost connection"));
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatch(new RegExp(`^isrdpo: lost connection to ${base()}, reconnecting… \\(.*; resuming at event \\d+\\)$`));
    expect((await runs().getRun({ runId: run!.id })).run!.state).toBe(RunState.SUCCEEDED);
    await worker.kill("SIGTERM");
    worker = undefined;
  }, 300_000);

  it("gives up at its deadline when the server never comes back: exit 1, one line naming what it waited for", async () => {
    // No worker: the run waits after prepare and cannot end before the kill.
    const { run } = await runs().createRun({ spec: testRunSpec() });
    const w = watch(run!.id, base(), 2);
    await w.printed(1);
    const server = base();
    orchestrator.child.kill("SIGKILL");
    await orchestrator.exited;

    expect(await exitWithin(w.child, 60_000, "run watch", w.stderr)).toBe(1);
    const err = w.stderr().trimEnd().split("\n");
    expect(err).toHaveLength(2);
    expect(err[0]).toMatch(/^isrdpo: lost connection to .*, reconnecting…/);
    expect(err[1]).toMatch(
      new RegExp(`^isrdpo: run ${run!.id}: gave up after 2 s waiting for ${server} to come back, to resume at event \\d+ \\(.+\\)$`),
    );
  }, 240_000);
});
