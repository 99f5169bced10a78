// The train queue: SFT of π_1 and the DPO job of each iteration, answered with JobFinished.
import { create } from "@bufbuild/protobuf";
import { JobFinishedSchema, JobState } from "@isrdpo/contracts";
import type { WorkHandler } from "@isrdpo/bus";
import type { JobManager } from "./manager.ts";

export function trainHandler(jobs: JobManager): WorkHandler<"train"> {
  return async (task) => {
    const req = task.payload;
    if (!req.spec) throw new Error("train: spec is missing");
    const { done } = jobs.start(req.jobId, req.spec, Number(req.spec.training?.seed ?? 0n));
    // The run was cancelled (or this worker stops): the job stops at its next step.
    const cancel = () => jobs.cancel(req.jobId);
    task.signal.addEventListener("abort", cancel, { once: true });
    const job = await done.finally(() => task.signal.removeEventListener("abort", cancel));
    if (job.state !== JobState.SUCCEEDED)
      throw new Error(`training job ${req.jobId} ${JobState[job.state].toLowerCase()}: ${job.failureReason}`);
    return { case: "jobFinished", value: create(JobFinishedSchema, { iteration: req.iteration, stage: req.stage, job }) };
  };
}
