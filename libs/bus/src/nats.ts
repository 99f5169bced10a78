// The Bus and ArtifactStore on NATS JetStream (docs/design.md §3). Layout on the server:
//   stream ISRDPO_WORK  subjects isrdpo.work.<queue>   work-queue retention, file storage;
//                       one durable pull consumer per queue: isrdpo-<queue> (explicit ack)
//   stream ISRDPO_LOG   subjects isrdpo.log.<log>      limits retention, file storage
//   KV bucket isrdpo-runs, Object Store isrdpo-artifacts
// Both streams de-duplicate by Nats-Msg-Id within the duplicate window. Setup is idempotent.
import { create } from "@bufbuild/protobuf";
import { ArtifactRefSchema } from "@isrdpo/contracts";
import type { ArtifactRef } from "@isrdpo/contracts";
import { AckPolicy, RetentionPolicy, StorageType, connect, nanos } from "nats";
import type {
  ConnectionOptions,
  Consumer,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
  KV,
  NatsConnection,
  ObjectStore,
  StreamConfig,
} from "nats";
import { artifactPath, artifactPrefix, artifactUri, checkKey, checkLog, checkMsgId, checkPrefix, checkQueue } from "./names.ts";
import { ArtifactNotFoundError, CasConflictError, verified, verifiedStream } from "./types.ts";
import type { ArtifactStore, Bus, Delivery, KvEntry, LogEntry, PublishResult } from "./types.ts";

export const NATS_NAMES = {
  workStream: "ISRDPO_WORK",
  workSubject: (queue: string) => `isrdpo.work.${queue}`,
  consumer: (queue: string) => `isrdpo-${queue}`,
  logStream: "ISRDPO_LOG",
  logSubject: (log: string) => `isrdpo.log.${log}`,
  kvBucket: "isrdpo-runs",
  objectStore: "isrdpo-artifacts",
} as const;

export interface NatsBusOptions {
  /** e.g. "nats://127.0.0.1:4222"; several for a cluster. */
  servers: string | string[];
  ackWaitMs?: number;
  duplicateWindowMs?: number;
  /** How long an operation keeps retrying while the server is unreachable. */
  retryForMs?: number;
  /** Credentials, TLS and other connection settings of the `nats` package. */
  connection?: Partial<ConnectionOptions>;
  /**
   * How long the first connection may take before connectNats fails naming NATS (CLI commands: a few
   * seconds). Default: no limit — a service may start before its NATS (containers) and keeps trying.
   */
  connectTimeoutMs?: number;
  /** Told of each failed first-connection try (backoff 250 ms doubling to 5 s), so a wait is never silent. */
  onRetry?: (problem: string, nextTryMs: number) => void;
}

/** The servers of a NATS URL list with any credentials in them replaced, for logs and errors. */
export function redactNatsUrl(servers: string | readonly string[]): string {
  const list = typeof servers === "string" ? servers : servers.join(",");
  return list.replace(/\/\/[^/@,\s]*@/g, "//<redacted>@");
}

