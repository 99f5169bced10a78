// A synthetic dataset directory on disk, and loading any dataset directory back:
//   dataset.json            manifest (format, seed, frames, size, split sizes, sha256 of every file)
//   clips/<clip id>.mp4     lossless RGB H.264, byte-identical for the same seed
//   scenes/<clip id>.json   ground-truth scene records
//   <split>.jsonl           questions as ShareGPTVideo JSONL (+ question_type, clip_id; caption = reference caption)
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { basename, isAbsolute, join, relative, resolve, sep } from "node:path";
import { z } from "zod";
import {
  SPLITS,
  SceneSchema,
  VideoError,
  buildSplits,
  decodeVideo,
  referenceCaption,
  renderClip,
  writeMp4,
  type AnswerCheck,
  type DecodedVideo,
  type Scene,
} from "@isrdpo/video";
import { sourceSha256 } from "./hash.ts";
import { DatasetLineError, parseJsonlLine, readLines, writeJsonl } from "./jsonl.ts";
import { ShareGptVideoRecordSchema, qaPairs, toShareGptVideo, type ShareGptVideoRecord } from "./sharegpt.ts";

export const MANIFEST_FORMAT = "isrdpo-synthetic-v1";

export const ManifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  seed: z.number().int().min(0),
  frames: z.number().int().min(1),
  height: z.number().int().min(1),
  width: z.number().int().min(1),
  splits: z.record(z.string(), z.number().int().min(0)),
  /**
   * sha256 (hex) of every file written, by path relative to the directory ("clips/x.mp4",
   * "train.jsonl"), checked on load. Manifests written before it have none and load unchecked.
   */
  sha256: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/, "a hex sha256")).optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export const SynthOptionsSchema = z.object({
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  train: z.number().int().min(0),
  testIn: z.number().int().min(0),
  testOut: z.number().int().min(0),
  frames: z.number().int().min(4).max(256).default(8),
  height: z.number().int().min(8).max(1024).default(32),
  width: z.number().int().min(8).max(1024).default(32),
  ffmpegPath: z.string().optional(),
});
export type SynthOptions = z.input<typeof SynthOptionsSchema>;

