// The orchestrator around the pure state machine: load the run record from KV, apply an event,
// write the record back with compare-and-set, then publish the transition's commands (the outbox)
// with their deterministic message ids. A crash between the write and the publish is repaired by
// recover(), which publishes every stored outbox again; the bus drops what already went out.
import { createHash, randomBytes } from "node:crypto";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  CancelRequestedSchema,
  OrchestratorEventSchema,
  PrepareRequestSchema,
  PromptShardSchema,
  RunEventSchema,
  RunRecordSchema,
  RunRequestedSchema,
  RunSpecSchema,
  RunState,
  TrainRequestSchema,
  WorkItemSchema,
} from "@isrdpo/contracts";
import type { ArtifactRef, Command, OrchestratorEvent, PromptItem, Run, RunEvent, RunRecord, RunSpec } from "@isrdpo/contracts";
import { CasConflictError, QUEUES } from "@isrdpo/bus";
import type { ArtifactStore, Bus } from "@isrdpo/bus";
import { RUN_KEY_PREFIX, eventIds, runEventLog, runKey, stageName } from "./ids.ts";
import { isTerminal, newRunRecord, pendingCommands, transition } from "./machine.ts";
import { RunSpecError, judgeTemplates, normalizeRunSpec } from "./spec.ts";

export class RunNotFoundError extends Error {
  constructor(readonly runId: string) {
    super(`run not found: "${runId}"`);
    this.name = "RunNotFoundError";
  }
}

export interface OrchestratorOptions {
  bus: Bus;
  artifacts: ArtifactStore;
  /** Recorded in every new run (Run.prompt_templates). */
  promptTemplates?: Record<string, string>;
  now?: () => Date;
  /** Events that cannot be applied, and errors the serving loop survives. */
  onError?: (err: unknown) => void;
  /** Each run event this process published first (not a re-publish): for logs and metrics. */
  onEvent?: (event: RunEvent) => void;
}

/** ListRuns paging, for RunService and the CLI's --nats path alike. */
export const LIST_RUNS = { defaultPageSize: 100, maxPageSize: 1000 } as const;

const RUN_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * For serveWorkQueue's `skip` option: work of a run that is cancelled or has ended is not worth
 * doing. Reads the run record; an unknown run is not skipped (its record may still be in flight).
 */
export function skipEndedRuns(bus: Bus): (runId: string) => Promise<string | undefined> {
  return async (runId) => {
    if (!RUN_ID.test(runId)) return undefined;
    const e = await bus.kvGet(runKey(runId));
    if (!e) return undefined;
    const run = fromBinary(RunRecordSchema, e.value).run!;
    return isTerminal(run.state) ? `run ${runId} is ${RunState[run.state]}` : undefined;
  };
}

export class Orchestrator {
  private readonly bus: Bus;
  private readonly artifacts: ArtifactStore;
  private readonly now: () => Date;
  private readonly onError: (err: unknown) => void;
  private readonly onEvent: (event: RunEvent) => void;
  private readonly promptTemplates: Record<string, string>;
  /** Serializes the transitions of one run in this process: an outbox is published before the next. */
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly promptShards = new Map<string, PromptItem[]>();
  /**
   * Per run, the KV revision whose outbox this process has published completely. A transition is
   * only applied on top of a published outbox, so a failed publish is never overwritten.
   */
  private readonly published = new Map<string, number>();

  constructor(opts: OrchestratorOptions) {
    this.bus = opts.bus;
    this.artifacts = opts.artifacts;
    this.now = opts.now ?? (() => new Date());
    this.onError = opts.onError ?? ((err) => console.error("orchestrator:", err));
    this.onEvent = opts.onEvent ?? (() => undefined);
    this.promptTemplates = opts.promptTemplates ?? {};
  }

  /**
   * Validates the spec (RunSpecError naming the field) and starts a run. With an idempotency key,
   * a repeat returns the run the first call created.
   */
  async createRun(specInput: RunSpec | undefined, idempotencyKey = ""): Promise<Run> {
    const spec = normalizeRunSpec(specInput);
    if (idempotencyKey.length > 256) throw new RunSpecError("idempotency_key", "must be at most 256 characters");
    const runId = idempotencyKey
      ? `r-${createHash("sha256").update(idempotencyKey).digest("hex").slice(0, 24)}`
      : `r-${Date.now().toString(36)}-${randomBytes(6).toString("hex")}`;
    const existing = await this.load(runId);
    if (existing) return this.existingRun(runId, spec);

    const now = timestampFromDate(this.now());
    const fresh = newRunRecord(runId, spec, idempotencyKey);
    fresh.run!.createTime = now;
    fresh.run!.promptTemplates = { ...this.promptTemplates, ...judgeTemplates(spec) };
    const requested = create(OrchestratorEventSchema, {
      runId,
      eventId: eventIds.runRequested(runId),
      kind: { case: "runRequested", value: create(RunRequestedSchema, { spec }) },
    });
    const { record } = transition(fresh, requested);
    record.run!.updateTime = now;
    return this.withLock(runId, async () => {
      let revision: number;
      try {
        revision = await this.bus.kvCreate(runKey(runId), toBinary(RunRecordSchema, record));
      } catch (err) {
        if (!(err instanceof CasConflictError)) throw err;
        // A concurrent CreateRun with the same key won the race.
        const winner = await this.load(runId);
        return this.sameRun(winner!.record, spec);
      }
      await this.publish(record, revision);
      return record.run!;
    });
  }

