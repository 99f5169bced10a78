// Follows a run to its end: progress lines from WatchRun, training progress from the trainer when
// it is reachable, and the final record. A dropped stream (a restarted server) is resumed from the
// next event, with backoff, for up to `reconnectForMs` after the last contact; WatchRun replays from
// any sequence (`from_sequence`), so no event is lost or shown twice.
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { Stage, StageState, type Run, type RunEvent, type RunService, type TrainerService } from "@isrdpo/contracts";
import { isTerminal, jobId } from "@isrdpo/orchestration";
import { RECONNECT_TIMEOUT_S } from "./choices.ts";
import type { ProgressPrinter } from "./report.ts";

/**
 * Codes that say the server or the connection went away (not that the request was wrong). A server
 * killed mid-stream shows as CANCELED ("http/2 stream closed with error code CANCEL"): transient
 * unless the watch's own signal was aborted (checked first).
 */
const TRANSIENT = new Set([Code.Unavailable, Code.Internal, Code.Unknown, Code.Aborted, Code.DeadlineExceeded, Code.Canceled]);

export async function followRun(
  runs: Client<typeof RunService>,
  runId: string,
  printer: ProgressPrinter,
  opts: {
    trainer?: Client<typeof TrainerService>;
    fromSequence?: bigint;
    signal?: AbortSignal;
    /** Each event (default: printer.event). */
    onEvent?: (e: RunEvent) => void;
    /** Told once per outage: the stream dropped and is being resumed from event `next`. */
    onReconnect?: (why: string, next: bigint) => void;
    /** How long to keep reconnecting after the last contact (default RECONNECT_TIMEOUT_S). */
    reconnectForMs?: number;
    /** What the watch waits for, in the error when it gives up (e.g. the server's URL). */
    server?: string;
  } = {},
): Promise<Run> {
  const onEvent = opts.onEvent ?? ((e: RunEvent) => printer.event(e));
  const watchers = new Map<string, Promise<void>>();
  // Job progress ends with the run: a cancelled run's job must not keep the watch printing (and open).
  const jobs = new AbortController();
  opts.signal?.addEventListener("abort", () => jobs.abort(), { once: true });
  const watchJob = (iteration: number, stage: Stage) => {
    const id = jobId(runId, iteration, stage);
    if (!opts.trainer || watchers.has(id)) return;
    const label = iteration === 0 && stage === Stage.SFT ? "sft" : `iter ${iteration} ${Stage[stage].toLowerCase()}`;
    const trainer = opts.trainer;
    watchers.set(
      id,
      (async () => {
        // The job appears on the trainer once it pulls the work: poll briefly until it exists.
        for (let attempt = 0; attempt < 600 && !jobs.signal.aborted; attempt++) {
          try {
            for await (const res of trainer.watchJob({ jobId: id }, { signal: jobs.signal })) if (res.job) printer.job(label, res.job);
            return;
          } catch (err) {
            const code = ConnectError.from(err).code;
            if (code !== Code.NotFound) return; // progress is best effort; the run's events still flow
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
      })(),
    );
  };
  try {
    return await followEvents();
  } finally {
    jobs.abort();
  }

  async function followEvents(): Promise<Run> {
    let next = opts.fromSequence ?? 0n;
    let lastContact = Date.now();
    let delayMs = 500;
    let lost = false;
    const limitMs = opts.reconnectForMs ?? RECONNECT_TIMEOUT_S * 1000;
    const reconnecting = (why: string) => {
      if (!lost) opts.onReconnect?.(why, next);
      lost = true;
    };
    for (;;) {
      try {
        for await (const res of runs.watchRun({ runId, fromSequence: next }, { signal: opts.signal })) {
          const e = res.event!;
          lastContact = Date.now();
          delayMs = 500;
          lost = false;
          next = e.sequence + 1n;
          onEvent(e);
          if (
            e.kind.case === "stageStateChanged" &&
            e.kind.value.state === StageState.RUNNING &&
            (e.stage === Stage.SFT || e.stage === Stage.TRAIN)
          ) {
            watchJob(e.iteration, e.stage);
          }
          if (e.kind.case === "runStateChanged" && isTerminal(e.kind.value.state)) return (await runs.getRun({ runId })).run!;
        }
        // The stream ended without the run's end: the server is going away, or the run ended while
        // this watch was away and its end is before `next`.
        const { run } = await runs.getRun({ runId });
        if (run && isTerminal(run.state) && next > run.lastEventSequence) return run;
        reconnecting("the stream ended");
      } catch (err) {
        const e = ConnectError.from(err);
        if (opts.signal?.aborted || !TRANSIENT.has(e.code)) throw err;
        if (Date.now() - lastContact >= limitMs)
          throw new Error(
            `run ${runId}: gave up after ${Math.round(limitMs / 1000)} s waiting for ${opts.server ?? "the server"} to come back, to resume at event ${next} (${e.rawMessage})`,
          );
        reconnecting(e.rawMessage);
      }
      // Never sleep past the deadline: the last try comes at it, and the give-up right after.
      await new Promise((r) => setTimeout(r, Math.min(delayMs, Math.max(0, lastContact + limitMs - Date.now()))));
      delayMs = Math.min(delayMs * 2, 10_000);
    }
  }
}
