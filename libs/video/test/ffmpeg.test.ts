import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { VideoError, decodeVideo, ffmpegBinary, generateScene, renderClip, uniformIndices, writeMp4 } from "../src/index.ts";

const dir = mkdtempSync(join(tmpdir(), "isrdpo-video-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const dims = { frames: 8, height: 32, width: 32 };
const frames = renderClip(generateScene(11));
const mae = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;
const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

describe("uniform sampling", () => {
  it("matches np.linspace(0, total-1, n).astype(int)", () => {
    expect(uniformIndices(8, 8)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(uniformIndices(100, 8)).toEqual([0, 14, 28, 42, 56, 70, 84, 99]);
    expect(uniformIndices(3, 5)).toEqual([0, 0, 1, 1, 2]);
    expect(uniformIndices(10, 1)).toEqual([4]);
  });
});

describe("mp4 round trip", () => {
  it("lossless RGB: decoded frames equal the rendered ones, and the file is byte-identical across runs", async () => {
    const a = join(dir, "a.mp4");
    const b = join(dir, "b.mp4");
    await writeMp4(frames, dims, a);
    await writeMp4(frames, dims, b);
    expect(sha(a)).toBe(sha(b));
    const d = await decodeVideo(a, dims);
    expect(d).toMatchObject({ frames: 8, height: 32, width: 32, sourceFrames: 8 });
    expect(mae(frames, d.data)).toBe(0);
  });

  it("yuv444 is near-lossless; another clip gives another file", async () => {
    const p = join(dir, "c.mp4");
    await writeMp4(frames, dims, p, { quality: "yuv444" });
    const err = mae(frames, (await decodeVideo(p, dims)).data);
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThan(2);
    const q = join(dir, "d.mp4");
    await writeMp4(renderClip(generateScene(12)), dims, q, { quality: "yuv444" });
    expect(sha(q)).not.toBe(sha(p));
  });

  it("rejects frames of the wrong length", async () => {
    await expect(writeMp4(frames.subarray(1), dims, join(dir, "x.mp4"))).rejects.toThrow(/expected 8×32×32×3 = 24576/);
  });
});

describe("real video", () => {
  const bin = ffmpegBinary();
  const webm = join(dir, "t.webm");
  execFileSync(bin, [
    "-v",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    "testsrc=size=64x48:rate=25",
    "-t",
    "4",
    "-c:v",
    "libvpx",
    "-b:v",
    "200k",
    webm,
  ]);

  it("samples 8, 32 or 50 frames uniformly from a webm and resizes them", async () => {
    for (const n of [8, 32, 50]) {
      const d = await decodeVideo(webm, { frames: n, height: 24, width: 40 });
      expect(d.sourceFrames).toBe(100);
      expect(d.data.length).toBe(n * 24 * 40 * 3);
    }
    // A video too long for one pass is counted first, then decoded keeping only the sampled frames.
    const twoPass = await decodeVideo(webm, { frames: 8, height: 24, width: 40, onePassBytes: 10 * 24 * 40 * 3 });
    expect(Buffer.from(twoPass.data).equals(Buffer.from((await decodeVideo(webm, { frames: 8, height: 24, width: 40 })).data))).toBe(true);
    // The first sampled frame is the source's first frame: compare with a direct decode of frame 0.
    const first = execFileSync(bin, [
      "-v",
      "error",
      "-i",
      webm,
      "-vf",
      "scale=16:16:flags=area",
      "-frames:v",
      "1",
      "-f",
      "rawvideo",
      "-pix_fmt",
      "rgb24",
      "-",
    ]);
    const d = await decodeVideo(webm, { frames: 8, height: 16, width: 16 });
    expect(Buffer.from(d.data.subarray(0, 16 * 16 * 3)).equals(first)).toBe(true);
  });

  it("reads a folder of frame images in natural order", async () => {
    const folder = join(dir, "frames");
    mkdirSync(folder);
    // 12 solid frames whose red channel encodes their number.
    for (let i = 1; i <= 12; i++) {
      execFileSync(bin, [
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        `color=c=0x${(i * 20).toString(16).padStart(2, "0")}0000:size=16x16`,
        "-frames:v",
        "1",
        join(folder, `img${i}.png`),
      ]);
    }
    writeFileSync(join(folder, "notes.txt"), "not a frame");
    const d = await decodeVideo(folder, { frames: 4, height: 8, width: 8 });
    expect(d.sourceFrames).toBe(12);
    // linspace(0, 11, 4) → files 1, 4, 8, 12
    // (the colour source goes through YUV, so red is only within ±2 of 20·i)
    const fileNumbers = [0, 1, 2, 3].map((k) => Math.round(d.data[k * 8 * 8 * 3]! / 20));
    expect(fileNumbers).toEqual([1, 4, 8, 12]);
  });

  it("missing, truncated, non-video and empty inputs give a VideoError naming the file", async () => {
    const good = join(dir, "good.mp4");
    execFileSync(bin, [
      "-v",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      "testsrc=size=64x48:rate=25",
      "-t",
      "4",
      "-c:v",
      "libx264",
      "-pix_fmt",
      "yuv420p",
      "-movflags",
      "+faststart",
      good,
    ]);
    const bytes = readFileSync(good);
    const cases: [string, RegExp][] = [];
    const trunc = join(dir, "trunc.mp4");
    writeFileSync(trunc, bytes.subarray(0, Math.floor(bytes.length / 2)));
    cases.push([trunc, /truncated or corrupt/]);
    const truncWebm = join(dir, "trunc.webm");
    writeFileSync(truncWebm, readFileSync(webm).subarray(0, 15000));
    cases.push([truncWebm, /truncated or corrupt/]);
    const text = join(dir, "text.mp4");
    writeFileSync(text, "hello, not a video\n");
    cases.push([text, /not a readable video/]);
    cases.push([join(dir, "missing.mp4"), /file not found/]);
    const empty = join(dir, "empty");
    mkdirSync(empty);
    cases.push([empty, /no frame images/]);
    for (const [path, reason] of cases) {
      const err = await decodeVideo(path).catch((e: unknown) => e);
      expect(err, path).toBeInstanceOf(VideoError);
      expect((err as VideoError).path).toBe(path);
      expect((err as VideoError).message).toMatch(reason);
      expect((err as VideoError).message.startsWith(path)).toBe(true);
    }
  });

  it("an ffmpeg override that does not exist is a clear error", async () => {
    await expect(decodeVideo(webm, { ffmpegPath: join(dir, "no-ffmpeg") })).rejects.toThrow(/cannot run ffmpeg/);
  });
});
