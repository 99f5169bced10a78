// TrainerService: start, inspect, watch and cancel training jobs.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CancelJobResponseSchema,
  GetJobResponseSchema,
  JobKind,
  StartJobResponseSchema,
  type TrainerService,
  WatchJobResponseSchema,
} from "@isrdpo/contracts";
import { LIMITS, ppoParamsProblem, syntheticDatasetProblem, trainingParamsProblem } from "@isrdpo/orchestration";
import { invalidArgument, notFound } from "@isrdpo/runtime";
import { PRESET_NAMES } from "@isrdpo/vlm";
import type { JobManager } from "./manager.ts";

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function trainerRpc(jobs: JobManager): Partial<ServiceImpl<typeof TrainerService>> {
  const requireJob = (jobId: string) => jobs.get(jobId) ?? notFound(`job "${jobId}"`);
  return {
    startJob(req) {
      const spec = req.spec;
      if (!spec) invalidArgument("spec", "required");
      if (spec.kind === JobKind.UNSPECIFIED || !(spec.kind in JobKind))
        invalidArgument("spec.kind", "required: JOB_KIND_SFT, JOB_KIND_DPO, JOB_KIND_REWARD_MODEL or JOB_KIND_PPO");
      if (spec.kind === JobKind.SFT && !spec.syntheticData && spec.data.length === 0)
        invalidArgument("spec.synthetic_data", "SFT needs synthetic_data, data (imported datasets) or both");
      if (spec.kind === JobKind.SFT && spec.preset && !(PRESET_NAMES as readonly string[]).includes(spec.preset))
        invalidArgument("spec.preset", `must be one of ${PRESET_NAMES.join(", ")}, got "${spec.preset}"`);
      const synthetic = spec.syntheticData && syntheticDatasetProblem(spec.syntheticData, LIMITS.datasetClips);
      if (synthetic) invalidArgument(`spec.synthetic_data.${synthetic.field}`, synthetic.problem);
      if (spec.kind === JobKind.SFT && spec.data.length > LIMITS.datasets)
        invalidArgument("spec.data", `at most ${LIMITS.datasets} datasets, got ${spec.data.length}`);
      const training = spec.training && trainingParamsProblem(spec.training, spec.kind === JobKind.SFT);
      if (training) invalidArgument(`spec.training.${training.field}`, training.problem);
      if (spec.kind === JobKind.DPO && !spec.baseModel?.digest) invalidArgument("spec.base_model.digest", "required for DPO");
      if (spec.kind === JobKind.DPO && spec.data.length === 0) invalidArgument("spec.data", "DPO needs at least one preference shard");
      if (spec.kind === JobKind.REWARD_MODEL) {
        if (!spec.baseModel?.digest) invalidArgument("spec.base_model.digest", "required for a reward model (the policy it starts from)");
        if (spec.data.length === 0 && !spec.syntheticData)
          invalidArgument("spec.data", "a reward model needs preference shards, synthetic_data (the synthetic judge pairs) or both");
        const f = spec.rewardModel?.heldOutFraction ?? 0;
        if (!(f >= 0 && f < 1)) invalidArgument("spec.reward_model.held_out_fraction", `must be in [0, 1), got ${f}`);
      }
      if (spec.kind === JobKind.PPO) {
        if (!spec.baseModel?.digest) invalidArgument("spec.base_model.digest", "required for PPO (the policy, also the KL reference)");
        const ppo = ppoParamsProblem(spec.ppo);
        if (ppo) invalidArgument(`spec.ppo.${ppo.field}`, ppo.problem);
        if (spec.data.length === 0 && !spec.syntheticData)
          invalidArgument("spec.data", "PPO needs prompts: preference shards, synthetic_data or both");
      }
      if (req.jobId && !JOB_ID.test(req.jobId)) invalidArgument("job_id", `must match ${JOB_ID}`);
      const { job } = jobs.start(req.jobId || randomUUID(), spec);
      return create(StartJobResponseSchema, { job });
    },
    getJob(req) {
      return create(GetJobResponseSchema, { job: requireJob(req.jobId) });
    },
    async *watchJob(req, ctx) {
      requireJob(req.jobId);
      for await (const job of jobs.watch(req.jobId, ctx.signal)) yield create(WatchJobResponseSchema, { job });
    },
    cancelJob(req) {
      return create(CancelJobResponseSchema, { job: jobs.cancel(req.jobId) ?? notFound(`job "${req.jobId}"`) });
    },
  };
}
