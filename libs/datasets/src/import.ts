// Importing a ShareGPTVideo / LLaVA-Hound QA JSONL and its videos into an artifact store, streamed:
// lines are read one at a time, a bounded window of videos is decoded (ffmpeg) at once, and the
// rewritten JSONL goes to a temporary file and then, streamed, to the store. What grows with the
// dataset is only the set of record ids (duplicates are refused); records and frames never pile up.
//
//   input line  {"id", "video": "clips/a.mp4", "conversations", ...}
//   stored line {"id", "video": "artifact://frames/f8-32x32/<sha256 of a.mp4>.pb", "source_video": "clips/a.mp4", "conversations", ...}
//   dataset     artifact://datasets/<sha256 of the stored JSONL>.jsonl
//
// Resumable: frames artifacts are named by the source's content, so a second run after an
// interruption re-reads and hashes the videos but decodes and uploads only the ones still missing.
import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import type { ArtifactRef } from "@isrdpo/contracts";
import type { ArtifactStore } from "@isrdpo/bus";
import { decodeVideo, VideoError, type FrameDims } from "@isrdpo/video";
import { DatasetLineError, parseJsonlLine, readLines, writeJsonl } from "./jsonl.ts";
import { sourceSha256 } from "./hash.ts";
import { FRAMES_MEDIA_TYPE, encodeFrames, framesUri } from "./frames.ts";
import { ShareGptVideoRecordSchema, qaPairs, type ShareGptVideoRecord } from "./sharegpt.ts";

export const DATASET_MEDIA_TYPE = "application/jsonl";

/** A line that was not imported, and why. */
export interface BadLine {
  line: number;
  /** The record id when the line parsed that far. */
  id?: string;
  reason: string;
}

export interface ImportCounts {
  /** Non-blank lines read. */
  lines: number;
  /** Records imported, and their question–answer pairs. */
  records: number;
  items: number;
  bad: number;
  /** Videos decoded and stored by this import. */
  videosDecoded: number;
  /** Videos whose frames were already in the store (an earlier or interrupted import). */
  videosStored: number;
}

export interface ImportSummary extends ImportCounts {
  /** The imported dataset; undefined when no record was good. */
  dataset?: ArtifactRef;
}

export interface ImportOptions extends Partial<FrameDims> {
  jsonl: string;
  /** Directory that relative `video` paths are resolved against. */
  videos: string;
  store: ArtifactStore;
  ffmpegPath?: string;
  /** Videos decoded at once (each is an ffmpeg process). Default 2. */
  concurrency?: number;
  /** Every bad line, as soon as it is known (the summary keeps only the count). */
  onBad?: (bad: BadLine) => void;
  /** After every line. */
  onProgress?: (counts: Readonly<ImportCounts>) => void;
}

/** Videos remembered by path: records of one video are usually close together in a file. */
const VIDEO_CACHE = 4096;

type Resolved = { ok: true; uri: string } | { ok: false; reason: string };
type LineResult = { record: ShareGptVideoRecord; items: number } | { bad: BadLine };

/** Imports `jsonl` with its videos; see the file comment. Store failures throw (run it again to resume). */
export async function importDataset(o: ImportOptions): Promise<ImportSummary> {
  const dims: FrameDims = { frames: o.frames ?? 8, height: o.height ?? 32, width: o.width ?? 32 };
  const counts: ImportCounts = { lines: 0, records: 0, items: 0, bad: 0, videosDecoded: 0, videosStored: 0 };
  const cache = new Map<string, Promise<Resolved>>();
  const ids = new Set<string>();

  const frames = (path: string): Promise<Resolved> => {
    let p = cache.get(path);
    if (p) {
      cache.delete(path); // most recently used goes last
    } else {
      p = storeFrames(path);
      if (cache.size >= VIDEO_CACHE) cache.delete(cache.keys().next().value!);
    }
    cache.set(path, p);
    return p;
  };
  const storeFrames = async (path: string): Promise<Resolved> => {
    let sha: string;
    try {
      sha = await sourceSha256(path);
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
    const uri = framesUri(sha, dims);
    if (await o.store.stat(uri)) {
      counts.videosStored++;
      return { ok: true, uri };
    }
    let decoded: Awaited<ReturnType<typeof decodeVideo>>;
    try {
      decoded = await decodeVideo(path, { ...dims, ...(o.ffmpegPath ? { ffmpegPath: o.ffmpegPath } : {}) });
    } catch (err) {
      if (err instanceof VideoError) return { ok: false, reason: err.message };
      throw err;
    }
    await o.store.put(uri, encodeFrames(decoded.data, dims), FRAMES_MEDIA_TYPE);
    counts.videosDecoded++;
    return { ok: true, uri };
  };

  const readLine = async ({ line, text }: { line: number; text: string }): Promise<LineResult> => {
    let record: ShareGptVideoRecord;
    try {
      record = parseJsonlLine(ShareGptVideoRecordSchema, text, o.jsonl, line);
    } catch (err) {
      if (err instanceof DatasetLineError) return { bad: { line, reason: err.message } };
      throw err;
    }
    const pairs = qaPairs(record).length;
    if (pairs === 0) return { bad: { line, id: record.id, reason: "conversations has no human turn followed by a gpt turn" } };
    if (ids.has(record.id)) return { bad: { line, id: record.id, reason: `duplicate id "${record.id}"` } };
    ids.add(record.id);
    const path = isAbsolute(record.video) ? record.video : resolve(o.videos, record.video);
    const video = await frames(path);
    if (!video.ok) return { bad: { line, id: record.id, reason: video.reason } };
    return { record: { ...record, video: video.uri, source_video: record.video }, items: pairs };
  };

  async function* imported(): AsyncGenerator<ShareGptVideoRecord> {
    for await (const r of orderedMap(readLines(o.jsonl), o.concurrency ?? 2, readLine)) {
      counts.lines++;
      if ("bad" in r) {
        counts.bad++;
        o.onBad?.(r.bad);
      } else {
        counts.records++;
        counts.items += r.items;
        yield r.record;
      }
      o.onProgress?.(counts);
    }
  }

  const tmp = join(tmpdir(), `isrdpo-import-${randomUUID()}.jsonl`);
  try {
    await writeJsonl(tmp, imported());
    if (counts.records === 0) return { ...counts };
    const sha = await sourceSha256(tmp);
    const uri = `artifact://datasets/${sha}.jsonl`;
    const existing = await o.store.stat(uri);
    const dataset =
      existing?.sha256 === sha
        ? existing
        : await o.store.putStream(uri, createReadStream(tmp) as AsyncIterable<Buffer>, DATASET_MEDIA_TYPE);
    return { ...counts, dataset };
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * `fn` over `source` with up to `limit` calls in flight, results in source order. Rejections are
 * held until their turn, so one failing call never becomes an unhandled rejection.
 */
async function* orderedMap<T, R>(source: AsyncIterable<T>, limit: number, fn: (t: T) => Promise<R>): AsyncGenerator<R> {
  const window: Promise<{ value: R } | { error: unknown }>[] = [];
  const next = async () => {
    const r = await window.shift()!;
    if ("error" in r) throw r.error;
    return r.value;
  };
  for await (const t of source) {
    window.push(
      fn(t).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
    );
    if (window.length >= limit) yield await next();
  }
  while (window.length) yield await next();
}
