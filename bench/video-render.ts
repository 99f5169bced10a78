// Synthetic world throughput: scenes generated, clips rendered, questions built and answers scored per
// CPU-second, at the default 8×32×32 and at a larger size. Run: pnpm exec tsx bench/video-render.ts [--clips N]
import { parseArgs } from "node:util";
import {
  buildSftMix,
  createRng,
  generateScene,
  instructionsFor,
  referenceCaption,
  renderClip,
  scoreAnswer,
  syntheticSplit,
} from "@isrdpo/video";

const { values } = parseArgs({ options: { clips: { type: "string", default: "2000" } } });
const clips = Number(values.clips);

// The machine is shared: rates are per CPU-second of this process (wall-clock rates shown alongside).
function rate(label: string, n: number, unit: string, fn: () => void): number {
  fn(); // warm-up (JIT)
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  const wall = (performance.now() - t0) / 1000;
  console.log(
    `${label.padEnd(44)} ${(n / cpu).toFixed(0).padStart(9)} ${unit}/cpu-s   wall ${(n / wall).toFixed(0).padStart(9)} ${unit}/s  (${n})`,
  );
  return n / cpu;
}

const scenes = Array.from({ length: clips }, (_, i) => generateScene(i));
rate("generateScene", clips, "scenes", () => {
  for (let i = 0; i < clips; i++) generateScene(i);
});
rate("renderClip 8×32×32", clips, "clips", () => {
  for (const s of scenes) renderClip(s);
});
const big = scenes.slice(0, Math.max(1, clips / 20));
rate("renderClip 8×128×128", big.length, "clips", () => {
  for (const s of big) renderClip(s, { height: 128, width: 128 });
});
const long = Array.from({ length: Math.max(1, clips / 10) }, (_, i) => generateScene(i, { frames: 50 }));
rate("renderClip 50×32×32", long.length, "clips", () => {
  for (const s of long) renderClip(s);
});
const items = scenes.map((s, i) => instructionsFor(s, createRng(i), `c${i}`));
rate("instructionsFor", clips, "clips", () => {
  scenes.forEach((s, i) => instructionsFor(s, createRng(i), `c${i}`));
});
const nItems = items.reduce((a, x) => a + x.length, 0);
rate("scoreAnswer (reference answers, all types)", nItems, "answers", () => {
  scenes.forEach((s, i) => {
    for (const it of items[i]!) scoreAnswer(s, it, it.answer);
  });
});
const open = scenes.map((s) => referenceCaption(s));
rate("scoreAnswer (open, reference caption)", clips, "answers", () => {
  scenes.forEach((s, i) => scoreAnswer(s, { check: { kind: "open" } }, open[i]!));
});
const split = syntheticSplit(1, "train", Math.max(1, clips / 10));
rate("buildSftMix (default mix, 10 records/clip)", split.length, "clips", () => {
  buildSftMix(split, { seed: 1 });
});
