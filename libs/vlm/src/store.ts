// Model versions in an artifact store. A checkpoint directory (see checkpoint.ts) is published file by
// file under artifact://models/<digest>/, manifest last; a ModelRef points at the manifest. Services
// load a version once, verify it, and keep the few most recent in memory, keyed by digest.
import { createHash, randomUUID } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { initBackend, type BackendInfo, type BackendPreference } from "./backend.ts";
import { loadCheckpoint, MANIFEST, manifestDigest, openCheckpoint } from "./checkpoint.ts";
import type { Policy } from "./skills.ts";
import { InputError } from "./errors.ts";
import { REWARD_HEAD_FILE } from "./reward.ts";

/** The part of an artifact store this module needs (libs/bus ArtifactStore fits). */
export interface BlobStore<R extends { uri: string; sha256: string }> {
  put(uri: string, data: Uint8Array, mediaType?: string): Promise<R>;
  get(ref: R | string): Promise<Uint8Array>;
}

export interface PublishedModel<R> {
  name: string;
  digest: string;
  /** The manifest artifact. */
  checkpoint: R;
}

const MODEL_FILES = ["model.safetensors", "config.json", "tokenizer.json"];
/** Files a model version has when its checkpoint has them (a reward model's head). */
const OPTIONAL_MODEL_FILES = [REWARD_HEAD_FILE];

export const modelUri = (digest: string, file: string) => `artifact://models/${digest}/${file}`;

