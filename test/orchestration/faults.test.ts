// Fault tests with a real nats-server and every worker and orchestrator in its own process.
import { RunState, Stage, StageState } from "@isrdpo/contracts";
import type { Run } from "@isrdpo/contracts";
import { afterEach, describe, expect, it } from "vitest";
import { connectNats } from "@isrdpo/bus";
import type { ArtifactStore, Bus } from "@isrdpo/bus";
import { startNatsServer } from "@isrdpo/bus/testing";
import type { NatsServer } from "@isrdpo/bus/testing";
import { Orchestrator } from "@isrdpo/orchestration";
import { itemIdsInOutputs } from "@isrdpo/orchestration/testing";
import { Proc, starts } from "./cluster.ts";

const ITEMS = Array.from({ length: 10 }, (_, i) => `item-${String(i).padStart(5, "0")}`);
// prepare + the evaluation of π_1 + per iteration (3 responses + 3 context + 3 judge shards, train,
// evaluate), 2 iterations.
const COMMANDS = 1 + 1 + 2 * (3 * 3 + 2);
const ALL_QUEUES = "prepare,responses,context,judge,train,evaluate";

describe("orchestration under faults (separate processes, real nats-server)", () => {
  let server: NatsServer | undefined;
  let procs: Proc[] = [];
  let observer: { bus: Bus; artifacts: ArtifactStore } | undefined;

  afterEach(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    procs = [];
    await observer?.bus.close();
    observer = undefined;
    await server?.stop();
    server = undefined;
  });

  async function cluster(opts: { crashAfterWrites?: number; itemDelayMs?: number } = {}) {
    server = await startNatsServer();
    const env = { NATS_URL: server.url, ACK_WAIT_MS: "1500" };
    const worker = (name: string) =>
      new Proc(name, "worker-process.ts", { ...env, QUEUES: ALL_QUEUES, ITEM_DELAY_MS: String(opts.itemDelayMs ?? 50) });
    const orchestrator = (name: string, crash = 0) =>
      new Proc(name, "orchestrator-process.ts", { ...env, IDEMPOTENCY_KEY: "fault-run", CRASH_AFTER_WRITES: String(crash) });
    const workers = [worker("w1"), worker("w2")];
    const o1 = orchestrator("o1", opts.crashAfterWrites);
    procs.push(...workers, o1);
    await Promise.all(workers.map((w) => w.waitFor(/^ready$/)));
    const runId = (await o1.waitFor(/^run (\S+)$/))[1]!;
    observer = await connectNats({ servers: server.url, ackWaitMs: 1500 });
    const reader = new Orchestrator({ bus: observer.bus, artifacts: observer.artifacts });
    return { workers, o1, orchestrator, runId, reader };
  }

  async function untilTerminal(reader: Orchestrator, runId: string, timeoutMs = 40_000): Promise<Run> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await reader.getRun(runId);
      if (run.state === RunState.SUCCEEDED || run.state === RunState.FAILED || run.state === RunState.CANCELLED) return run;
      if (Date.now() > deadline) throw new Error(`run still ${RunState[run.state]} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Succeeded, every item exactly once in every stage, every command issued once (first attempt
   * only) and, unless the server itself was killed, delivered once apart from redeliveries.
   */
  async function expectExactRun(run: Run, workers: Proc[], opts: { serverKilled?: boolean } = {}) {
    expect([RunState[run.state], run.failureReason]).toEqual(["SUCCEEDED", ""]);
    // WatchRun over NATS: every event once, in order, ending with the final state.
    const sequences: number[] = [];
    for await (const e of new Orchestrator({ bus: observer!.bus, artifacts: observer!.artifacts }).watchRun(run.id))
      sequences.push(Number(e.sequence));
    expect(sequences).toEqual(Array.from({ length: Number(run.lastEventSequence) }, (_, i) => i + 1));
    for (const t of [1, 2]) {
      const it = run.iterations.find((i) => i.iteration === t)!;
      for (const stage of [Stage.RESPONSES, Stage.CONTEXT, Stage.JUDGE]) {
        const s = it.stages.find((x) => x.stage === stage)!;
        expect([Stage[stage], StageState[s.state], s.itemsTotal, s.itemsDone, s.itemsFailed]).toEqual([
          Stage[stage],
          "SUCCEEDED",
          10,
          10,
          0,
        ]);
        expect(await itemIdsInOutputs(observer!.artifacts, s.outputs, stage)).toEqual(ITEMS);
      }
    }
    const first = starts(workers)
      .filter((s) => s.deliveries === 1)
      .map((s) => s.msgId);
    expect(new Set(first).size).toBe(COMMANDS);
    expect(first.every((m) => m.endsWith(".a1"))).toBe(true);
    // After a SIGKILL, nats-server may not have flushed a consumer's delivery state: a message can
    // come again as a first delivery. The worker's answer is then a duplicate and is dropped.
    if (!opts.serverKilled) expect(first).toHaveLength(COMMANDS);
  }

  it("kill -9 of a worker mid-shard: the shard is redelivered and the run completes with exact counts", async () => {
    const { workers, runId, reader } = await cluster({ itemDelayMs: 200 });
    const [w1, w2] = workers as [Proc, Proc];
    const victim = (await w1.waitFor(/^start (\S+\.(?:responses|context)\.\S+) 1$/))[1]!;
    await new Promise((r) => setTimeout(r, 100)); // mid-shard: the first item in progress, no answer yet
    await w1.kill("SIGKILL");
    expect(w1.lines.some((l) => l.startsWith("start ") && l.includes(victim))).toBe(true);
    const run = await untilTerminal(reader, runId);
    await expectExactRun(run, workers);
    expect(starts([w2]).some((s) => s.msgId === victim && s.deliveries === 2)).toBe(true);
  });

  it("kill -9 of the orchestrator between a state write and its publish: a restarted one finishes, no command twice", async () => {
    const { workers, o1, orchestrator, runId, reader } = await cluster({ crashAfterWrites: 6 });
    expect(await o1.exited).toBeNull(); // killed by the signal, not exited
    expect(o1.lines.at(-1)).toBe("applied 6");
    expect((await reader.getRun(runId)).state).toBe(RunState.RUNNING);
    const o2 = orchestrator("o2");
    procs.push(o2);
    expect((await o2.waitFor(/^run (\S+)$/))[1]).toBe(runId); // same idempotency key, same run
    const run = await untilTerminal(reader, runId);
    await expectExactRun(run, workers);
  });

  it("restart of nats-server mid-run: clients reconnect and the run completes", async () => {
    const { workers, runId, reader } = await cluster({ itemDelayMs: 100 });
    await Promise.race(workers.map((w) => w.waitFor(/^start \S+\.judge\.\S+ 1$/)));
    expect((await reader.getRun(runId)).state).toBe(RunState.RUNNING);
    await server!.restart({ hard: true });
    const run = await untilTerminal(reader, runId);
    await expectExactRun(run, workers, { serverKilled: true });
  });
});
