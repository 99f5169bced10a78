// One conformance suite for every Bus and ArtifactStore implementation.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArtifactIntegrityError, ArtifactNotFoundError, CasConflictError, sha256Hex } from "../src/index.ts";
import type { ArtifactStore, Bus, Delivery } from "../src/index.ts";

export interface Subject {
  bus: Bus;
  artifacts: ArtifactStore;
  close(): Promise<void>;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `open` must give a bus whose ack wait is 1000 ms. */
export function describeConformance(name: string, open: () => Promise<Subject>): void {
  describe(`${name} conformance`, () => {
    let s: Subject;
    let n = 0;
    // Fresh names per test: the backing store is shared by the tests of one suite.
    const unique = (base: string) => `${base}-${++n}`;
    beforeAll(async () => {
      s = await open();
    });
    afterAll(async () => {
      await s?.close();
    });

    it("delivers an enqueued message once and forgets it after ack", async () => {
      const q = unique("q");
      expect(await s.bus.enqueue(q, enc("a"), "m1")).toEqual({ duplicate: false });
      const d = (await s.bus.pull(q, { expiresMs: 1000 }))!;
      expect([dec(d.data), d.msgId, d.deliveries]).toEqual(["a", "m1", 1]);
      await d.ack();
      expect(await s.bus.pull(q, { expiresMs: 1000 })).toBeUndefined();
      await sleep(1200); // past the ack wait: an acked message never comes back
      expect(await s.bus.pull(q, { expiresMs: 1000 })).toBeUndefined();
    });

    it("drops a repeated message id", async () => {
      const q = unique("q");
      await s.bus.enqueue(q, enc("a"), "same");
      expect(await s.bus.enqueue(q, enc("b"), "same")).toEqual({ duplicate: true });
      const d = (await s.bus.pull(q, { expiresMs: 1000 }))!;
      expect(dec(d.data)).toBe("a");
      await d.ack();
      expect(await s.bus.pull(q, { expiresMs: 1000 })).toBeUndefined();
    });

    it("redelivers an un-acked message after the ack wait, counting deliveries", async () => {
      const q = unique("q");
      await s.bus.enqueue(q, enc("x"), "r1");
      const first = (await s.bus.pull(q, { expiresMs: 1000 }))!;
      expect(first.deliveries).toBe(1);
      const t0 = Date.now();
      const second = (await s.bus.pull(q, { expiresMs: 5000 }))!;
      expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
      expect([dec(second.data), second.msgId, second.deliveries]).toEqual(["x", "r1", 2]);
      await second.ack();
    });

    it("redelivers at once after nak", async () => {
      const q = unique("q");
      await s.bus.enqueue(q, enc("x"), "n1");
      (await s.bus.pull(q, { expiresMs: 1000 }))!.nak();
      const again = (await s.bus.pull(q, { expiresMs: 1000 }))!;
      expect(again.deliveries).toBe(2);
      await again.ack();
    });

    it("keeps a message while its worker heartbeats past the ack wait", async () => {
      const q = unique("q");
      await s.bus.enqueue(q, enc("long"), "h1");
      const d = (await s.bus.pull(q, { expiresMs: 1000 }))!;
      const beat = setInterval(() => d.working(), 200);
      try {
        expect(await s.bus.pull(q, { expiresMs: 2500 })).toBeUndefined();
      } finally {
        clearInterval(beat);
      }
      await d.ack();
    });

    it("gives each message to exactly one of several competing pullers", async () => {
      const q = unique("q");
      for (let i = 0; i < 20; i++) await s.bus.enqueue(q, enc(String(i)), `c${i}`);
      const got: string[] = [];
      const worker = async () => {
        for (;;) {
          const d: Delivery | undefined = await s.bus.pull(q, { expiresMs: 1000 });
          if (!d) return;
          got.push(dec(d.data));
          await d.ack();
        }
      };
      await Promise.all([worker(), worker(), worker()]);
      expect(got.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    });

    it("reads a log from the start and follows it live; de-duplicates appends", async () => {
      const log = `${unique("log")}.r1`;
      const other = `${unique("log")}.r1`;
      await s.bus.append(log, enc("e1"), `${log}-1`);
      await s.bus.append(other, enc("zz"), `${other}-1`);
      await s.bus.append(log, enc("e2"), `${log}-2`);
      expect(await s.bus.append(log, enc("e2 again"), `${log}-2`)).toEqual({ duplicate: true });
      const abort = new AbortController();
      const seen: string[] = [];
      const seqs: number[] = [];
      const reader = (async () => {
        for await (const e of s.bus.read(log, { signal: abort.signal })) {
          seen.push(dec(e.data));
          seqs.push(e.seq);
          if (seen.length === 3) break;
        }
      })();
      await sleep(200);
      await s.bus.append(log, enc("e3"), `${log}-3`);
      await reader;
      abort.abort();
      expect(seen).toEqual(["e1", "e2", "e3"]);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    });

    it("compare-and-set on KV: create once, update at the current revision only", async () => {
      const key = `${unique("run")}.a`;
      const r1 = await s.bus.kvCreate(key, enc("v1"));
      await expect(s.bus.kvCreate(key, enc("again"))).rejects.toBeInstanceOf(CasConflictError);
      const r2 = await s.bus.kvUpdate(key, enc("v2"), r1);
      expect(r2).toBeGreaterThan(r1);
      await expect(s.bus.kvUpdate(key, enc("stale"), r1)).rejects.toBeInstanceOf(CasConflictError);
      const e = (await s.bus.kvGet(key))!;
      expect([dec(e.value), e.revision]).toEqual(["v2", r2]);
      expect(await s.bus.kvGet(`${key}-missing`)).toBeUndefined();
    });

    it("lists KV keys by prefix and watches current and later values", async () => {
      const p = unique("ns");
      await s.bus.kvCreate(`${p}.b`, enc("b"));
      await s.bus.kvCreate(`${p}.a`, enc("a"));
      await s.bus.kvCreate(`${p}x.c`, enc("not under the prefix"));
      expect(await s.bus.kvKeys(`${p}.`)).toEqual([`${p}.a`, `${p}.b`]);
      const abort = new AbortController();
      const seen: string[] = [];
      const watcher = (async () => {
        for await (const e of s.bus.kvWatch(`${p}.`, { signal: abort.signal })) {
          seen.push(`${e.key}=${dec(e.value)}`);
          if (seen.length === 3) break;
        }
      })();
      await sleep(200);
      const cur = (await s.bus.kvGet(`${p}.a`))!;
      await s.bus.kvUpdate(`${p}.a`, enc("a2"), cur.revision);
      await watcher;
      abort.abort();
      expect(seen).toEqual([`${p}.b=b`, `${p}.a=a`, `${p}.a=a2`]);
    });

    it("rejects bad names with an error naming the argument", async () => {
      await expect(s.bus.enqueue("Bad Queue", enc(""), "m")).rejects.toThrow(/^queue: /);
      await expect(s.bus.enqueue("ok", enc(""), "")).rejects.toThrow(/^msgId: /);
      await expect(s.bus.kvGet("a..b")).rejects.toThrow(/^key: /);
      await expect(s.bus.kvKeys("a")).rejects.toThrow(/^prefix: /);
    });

    it("stores artifacts with sha256, size and media type; get verifies them", async () => {
      const dir = unique("runs");
      const data = enc("hello artifacts");
      const ref = await s.artifacts.put(`artifact://${dir}/r1/shard-0.pb`, data, "application/x-protobuf");
      expect(ref).toMatchObject({
        uri: `artifact://${dir}/r1/shard-0.pb`,
        sha256: sha256Hex(data),
        sizeBytes: BigInt(data.length),
        mediaType: "application/x-protobuf",
      });
      expect(dec(await s.artifacts.get(ref))).toBe("hello artifacts");
      expect(dec(await s.artifacts.get(ref.uri))).toBe("hello artifacts");
      expect(await s.artifacts.stat(ref.uri)).toMatchObject({ sha256: ref.sha256, sizeBytes: ref.sizeBytes });
      await expect(s.artifacts.get({ ...ref, sha256: "0".repeat(64) })).rejects.toBeInstanceOf(ArtifactIntegrityError);
      expect(await s.artifacts.stat(`artifact://${dir}/none`)).toBeUndefined();
      await expect(s.artifacts.get(`artifact://${dir}/none`)).rejects.toBeInstanceOf(ArtifactNotFoundError);
      const big = new Uint8Array(300_000).map((_, i) => i % 251);
      const bigRef = await s.artifacts.put(`artifact://${dir}/big.bin`, big);
      expect(Buffer.compare(Buffer.from(await s.artifacts.get(bigRef)), Buffer.from(big))).toBe(0);
    });

    it("streams artifacts in and out in chunks, with the same sha256 and checks", async () => {
      const dir = unique("stream");
      const chunk = (i: number) => new Uint8Array(70_000).map((_, k) => (i * 7 + k) % 253);
      async function* chunks() {
        for (let i = 0; i < 20; i++) yield chunk(i);
      }
      const whole = Buffer.concat(Array.from({ length: 20 }, (_, i) => chunk(i)));
      const ref = await s.artifacts.putStream(`artifact://${dir}/data.jsonl`, chunks(), "application/jsonl");
      expect(ref).toMatchObject({ sha256: sha256Hex(whole), sizeBytes: BigInt(whole.length), mediaType: "application/jsonl" });
      expect(Buffer.compare(Buffer.from(await s.artifacts.get(ref)), whole)).toBe(0);
      const read: Uint8Array[] = [];
      for await (const c of s.artifacts.getStream(ref.uri)) read.push(c);
      expect(read.length).toBeGreaterThan(1);
      expect(Buffer.compare(Buffer.concat(read), whole)).toBe(0);
      const drain = async (r: Parameters<typeof s.artifacts.getStream>[0]) => {
        for await (const _ of s.artifacts.getStream(r));
      };
      await expect(drain({ ...ref, sha256: "0".repeat(64) })).rejects.toBeInstanceOf(ArtifactIntegrityError);
      await expect(drain(`artifact://${dir}/none`)).rejects.toBeInstanceOf(ArtifactNotFoundError);
      // A put of bytes and a streamed put of the same bytes give the same ref; a failing source stores nothing.
      const small = enc("one line\n");
      expect(
        await s.artifacts.putStream(
          `artifact://${dir}/small`,
          (async function* () {
            yield small;
          })(),
        ),
      ).toMatchObject({
        sha256: (await s.artifacts.put(`artifact://${dir}/small2`, small)).sha256,
      });
      const failing = (async function* () {
        yield small;
        throw new Error("source broke");
      })();
      await expect(s.artifacts.putStream(`artifact://${dir}/broken`, failing)).rejects.toThrow("source broke");
      expect(await s.artifacts.stat(`artifact://${dir}/broken`)).toBeUndefined();
    });

    it("lists artifacts by URI prefix, sorted", async () => {
      const dir = unique("list");
      for (const p of ["b/2", "a/1", "b/1"]) await s.artifacts.put(`artifact://${dir}/${p}`, enc(p));
      await s.artifacts.put(`artifact://${dir}x/other`, enc("other"));
      expect((await s.artifacts.list(`artifact://${dir}/b/`)).map((r) => r.uri)).toEqual([
        `artifact://${dir}/b/1`,
        `artifact://${dir}/b/2`,
      ]);
      expect((await s.artifacts.list(`artifact://${dir}/`)).map((r) => r.uri)).toHaveLength(3);
    });

    it("confines URIs to the store", async () => {
      for (const uri of [
        "artifact://../etc/passwd",
        "artifact://a/../../b",
        "artifact:///abs",
        "file:///etc/passwd",
        "artifact://a//b",
        "artifact://",
      ]) {
        await expect(s.artifacts.put(uri, enc("x")), uri).rejects.toThrow(/^uri: /);
        await expect(s.artifacts.get(uri), uri).rejects.toThrow(/^uri: /);
      }
    });
  });
}
