// Deterministic stage handlers without machine learning, for tests and benchmarks of the
// orchestration: they read and write the same artifacts the real services do, so a run through
// them exercises every queue, event and artifact path.
import { createHash } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  ContextRecordSchema,
  ContextShardSchema,
  EvaluationFinishedSchema,
  EvaluationReportSchema,
  ItemFailureSchema,
  JobFinishedSchema,
  JobSchema,
  JobState,
  ModelRefSchema,
  PreferenceRecordSchema,
  PreferenceShardSchema,
  PreferenceStatsSchema,
  PrepareFinishedSchema,
  OrchestratorEventSchema,
  PromptItemSchema,
  PromptShardSchema,
  ResponsesRecordSchema,
  ResponsesShardSchema,
  RunRequestedSchema,
  RunSpecSchema,
  ShardCompletedSchema,
  Stage,
  WorkItemSchema,
} from "@isrdpo/contracts";
import type { ArtifactRef, Command, OrchestratorEvent, PromptItem, RunRecord, RunSpec, WorkItem } from "@isrdpo/contracts";
import { byQueue } from "@isrdpo/bus";
import type { ArtifactStore, Task, WorkHandlers } from "@isrdpo/bus";
import { eventIds, promptShardUri, shardOutputUri, stageName, workEventIds } from "./ids.ts";
import { newRunRecord, transition } from "./machine.ts";
import { normalizeRunSpec } from "./spec.ts";

export interface DeterministicOptions {
  /** Wait this long per item: gives tests a window to kill a worker mid-shard. */
  itemDelayMs?: number;
  /** Items whose answer fails (recorded as per-item failures). */
  failItem?: (itemId: string) => boolean;
}

const hex = (s: string) => createHash("sha256").update(s).digest("hex");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small valid spec: synthetic prompts, model given, no evaluation unless asked. */
export function testRunSpec(over: MessageInitShape<typeof RunSpecSchema> = {}): RunSpec {
  return create(RunSpecSchema, {
    name: "test",
    initialModel: { source: { case: "model", value: { name: "pi1", digest: hex("pi1") } } },
    prompts: { source: { case: "synthetic", value: { seed: 7n, split: "train", clipCount: 10 } } },
    iterations: 2,
    shardSize: 4,
    ...over,
  } as MessageInitShape<typeof RunSpecSchema>);
}

