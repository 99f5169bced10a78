// Real-video throughput through ffmpeg: mp4 clips written and decoded per second, source frames decoded
// per second on a longer video, and the round-trip pixel error of each mp4 quality.
// Run: pnpm exec tsx bench/video-decode.ts [--clips N]
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { decodeVideo, ffmpegBinary, generateScene, renderClip, writeMp4, type Mp4Quality } from "@isrdpo/video";

const { values } = parseArgs({ options: { clips: { type: "string", default: "40" }, ffmpeg: { type: "string" } } });
const clips = Number(values.clips);
const ff = values.ffmpeg ? { ffmpegPath: values.ffmpeg } : {};
const dir = mkdtempSync(join(tmpdir(), "isrdpo-bench-video-"));
const dims = { frames: 8, height: 32, width: 32 };
const bin = ffmpegBinary(ff);
console.log(`ffmpeg: ${bin}\n${execFileSync(bin, ["-version"]).toString().split("\n")[0]}`);

async function timed(label: string, n: number, unit: string, fn: () => Promise<void>): Promise<void> {
  const t0 = performance.now();
  await fn();
  const s = (performance.now() - t0) / 1000;
  console.log(`${label.padEnd(48)} ${(n / s).toFixed(1).padStart(8)} ${unit}/s  (${n} in ${s.toFixed(2)} s)`);
}

try {
  const frames = Array.from({ length: clips }, (_, i) => renderClip(generateScene(i)));
  await timed("writeMp4 8×32×32 (rgb lossless, sequential)", clips, "clips", async () => {
    for (let i = 0; i < clips; i++) await writeMp4(frames[i]!, dims, join(dir, `c${i}.mp4`), ff);
  });
  await timed("decodeVideo 8×32×32 mp4 (sequential)", clips * 8, "frames", async () => {
    for (let i = 0; i < clips; i++) await decodeVideo(join(dir, `c${i}.mp4`), { ...dims, ...ff });
  });
  await timed("decodeVideo 8×32×32 mp4 (2 in flight)", clips * 8, "frames", async () => {
    const jobs = Array.from({ length: clips }, (_, i) => i);
    const worker = async () => {
      for (let i = jobs.shift(); i !== undefined; i = jobs.shift()) await decodeVideo(join(dir, `c${i}.mp4`), { ...dims, ...ff });
    };
    await Promise.all([worker(), worker()]);
  });
  // A longer real-looking video: 20 s of 640×360 at 25 fps (500 frames), VP9 webm and H.264 mp4.
  const webm = join(dir, "long.webm");
  const mp4 = join(dir, "long.mp4");
  execFileSync(bin, [
    "-v",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=640x360:rate=25",
    "-t",
    "20",
    "-c:v",
    "libvpx-vp9",
    "-b:v",
    "500k",
    "-deadline",
    "realtime",
    "-cpu-used",
    "8",
    webm,
  ]);
  execFileSync(bin, [
    "-v",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=640x360:rate=25",
    "-t",
    "20",
    "-c:v",
    "libx264",
    "-pix_fmt",
    "yuv420p",
    mp4,
  ]);
  for (const [name, path] of [
    ["webm vp9", webm],
    ["mp4 h264", mp4],
  ] as const) {
    for (const n of [8, 32, 50]) {
      await timed(`decodeVideo 640×360×500 ${name} → ${n}×32×32`, 500, "source frames", async () => {
        await decodeVideo(path, { frames: n, height: 32, width: 32, ...ff });
      });
    }
  }
  for (const quality of ["rgb", "yuv444", "yuv420"] as Mp4Quality[]) {
    let err = 0;
    let count = 0;
    for (let i = 0; i < Math.min(clips, 20); i++) {
      const p = join(dir, `q-${quality}-${i}.mp4`);
      await writeMp4(frames[i]!, dims, p, { quality, ...ff });
      const d = await decodeVideo(p, { ...dims, ...ff });
      for (let k = 0; k < d.data.length; k++) err += Math.abs(d.data[k]! - frames[i]![k]!);
      count += d.data.length;
    }
    console.log(`round trip ${quality.padEnd(7)} mean abs pixel error ${(err / count).toFixed(3)} (of 255, ${Math.min(clips, 20)} clips)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
