// sha256 of dataset files: the content address of imported videos, and the per-file check of a
// synthetic dataset's manifest.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { VideoError } from "@isrdpo/video";

/** sha256 of a file's bytes, or of a frame folder's sorted file names and contents; a missing path says so. */
export async function sourceSha256(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new VideoError(path, "file not found");
  const hash = createHash("sha256");
  const files = info.isDirectory() ? (await readdir(path)).sort().map((f) => join(path, f)) : [path];
  for (const file of files) {
    if (info.isDirectory()) hash.update(`${file.slice(path.length + 1)}\0`);
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  }
  return hash.digest("hex");
}
