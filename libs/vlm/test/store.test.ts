// Model versions through an artifact store: publish, load verified, cache by digest, and never free
// a model that is still in use.
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ModelCache, modelUri, publishCheckpoint, saveCheckpoint } from "../src/index.ts";
import { setup } from "./helpers.ts";

type Ref = { uri: string; sha256: string };

/** An artifact store in memory that verifies reads like the real ones. */
function memoryStore() {
  const blobs = new Map<string, Uint8Array>();
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  return {
    blobs,
    async put(uri: string, data: Uint8Array): Promise<Ref> {
      blobs.set(uri, data);
      return { uri, sha256: sha(data) };
    },
    async get(ref: Ref | string): Promise<Uint8Array> {
      const uri = typeof ref === "string" ? ref : ref.uri;
      const data = blobs.get(uri);
      if (!data) throw new Error(`not found: ${uri}`);
      if (typeof ref !== "string" && ref.sha256 !== sha(data)) throw new Error(`sha256 mismatch: ${uri}`);
      return data;
    },
  };
}

async function published(store: ReturnType<typeof memoryStore>, seed: number) {
  const { model, tok } = await setup(seed);
  const dir = mkdtempSync(join(tmpdir(), "isrdpo-store-"));
  await saveCheckpoint(dir, model, tok);
  model.dispose();
  return publishCheckpoint(store, dir, `m${seed}`);
}

describe("model store", () => {
  it("publishes a checkpoint under its digest and loads the same weights", async () => {
    const store = memoryStore();
    const p = await published(store, 1);
    expect([...store.blobs.keys()].sort()).toEqual(
      ["config.json", "manifest.json", "model.safetensors", "tokenizer.json"].map((f) => modelUri(p.digest, f)),
    );
    expect(await published(store, 1)).toEqual(p); // same model, same digest: idempotent
    const cache = new ModelCache(store, mkdtempSync(join(tmpdir(), "isrdpo-cache-")));
    const lease = await cache.acquire(p.digest, p.checkpoint);
    expect(lease.policy.tok.vocabSize).toBe(lease.policy.model.config.vocabSize);
    // Loaded once: a second acquire shares the same model.
    const again = await cache.acquire(p.digest, p.checkpoint);
    expect(again.policy).toBe(lease.policy);
    lease.release();
    again.release();
  });

  it("refuses a model whose files do not match the manifest", async () => {
    const store = memoryStore();
    const p = await published(store, 2);
    const weights = modelUri(p.digest, "model.safetensors");
    store.blobs.set(weights, store.blobs.get(weights)!.slice(0, 100));
    const cache = new ModelCache(store, mkdtempSync(join(tmpdir(), "isrdpo-cache-")));
    await expect(cache.acquire(p.digest, p.checkpoint)).rejects.toThrow(/sha256 mismatch: .*model\.safetensors/);
  });

  it("heals a damaged cache copy from the store, saying so, and leaves no temp directory after a failed download", async () => {
    const store = memoryStore();
    const p = await published(store, 4);
    const cacheDir = mkdtempSync(join(tmpdir(), "isrdpo-cache-"));
    const first = new ModelCache(store, cacheDir);
    const lease = await first.acquire(p.digest, p.checkpoint);
    const weights = join(cacheDir, p.digest, "model.safetensors");
    const good = readFileSync(weights);
    lease.release();
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1]! ^= 1;
    writeFileSync(weights, flipped);
    // A new process with the same cache directory: the flipped byte no longer fails every request.
    const logged: string[] = [];
    const second = new ModelCache(store, cacheDir, 3, (line) => logged.push(line));
    const healed = await second.acquire(p.digest, p.checkpoint);
    expect(healed.policy.tok.vocabSize).toBe(lease.policy.tok.vocabSize);
    expect(readFileSync(weights).equals(good)).toBe(true);
    expect(logged).toEqual([expect.stringMatching(new RegExp(`^model cache .*${p.digest}: .*model\\.safetensors.*fetching model`))]);
    healed.release();
    // The store's copy broken too: the error says so, and no <digest>.tmp-* directory is left.
    writeFileSync(weights, flipped);
    const w = modelUri(p.digest, "model.safetensors");
    store.blobs.set(w, store.blobs.get(w)!.slice(0, 100));
    await expect(new ModelCache(store, cacheDir).acquire(p.digest, p.checkpoint)).rejects.toThrow(/sha256 mismatch/);
    expect(readdirSync(cacheDir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("frees an evicted model only after its last lease is released", async () => {
    const store = memoryStore();
    const a = await published(store, 3);
    const b = await published(store, 4);
    const cache = new ModelCache(store, mkdtempSync(join(tmpdir(), "isrdpo-cache-")), 1);
    const leaseA = await cache.acquire(a.digest, a.checkpoint);
    const weightsA = [...leaseA.policy.model.params.values()][0]!;
    const leaseB = await cache.acquire(b.digest, b.checkpoint); // evicts a, which is still leased
    await new Promise((r) => setImmediate(r));
    expect(weightsA.isDisposed).toBe(false);
    leaseA.release();
    await new Promise((r) => setImmediate(r));
    expect(weightsA.isDisposed).toBe(true);
    // b is cached and alive; a comes back as a fresh load.
    const leaseA2 = await cache.acquire(a.digest, a.checkpoint);
    expect(leaseA2.policy).not.toBe(leaseA.policy);
    leaseB.release();
    leaseA2.release();
  });
});
