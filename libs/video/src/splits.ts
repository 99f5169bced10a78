// Deterministic splits of the synthetic world. A clip is a pure function of (seed, split, frames,
// index), so its id is enough to rebuild it (the contracts' `Video.synthetic_clip_id`), and a split of N
// clips is a prefix of the same split with more clips.
import { z } from "zod";
import { instructionsFor, type InstructionItem } from "./instructions.ts";
import { deriveRng } from "./rng.ts";
import { generateScene, type Scene, type SceneOptions } from "./scene.ts";
import { SPLITS, type Split } from "./vocab.ts";

export interface SyntheticClip {
  id: string;
  split: Split;
  seed: number;
  index: number;
  scene: Scene;
  items: InstructionItem[];
}

const CLIP_ID = /^syn-(\d+)-(train|test-in|test-out)-f(\d+)-(\d+)$/;

/** e.g. "syn-42-train-f8-17". */
export function clipId(seed: number, split: Split, frames: number, index: number): string {
  return `syn-${seed}-${split}-f${frames}-${index}`;
}

export function parseClipId(id: string): { seed: number; split: Split; frames: number; index: number } {
  const m = CLIP_ID.exec(id);
  if (!m) throw new Error(`not a synthetic clip id: "${id}" (expected syn-<seed>-<train|test-in|test-out>-f<frames>-<index>)`);
  return { seed: Number(m[1]), split: m[2] as Split, frames: Number(m[3]), index: Number(m[4]) };
}

/** Train and test-in share a distribution; test-out has held-out shape–colour pairs and more objects. */
export function sceneOptionsFor(split: Split, frames: number): SceneOptions {
  return split === "test-out"
    ? { frames, minObjects: 3, maxObjects: 5, heldOut: "require" }
    : { frames, minObjects: 1, maxObjects: 4, heldOut: "exclude" };
}

export function syntheticClip(seed: number, split: Split, frames: number, index: number): SyntheticClip {
  const id = clipId(seed, split, frames, index);
  const scene = generateScene(deriveRng(id, "scene"), sceneOptionsFor(split, frames));
  const items = instructionsFor(scene, deriveRng(id, "instructions"), id, { allowHeldOut: split === "test-out" });
  return { id, split, seed, index, scene, items };
}

/** Rebuilds a clip from its id. */
export function clipFromId(id: string): SyntheticClip {
  const { seed, split, frames, index } = parseClipId(id);
  return syntheticClip(seed, split, frames, index);
}

export const SplitsOptionsSchema = z.object({
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  train: z.number().int().min(0).default(1000),
  testIn: z.number().int().min(0).default(200),
  testOut: z.number().int().min(0).default(200),
  frames: z.number().int().min(4).max(256).default(8),
});
export type SplitsOptions = z.input<typeof SplitsOptionsSchema>;

/** A split name from outside (a proto field, a flag); throws naming the allowed values. */
export function parseSplit(name: string): Split {
  if ((SPLITS as readonly string[]).includes(name)) return name as Split;
  throw new Error(`unknown split "${name}" (expected one of ${SPLITS.join(", ")})`);
}

export function syntheticSplit(seed: number, split: Split, clipCount: number, frames = 8): SyntheticClip[] {
  return Array.from({ length: clipCount }, (_, i) => syntheticClip(seed, split, frames, i));
}

export function buildSplits(options: SplitsOptions): Record<Split, SyntheticClip[]> {
  const o = SplitsOptionsSchema.parse(options);
  const sizes: Record<Split, number> = { train: o.train, "test-in": o.testIn, "test-out": o.testOut };
  return Object.fromEntries(SPLITS.map((s) => [s, syntheticSplit(o.seed, s, sizes[s], o.frames)])) as Record<Split, SyntheticClip[]>;
}
