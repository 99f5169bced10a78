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

/** Parses and validates one JSONL line; throws DatasetLineError naming the first bad field. */
export function parseJsonlLine<T>(schema: z.ZodType<T>, text: string, path: string, line: number): T {
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

/** Splits UTF-8 chunks into lines ("\n" or "\r\n"); an error of the source comes through. */
async function* linesOf(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<JsonlLine> {
  const decoder = new TextDecoder();
  let rest = "";
  let line = 0;
  for await (const chunk of chunks) {
    rest += decoder.decode(chunk, { stream: true });
    for (let end = rest.indexOf("\n"); end >= 0; end = rest.indexOf("\n")) {
      const text = rest.slice(0, end).replace(/\r$/, "");
      rest = rest.slice(end + 1);
      line++;
      if (text.trim()) yield { line, text };
    }
  }
  rest += decoder.decode();
  if (rest.trim()) yield { line: line + 1, text: rest.replace(/\r$/, "") };
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