export function deterministicHandlers(artifacts: ArtifactStore, opts: DeterministicOptions = {}): WorkHandlers {
  const failItem = opts.failItem ?? (() => false);
  const perItem = async (items: PromptItem[], signal: AbortSignal) => {
    for (let i = 0; i < items.length && opts.itemDelayMs; i++) {
      if (signal.aborted) throw new Error("worker stopping");
      await sleep(opts.itemDelayMs);
    }
  };
  const put = (uri: string, bytes: Uint8Array) => artifacts.put(uri, bytes, "application/x-protobuf");
  const failure = (id: string) => create(ItemFailureSchema, { itemId: id, reason: "deterministic failure" });
  const completed = (item: WorkItem, output: ArtifactRef, ok: number, failed: string[]) => ({
    case: "shardCompleted" as const,
    value: create(ShardCompletedSchema, {
      iteration: item.iteration,
      stage: item.stage,
      shardIndex: item.shardIndex,
      output,
      itemsOk: ok,
      failures: failed.map(failure),
    }),
  });

  return {
    prepare: async (task) => {
      const req = task.payload;
      const ds = req.prompts?.source;
      if (ds?.case !== "synthetic") throw new Error("prompts: only synthetic prompt sets are supported here");
      const n = ds.value.clipCount;
      const items = Array.from({ length: n }, (_, i) =>
        create(PromptItemSchema, {
          id: `item-${String(i).padStart(5, "0")}`,
          video: { id: `clip-${ds.value.seed}-${i}`, source: { case: "syntheticClipId", value: `clip-${ds.value.seed}-${i}` } },
          instruction: `What happens in clip ${i}?`,
          questionType: "open",
        }),
      );
      const shards: ArtifactRef[] = [];
      for (let s = 0; s * req.shardSize < n; s++) {
        const shard = create(PromptShardSchema, { items: items.slice(s * req.shardSize, (s + 1) * req.shardSize) });
        shards.push(await put(promptShardUri(req.runId, s), toBinary(PromptShardSchema, shard)));
      }
      return { case: "prepareFinished", value: create(PrepareFinishedSchema, { promptShards: shards, itemsTotal: n }) };
    },

    responses: async (task) => {
      const item = task.payload;
      await perItem(item.items, task.signal);
      const ok = item.items.filter((p) => !failItem(p.id));
      const out = create(ResponsesShardSchema, {
        records: ok.map((p) =>
          create(ResponsesRecordSchema, {
            itemId: p.id,
            responses: ["A", "B"].map((v) => `${p.instruction} answer ${v} by ${item.model?.digest.slice(0, 8)}`),
          }),
        ),
        failures: item.items.filter((p) => failItem(p.id)).map((p) => failure(p.id)),
      });
      const ref = await put(shardOutputUri(item), toBinary(ResponsesShardSchema, out));
      return completed(
        item,
        ref,
        ok.length,
        out.failures.map((f) => f.itemId),
      );
    },

    context: async (task) => {
      const item = task.payload;
      await perItem(item.items, task.signal);
      const prevRef = item.params.value.previousContexts;
      const previous = new Map<string, string>();
      if (prevRef) {
        for (const r of fromBinary(ContextShardSchema, await artifacts.get(prevRef)).records) previous.set(r.itemId, r.context);
      }
      const out = create(ContextShardSchema, {
        records: item.items.map((p) =>
          create(ContextRecordSchema, {
            itemId: p.id,
            videoId: p.video?.id ?? "",
            // c_t extends c_{t-1}: the test can see the chain in the artifact.
            context: [previous.get(p.id), `t${item.iteration}`].filter(Boolean).join(" "),
          }),
        ),
      });
      const ref = await put(shardOutputUri(item), toBinary(ContextShardSchema, out));
      return completed(item, ref, item.items.length, []);
    },

    judge: async (task) => {
      const item = task.payload;
      if (!item.params.value.responses) throw new Error("judge: params.responses missing");
      const responses = fromBinary(ResponsesShardSchema, await artifacts.get(item.params.value.responses));
      const contexts = new Map<string, string>();
      if (item.params.value.contexts) {
        for (const r of fromBinary(ContextShardSchema, await artifacts.get(item.params.value.contexts)).records)
          contexts.set(r.itemId, r.context);
      }
      const byId = new Map(responses.records.map((r) => [r.itemId, r]));
      const records = item.items.flatMap((p) => {
        const r = byId.get(p.id);
        if (!r) return [];
        const context = contexts.get(p.id) ?? "";
        const first = parseInt(hex(`${p.id}|${context}`).slice(0, 2), 16) % 2 === 0;
        const [chosen, rejected] = first ? [r.responses[0]!, r.responses[1]!] : [r.responses[1]!, r.responses[0]!];
        return [
          create(PreferenceRecordSchema, {
            itemId: p.id,
            videoId: p.video?.id ?? "",
            prompt: p.instruction,
            chosen,
            rejected,
            context,
            confidence: 1,
          }),
        ];
      });
      const missing = item.items.filter((p) => !byId.has(p.id)).map((p) => failure(p.id));
      const out = create(PreferenceShardSchema, { records, failures: missing });
      const ref = await put(shardOutputUri(item), toBinary(PreferenceShardSchema, out));
      return completed(
        item,
        ref,
        records.length,
        missing.map((f) => f.itemId),
      );
    },

    train: async (task) => {
      const req = task.payload;
      const spec = req.spec!;
      const digest = hex([spec.baseModel?.digest ?? spec.preset, ...spec.data.map((d) => d.sha256)].join("|"));
      const job = create(JobSchema, {
        id: req.jobId,
        spec,
        state: JobState.SUCCEEDED,
        outputModel: create(ModelRefSchema, { name: spec.outputName, digest }),
      });
      return { case: "jobFinished", value: create(JobFinishedSchema, { iteration: req.iteration, stage: req.stage, job }) };
    },

    evaluate: async (task) => {
      const item = task.payload;
      const prefs = item.params.value.preferences;
      let pairs = 0;
      for (const ref of prefs) pairs += fromBinary(PreferenceShardSchema, await artifacts.get(ref)).records.length;
      return {
        case: "evaluationFinished",
        value: create(EvaluationFinishedSchema, {
          iteration: item.iteration,
          report: create(EvaluationReportSchema, { model: item.model }),
          preferences: create(PreferenceStatsSchema, { pairs }),
        }),
      };
    },
  };
}