  async getRun(runId: string): Promise<Run> {
    return (await this.require(runId)).run!;
  }

  /** Runs, newest first. The page token is opaque to callers. */
  async listRuns(opts: { pageSize?: number; pageToken?: string } = {}): Promise<{ runs: Run[]; nextPageToken: string }> {
    const pageSize = opts.pageSize || LIST_RUNS.defaultPageSize;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > LIST_RUNS.maxPageSize) {
      throw new RunSpecError("page_size", `must be between 1 and ${LIST_RUNS.maxPageSize}, got ${pageSize}`);
    }
    const keys = await this.bus.kvKeys(RUN_KEY_PREFIX);
    const runs: Run[] = [];
    for (const key of keys) {
      const e = await this.bus.kvGet(key);
      if (e) runs.push(fromBinary(RunRecordSchema, e.value).run!);
    }
    const time = (r: Run) => (r.createTime ? timestampDate(r.createTime).getTime() : 0);
    runs.sort((a, b) => time(b) - time(a) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    let start = 0;
    if (opts.pageToken) {
      const i = runs.findIndex((r) => r.id === opts.pageToken);
      if (i < 0) throw new RunSpecError("page_token", "is not a token of this list");
      start = i + 1;
    }
    const page = runs.slice(start, start + pageSize);
    const more = start + pageSize < runs.length;
    return { runs: page, nextPageToken: more ? page[page.length - 1]!.id : "" };
  }

  /** Requests cancellation: no new work is issued and the run ends CANCELLED. */
  async cancelRun(runId: string, reason = ""): Promise<Run> {
    await this.require(runId);
    await this.applyEvent(
      create(OrchestratorEventSchema, {
        runId,
        eventId: eventIds.cancelRequested(runId),
        kind: { case: "cancelRequested", value: create(CancelRequestedSchema, { reason: reason || "cancelled by request" }) },
      }),
    );
    return this.getRun(runId);
  }

  /**
   * The run's events with sequence ≥ fromSequence (0: from the start), then live until the run
   * ends or the signal aborts.
   */
  async *watchRun(runId: string, fromSequence = 0n, opts: { signal?: AbortSignal } = {}): AsyncIterable<RunEvent> {
    const run = (await this.require(runId)).run!;
    if (isTerminal(run.state) && fromSequence > run.lastEventSequence) return;
    let last = 0n;
    for await (const entry of this.bus.read(runEventLog(runId), opts)) {
      const event = fromBinary(RunEventSchema, entry.data);
      // A re-publish outside the de-duplication window shows up twice: skip what was seen.
      if (event.sequence <= last) continue;
      last = event.sequence;
      if (event.sequence >= fromSequence) yield event;
      if (event.kind.case === "runStateChanged" && isTerminal(event.kind.value.state)) return;
    }
  }

  /** Applies one event to its run: transition, compare-and-set write, publish the outbox. */
  async applyEvent(event: OrchestratorEvent): Promise<void> {
    if (!RUN_ID.test(event.runId)) {
      this.onError(new Error(`event ${event.eventId}: run_id "${event.runId}" is not a run id`));
      return;
    }
    await this.withLock(event.runId, async () => {
      for (;;) {
        const loaded = await this.load(event.runId);
        if (!loaded) {
          this.onError(new Error(`event ${event.eventId} for unknown run ${event.runId}`));
          return;
        }
        // The stored outbox may be unpublished (crash, failed publish, another writer): send it first.
        if (this.published.get(event.runId) !== loaded.revision) await this.publish(loaded.record, loaded.revision);
        const t = transition(loaded.record, event);
        if (t.record === loaded.record) {
          // Nothing to write: a repeat (redelivery) or an answer the run cannot use.
          if (t.ignored && !t.ignored.startsWith("duplicate")) {
            this.onError(new Error(`event ${event.eventId} not applied to run ${event.runId}: ${t.ignored}`));
          }
          return;
        }
        t.record.run!.updateTime = timestampFromDate(this.now());
        let revision: number;
        try {
          revision = await this.bus.kvUpdate(runKey(event.runId), toBinary(RunRecordSchema, t.record), loaded.revision);
        } catch (err) {
          if (err instanceof CasConflictError) continue; // another writer: re-read and re-apply
          throw err;
        }
        await this.publish(t.record, revision);
        return;
      }
    });
  }