/** Publishes a checkpoint directory; idempotent (same files, same URIs). */
export async function publishCheckpoint<R extends { uri: string; sha256: string }>(
  store: BlobStore<R>,
  dir: string,
  name: string,
): Promise<PublishedModel<R>> {
  const ckpt = await openCheckpoint(dir);
  // Only the files a model needs: the trainer's optimizer state stays with the trainer, so the
  // model's digest covers exactly these three files (and a reward model's head).
  const bytes: Record<string, Uint8Array> = {};
  for (const file of MODEL_FILES) {
    if (!ckpt.files.includes(file)) throw new Error(`checkpoint ${dir}: ${file} is missing`);
    bytes[file] = await ckpt.read(file);
  }
  for (const file of OPTIONAL_MODEL_FILES) if (ckpt.files.includes(file)) bytes[file] = await ckpt.read(file);
  const files = Object.keys(bytes);
  const manifest = manifestOf(Object.fromEntries(files.map((f) => [f, createHash("sha256").update(bytes[f]!).digest("hex")])));
  for (const file of files) await store.put(modelUri(manifest.digest, file), bytes[file]!, "application/octet-stream");
  // The manifest goes last: a reader that finds it finds every file.
  const checkpoint = await store.put(
    modelUri(manifest.digest, MANIFEST),
    new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`),
    "application/json",
  );
  return { name, digest: manifest.digest, checkpoint };
}

function manifestOf(files: Record<string, string>): { version: 1; digest: string; files: Record<string, string> } {
  return { version: 1, digest: manifestDigest(files), files };
}

/** A model version in use; `release()` when done, so the cache may free it. */
export interface ModelLease {
  policy: Policy;
  release(): void;
}

interface CacheEntry {
  loading: Promise<Policy>;
  /** Leases not yet released. */
  users: number;
  /** Dropped from the cache: its tensors are freed once the last user releases it. */
  evicted: boolean;
}

/**
 * Loads model versions by digest, verifying every file, and keeps the `capacity` most recently used.
 * A model still leased when it leaves the cache is freed only after its last release, so a request
 * in flight never runs on disposed weights.
 */
export class ModelCache<R extends { uri: string; sha256: string }> {
  readonly #entries = new Map<string, CacheEntry>();

  constructor(
    private readonly store: BlobStore<R>,
    private readonly cacheDir: string,
    private readonly capacity = 3,
    /** Told when a cached copy failed verification and is fetched again. */
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** The model of this digest, loaded once; `manifest` is where its manifest lives. */
  async acquire(digest: string, manifest: R | string): Promise<ModelLease> {
    let entry = this.#entries.get(digest);
    if (entry) {
      this.#entries.delete(digest); // re-inserted below: most recently used last
    } else {
      entry = { loading: this.loadCopy(digest, manifest), users: 0, evicted: false };
      const failed = entry;
      entry.loading.catch(() => this.#entries.get(digest) === failed && this.#entries.delete(digest));
    }
    this.#entries.set(digest, entry);
    entry.users++; // before any await: an eviction meanwhile must not free it
    while (this.#entries.size > this.capacity) {
      const [oldest, old] = this.#entries.entries().next().value as [string, CacheEntry];
      this.#entries.delete(oldest);
      old.evicted = true;
      if (old.users === 0) this.#free(old);
    }
    const held = entry;
    let policy: Policy;
    try {
      policy = await held.loading;
    } catch (err) {
      held.users--;
      throw err;
    }
    let released = false;
    return {
      policy,
      release: () => {
        if (released) return;
        released = true;
        held.users--;
        if (held.evicted && held.users === 0) this.#free(held);
      },
    };
  }

  #free(entry: CacheEntry): void {
    void entry.loading.then(
      (p) => {
        p.model.dispose();
        p.rewardHead?.dispose();
      },
      () => undefined,
    );
  }

  /** A private copy of a model version (for training, which must not change the shared one). */
  async loadCopy(digest: string, manifest: R | string): Promise<Policy> {
    const dir = await this.#download(digest, manifest);
    try {
      const { model, tok, rewardHead } = await loadCheckpoint(dir);
      return { model, tok, ...(rewardHead ? { rewardHead } : {}) };
    } catch (err) {
      // The cached copy is damaged (a flipped byte on disk): the store still holds a verified one.
      this.log(`model cache ${dir}: ${(err as Error).message}; removed, fetching model ${digest} again from the artifact store`);
      await rm(dir, { recursive: true, force: true });
      this.#downloads.delete(digest);
      const { model, tok, rewardHead } = await loadCheckpoint(await this.#download(digest, manifest));
      return { model, tok, ...(rewardHead ? { rewardHead } : {}) };
    }
  }

  /** Downloads and verifies a model version into the cache directory (once per process). */
  async #download(digest: string, manifestRef: R | string): Promise<string> {
    const dir = join(this.cacheDir, digest);
    let pending = this.#downloads.get(digest);
    if (!pending) {
      pending = this.#downloadFiles(digest, manifestRef, dir);
      this.#downloads.set(digest, pending);
      pending.catch(() => this.#downloads.delete(digest));
    }
    await pending;
    return dir;
  }
  readonly #downloads = new Map<string, Promise<void>>();

  async #downloadFiles(digest: string, manifestRef: R | string, dir: string): Promise<void> {
    const bytes = await this.store.get(manifestRef);
    let manifest: { digest?: unknown; files?: Record<string, string> };
    try {
      manifest = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new InputError(`model ${digest}: manifest is not JSON`);
    }
    if (manifest.digest !== digest || !manifest.files)
      throw new InputError(`model ${digest}: manifest names digest ${String(manifest.digest).slice(0, 80)}`);
    // Several processes may share the cache directory: download aside, then rename into place.
    const tmp = `${dir}.tmp-${process.pid}-${randomUUID()}`;
    await mkdir(tmp, { recursive: true });
    try {
      for (const [file, sha256] of Object.entries(manifest.files)) {
        if (file.includes("/") || file.includes("..")) throw new Error(`model ${digest}: invalid file name "${file}"`);
        await writeFile(join(tmp, file), await this.store.get({ uri: modelUri(digest, file), sha256 } as R));
      }
      await writeFile(join(tmp, MANIFEST), bytes);
    } catch (err) {
      // A failed download leaves nothing behind.
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    try {
      await rename(tmp, dir);
    } catch {
      // Another process got there first; loadCheckpoint verifies what it left.
      await rm(tmp, { recursive: true, force: true });
    }
  }
}

const shared = new WeakMap<object, { models: ModelCache<never>; ready: Promise<BackendInfo> }>();

/**
 * The process's model cache for an artifact store, with the tfjs backend started once. Services in one
 * process (`isrdpo serve all`, the embedded demo) share it, so a model version is loaded once.
 */
export function sharedModels<R extends { uri: string; sha256: string }>(
  store: BlobStore<R>,
  cacheDir: string,
  backend?: BackendPreference,
  log?: (line: string) => void,
): { models: ModelCache<R>; ready: Promise<BackendInfo> } {
  let entry = shared.get(store);
  if (!entry) {
    entry = { models: new ModelCache(store, cacheDir, 3, log) as ModelCache<never>, ready: initBackend(backend, log) };
    shared.set(store, entry);
  }
  return entry as unknown as { models: ModelCache<R>; ready: Promise<BackendInfo> };
}
