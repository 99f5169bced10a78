import { createHash } from "node:crypto";
import type { ArtifactRef } from "@isrdpo/contracts";

/** One delivery of a work-queue message. Un-acked deliveries come back after the ack wait. */
export interface Delivery {
  readonly data: Uint8Array;
  /** The message id it was enqueued with. */
  readonly msgId: string;
  /** 1 on the first delivery, 2 on the first redelivery, … */
  readonly deliveries: number;
  /** Removes the message from the queue. */
  ack(): Promise<void>;
  /** Hands the message back for redelivery after `delayMs` (0: at once). */
  nak(delayMs?: number): void;
  /** Restarts the ack-wait timer: "still working on it". */
  working(): void;
}

export interface KvEntry {
  key: string;
  value: Uint8Array;
  /** Increases with every write to the bucket; the compare-and-set token. */
  revision: number;
}

export interface LogEntry {
  /** Position in the log's stream, increasing. */
  seq: number;
  data: Uint8Array;
}

export interface PublishResult {
  /** True when the message id was seen within the de-duplication window: nothing was added. */
  duplicate: boolean;
}

/**
 * Events, work queues and KV run state (docs/design.md §3). Implementations: NatsBus (JetStream) and
 * MemoryBus (embedded mode), held to one conformance suite.
 */
export interface Bus {
  /** Ack wait of work queues: an un-acked delivery is redelivered after this long. */
  readonly ackWaitMs: number;
  /** Adds a message to a work queue; a repeated msgId within the window is dropped. */
  enqueue(queue: string, data: Uint8Array, msgId: string): Promise<PublishResult>;
  /** The next delivery of a queue, waiting up to `expiresMs` (≥ 1000); undefined if none came. */
  pull(queue: string, opts?: { expiresMs?: number }): Promise<Delivery | undefined>;
  /** Appends to an event log; a repeated msgId within the window is dropped. */
  append(log: string, data: Uint8Array, msgId: string): Promise<PublishResult>;
  /** Reads a log from its start, then follows it live until the signal aborts or the loop breaks. */
  read(log: string, opts?: { signal?: AbortSignal }): AsyncIterable<LogEntry>;
  kvGet(key: string): Promise<KvEntry | undefined>;
  /** Writes a key that must not exist; CasConflictError otherwise. Returns the new revision. */
  kvCreate(key: string, value: Uint8Array): Promise<number>;
  /** Writes a key whose revision must be `revision`; CasConflictError otherwise. */
  kvUpdate(key: string, value: Uint8Array, revision: number): Promise<number>;
  /** Keys starting with `prefix` (empty or ending in "."), sorted. */
  kvKeys(prefix: string): Promise<string[]>;
  /** Current entries under `prefix`, then every later write, until the signal aborts. */
  kvWatch(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<KvEntry>;
  close(): Promise<void>;
  /**
   * Calls `listener(false)` when the connection to the broker is lost and `listener(true)` when it is
   * back; returns the unsubscribe. Absent where there is no connection to lose (the in-memory bus).
   */
  onConnectionChange?(listener: (connected: boolean) => void): () => void;
}

/**
 * Content-addressed blobs by URI "artifact://<path>" (docs/design.md §3). Implementations:
 * NatsArtifactStore (Object Store) and LocalArtifactStore (a directory).
 */
export interface ArtifactStore {
  put(uri: string, data: Uint8Array, mediaType?: string): Promise<ArtifactRef>;
  /**
   * Stores content that arrives in chunks (a large dataset) without holding it whole; the sha256 and
   * size are computed on the way. Not retried: a stream cannot be replayed, the caller starts over.
   */
  putStream(uri: string, chunks: AsyncIterable<Uint8Array>, mediaType?: string): Promise<ArtifactRef>;
  /** The content, verified against the stored sha256 and against `ref.sha256` when given. */
  get(ref: ArtifactRef | string): Promise<Uint8Array>;
  /**
   * The content in chunks, never whole in memory. The sha256 is checked when the last chunk has been
   * read: a corrupt artifact throws ArtifactIntegrityError then, so act on the data only after the end.
   */
  getStream(ref: ArtifactRef | string): AsyncIterable<Uint8Array>;
  stat(uri: string): Promise<ArtifactRef | undefined>;
  /** Artifacts whose URI starts with `prefix`, sorted by URI. */
  list(prefix: string): Promise<ArtifactRef[]>;
}

export class CasConflictError extends Error {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`compare-and-set on "${key}" failed: ${detail}`);
    this.name = "CasConflictError";
  }
}

export class ArtifactNotFoundError extends Error {
  constructor(readonly uri: string) {
    super(`artifact not found: ${uri}`);
    this.name = "ArtifactNotFoundError";
  }
}

export class ArtifactIntegrityError extends Error {
  constructor(
    readonly uri: string,
    expected: string,
    actual: string,
  ) {
    super(`artifact ${uri} is corrupt: sha256 ${actual}, expected ${expected}`);
    this.name = "ArtifactIntegrityError";
  }
}

/**
 * The data of an artifact after checking it against the stored sha256 and, when the reader gave a
 * ref, against the ref's: both stores read through this.
 */
export function verified(uri: string, data: Uint8Array, stored: ArtifactRef, requested: ArtifactRef | string): Uint8Array {
  const actual = sha256Hex(data);
  if (actual !== stored.sha256) throw new ArtifactIntegrityError(uri, stored.sha256, actual);
  if (typeof requested !== "string" && requested.sha256 && requested.sha256 !== actual)
    throw new ArtifactIntegrityError(uri, requested.sha256, actual);
  return data;
}

export const sha256Hex = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** Yields `chunks` while hashing them; after the last, checks the digest as `verified` does. */
export async function* verifiedStream(
  uri: string,
  chunks: AsyncIterable<Uint8Array>,
  stored: ArtifactRef,
  requested: ArtifactRef | string,
): AsyncGenerator<Uint8Array> {
  const hash = createHash("sha256");
  for await (const chunk of chunks) {
    hash.update(chunk);
    yield chunk;
  }
  const actual = hash.digest("hex");
  if (actual !== stored.sha256) throw new ArtifactIntegrityError(uri, stored.sha256, actual);
  if (typeof requested !== "string" && requested.sha256 && requested.sha256 !== actual)
    throw new ArtifactIntegrityError(uri, requested.sha256, actual);
}