/** The first connection, tried with backoff until `connectTimeoutMs`; reconnects forever afterwards. */
async function firstConnection(opts: NatsBusOptions): Promise<NatsConnection> {
  const where = redactNatsUrl(opts.servers);
  const deadline = opts.connectTimeoutMs === undefined ? Infinity : Date.now() + opts.connectTimeoutMs;
  for (let wait = 250; ; wait = Math.min(wait * 2, 5_000)) {
    try {
      return await connect({
        servers: opts.servers as string | string[],
        waitOnFirstConnect: false,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        timeout: Math.max(500, Math.min(5_000, deadline - Date.now())),
        ...opts.connection,
      });
    } catch (err) {
      // The nats package's messages may echo the URL, credentials included.
      const problem = String((err as Error).message ?? err).replaceAll(String(opts.servers), where);
      if (Date.now() + wait >= deadline)
        throw new Error(`cannot reach NATS at ${where} within ${Math.round((opts.connectTimeoutMs ?? 0) / 1000)} s: ${problem}`);
      opts.onRetry?.(`NATS at ${where} unreachable: ${problem}`, wait);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** Opens a connection and sets up streams, KV and Object Store (idempotent). */
export async function connectNats(opts: NatsBusOptions): Promise<{ bus: NatsBus; artifacts: NatsArtifactStore }> {
  const nc = await firstConnection(opts);
  try {
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream();
    const ackWaitMs = opts.ackWaitMs ?? 30_000;
    const windowNs = nanos(opts.duplicateWindowMs ?? 3_600_000);
    for (const [name, subject, retention] of [
      [NATS_NAMES.workStream, NATS_NAMES.workSubject(">"), RetentionPolicy.Workqueue],
      [NATS_NAMES.logStream, NATS_NAMES.logSubject(">"), RetentionPolicy.Limits],
    ] as const) {
      await ensureStream(jsm, { name, subjects: [subject], retention, storage: StorageType.File, duplicate_window: windowNs });
    }
    const kv = await js.views.kv(NATS_NAMES.kvBucket, { history: 1, storage: StorageType.File });
    const os = await js.views.os(NATS_NAMES.objectStore, { storage: StorageType.File });
    const retryForMs = opts.retryForMs ?? 60_000;
    const bus = new NatsBus(nc, js, jsm, kv, ackWaitMs, retryForMs);
    return { bus, artifacts: new NatsArtifactStore(os, retryForMs) };
  } catch (err) {
    await nc.close();
    throw err;
  }
}

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    const info = await jsm.streams.info(config.name);
    if (info.config.duplicate_window !== config.duplicate_window) await jsm.streams.update(config.name, config);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.streams.add(config);
  }
}

export class NatsBus implements Bus {
  private readonly consumers = new Map<string, Promise<Consumer>>();
  private readonly connectionListeners = new Set<(connected: boolean) => void>();
  private watchingStatus = false;

  onConnectionChange(listener: (connected: boolean) => void): () => void {
    this.connectionListeners.add(listener);
    if (!this.watchingStatus) {
      this.watchingStatus = true;
      void (async () => {
        // The iterator ends when the connection closes.
        for await (const s of this.nc.status()) {
          const up = s.type === "reconnect" ? true : s.type === "disconnect" ? false : undefined;
          if (up !== undefined) for (const l of this.connectionListeners) l(up);
        }
      })();
    }
    return () => this.connectionListeners.delete(listener);
  }

  constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly kv: KV,
    readonly ackWaitMs: number,
    private readonly retryForMs: number,
  ) {}

  async enqueue(queue: string, data: Uint8Array, msgId: string): Promise<PublishResult> {
    return this.publish(NATS_NAMES.workSubject(checkQueue(queue)), data, msgId);
  }

  async pull(queue: string, opts: { expiresMs?: number } = {}): Promise<Delivery | undefined> {
    checkQueue(queue);
    const consumer = await this.consumer(queue);
    const m = await consumer.next({ expires: Math.max(1000, opts.expiresMs ?? 30_000) });
    return m ? toDelivery(m) : undefined;
  }

  async append(log: string, data: Uint8Array, msgId: string): Promise<PublishResult> {
    return this.publish(NATS_NAMES.logSubject(checkLog(log)), data, msgId);
  }

  async *read(log: string, opts: { signal?: AbortSignal } = {}): AsyncIterable<LogEntry> {
    checkLog(log);
    // An ordered consumer: server-side cursor that survives reconnects and resumes where it was.
    const consumer = await this.retry(() => this.js.consumers.get(NATS_NAMES.logStream, { filterSubjects: NATS_NAMES.logSubject(log) }));
    const messages = await consumer.consume();
    const stop = () => messages.stop();
    opts.signal?.addEventListener("abort", stop);
    try {
      if (opts.signal?.aborted) return;
      for await (const m of messages) yield { seq: m.seq, data: m.data };
    } finally {
      opts.signal?.removeEventListener("abort", stop);
      messages.stop();
    }
  }

  async kvGet(key: string): Promise<KvEntry | undefined> {
    checkKey(key);
    const e = await this.retry(() => this.kv.get(key));
    if (e?.operation !== "PUT") return undefined;
    return { key, value: e.value, revision: e.revision };
  }

  async kvCreate(key: string, value: Uint8Array): Promise<number> {
    checkKey(key);
    return this.cas(key, () => this.kv.create(key, value));
  }

  async kvUpdate(key: string, value: Uint8Array, revision: number): Promise<number> {
    checkKey(key);
    return this.cas(key, () => this.kv.update(key, value, revision));
  }

  async kvKeys(prefix: string): Promise<string[]> {
    checkPrefix(prefix);
    return this.retry(async () => {
      const keys: string[] = [];
      for await (const k of await this.kv.keys(prefix === "" ? ">" : `${prefix}>`)) keys.push(k);
      return keys.sort();
    });
  }

  async *kvWatch(prefix: string, opts: { signal?: AbortSignal } = {}): AsyncIterable<KvEntry> {
    checkPrefix(prefix);
    const watch = await this.retry(() => this.kv.watch({ key: prefix === "" ? ">" : `${prefix}>` }));
    const stop = () => watch.stop();
    opts.signal?.addEventListener("abort", stop);
    try {
      if (opts.signal?.aborted) return;
      for await (const e of watch) {
        if (e.operation === "PUT") yield { key: e.key, value: e.value, revision: e.revision };
      }
    } finally {
      opts.signal?.removeEventListener("abort", stop);
      watch.stop();
    }
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }

  private async publish(subject: string, data: Uint8Array, msgId: string): Promise<PublishResult> {
    checkMsgId(msgId);
    const ack = await this.retry(() => this.js.publish(subject, data, { msgID: msgId, timeout: 5000 }));
    return { duplicate: ack.duplicate };
  }

  /**
   * A CAS write. If the server applied a write whose reply was lost and we retried it, the retry
   * reports a conflict: the caller re-reads and sees its own write, which is the safe outcome.
   */
  private async cas(key: string, op: () => Promise<number>): Promise<number> {
    try {
      return await this.retry(op);
    } catch (err) {
      if (isWrongLastSequence(err)) throw new CasConflictError(key, (err as Error).message);
      throw err;
    }
  }

  private consumer(queue: string): Promise<Consumer> {
    let c = this.consumers.get(queue);
    if (!c) {
      c = this.retry(async () => {
        const name = NATS_NAMES.consumer(queue);
        const config = {
          durable_name: name,
          filter_subject: NATS_NAMES.workSubject(queue),
          ack_policy: AckPolicy.Explicit,
          ack_wait: nanos(this.ackWaitMs),
          max_deliver: -1,
        };
        try {
          const info = await this.jsm.consumers.info(NATS_NAMES.workStream, name);
          if (info.config.ack_wait !== config.ack_wait) await this.jsm.consumers.update(NATS_NAMES.workStream, name, config);
        } catch (err) {
          if (!isNotFound(err)) throw err;
          await this.jsm.consumers.add(NATS_NAMES.workStream, config);
        }
        return this.js.consumers.get(NATS_NAMES.workStream, name);
      });
      c.catch(() => this.consumers.delete(queue));
      this.consumers.set(queue, c);
    }
    return c;
  }

  retry<T>(op: () => Promise<T>): Promise<T> {
    return retryTransient(op, this.retryForMs, () => this.nc.isClosed());
  }
}

