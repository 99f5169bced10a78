// The orchestrator around the pure state machine: load the run record from KV, apply an event,
// write the record back with compare-and-set, then publish the transition's commands (the outbox)
// with their deterministic message ids. A crash between the write and the publish is repaired by
// recover(), which publishes every stored outbox again; the bus drops what already went out.
//
// The stored record stays small whatever the run's size (docs/design.md §2): each shard has its own
// KV key and the prompt shards theirs, written when the outbox is published; the record under
// "run.<id>" holds the rest, and its outbox the stores not yet known to be written. This process
// keeps the whole record of the revision it last read or wrote, so an event reads and writes O(1)
// keys; another revision (another writer, a restart) is reassembled from the keys.
import { createHash, randomBytes } from "node:crypto";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  CancelRequestedSchema,
  OrchestratorEventSchema,
  PrepareRequestSchema,
  PromptShardListSchema,
  PromptShardSchema,
  RunEventSchema,
  RunRecordSchema,
  RunRequestedSchema,
  RunSpecSchema,
  RunState,
  ShardRecordSchema,
  TrainRequestSchema,
  WorkItemSchema,
} from "@isrdpo/contracts";
import type {
  ArtifactRef,
  Command,
  OrchestratorEvent,
  PromptItem,
  Run,
  RunEvent,
  RunRecord,
  RunSpec,
  ShardRecord,
} from "@isrdpo/contracts";
import { CasConflictError, QUEUES } from "@isrdpo/bus";
import type { ArtifactStore, Bus } from "@isrdpo/bus";
import { RUN_KEY_PREFIX, eventIds, promptsKey, runEventLog, runKey, shardKey, shardKeyPrefix, shardVersion, stageName } from "./ids.ts";
import { isTerminal, newRunRecord, outboxCommands, pendingCommands, runView, storedRecord, transition } from "./machine.ts";
import { RunSpecError, judgeTemplates, normalizeRunSpec } from "./spec.ts";

interface Loaded {
  record: RunRecord;
  revision: number;
  /** The stored record holds its shards itself (machine version 1). */
  inline: boolean;
}

