// `run watch` survives a server restart: the stream resumes from the next event, nothing twice.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { GetRunResponseSchema, RunService, RunState, WatchRunResponseSchema, type RunEvent } from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus } from "@isrdpo/bus";
import { createLogger, loadConfig, startServer, type RunningServer, type ServiceModule } from "@isrdpo/runtime";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runClient } from "../src/client.ts";
import { ProgressPrinter } from "../src/report.ts";
import { followRun } from "../src/watch.ts";

/** A RunService whose WatchRun sends events [from, upTo] and then ends (a server going away). */
function runService(upTo: number, last: number): ServiceModule {
  const event = (sequence: number) =>
    ({
      runId: "r-1",
      sequence: BigInt(sequence),
      time: timestampFromDate(new Date(Date.UTC(2026, 0, 1, 0, 0, sequence * 10))),
      kind:
        sequence === last
          ? { case: "runStateChanged", value: { state: RunState.SUCCEEDED } }
          : { case: "shardProgress", value: { shardsDone: sequence, shardsTotal: last, itemsDone: sequence, itemsTotal: last } },
    }) as RunEvent;
  return {
    name: "runs",
    defaultPort: 0,
    services: [RunService],
    register(router) {
      router.service(RunService, {
        async *watchRun(req) {
          for (let s = Math.max(1, Number(req.fromSequence)); s <= upTo; s++) yield create(WatchRunResponseSchema, { event: event(s) });
        },
        getRun: () =>
          create(GetRunResponseSchema, {
            run: {
              id: "r-1",
              state: upTo >= last ? RunState.SUCCEEDED : RunState.RUNNING,
              lastEventSequence: BigInt(Math.min(upTo, last)),
            },
          }),
      });
    },
  };
}

async function serve(module: ServiceModule, port: number): Promise<RunningServer> {
  const config = loadConfig({ env: {}, flags: { host: "127.0.0.1", metricsPort: 0, shutdownGraceMs: 100 } });
  const ctx = {
    config,
    logger: createLogger("t", "silent"),
    bus: new MemoryBus(),
    artifacts: new LocalArtifactStore(mkdtempSync(join(tmpdir(), "w-"))),
  };
  return startServer([module], ctx, port);
}

describe("followRun", () => {
  it("resumes from the next event after the server restarts, with the events' own times", async () => {
    let first = await serve(runService(2, 4), 0);
    const port = first.port;
    const seen: bigint[] = [];
    const reconnects: bigint[] = [];
    const lines: string[] = [];
    const printer = new ProgressPrinter((l) => lines.push(l));
    const done = followRun(runClient(`http://127.0.0.1:${port}`), "r-1", printer, {
      onEvent: (e) => {
        seen.push(e.sequence);
        printer.event(e);
        if (e.sequence === 2n) void first.close().then(async () => (first = await serve(runService(4, 4), port)));
      },
      onReconnect: (_, next) => reconnects.push(next),
    });
    const run = await done;
    await first.close();
    expect(run.state).toBe(RunState.SUCCEEDED);
    expect(seen).toEqual([1n, 2n, 3n, 4n]);
    // Told once for the outage, however many tries it took.
    expect(reconnects).toEqual([3n]);
    // stamps from the events' times (10 s apart), not from how fast they were replayed
    expect(lines.at(-1)).toBe("[   30s] run succeeded");
  }, 30_000);
});
