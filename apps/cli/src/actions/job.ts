// `isrdpo job …` (defined in ../commands/job.ts).
import { JobKind, JobSpecSchema, JobState, type Job } from "@isrdpo/contracts";
import { DEFAULT_SERVER, trainerClient } from "../client.ts";
import { readSpec } from "../spec.ts";

interface Options {
  server?: string;
}

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export async function start(o: Options & { spec: string; id?: string; watch?: boolean }): Promise<void> {
  const spec = readSpec(JobSpecSchema, o.spec);
  const trainer = trainerClient(o.server ?? DEFAULT_SERVER);
  const { job } = await trainer.startJob({ spec, jobId: o.id ?? "" });
  if (!o.watch) return say(job!.id);
  process.stderr.write(`job ${job!.id} (${JobKind[spec.kind].toLowerCase()}) started\n`);
  await follow(trainer, job!.id);
}

export async function watch(id: string, o: Options): Promise<void> {
  await follow(trainerClient(o.server ?? DEFAULT_SERVER), id);
}

/** Progress on stderr, one line per step; then the held-out metrics and, last on stdout, the output digest. */
async function follow(trainer: ReturnType<typeof trainerClient>, id: string): Promise<void> {
  let last: Job | undefined;
  let step = -1;
  for await (const res of trainer.watchJob({ jobId: id })) {
    last = res.job!;
    const p = last.progress;
    if (p && p.step !== step) {
      step = p.step;
      const metrics = Object.entries(p.metrics)
        .map(([k, v]) => `${k} ${Number(v.toPrecision(4))}`)
        .join(", ");
      process.stderr.write(`step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)}${metrics ? `, ${metrics}` : ""}\n`);
    }
  }
  if (!last) throw new Error(`job ${id}: no updates`);
  const evals = Object.entries(last.evalMetrics).map(([k, v]) => `${k} ${Number(v.toPrecision(4))}`);
  if (evals.length) say(evals.join(", "));
  if (last.state !== JobState.SUCCEEDED) throw new Error(`job ${id}: ${JobState[last.state].toLowerCase()}: ${last.failureReason}`);
  if (last.failureReason) process.stderr.write(`note: ${last.failureReason}\n`);
  say(last.outputModel!.digest);
}