  /**
   * After a crash: for every run, publishes the stored outbox and re-derives the dispatch of all work
   * in flight from the stored state (pendingCommands), in case a queue lost it. Message ids make
   * both no-ops for what the bus has already seen. Returns the number of runs.
   */
  async recover(): Promise<number> {
    const keys = await this.bus.kvKeys(RUN_KEY_PREFIX);
    for (const key of keys) {
      const runId = key.slice(RUN_KEY_PREFIX.length);
      await this.withLock(runId, async () => {
        const loaded = await this.load(runId);
        if (!loaded) return;
        await this.publish(loaded.record, loaded.revision);
        for (const cmd of pendingCommands(loaded.record)) await this.publishCommand(runId, loaded.record, cmd);
      });
    }
    return keys.length;
  }

  /** Consumes the orchestrator's queue until stop(). Call recover() first. */
  serve(opts: { concurrency?: number } = {}): { stop(): Promise<void> } {
    const abort = new AbortController();
    const loop = async () => {
      while (!abort.signal.aborted) {
        try {
          const d = await this.bus.pull(QUEUES.orchestrator, { expiresMs: 1000 });
          if (!d) continue;
          let event: OrchestratorEvent;
          try {
            event = fromBinary(OrchestratorEventSchema, d.data);
          } catch (err) {
            this.onError(new Error(`undecodable orchestrator event ${d.msgId}: ${(err as Error).message}`));
            await d.ack();
            continue;
          }
          try {
            await this.applyEvent(event);
          } catch (err) {
            this.onError(err);
            d.nak(1000);
            continue;
          }
          await d.ack();
        } catch (err) {
          if (abort.signal.aborted) return;
          this.onError(err);
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    };
    const loops = Array.from({ length: opts.concurrency ?? 1 }, () => loop());
    return {
      stop: async () => {
        abort.abort();
        await Promise.all(loops);
      },
    };
  }

  private async publish(record: RunRecord, revision: number): Promise<void> {
    const runId = record.run!.id;
    this.published.delete(runId);
    for (const cmd of record.outbox) await this.publishCommand(runId, record, cmd);
    this.published.set(runId, revision);
  }

  private async publishCommand(runId: string, record: RunRecord, cmd: Command): Promise<void> {
    const kind = cmd.kind;
    switch (kind.case) {
      case "runEvent": {
        // The time of the write that issued it: a re-publish carries the same bytes.
        const event = create(RunEventSchema, { ...kind.value, time: record.run!.updateTime });
        const { duplicate } = await this.bus.append(runEventLog(runId), toBinary(RunEventSchema, event), cmd.msgId);
        if (!duplicate) this.onEvent(event);
        return;
      }
      case "prepare":
        await this.bus.enqueue(QUEUES.prepare, toBinary(PrepareRequestSchema, kind.value), cmd.msgId);
        return;
      case "train":
        await this.bus.enqueue(QUEUES.train, toBinary(TrainRequestSchema, kind.value), cmd.msgId);
        return;
      case "work": {
        const item = create(WorkItemSchema, kind.value.item);
        if (kind.value.promptShard) item.items = await this.promptItems(kind.value.promptShard);
        await this.bus.enqueue(stageName(item.stage), toBinary(WorkItemSchema, item), cmd.msgId);
        return;
      }
      case undefined:
        throw new Error(`command ${cmd.msgId} has no kind`);
    }
  }

  private async promptItems(ref: ArtifactRef): Promise<PromptItem[]> {
    const key = `${ref.uri}#${ref.sha256}`;
    let items = this.promptShards.get(key);
    if (!items) {
      items = fromBinary(PromptShardSchema, await this.artifacts.get(ref)).items;
      // Prompt shards are immutable; keep the most recent few hundred.
      if (this.promptShards.size >= 512) this.promptShards.delete(this.promptShards.keys().next().value!);
      this.promptShards.set(key, items);
    }
    return items;
  }

  /**
   * A repeated CreateRun: the same run, after making sure its first commands went out (the first
   * call may have failed between writing the run and publishing them).
   */
  private existingRun(runId: string, spec: RunSpec): Promise<Run> {
    return this.withLock(runId, async () => {
      const loaded = (await this.load(runId))!;
      const run = this.sameRun(loaded.record, spec);
      if (this.published.get(runId) !== loaded.revision) await this.publish(loaded.record, loaded.revision);
      return run;
    });
  }

  private sameRun(record: RunRecord, spec: RunSpec): Run {
    if (!equals(RunSpecSchema, record.run!.spec!, spec)) {
      throw new RunSpecError("idempotency_key", "was already used to create a run with a different spec");
    }
    return record.run!;
  }

  private async require(runId: string): Promise<RunRecord> {
    const loaded = RUN_ID.test(runId) ? await this.load(runId) : undefined;
    if (!loaded) throw new RunNotFoundError(runId);
    return loaded.record;
  }

  private async load(runId: string): Promise<{ record: RunRecord; revision: number } | undefined> {
    const e = await this.bus.kvGet(runKey(runId));
    return e && { record: fromBinary(RunRecordSchema, e.value), revision: e.revision };
  }

  private withLock<T>(runId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(runId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(runId, tail);
    void tail.then(() => {
      if (this.locks.get(runId) === tail) this.locks.delete(runId);
    });
    return next;
  }
}