function storedForm(record: RunRecord): Uint8Array {
  return toBinary(RunRecordSchema, storedRecord(record));
}

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
  /** Per run, the whole record of the KV revision this process last read or wrote. */
  private readonly records = new Map<string, Loaded>();

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
    const { record, commands } = transition(fresh, requested);
    record.run!.updateTime = now;
    return this.withLock(runId, async () => {
      let revision: number;
      try {
        revision = await this.bus.kvCreate(runKey(runId), storedForm(record));
      } catch (err) {
        if (!(err instanceof CasConflictError)) throw err;
        // A concurrent CreateRun with the same key won the race.
        const winner = await this.load(runId);
        return this.sameRun(winner!.record, spec);
      }
      this.remember(runId, { record, revision, inline: false });
      await this.publish(record, revision, commands);
      return runView(record);
    });
  }

  async getRun(runId: string): Promise<Run> {
    return runView(await this.require(runId));
  }

  /**
   * Runs, newest first. The page token is opaque to callers. Each run as its stored record has it:
   * without the stages' outputs, which are kept with the shards (GetRun has them).
   */
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
        // A record of machine version 1 holds its shards itself: they get their keys before the
        // record that leaves them out is written.
        if (loaded.inline) await this.storeAll(loaded.record);
        let revision: number;
        try {
          revision = await this.bus.kvUpdate(runKey(event.runId), storedForm(t.record), loaded.revision);
        } catch (err) {
          if (err instanceof CasConflictError) continue; // another writer: re-read and re-apply
          throw err;
        }
        this.remember(event.runId, { record: t.record, revision, inline: false });
        await this.publish(t.record, revision, t.commands);
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

  /** Publishes the record's outbox (`commands`: the transition's own, when this process just made it). */
  private async publish(record: RunRecord, revision: number, commands = outboxCommands(record)): Promise<void> {
    const runId = record.run!.id;
    this.published.delete(runId);
    for (const cmd of commands) await this.publishCommand(runId, record, cmd);
    this.published.set(runId, revision);
  }

  /** Stores a shard under its key unless a later version of it is there already. */
  private async storeShard(runId: string, shard: ShardRecord): Promise<void> {
    const key = shardKey(runId, shard);
    const bytes = toBinary(ShardRecordSchema, shard);
    for (;;) {
      const e = await this.bus.kvGet(key);
      // A late re-publish of an older outbox must not set the shard back.
      if (e && shardVersion(fromBinary(ShardRecordSchema, e.value)) >= shardVersion(shard)) return;
      try {
        if (e) await this.bus.kvUpdate(key, bytes, e.revision);
        else await this.bus.kvCreate(key, bytes);
        return;
      } catch (err) {
        if (!(err instanceof CasConflictError)) throw err;
      }
    }
  }

  private async storePrompts(runId: string, shards: ArtifactRef[]): Promise<void> {
    try {
      await this.bus.kvCreate(promptsKey(runId), toBinary(PromptShardListSchema, create(PromptShardListSchema, { shards })));
    } catch (err) {
      if (!(err instanceof CasConflictError)) throw err; // written once: a repeat finds it there
    }
  }

  /** Gives every shard and the prompt shards of a record their keys (a record of machine version 1). */
  private async storeAll(record: RunRecord): Promise<void> {
    const runId = record.run!.id;
    if (record.promptShards.length > 0) await this.storePrompts(runId, record.promptShards);
    for (const shard of record.shards) await this.storeShard(runId, shard);
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
      case "shard":
        await this.storeShard(runId, kind.value);
        return;
      case "promptShards":
        await this.storePrompts(runId, kind.value.shards);
        return;
      case "dispatch":
        throw new Error(`command ${cmd.msgId}: a stored dispatch is published as the command it names (outboxCommands)`);
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
      this.sameRun(loaded.record, spec);
      if (this.published.get(runId) !== loaded.revision) await this.publish(loaded.record, loaded.revision);
      return runView(loaded.record);
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

  /** The whole record of the run's current revision: remembered, or reassembled from its keys. */
  private async load(runId: string): Promise<Loaded | undefined> {
    for (;;) {
      const e = await this.bus.kvGet(runKey(runId));
      if (!e) return undefined;
      const known = this.records.get(runId);
      if (known?.revision === e.revision) return known;
      const stored = fromBinary(RunRecordSchema, e.value);
      // Written by machine version 1 (or not started): everything is in the record itself.
      if (stored.shards.length > 0 || stored.run!.state === RunState.PENDING) {
        return this.remember(runId, { record: stored, revision: e.revision, inline: stored.shards.length > 0 });
      }
      const shards = new Map<string, ShardRecord>();
      for (const key of await this.bus.kvKeys(shardKeyPrefix(runId))) {
        const s = await this.bus.kvGet(key);
        if (s) shards.set(key, fromBinary(ShardRecordSchema, s.value));
      }
      // The keys must not be ahead of the record: read again if a writer moved it meanwhile.
      if ((await this.bus.kvGet(runKey(runId)))?.revision !== e.revision) continue;
      let promptShards: ArtifactRef[] | undefined;
      // The stores of the last transition may not be written yet.
      for (const c of stored.outbox) {
        if (c.kind.case === "shard") shards.set(shardKey(runId, c.kind.value), c.kind.value);
        if (c.kind.case === "promptShards") promptShards = c.kind.value.shards;
      }
      if (!promptShards && stored.itemsTotal > 0) {
        const p = await this.bus.kvGet(promptsKey(runId));
        promptShards = p ? fromBinary(PromptShardListSchema, p.value).shards : [];
      }
      // Each stage's shards together and in order, as the state machine keeps them.
      const ordered = [...shards.values()].sort((a, b) => a.iteration - b.iteration || a.stage - b.stage || a.shardIndex - b.shardIndex);
      const record = { ...stored, shards: ordered, promptShards: promptShards ?? [] };
      return this.remember(runId, { record, revision: e.revision, inline: false });
    }
  }

  private remember(runId: string, loaded: Loaded): Loaded {
    this.records.delete(runId);
    this.records.set(runId, loaded);
    // The most recently used records only: a busy orchestrator serves a few runs at a time.
    if (this.records.size > 64) this.records.delete(this.records.keys().next().value!);
    return loaded;
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
