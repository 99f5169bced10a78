// RunService on the orchestrator engine: validated specs, idempotent creation, watch with resume.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  CancelRunResponseSchema,
  CreateRunResponseSchema,
  GetRunResponseSchema,
  ListRunsResponseSchema,
  type RunService,
  WatchRunResponseSchema,
  type RunSpec,
} from "@isrdpo/contracts";
import { RunNotFoundError, RunSpecError, type Orchestrator } from "@isrdpo/orchestration";
import type { ArtifactStore } from "@isrdpo/bus";
import { invalidArgument } from "@isrdpo/runtime";

/** Datasets a spec names must be in the store: a typo fails here, not in three prepare attempts later. */
async function checkDatasetsStored(artifacts: ArtifactStore, spec: RunSpec | undefined): Promise<void> {
  const named: [string, string][] = [];
  if (spec?.prompts?.source.case === "sharegptJsonl") named.push(["spec.prompts.sharegpt_jsonl.uri", spec.prompts.source.value.uri]);
  for (const [i, d] of (spec?.evaluation?.splits ?? []).entries())
    if (d.source.case === "sharegptJsonl") named.push([`spec.evaluation.splits[${i}].sharegpt_jsonl.uri`, d.source.value.uri]);
  if (spec?.initialModel?.source.case === "sft")
    for (const [i, d] of spec.initialModel.source.value.datasets.entries())
      named.push([`spec.initial_model.sft.datasets[${i}].uri`, d.uri]);
  // A plain path is left to normalizeRunSpec, which says how to import it.
  for (const [field, uri] of named.filter(([, uri]) => uri.startsWith("artifact://"))) {
    const stored = await artifacts.stat(uri).catch((err: Error) => invalidArgument(field, err.message));
    if (!stored) invalidArgument(field, `${uri} is not in the artifact store (isrdpo data import prints the URIs it stores)`);
  }
}

async function mapped<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof RunSpecError) throw new ConnectError(err.message, Code.InvalidArgument);
    if (err instanceof RunNotFoundError) throw new ConnectError(err.message, Code.NotFound);
    throw err;
  }
}

export function runRpc(orchestrator: Orchestrator, artifacts: ArtifactStore): Partial<ServiceImpl<typeof RunService>> {
  return {
    createRun: (req) =>
      mapped(async () => {
        await checkDatasetsStored(artifacts, req.spec);
        return create(CreateRunResponseSchema, { run: await orchestrator.createRun(req.spec, req.idempotencyKey) });
      }),
    getRun: (req) => mapped(async () => create(GetRunResponseSchema, { run: await orchestrator.getRun(req.runId) })),
    listRuns: (req) =>
      mapped(async () => create(ListRunsResponseSchema, await orchestrator.listRuns({ pageSize: req.pageSize, pageToken: req.pageToken }))),
    cancelRun: (req) => mapped(async () => create(CancelRunResponseSchema, { run: await orchestrator.cancelRun(req.runId, req.reason) })),
    async *watchRun(req, ctx) {
      await mapped(() => orchestrator.getRun(req.runId));
      for await (const event of orchestrator.watchRun(req.runId, req.fromSequence, { signal: ctx.signal })) {
        yield create(WatchRunResponseSchema, { event });
      }
    },
  };
}