function toDelivery(m: JsMsg): Delivery {
  return {
    data: m.data,
    msgId: m.headers?.get("Nats-Msg-Id") ?? "",
    deliveries: m.info.deliveryCount,
    ack: async () => {
      await m.ackAck();
    },
    nak: (delayMs = 0) => m.nak(delayMs),
    working: () => m.working(),
  };
}

/** Retries while the server is unreachable (restart, failover); other errors pass through. */
async function retryTransient<T>(op: () => Promise<T>, forMs: number, closed: () => boolean): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
    try {
      return await op();
    } catch (err) {
      if (closed() || !isTransient(err) || Date.now() + wait > deadline) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

function isTransient(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  const message = String((err as Error).message ?? "");
  return (
    code === "TIMEOUT" ||
    code === "503" ||
    code === "DISCONNECT" ||
    code === "CONNECTION_REFUSED" ||
    code === "REQUEST_ERROR" ||
    /timeout|no responders|jetstream.*(not|un)available|connection closed/i.test(message)
  );
}

function isNotFound(err: unknown): boolean {
  const e = err as { code?: string; api_error?: { err_code?: number }; message?: string };
  return e.code === "404" || e.api_error?.err_code === 10059 || e.api_error?.err_code === 10014 || /not found/i.test(e.message ?? "");
}

function isWrongLastSequence(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string };
  return e.api_error?.err_code === 10071 || /wrong last sequence/i.test(e.message ?? "");
}

