// `isrdpo data import` throughput and memory: a ShareGPTVideo JSONL of --videos clips × --per-video
// QA records (each ~0.5 kB, like LLaVA-Hound's) into a local artifact store; then the same import
// again (every frames artifact already stored: the resume path). Peak RSS is sampled every 20 ms:
// it should not grow with the number of records.
// Run: node --expose-gc --import tsx bench/import.ts [--videos N] [--per-video K]
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { LocalArtifactStore } from "@isrdpo/bus";
import { importDataset } from "@isrdpo/datasets";
import { generateScene, renderClip, writeMp4 } from "@isrdpo/video";

const { values } = parseArgs({ options: { videos: { type: "string", default: "40" }, "per-video": { type: "string", default: "50" } } });
const videos = Number(values.videos);
const perVideo = Number(values["per-video"]);
const dir = mkdtempSync(join(tmpdir(), "isrdpo-bench-import-"));

let peak = 0;
let peakHeap = 0;
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  peak = Math.max(peak, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
}, 20);
/** Heap in use after a full collection (run with node --expose-gc), else as it is. */
const liveHeap = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
};
const mb = (b: number) => Math.round(b / 2 ** 20);

try {
  mkdirSync(join(dir, "clips"));
  for (let v = 0; v < videos; v++)
    await writeMp4(renderClip(generateScene(v)), { frames: 8, height: 32, width: 32 }, join(dir, "clips", `v${v}.mp4`));
  const jsonl = join(dir, "qa.jsonl");
  const out = createWriteStream(jsonl);
  const filler = "The video shows several objects moving across a textured background while one of them changes colour. ".repeat(4);
  for (let v = 0; v < videos; v++)
    for (let k = 0; k < perVideo; k++) {
      const line = `${JSON.stringify({
        id: `v${v}-q${k}`,
        video: `clips/v${v}.mp4`,
        conversations: [
          { from: "human", value: `<video>\nQuestion ${k} about video ${v}: what happens? ${filler}` },
          { from: "gpt", value: `Answer ${k}.` },
        ],
      })}\n`;
      if (!out.write(line)) await once(out, "drain");
    }
  out.end();
  await once(out, "finish");
  const records = videos * perVideo;
  const store = new LocalArtifactStore(join(dir, "artifacts"));
  const baseline = process.memoryUsage().rss;
  const heapBefore = liveHeap();
  peak = baseline;
  peakHeap = 0;
  let t0 = performance.now();
  const first = await importDataset({ jsonl, videos: dir, store });
  const firstS = (performance.now() - t0) / 1000;
  const firstPeak = peak;
  const firstPeakHeap = peakHeap;
  const heapAfter = liveHeap();
  t0 = performance.now();
  const again = await importDataset({ jsonl, videos: dir, store });
  const againS = (performance.now() - t0) / 1000;
  if (first.records !== records || again.videosStored !== videos || again.dataset?.uri !== first.dataset?.uri)
    throw new Error("import mismatch");
  console.log(
    `import ${records} records of ${videos} videos: ${firstS.toFixed(2)} s (${(videos / firstS).toFixed(1)} videos/s decoded, ${(records / firstS).toFixed(0)} records/s)`,
  );
  console.log(`again, every video stored:     ${againS.toFixed(2)} s (${(records / againS).toFixed(0)} records/s)`);
  console.log(`RSS before ${mb(baseline)} MiB, peak during import ${mb(firstPeak)} MiB (+${mb(firstPeak - baseline)} MiB)`);
  console.log(
    `heap: ${mb(heapBefore)} MiB live before, ${mb(firstPeakHeap)} MiB peak in use, ${mb(heapAfter)} MiB live after (the summary and the id set)`,
  );
  console.log(
    JSON.stringify({
      bench: "import",
      videos,
      records,
      seconds: +firstS.toFixed(2),
      videosPerSecond: +(videos / firstS).toFixed(1),
      resumeSeconds: +againS.toFixed(2),
      rssBeforeMiB: mb(baseline),
      rssPeakMiB: mb(firstPeak),
      heapPeakMiB: mb(firstPeakHeap),
      heapLiveBeforeMiB: mb(heapBefore),
      heapLiveAfterMiB: mb(heapAfter),
    }),
  );
} finally {
  clearInterval(sampler);
  rmSync(dir, { recursive: true, force: true });
}
