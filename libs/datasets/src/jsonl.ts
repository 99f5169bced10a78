// Streaming JSONL: read line by line (a large file never loads whole), write with backpressure.
import { createReadStream, createWriteStream } from "node:fs";
import { once } from "node:events";
import type { ArtifactStore } from "@isrdpo/bus";
import type { ArtifactRef } from "@isrdpo/contracts";
import type { z } from "zod";

/** A bad line of a dataset file: names the file, the 1-based line and the field. */
export class DatasetLineError extends Error {
  constructor(
    readonly path: string,
    readonly line: number,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${path}:${line}: ${field ? `field "${field}": ` : ""}${reason}`);
    this.name = "DatasetLineError";
  }
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p) => String(p)).join(".");
}

/**
 * What linesOf yields for a line that is not valid UTF-8: never valid JSON (a NUL first), and
 * parseJsonlLine reports it as such — decoding it leniently would turn bytes into U+FFFD silently.
 */
const INVALID_UTF8 = "\u0000not valid UTF-8";

/** Parses and validates one JSONL line; throws DatasetLineError naming the first bad field. */
export function parseJsonlLine<T>(schema: z.ZodType<T>, text: string, path: string, line: number): T {
  if (text === INVALID_UTF8) throw new DatasetLineError(path, line, "", "not valid UTF-8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DatasetLineError(path, line, "", `not valid JSON (${(e as Error).message})`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new DatasetLineError(path, line, fieldPath(issue.path), issue.message);
  }
  return parsed.data;
}

export interface JsonlLine {
  line: number;
  text: string;
}

/** The non-blank lines of a file with their line numbers, streamed. */
export async function* readLines(path: string): AsyncGenerator<JsonlLine> {
  const input = createReadStream(path);
  const opened = once(input, "open").catch((e: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${path}: ${e.code === "ENOENT" ? "file not found" : e.message}`);
  });
  await opened;
  yield* linesOf(input as AsyncIterable<Uint8Array>);
}

/** The non-blank lines of an artifact (e.g. an imported dataset), streamed; its sha256 is checked after the last. */
export function readArtifactLines(store: ArtifactStore, ref: ArtifactRef | string): AsyncGenerator<JsonlLine> {
  return linesOf(store.getStream(ref));
}

/** Splits UTF-8 chunks into lines ("\n" or "\r\n"), decoding each strictly; an error of the source comes through. */
async function* linesOf(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<JsonlLine> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  // Split on the byte 0x0A (never part of a multi-byte sequence), then decode each line on its own.
  let pending: Uint8Array[] = [];
  let line = 0;
  const decode = (parts: Uint8Array[]) => {
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    try {
      return decoder.decode(bytes).replace(/\r$/, "");
    } catch {
      return INVALID_UTF8;
    }
  };
  for await (const chunk of chunks) {
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end >= 0; end = chunk.indexOf(0x0a, start)) {
      pending.push(chunk.subarray(start, end));
      const text = decode(pending);
      pending = [];
      start = end + 1;
      line++;
      if (text.trim()) yield { line, text };
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length) {
    const text = decode(pending);
    if (text.trim()) yield { line: line + 1, text };
  }
}

/** Writes records as JSONL, one `JSON.stringify` per line; validates each first (bad record → error naming its index and field). */
export async function writeJsonl<T>(path: string, records: Iterable<T> | AsyncIterable<T>, schema?: z.ZodType<T>): Promise<number> {
  const out = createWriteStream(path, { encoding: "utf8" });
  const failed = once(out, "error").then(([e]) => {
    throw e as Error;
  });
  failed.catch(() => {});
  let n = 0;
  try {
    for await (const r of records) {
      if (schema) {
        const parsed = schema.safeParse(r);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw new Error(`${path}: record ${n}: field "${fieldPath(issue.path)}": ${issue.message}`);
        }
      }
      if (!out.write(`${JSON.stringify(r)}\n`)) await Promise.race([once(out, "drain"), failed]);
      n++;
    }
  } finally {
    out.end();
    await Promise.race([once(out, "finish"), failed]);
  }
  return n;
}
