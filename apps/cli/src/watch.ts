// Follows a run to its end: progress lines from WatchRun, training progress from the trainer when
// it is reachable, and the final record.
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { Stage, StageState, type Run, type RunService, type TrainerService } from "@isrdpo/contracts";
import { isTerminal, jobId } from "@isrdpo/orchestration";
import type { ProgressPrinter } from "./report.ts";

export async function followRun(
  runs: Client<typeof RunService>,
  runId: string,
  printer: ProgressPrinter,
  opts: { trainer?: Client<typeof TrainerService>; fromSequence?: bigint; signal?: AbortSignal } = {},
): Promise<Run> {
  const watchers = new Map<string, Promise<void>>();
  const watchJob = (iteration: number, stage: Stage) => {
    const id = jobId(runId, iteration, stage);
    if (!opts.trainer || watchers.has(id)) return;
    const label = iteration === 0 && stage === Stage.SFT ? "sft" : `iter ${iteration} ${Stage[stage].toLowerCase()}`;
    const trainer = opts.trainer;
    watchers.set(
      id,
      (async () => {
        // The job appears on the trainer once it pulls the work: poll briefly until it exists.
        for (let attempt = 0; attempt < 600 && !opts.signal?.aborted; attempt++) {
          try {
            for await (const res of trainer.watchJob({ jobId: id }, { signal: opts.signal })) if (res.job) printer.job(label, res.job);
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
  for await (const res of runs.watchRun({ runId, fromSequence: opts.fromSequence ?? 0n }, { signal: opts.signal })) {
    const e = res.event!;
    printer.event(e);
    if (
      e.kind.case === "stageStateChanged" &&
      e.kind.value.state === StageState.RUNNING &&
      (e.stage === Stage.SFT || e.stage === Stage.TRAIN)
    ) {
      watchJob(e.iteration, e.stage);
    }
    if (e.kind.case === "runStateChanged" && isTerminal(e.kind.value.state)) break;
  }
  const { run } = await runs.getRun({ runId });
  return run!;
}
