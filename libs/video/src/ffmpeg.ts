// Real video through ffmpeg: decode mp4 / webm / frame folders into uniformly sampled, resized RGB
// frames, and write frames as mp4. Raw rgb24 goes through stdin/stdout pipes; no temp files.
import { spawn } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { FrameDims } from "./render.ts";

/** A video that cannot be read; the message names the file and the reason. */
export class VideoError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = "VideoError";
  }
}

export interface FfmpegOptions {
  /** A system ffmpeg instead of the npm-shipped one; also read from ISRDPO_FFMPEG. */
  ffmpegPath?: string;
}

/** The ffmpeg binary: the override, else $ISRDPO_FFMPEG, else the one shipped by @ffmpeg-installer/ffmpeg. */
export function ffmpegBinary(options: FfmpegOptions = {}): string {
  if (options.ffmpegPath) return options.ffmpegPath;
  if (process.env.ISRDPO_FFMPEG) return process.env.ISRDPO_FFMPEG;
  try {
    // Loaded lazily: code that never touches real video must not need the binary.
    return (createRequire(import.meta.url)("@ffmpeg-installer/ffmpeg") as { path: string }).path;
  } catch (e) {
    throw new Error(`no ffmpeg binary: @ffmpeg-installer/ffmpeg failed (${String(e)}); set ffmpegPath or ISRDPO_FFMPEG`);
  }
}

interface RunResult {
  code: number | null;
  stderr: string;
}

/** Runs ffmpeg; stdout chunks go to `onData` (returning false stops ffmpeg), stdin gets `input` if given. */
function runFfmpeg(
  bin: string,
  args: string[],
  onData?: (chunk: Buffer) => boolean,
  input?: Uint8Array,
): Promise<RunResult & { stopped: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: [input ? "pipe" : "ignore", "pipe", "pipe"] });
    const err: Buffer[] = [];
    let stopped = false;
    child.stdout!.on("data", (c: Buffer) => {
      if (stopped || !onData || onData(c)) return;
      stopped = true;
      child.kill("SIGKILL");
    });
    child.stderr!.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => reject(new Error(`cannot run ffmpeg "${bin}": ${e.message}`)));
    child.on("close", (code) => resolve({ code, stopped, stderr: Buffer.concat(err).toString("utf8") }));
    if (input) {
      // EPIPE when ffmpeg exits early is reported through its exit code and stderr.
      child.stdin!.on("error", () => {});
      child.stdin!.end(input);
    }
  });
}

function lastLine(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return lines[lines.length - 1] ?? "no output";
}

/** np.linspace(0, total - 1, n).astype(int): first and last frame included, repeats when total < n. */
export function uniformIndices(total: number, n: number): number[] {
  if (total <= 0 || n <= 0) return [];
  if (n === 1) return [Math.floor((total - 1) / 2)];
  return Array.from({ length: n }, (_, i) => Math.floor((i * (total - 1)) / (n - 1)));
}

export interface DecodeOptions extends FfmpegOptions, Partial<FrameDims> {
  /** Bytes of resized frames a one-pass decode may hold (default 64 MiB); longer videos are counted first, then decoded keeping only the sampled frames. */
  onePassBytes?: number;
}

export interface DecodedVideo extends FrameDims {
  /** count×height×width×3 RGB. */
  data: Uint8Array;
  /** Frames in the source (files in a folder). */
  sourceFrames: number;
}

const IMAGE_EXT = /\.(png|jpe?g|bmp|webp|ppm|pgm|tiff?)$/i;

/**
 * Decodes every frame of `input`, resized, keeping those whose index is in `keep` (all if undefined).
 * Keeping all stops at `budget` bytes and returns undefined: the caller then counts frames first.
 */
async function decodeFrames(
  bin: string,
  path: string,
  input: string,
  dims: { height: number; width: number },
  keep: Set<number> | undefined,
  budget = Infinity,
): Promise<{ frames: Map<number, Uint8Array>; total: number } | undefined> {
  const frameBytes = dims.height * dims.width * 3;
  const frames = new Map<number, Uint8Array>();
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  const res = await runFfmpeg(
    bin,
    [
      "-nostdin",
      "-v",
      "error",
      "-xerror",
      "-i",
      input,
      "-map",
      "0:v:0",
      "-vf",
      `scale=${dims.width}:${dims.height}:flags=area`,
      "-vsync",
      "0",
      "-f",
      "rawvideo",
      "-pix_fmt",
      "rgb24",
      "-",
    ],
    (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= frameBytes) {
        if (!keep || keep.has(index)) frames.set(index, new Uint8Array(pending.subarray(0, frameBytes)));
        pending = pending.subarray(frameBytes);
        index++;
      }
      return frames.size * frameBytes <= budget;
    },
  );
  if (res.stopped) return undefined;
  // At log level "error" a clean decode prints nothing; a truncated file may even exit 0.
  if (res.code !== 0 || res.stderr.trim()) {
    if (index === 0) throw new VideoError(path, `not a readable video: ${lastLine(res.stderr)}`);
    const damage = res.stderr.split("\n").find((l) => DAMAGE.test(l));
    throw new VideoError(path, `truncated or corrupt after ${index} frames: ${(damage ?? lastLine(res.stderr)).trim()}`);
  }
  if (index === 0) throw new VideoError(path, "no video frames");
  return { frames, total: index };
}

const ONE_PASS_BYTES = 64 * 1024 * 1024;

const DAMAGE = /read error|partial file|invalid data found|corrupt|truncat|premature|error while decoding/i;