/** Runs `fn` over `items` with at most `limit` in flight, keeping order of results. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** A whole JSON file validated by `schema`; throws an Error starting with `path` naming the first bad field. */
function parseJsonFile<T>(schema: z.ZodType<T>, text: string, path: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${path}: field "${issue.path.join(".")}": ${issue.message}`);
  }
  return parsed.data;
}

/** Writes a synthetic dataset directory (new or empty). Same options → byte-identical files. */
export async function writeSyntheticDataset(dir: string, options: SynthOptions): Promise<Manifest> {
  const o = SynthOptionsSchema.parse(options);
  // Files left from another dataset would mix into this one and break byte-identity: refuse.
  const existing = await readdir(dir).catch(() => []);
  if (existing.length > 0) throw new Error(`${dir}: output directory is not empty`);
  const splits = buildSplits({ seed: o.seed, train: o.train, testIn: o.testIn, testOut: o.testOut, frames: o.frames });
  await mkdir(join(dir, "clips"), { recursive: true });
  await mkdir(join(dir, "scenes"), { recursive: true });
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    seed: o.seed,
    frames: o.frames,
    height: o.height,
    width: o.width,
    splits: { train: o.train, "test-in": o.testIn, "test-out": o.testOut },
  };
  const written: string[] = [];
  for (const split of SPLITS) {
    const clips = splits[split];
    // ffmpeg runs in its own process: two at a time keeps both cores busy without oversubscribing.
    await mapLimit(clips, 2, async (c) => {
      await writeFile(join(dir, "scenes", `${c.id}.json`), `${JSON.stringify(c.scene, null, 1)}\n`);
      await writeMp4(
        renderClip(c.scene, { height: o.height, width: o.width }),
        { frames: o.frames, height: o.height, width: o.width },
        join(dir, "clips", `${c.id}.mp4`),
        {
          ...(o.ffmpegPath ? { ffmpegPath: o.ffmpegPath } : {}),
        },
      );
      written.push(`scenes/${c.id}.json`, `clips/${c.id}.mp4`);
    });
    const records = clips.flatMap((c) => {
      const caption = referenceCaption(c.scene);
      return c.items.map((it) =>
        toShareGptVideo({
          id: it.id,
          video: `clips/${c.id}.mp4`,
          question: it.question,
          answer: it.answer,
          caption,
          questionType: it.questionType,
          clipId: c.id,
          check: it.check,
        }),
      );
    });
    await writeJsonl(join(dir, `${split}.jsonl`), records);
    written.push(`${split}.jsonl`);
  }
  // Sorted, so the same options still give a byte-identical manifest.
  manifest.sha256 = {};
  for (const file of written.sort()) manifest.sha256[file] = await sourceSha256(join(dir, file));
  await writeFile(join(dir, "dataset.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

export interface DatasetItem {
  /** The JSONL file's base name: "train", "test-in", ... */
  split: string;
  /** Record id; "<id>-<k>" for the k-th QA pair of a multi-turn record. */
  id: string;
  clipId?: string;
  /** The video as written in the file, and resolved against the dataset directory. */
  video: string;
  videoPath: string;
  question: string;
  answer: string;
  questionType?: string;
  caption?: string;
  /** Synthetic items: pass the item to scoreAnswer(scene, item, answer). */
  check?: AnswerCheck;
  scene?: Scene;
  frames?: DecodedVideo;
}

export interface BadItem {
  /** Item id, or "<file>:<line>" for a line that could not be read. */
  id: string;
  reason: string;
}

export interface LoadOptions {
  /** Decode every video (once per file) and attach its frames; default true. */
  decode?: boolean;
  frames?: number;
  height?: number;
  width?: number;
  ffmpegPath?: string;
}

export interface LoadedDataset {
  manifest?: Manifest;
  items: DatasetItem[];
  bad: BadItem[];
}

/**
 * Loads a dataset directory: every `<split>.jsonl` listed by dataset.json (or every *.jsonl without a
 * manifest). A malformed line, a missing or undecodable video, or a missing scene record of a synthetic
 * clip makes that item bad, recorded with its reason; loading goes on. A file whose sha256 differs
 * from the manifest's is bad too ("sha256 mismatch"): a split file with all its lines, a video or a
 * scene with every item that uses it.
 */
export async function loadDatasetDir(dir: string, options: LoadOptions = {}): Promise<LoadedDataset> {
  let manifest: Manifest | undefined;
  const manifestText = await readFile(join(dir, "dataset.json"), "utf8").catch(() => undefined);
  if (manifestText !== undefined) manifest = parseJsonFile(ManifestSchema, manifestText, join(dir, "dataset.json"));
  const files = manifest
    ? Object.keys(manifest.splits).map((s) => `${s}.jsonl`)
    : (
        await readdir(dir).catch(() => {
          throw new Error(`cannot read dataset directory ${dir}`);
        })
      )
        .filter((f) => f.endsWith(".jsonl"))
        .sort();
  const decodeOpts = {
    frames: options.frames ?? manifest?.frames ?? 8,
    height: options.height ?? manifest?.height ?? 32,
    width: options.width ?? manifest?.width ?? 32,
    ...(options.ffmpegPath ? { ffmpegPath: options.ffmpegPath } : {}),
  };
  const items: DatasetItem[] = [];
  const bad: BadItem[] = [];
  const verify = fileCheck(dir, manifest?.sha256);
  for (const file of files) {
    const path = join(dir, file);
    const split = basename(file, ".jsonl");
    const corrupt = await verify(path);
    if (corrupt) {
      bad.push({ id: file, reason: corrupt });
      continue;
    }
    try {
      for await (const { line, text } of readLines(path)) {
        let record: ShareGptVideoRecord;
        try {
          record = parseJsonlLine(ShareGptVideoRecordSchema, text, path, line);
        } catch (e) {
          if (!(e instanceof DatasetLineError)) throw e;
          bad.push({ id: `${file}:${line}`, reason: e.message });
          continue;
        }
        pushRecord(record, split, dir, items, bad);
      }
    } catch (e) {
      // An unreadable split file: recorded, and the other files still load.
      bad.push({ id: file, reason: (e as Error).message });
    }
  }
  await attachScenesAndFrames(dir, items, bad, manifest !== undefined, options.decode ?? true, decodeOpts, verify);
  const badIds = new Set(bad.map((b) => b.id));
  return { ...(manifest ? { manifest } : {}), items: items.filter((it) => !badIds.has(it.id)), bad };
}

/**
 * Checks a file of the dataset against the manifest's sha256, once per path: undefined when it
 * matches or the manifest lists no hash for it, else the reason naming the file. A file that cannot
 * be read passes here: its reader reports it as missing.
 */
function fileCheck(dir: string, sha256: Record<string, string> | undefined): (path: string) => Promise<string | undefined> {
  const checked = new Map<string, Promise<string | undefined>>();
  return (path) => {
    const expected = sha256?.[relative(dir, path).split(sep).join("/")];
    if (!expected) return Promise.resolve(undefined);
    let p = checked.get(path);
    if (!p) {
      p = sourceSha256(path).then(
        (actual) => (actual === expected ? undefined : `${path}: sha256 mismatch (dataset.json: ${expected}, file: ${actual})`),
        () => undefined,
      );
      checked.set(path, p);
    }
    return p;
  };
}

function pushRecord(record: ShareGptVideoRecord, split: string, dir: string, items: DatasetItem[], bad: BadItem[]): void {
  const pairs = qaPairs(record);
  if (pairs.length === 0) {
    bad.push({ id: record.id, reason: "conversations has no human turn followed by a gpt turn" });
    return;
  }
  pairs.forEach((p, k) => {
    items.push({
      split,
      id: pairs.length === 1 ? record.id : `${record.id}-${k}`,
      ...(record.clip_id ? { clipId: record.clip_id } : {}),
      video: record.video,
      videoPath: isAbsolute(record.video) ? record.video : resolve(dir, record.video),
      question: p.question,
      answer: p.answer,
      ...(record.question_type ? { questionType: record.question_type } : {}),
      ...(record.caption !== undefined ? { caption: record.caption } : {}),
      ...(record.check ? { check: record.check } : {}),
    });
  });
}

async function attachScenesAndFrames(
  dir: string,
  items: DatasetItem[],
  bad: BadItem[],
  synthetic: boolean,
  decode: boolean,
  decodeOpts: Parameters<typeof decodeVideo>[1],
  verify: (path: string) => Promise<string | undefined>,
): Promise<void> {
  const scenes = new Map<string, Promise<Scene | string>>();
  const videos = new Map<string, Promise<DecodedVideo | string>>();
  const loadScene = (clipId: string) => {
    let p = scenes.get(clipId);
    if (!p) {
      const path = join(dir, "scenes", `${clipId}.json`);
      p = verify(path).then(async (corrupt) => {
        if (corrupt) return corrupt;
        const text = await readFile(path, "utf8").catch(() => undefined);
        if (text === undefined) return `${path}: scene record not found`;
        try {
          return parseJsonFile(SceneSchema, text, path) as Scene;
        } catch (e) {
          return (e as Error).message;
        }
      });
      scenes.set(clipId, p);
    }
    return p;
  };
  const loadVideo = (path: string) => {
    let p = videos.get(path);
    if (!p) {
      p = decodeVideo(path, decodeOpts).catch((e: unknown) => (e instanceof VideoError ? e.message : `${path}: ${String(e)}`));
      videos.set(path, p);
    }
    return p;
  };
  // Two decodes in flight: ffmpeg is a separate process per video.
  await mapLimit(items, 2, async (it) => {
    if (synthetic && it.clipId) {
      const scene = await loadScene(it.clipId);
      if (typeof scene === "string") {
        bad.push({ id: it.id, reason: scene });
        return;
      }
      it.scene = scene;
    }
    const corrupt = await verify(it.videoPath);
    if (corrupt) {
      bad.push({ id: it.id, reason: corrupt });
      return;
    }
    if (decode) {
      const v = await loadVideo(it.videoPath);
      if (typeof v === "string") bad.push({ id: it.id, reason: v });
      else it.frames = v;
    }
  });
}
