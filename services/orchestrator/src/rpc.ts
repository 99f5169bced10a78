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
} from "@isrdpo/contracts";
import { RunNotFoundError, RunSpecError, type Orchestrator } from "@isrdpo/orchestration";

async function mapped<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof RunSpecError) throw new ConnectError(err.message, Code.InvalidArgument);
    if (err instanceof RunNotFoundError) throw new ConnectError(err.message, Code.NotFound);
    throw err;
  }
}

export function runRpc(orchestrator: Orchestrator): Partial<ServiceImpl<typeof RunService>> {
  return {
    createRun: (req) =>
      mapped(async () => {
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