/** Frame count from a stream copy (no decoding): ffmpeg's final "frame=" statistic. */
async function countFrames(bin: string, path: string): Promise<number> {
  const res = await runFfmpeg(bin, ["-nostdin", "-i", path, "-map", "0:v:0", "-c", "copy", "-f", "null", "-"]);
  if (res.code !== 0) throw new VideoError(path, `not a readable video: ${lastLine(res.stderr)}`);
  // A truncated file often still exits 0: the demuxer only logs the damage.
  const damage = res.stderr.split("\n").find((l) => DAMAGE.test(l));
  if (damage) throw new VideoError(path, `truncated or corrupt: ${damage.trim()}`);
  const counts = [...res.stderr.matchAll(/frame=\s*(\d+)/g)];
  const n = counts.length ? Number(counts[counts.length - 1]![1]) : 0;
  if (n === 0) throw new VideoError(path, "no video frames");
  return n;
}

/**
 * Decodes a video file (mp4, webm, anything ffmpeg reads) or a folder of frame images (sorted by
 * name), samples `frames` frames uniformly (default 8) and resizes them to height×width (default
 * 32×32, aspect not preserved). Missing, truncated or non-video input throws a VideoError naming it.
 */
export async function decodeVideo(path: string, options: DecodeOptions = {}): Promise<DecodedVideo> {
  const n = options.frames ?? 8;
  const height = options.height ?? 32;
  const width = options.width ?? 32;
  if (!Number.isInteger(n) || n < 1 || n > 4096) throw new VideoError(path, `frames must be an integer in [1, 4096], got ${n}`);
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1)
    throw new VideoError(path, `bad size ${height}×${width}`);
  const bin = ffmpegBinary(options);
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new VideoError(path, "file not found");
  const frameBytes = height * width * 3;
  const data = new Uint8Array(n * frameBytes);
  let sourceFrames: number;
  if (info.isDirectory()) {
    const files = (await readdir(path)).filter((f) => IMAGE_EXT.test(f)).sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
    if (files.length === 0) throw new VideoError(path, "folder has no frame images (png, jpg, bmp, webp, ppm, tiff)");
    sourceFrames = files.length;
    const indices = uniformIndices(files.length, n);
    const decoded = new Map<number, Uint8Array>();
    for (const i of new Set(indices)) {
      const file = join(path, files[i]!);
      const one = await decodeFrames(bin, file, file, { height, width }, new Set([0]));
      decoded.set(i, one!.frames.get(0)!);
    }
    indices.forEach((i, k) => data.set(decoded.get(i)!, k * frameBytes));
  } else {
    // One pass keeping every (small) frame; past the budget, count first and keep only the sampled ones.
    let all = await decodeFrames(bin, path, path, { height, width }, undefined, options.onePassBytes ?? ONE_PASS_BYTES);
    let indices: number[];
    if (all) {
      sourceFrames = all.total;
      indices = uniformIndices(sourceFrames, n);
    } else {
      sourceFrames = await countFrames(bin, path);
      indices = uniformIndices(sourceFrames, n);
      all = await decodeFrames(bin, path, path, { height, width }, new Set(indices));
    }
    for (const [k, i] of indices.entries()) {
      const f = all!.frames.get(i);
      if (!f) throw new VideoError(path, `decoded ${all!.total} frames, fewer than the ${sourceFrames} the container lists (truncated?)`);
      data.set(f, k * frameBytes);
    }
  }
  return { data, frames: n, height, width, sourceFrames };
}

/** "rgb": lossless RGB H.264 (libx264rgb, qp 0, exact pixels); "yuv444": H.264 High 4:4:4 qp 0
 * (near-lossless, colour conversion only); "yuv420": H.264 crf 18 yuv420p (plays everywhere). */
export type Mp4Quality = "rgb" | "yuv444" | "yuv420";

export interface WriteMp4Options extends FfmpegOptions {
  fps?: number;
  quality?: Mp4Quality;
}

const QUALITY_ARGS: Record<Mp4Quality, string[]> = {
  rgb: ["-c:v", "libx264rgb", "-qp", "0", "-pix_fmt", "rgb24"],
  yuv444: ["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p"],
  yuv420: ["-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p"],
};

/**
 * Encodes count×height×width×3 RGB frames as an mp4 at `path`. Byte-identical across runs: bit-exact
 * flags, no metadata, one encoder thread.
 */
export async function writeMp4(frames: Uint8Array, dims: FrameDims, path: string, options: WriteMp4Options = {}): Promise<void> {
  const expected = dims.frames * dims.height * dims.width * 3;
  if (frames.length !== expected)
    throw new Error(`writeMp4 ${path}: got ${frames.length} bytes, expected ${dims.frames}×${dims.height}×${dims.width}×3 = ${expected}`);
  const quality = options.quality ?? "rgb";
  if (quality === "yuv420" && (dims.height % 2 || dims.width % 2))
    throw new Error(`writeMp4 ${path}: yuv420 needs even height and width, got ${dims.height}×${dims.width}`);
  const res = await runFfmpeg(
    ffmpegBinary(options),
    [
      "-v",
      "error",
      "-y",
      "-f",
      "rawvideo",
      "-pix_fmt",
      "rgb24",
      "-s",
      `${dims.width}x${dims.height}`,
      "-r",
      String(options.fps ?? 8),
      "-i",
      "-",
      "-an",
      ...QUALITY_ARGS[quality],
      "-preset",
      "medium",
      "-threads",
      "1",
      "-fflags",
      "+bitexact",
      "-flags:v",
      "+bitexact",
      "-map_metadata",
      "-1",
      "-f",
      "mp4",
      path,
    ],
    undefined,
    frames,
  );
  if (res.code !== 0) throw new Error(`writeMp4 ${path}: ffmpeg failed (exit ${res.code}): ${lastLine(res.stderr)}`);
}