/** Object Store digests are "SHA-256=<base64url>"; refs carry lower-case hex. */
function digestHex(digest: string): string {
  return Buffer.from(digest.replace(/^SHA-256=/, ""), "base64url").toString("hex");
}

export class NatsArtifactStore implements ArtifactStore {
  constructor(
    private readonly os: ObjectStore,
    private readonly retryForMs: number,
  ) {}

  async put(uri: string, data: Uint8Array, mediaType = "application/octet-stream"): Promise<ArtifactRef> {
    const name = artifactPath(uri);
    const info = await this.retry(() => this.os.putBlob({ name, description: mediaType }, data));
    return this.toRef(name, info.digest, info.size, mediaType);
  }

  async putStream(uri: string, chunks: AsyncIterable<Uint8Array>, mediaType = "application/octet-stream"): Promise<ArtifactRef> {
    const name = artifactPath(uri);
    const iterator = chunks[Symbol.asyncIterator]();
    // The Object Store reads a web stream and chunks it into messages itself.
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await iterator.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel(reason) {
        await iterator.return?.(reason);
      },
    });
    const info = await this.os.put({ name, description: mediaType }, body);
    return this.toRef(name, info.digest, info.size, mediaType);
  }

  async *getStream(refOrUri: ArtifactRef | string): AsyncGenerator<Uint8Array> {
    const uri = typeof refOrUri === "string" ? refOrUri : refOrUri.uri;
    const stored = await this.stat(uri);
    if (!stored) throw new ArtifactNotFoundError(uri);
    const result = await this.retry(() => this.os.get(artifactPath(uri)));
    if (!result) throw new ArtifactNotFoundError(uri);
    const reader = result.data.getReader();
    async function* chunks() {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          yield value;
        }
      } finally {
        reader.releaseLock();
      }
    }
    yield* verifiedStream(uri, chunks(), stored, refOrUri);
    // The Object Store checks its own digest too; a failure is reported here.
    const error = await result.error;
    if (error) throw error;
  }

  async get(refOrUri: ArtifactRef | string): Promise<Uint8Array> {
    const uri = typeof refOrUri === "string" ? refOrUri : refOrUri.uri;
    const stored = await this.stat(uri);
    if (!stored) throw new ArtifactNotFoundError(uri);
    const data = await this.retry(() => this.os.getBlob(artifactPath(uri)));
    if (!data) throw new ArtifactNotFoundError(uri);
    return verified(uri, data, stored, refOrUri);
  }

  async stat(uri: string): Promise<ArtifactRef | undefined> {
    const name = artifactPath(uri);
    const info = await this.retry(() => this.os.info(name));
    if (!info || info.deleted) return undefined;
    return this.toRef(info.name, info.digest, info.size, info.description);
  }

  async list(prefix: string): Promise<ArtifactRef[]> {
    const pathPrefix = artifactPrefix(prefix);
    const infos = await this.retry(() => this.os.list());
    return infos
      .filter((i) => !i.deleted && i.name.startsWith(pathPrefix))
      .map((i) => this.toRef(i.name, i.digest, i.size, i.description))
      .sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
  }

  private toRef(name: string, digest: string, size: number, description: string | undefined): ArtifactRef {
    return create(ArtifactRefSchema, {
      uri: artifactUri(name),
      sha256: digestHex(digest),
      sizeBytes: BigInt(size),
      mediaType: description ?? "",
    });
  }

  private retry<T>(op: () => Promise<T>): Promise<T> {
    return retryTransient(op, this.retryForMs, () => false);
  }
}