/** Every item id in the outputs of one stage of one iteration, from the stored artifacts. */
export async function itemIdsInOutputs(artifacts: ArtifactStore, refs: ArtifactRef[], stage: Stage): Promise<string[]> {
  const ids: string[] = [];
  for (const ref of refs) {
    const bytes = await artifacts.get(ref);
    if (stage === Stage.RESPONSES) ids.push(...fromBinary(ResponsesShardSchema, bytes).records.map((r) => r.itemId));
    else if (stage === Stage.CONTEXT) ids.push(...fromBinary(ContextShardSchema, bytes).records.map((r) => r.itemId));
    else ids.push(...fromBinary(PreferenceShardSchema, bytes).records.map((r) => r.itemId));
  }
  return ids.sort();
}

/**
 * Handlers that do no work: prepare stores `items` bare prompt items in shards, the others answer
 * at once without reading or writing artifacts. For measuring the orchestration's own overhead.
 */
export function noopHandlers(items: number, artifacts: ArtifactStore): WorkHandlers {
  const shard = async (task: Task<"responses" | "context" | "judge" | "evaluate">) => {
    const item = task.payload;
    if (item.stage === Stage.EVALUATE) {
      return { case: "evaluationFinished" as const, value: create(EvaluationFinishedSchema, { iteration: item.iteration }) };
    }
    return {
      case: "shardCompleted" as const,
      value: create(ShardCompletedSchema, {
        iteration: item.iteration,
        stage: item.stage,
        shardIndex: item.shardIndex,
        itemsOk: item.items.length,
      }),
    };
  };
  return {
    prepare: async (task) => {
      const req = task.payload;
      const promptShards: ArtifactRef[] = [];
      for (let start = 0; start < items; start += req.shardSize) {
        const ids = Array.from({ length: Math.min(req.shardSize, items - start) }, (_, i) =>
          create(PromptItemSchema, { id: `item-${start + i}` }),
        );
        const bytes = toBinary(PromptShardSchema, create(PromptShardSchema, { items: ids }));
        promptShards.push(await artifacts.put(promptShardUri(req.runId, start / req.shardSize), bytes));
      }
      return { case: "prepareFinished", value: create(PrepareFinishedSchema, { promptShards, itemsTotal: items }) };
    },
    responses: shard,
    context: shard,
    judge: shard,
    evaluate: shard,
    train: async (task) => {
      const req = task.payload;
      const job = create(JobSchema, { id: req.jobId, state: JobState.SUCCEEDED, outputModel: { name: "noop", digest: "noop" } });
      return { case: "jobFinished", value: create(JobFinishedSchema, { iteration: req.iteration, stage: req.stage, job }) };
    },
  };
}

/**
 * Runs a spec by direct function calls: the pure state machine and the handlers in a loop, no bus
 * and no KV; prompt shards are read once each, as the Orchestrator does. The baseline of the
 * overhead benchmark.
 */
export async function runDirect(specInput: RunSpec, handlers: WorkHandlers, artifacts: ArtifactStore): Promise<RunRecord> {
  const prompts = new Map<string, PromptItem[]>();
  const promptItems = async (ref: ArtifactRef) => {
    let items = prompts.get(ref.uri);
    if (!items) prompts.set(ref.uri, (items = fromBinary(PromptShardSchema, await artifacts.get(ref)).items));
    return items;
  };
  const spec = normalizeRunSpec(specInput);
  const runId = "direct";
  let record = newRunRecord(runId, spec);
  const signal = new AbortController().signal;
  const pending: OrchestratorEvent[] = [
    create(OrchestratorEventSchema, {
      runId,
      eventId: eventIds.runRequested(runId),
      kind: { case: "runRequested", value: create(RunRequestedSchema, { spec }) },
    }),
  ];
  const handle = byQueue(handlers);
  const run = async (cmd: Command): Promise<OrchestratorEvent | undefined> => {
    const base = { msgId: cmd.msgId, deliveries: 1, signal };
    const k = cmd.kind;
    let task: Task;
    if (k.case === "prepare") task = { ...base, queue: "prepare", payload: k.value };
    else if (k.case === "train") task = { ...base, queue: "train", payload: k.value };
    else if (k.case === "work") {
      const item = create(WorkItemSchema, k.value.item);
      if (k.value.promptShard) item.items = await promptItems(k.value.promptShard);
      task = { ...base, queue: stageName(item.stage), payload: item } as Task;
    } else return undefined;
    const kind = await handle(task);
    return create(OrchestratorEventSchema, { runId, eventId: workEventIds.done(cmd.msgId), kind });
  };
  while (pending.length > 0) {
    const t = transition(record, pending.shift()!);
    record = t.record;
    for (const cmd of t.commands) {
      const e = await run(cmd);
      if (e) pending.push(e);
    }
  }
  return record;
}
