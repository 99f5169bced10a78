// The in-process Bus for embedded mode, with the semantics of the NATS one: redelivery after the
// ack wait, de-duplication by message id, compare-and-set on a bucket-wide revision.
import { checkKey, checkLog, checkMsgId, checkPrefix, checkQueue } from "./names.ts";
import { CasConflictError } from "./types.ts";
import type { Bus, Delivery, KvEntry, LogEntry, PublishResult } from "./types.ts";

export interface MemoryBusOptions {
  ackWaitMs?: number;
  /** How long a message id is remembered for de-duplication. */
  duplicateWindowMs?: number;
}

interface QueuedMessage {
  data: Uint8Array;
  msgId: string;
  deliveries: number;
  /** Ready for delivery at or after this time; Infinity while a delivery is outstanding. */
  readyAt: number;
  timer?: NodeJS.Timeout;
  acked: boolean;
}

/** Wakes async waiters when something changes. */
class Signal {
  private waiters: (() => void)[] = [];
  wait(ms: number, abort?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        abort?.removeEventListener("abort", done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      abort?.addEventListener("abort", done);
      this.waiters.push(done);
    });
  }
  notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

export class MemoryBus implements Bus {
  readonly ackWaitMs: number;
  private readonly window: number;
  private readonly queues = new Map<string, QueuedMessage[]>();
  private readonly queueSignal = new Signal();
  private readonly logs = new Map<string, LogEntry[]>();
  private readonly logSignal = new Signal();
  private logSeq = 0;
  /** Seen message ids per stream ("queues", "logs") with their expiry time. */
  private readonly seen = { queues: new Map<string, number>(), logs: new Map<string, number>() };
  private readonly kv = new Map<string, KvEntry>();
  private readonly kvSignal = new Signal();
  private revision = 0;
  private closed = false;

  constructor(opts: MemoryBusOptions = {}) {
    this.ackWaitMs = opts.ackWaitMs ?? 30_000;
    this.window = opts.duplicateWindowMs ?? 3_600_000;
  }

  async enqueue(queue: string, data: Uint8Array, msgId: string): Promise<PublishResult> {
    this.checkOpen();
    checkQueue(queue);
    if (this.isDuplicate("queues", checkMsgId(msgId))) return { duplicate: true };
    this.queue(queue).push({ data: data.slice(), msgId, deliveries: 0, readyAt: 0, acked: false });
    this.queueSignal.notify();
    return { duplicate: false };
  }

  async pull(queue: string, opts: { expiresMs?: number } = {}): Promise<Delivery | undefined> {
    this.checkOpen();
    checkQueue(queue);
    const deadline = Date.now() + (opts.expiresMs ?? 30_000);
    for (;;) {
      const now = Date.now();
      const msgs = this.queue(queue);
      const m = msgs.find((x) => x.readyAt <= now);
      if (m) return this.deliver(queue, m);
      if (now >= deadline || this.closed) return undefined;
      const nextReady = Math.min(...msgs.map((x) => x.readyAt), deadline);
      await this.queueSignal.wait(Math.max(1, nextReady - now));
    }
  }

  async append(log: string, data: Uint8Array, msgId: string): Promise<PublishResult> {
    this.checkOpen();
    checkLog(log);
    if (this.isDuplicate("logs", checkMsgId(msgId))) return { duplicate: true };
    const entries = this.logs.get(log) ?? [];
    this.logs.set(log, entries);
    entries.push({ seq: ++this.logSeq, data: data.slice() });
    this.logSignal.notify();
    return { duplicate: false };
  }

  async *read(log: string, opts: { signal?: AbortSignal } = {}): AsyncIterable<LogEntry> {
    checkLog(log);
    let next = 0;
    while (!opts.signal?.aborted && !this.closed) {
      const entries = this.logs.get(log) ?? [];
      if (next < entries.length) {
        yield entries[next++]!;
        continue;
      }
      await this.logSignal.wait(60_000, opts.signal);
    }
  }

  async kvGet(key: string): Promise<KvEntry | undefined> {
    this.checkOpen();
    const e = this.kv.get(checkKey(key));
    return e && { ...e, value: e.value.slice() };
  }

  async kvCreate(key: string, value: Uint8Array): Promise<number> {
    this.checkOpen();
    if (this.kv.has(checkKey(key))) throw new CasConflictError(key, "key exists");
    return this.kvPut(key, value);
  }

  async kvUpdate(key: string, value: Uint8Array, revision: number): Promise<number> {
    this.checkOpen();
    const current = this.kv.get(checkKey(key));
    if (current?.revision !== revision) {
      throw new CasConflictError(key, `revision is ${current?.revision ?? "none"}, expected ${revision}`);
    }
    return this.kvPut(key, value);
  }

  async kvKeys(prefix: string): Promise<string[]> {
    this.checkOpen();
    checkPrefix(prefix);
    return [...this.kv.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async *kvWatch(prefix: string, opts: { signal?: AbortSignal } = {}): AsyncIterable<KvEntry> {
    checkPrefix(prefix);
    let seenRevision = 0;
    while (!opts.signal?.aborted && !this.closed) {
      const fresh = [...this.kv.values()]
        .filter((e) => e.key.startsWith(prefix) && e.revision > seenRevision)
        .sort((a, b) => a.revision - b.revision);
      for (const e of fresh) {
        seenRevision = e.revision;
        yield { ...e, value: e.value.slice() };
      }
      if (fresh.length === 0) await this.kvSignal.wait(60_000, opts.signal);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const msgs of this.queues.values()) for (const m of msgs) clearTimeout(m.timer);
    this.queueSignal.notify();
    this.logSignal.notify();
    this.kvSignal.notify();
  }

  private kvPut(key: string, value: Uint8Array): number {
    const revision = ++this.revision;
    this.kv.set(key, { key, value: value.slice(), revision });
    this.kvSignal.notify();
    return revision;
  }

  private deliver(queue: string, m: QueuedMessage): Delivery {
    m.deliveries += 1;
    const delivery = m.deliveries;
    const current = () => !m.acked && m.deliveries === delivery;
    const requeue = (delayMs: number) => {
      clearTimeout(m.timer);
      m.readyAt = Date.now() + delayMs;
      m.timer = setTimeout(() => this.queueSignal.notify(), delayMs);
      this.queueSignal.notify();
    };
    const armAckWait = () => {
      clearTimeout(m.timer);
      m.readyAt = Infinity;
      m.timer = setTimeout(() => current() && requeue(0), this.ackWaitMs);
    };
    armAckWait();
    return {
      data: m.data.slice(),
      msgId: m.msgId,
      deliveries: delivery,
      ack: async () => {
        if (m.acked) return;
        m.acked = true;
        clearTimeout(m.timer);
        const msgs = this.queue(queue);
        msgs.splice(msgs.indexOf(m), 1);
      },
      nak: (delayMs = 0) => {
        if (current()) requeue(delayMs);
      },
      working: () => {
        if (current()) armAckWait();
      },
    };
  }

  private queue(name: string): QueuedMessage[] {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = []));
    return q;
  }

  private isDuplicate(stream: "queues" | "logs", msgId: string): boolean {
    const seen = this.seen[stream];
    const now = Date.now();
    const expiry = seen.get(msgId);
    if (expiry !== undefined && expiry > now) return true;
    if (seen.size >= 100_000) for (const [id, t] of seen) if (t <= now) seen.delete(id);
    seen.set(msgId, now + this.window);
    return false;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error("bus is closed");
  }
}
