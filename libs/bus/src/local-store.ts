// ArtifactStore on a local directory (embedded mode): <root>/data/<path> holds the bytes and
// <root>/refs/<path> the ArtifactRef (binary protobuf) written after them.
import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ArtifactRefSchema } from "@isrdpo/contracts";
import type { ArtifactRef } from "@isrdpo/contracts";
import { artifactPath, artifactPrefix, artifactUri } from "./names.ts";
import { ArtifactNotFoundError, sha256Hex, verified, verifiedStream } from "./types.ts";
import type { ArtifactStore } from "./types.ts";

export class LocalArtifactStore implements ArtifactStore {
  private readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }

  async put(uri: string, data: Uint8Array, mediaType = "application/octet-stream"): Promise<ArtifactRef> {
    const path = artifactPath(uri);
    const ref = create(ArtifactRefSchema, { uri, sha256: sha256Hex(data), sizeBytes: BigInt(data.length), mediaType });
    await this.atomicWrite(this.file("data", path), data);
    await this.atomicWrite(this.file("refs", path), toBinary(ArtifactRefSchema, ref));
    return ref;
  }

  async putStream(uri: string, chunks: AsyncIterable<Uint8Array>, mediaType = "application/octet-stream"): Promise<ArtifactRef> {
    const path = artifactPath(uri);
    const file = this.file("data", path);
    await mkdir(dirname(file), { recursive: true });
    const tmp = join(dirname(file), `.tmp-${randomUUID()}`);
    const hash = createHash("sha256");
    let size = 0;
    async function* counted() {
      for await (const chunk of chunks) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    }
    try {
      await pipeline(Readable.from(counted()), createWriteStream(tmp));
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const ref = create(ArtifactRefSchema, { uri, sha256: hash.digest("hex"), sizeBytes: BigInt(size), mediaType });
    await this.atomicWrite(this.file("refs", path), toBinary(ArtifactRefSchema, ref));
    return ref;
  }

  async *getStream(refOrUri: ArtifactRef | string): AsyncGenerator<Uint8Array> {
    const uri = typeof refOrUri === "string" ? refOrUri : refOrUri.uri;
    const stored = await this.stat(uri);
    if (!stored) throw new ArtifactNotFoundError(uri);
    const chunks = createReadStream(this.file("data", artifactPath(uri))) as AsyncIterable<Buffer>;
    for await (const chunk of verifiedStream(uri, chunks, stored, refOrUri))
      yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
  }

  async get(refOrUri: ArtifactRef | string): Promise<Uint8Array> {
    const uri = typeof refOrUri === "string" ? refOrUri : refOrUri.uri;
    const stored = await this.stat(uri);
    if (!stored) throw new ArtifactNotFoundError(uri);
    return verified(uri, new Uint8Array(await readFile(this.file("data", artifactPath(uri)))), stored, refOrUri);
  }

  async stat(uri: string): Promise<ArtifactRef | undefined> {
    try {
      return fromBinary(ArtifactRefSchema, await readFile(this.file("refs", artifactPath(uri))));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<ArtifactRef[]> {
    const pathPrefix = artifactPrefix(prefix);
    const base = join(this.root, "refs");
    let files: string[];
    try {
      files = (await readdir(base, { recursive: true, withFileTypes: true }))
        .filter((d) => d.isFile() && !d.name.startsWith(".tmp-"))
        .map((d) => relative(base, join(d.parentPath, d.name)).split(sep).join("/"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const paths = files.filter((p) => p.startsWith(pathPrefix)).sort();
    const refs = await Promise.all(paths.map((p) => this.stat(artifactUri(p))));
    return refs.filter((r): r is ArtifactRef => r !== undefined);
  }

  private file(area: "data" | "refs", path: string): string {
    const full = resolve(this.root, area, path);
    // artifactPath already rules out "..": this is the second line of defence.
    if (!full.startsWith(join(this.root, area) + sep)) throw new Error(`uri: path "${path}" leaves the store`);
    return full;
  }

  private async atomicWrite(file: string, data: Uint8Array): Promise<void> {
    await mkdir(dirname(file), { recursive: true });
    const tmp = join(dirname(file), `.tmp-${randomUUID()}`);
    await writeFile(tmp, data);
    await rename(tmp, file);
  }
}
