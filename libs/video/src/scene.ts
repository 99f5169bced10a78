// The ground-truth scene record of one synthetic clip, and its seeded generator.
import { z } from "zod";
import { createRng, type Rng } from "./rng.ts";
import {
  COLOURS,
  EVENT_TYPES,
  HELD_OUT_COMBOS,
  MOTIONS,
  SHAPES,
  SIZES,
  SIZE_FRACTION,
  isHeldOut,
  type Colour,
  type EventType,
  type Motion,
  type Shape,
  type Size,
} from "./vocab.ts";

export type Rgb = readonly [number, number, number];

export interface SceneEvent {
  type: EventType;
  /** First frame that shows the new state (appear: visible from here; disappear: gone from here). */
  frame: number;
  /** For "change": the colour from `frame` on. */
  toColour?: Colour;
}

export interface SceneObject {
  shape: Shape;
  /** Colour at frame 0 (before a "change" event). */
  colour: Colour;
  size: Size;
  motion: Motion;
  /** Centre at the first and the last frame, as fractions of width and height (y grows downwards). */
  start: readonly [number, number];
  end: readonly [number, number];
  event?: SceneEvent;
}

export const BACKGROUND_KINDS = ["solid", "hgradient", "vgradient", "checker", "stripes"] as const;
export type BackgroundKind = (typeof BACKGROUND_KINDS)[number];

export interface Scene {
  version: 1;
  frames: number;
  background: { kind: BackgroundKind; a: Rgb; b: Rgb };
  /** Per-pixel uniform noise in [-amplitude, amplitude] plus single-pixel distractor specks per frame. */
  noise: { amplitude: number; specks: number; seed: number };
  objects: SceneObject[];
}

export const SceneOptionsSchema = z.object({
  frames: z.number().int().min(4).max(256).default(8),
  minObjects: z.number().int().min(1).max(8).default(1),
  maxObjects: z.number().int().min(1).max(8).default(4),
  /** Probability that an object has an event (appear, disappear, change colour). */
  eventProbability: z.number().min(0).max(1).default(0.4),
  /** "exclude": never use held-out shape–colour pairs; "require": at least one object uses one. */
  heldOut: z.enum(["exclude", "require", "allow"]).default("exclude"),
  maxNoise: z.number().int().min(0).max(64).default(16),
  maxSpecks: z.number().int().min(0).max(32).default(6),
});
export type SceneOptions = z.input<typeof SceneOptionsSchema>;

/** Colours that an object shows during the clip. */
export function coloursOf(o: SceneObject): Colour[] {
  return o.event?.type === "change" && o.event.toColour ? [o.colour, o.event.toColour] : [o.colour];
}

/** Whether the object is drawn at frame f. */
export function visibleAt(o: SceneObject, f: number): boolean {
  if (o.event?.type === "appear") return f >= o.event.frame;
  if (o.event?.type === "disappear") return f < o.event.frame;
  return true;
}

export function colourAt(o: SceneObject, f: number): Colour {
  return o.event?.type === "change" && o.event.toColour && f >= o.event.frame ? o.event.toColour : o.colour;
}

/** Centre (fractions) at frame f of a clip with `frames` frames. */
export function positionAt(o: SceneObject, f: number, frames: number): [number, number] {
  const t = frames > 1 ? f / (frames - 1) : 0;
  return [o.start[0] + (o.end[0] - o.start[0]) * t, o.start[1] + (o.end[1] - o.start[1]) * t];
}

const MARGIN = 0.03;

function darkColour(rng: Rng): Rgb {
  return [rng.int(0, 70), rng.int(0, 70), rng.int(0, 70)];
}

function placeObject(rng: Rng, size: Size, motion: Motion): Pick<SceneObject, "start" | "end"> {
  const r = SIZE_FRACTION[size] / 2;
  const lo = r + MARGIN;
  const hi = 1 - r - MARGIN;
  if (motion === "still") {
    const p: [number, number] = [lo + rng.next() * (hi - lo), lo + rng.next() * (hi - lo)];
    return { start: p, end: p };
  }
  // Travel 30–45% of the frame: clearly visible over 8 frames, and the object stays inside.
  const d = 0.3 + rng.next() * 0.15;
  const along = lo + rng.next() * (hi - lo - d);
  const across = lo + rng.next() * (hi - lo);
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  switch (motion) {
    case "right":
      return { start: [round(along), round(across)], end: [round(along + d), round(across)] };
    case "left":
      return { start: [round(along + d), round(across)], end: [round(along), round(across)] };
    case "down":
      return { start: [round(across), round(along)], end: [round(across), round(along + d)] };
    case "up":
      return { start: [round(across), round(along + d)], end: [round(across), round(along)] };
  }
}

/** Objects must not hide each other: centres stay apart in every frame where both are visible. */
function overlaps(a: SceneObject, b: SceneObject, frames: number): boolean {
  const minDist = (0.9 * (SIZE_FRACTION[a.size] + SIZE_FRACTION[b.size])) / 2 + 0.02;
  // Paths whose bounding boxes are apart never meet: most pairs stop here.
  const gapX = Math.max(
    Math.min(a.start[0], a.end[0]) - Math.max(b.start[0], b.end[0]),
    Math.min(b.start[0], b.end[0]) - Math.max(a.start[0], a.end[0]),
  );
  const gapY = Math.max(
    Math.min(a.start[1], a.end[1]) - Math.max(b.start[1], b.end[1]),
    Math.min(b.start[1], b.end[1]) - Math.max(a.start[1], a.end[1]),
  );
  if (gapX >= minDist || gapY >= minDist) return false;
  for (let f = 0; f < frames; f++) {
    if (!visibleAt(a, f) || !visibleAt(b, f)) continue;
    const t = frames > 1 ? f / (frames - 1) : 0;
    const dx = a.start[0] + (a.end[0] - a.start[0]) * t - (b.start[0] + (b.end[0] - b.start[0]) * t);
    const dy = a.start[1] + (a.end[1] - a.start[1]) * t - (b.start[1] + (b.end[1] - b.start[1]) * t);
    if (Math.max(Math.abs(dx), Math.abs(dy)) < minDist) return true;
  }
  return false;
}

function pickEvent(
  rng: Rng,
  frames: number,
  colour: Colour,
  taken: Set<string>,
  shape: Shape,
  opts: z.output<typeof SceneOptionsSchema>,
): SceneEvent | undefined {
  if (!rng.chance(opts.eventProbability)) return undefined;
  // Keep at least two frames before and after the event where possible, so it can be seen.
  const lo = Math.max(1, Math.round(frames * 0.25));
  const hi = Math.max(lo, Math.min(frames - 1, Math.round(frames * 0.75)));
  const frame = rng.int(lo, hi);
  const type = rng.pick(EVENT_TYPES);
  if (type !== "change") return { type, frame };
  const options = COLOURS.filter((c) => c !== colour && !taken.has(`${shape}:${c}`) && allowedCombo(shape, c, opts));
  if (options.length === 0) return undefined;
  return { type, frame, toColour: rng.pick(options) };
}

function allowedCombo(shape: Shape, colour: Colour, opts: z.output<typeof SceneOptionsSchema>): boolean {
  return opts.heldOut !== "exclude" || !isHeldOut(shape, colour);
}

/** Positions for every object, each retried a few times; undefined when one does not fit. */
function placeAll(rng: Rng, attrs: Omit<SceneObject, "start" | "end">[], frames: number): SceneObject[] | undefined {
  const objects: SceneObject[] = [];
  for (const attr of attrs) {
    let placed: SceneObject | undefined;
    for (let tries = 0; tries < 20 && !placed; tries++) {
      const candidate: SceneObject = { ...attr, ...placeObject(rng, attr.size, attr.motion) };
      if (!objects.some((o) => overlaps(o, candidate, frames))) placed = candidate;
    }
    if (!placed) return undefined;
    objects.push(placed);
  }
  return objects;
}

/** Shapes, colours, sizes, motions and events of `count` objects with unique (shape, colour) pairs. */
function drawAttributes(
  rng: Rng,
  count: number,
  opts: z.output<typeof SceneOptionsSchema>,
): Omit<SceneObject, "start" | "end">[] | undefined {
  const out: Omit<SceneObject, "start" | "end">[] = [];
  const taken = new Set<string>();
  for (let i = 0; i < count; i++) {
    let attrs: Omit<SceneObject, "start" | "end"> | undefined;
    for (let tries = 0; tries < 30 && !attrs; tries++) {
      const forceHeldOut = opts.heldOut === "require" && i === 0;
      const [shape, colour] = forceHeldOut ? rng.pick(HELD_OUT_COMBOS) : [rng.pick(SHAPES), rng.pick(COLOURS)];
      if (taken.has(`${shape}:${colour}`) || !allowedCombo(shape, colour, opts)) continue;
      const event = pickEvent(rng, opts.frames, colour, taken, shape, opts);
      attrs = { shape, colour, size: rng.pick(SIZES), motion: rng.pick(MOTIONS), ...(event ? { event } : {}) };
    }
    if (!attrs) return undefined;
    out.push(attrs);
    for (const c of coloursOf(attrs as SceneObject)) taken.add(`${attrs.shape}:${c}`);
  }
  return out;
}

/**
 * A random scene. Guarantees: every (shape, colour) pair that any object shows is unique in the
 * scene (so "the red circle" always names one object); objects never overlap while both are visible.
 */
export function generateScene(seedOrRng: number | string | Rng, options: SceneOptions = {}): Scene {
  const opts = SceneOptionsSchema.parse(options);
  if (opts.minObjects > opts.maxObjects) throw new Error(`minObjects (${opts.minObjects}) > maxObjects (${opts.maxObjects})`);
  const rng = typeof seedOrRng === "object" ? seedOrRng : createRng(seedOrRng);
  const a = darkColour(rng);
  const background = { kind: rng.pick(BACKGROUND_KINDS), a, b: darkColour(rng) };
  const noise = { amplitude: rng.int(0, opts.maxNoise), specks: rng.int(0, opts.maxSpecks), seed: rng.int(0, 2 ** 31 - 1) };
  const count = rng.int(opts.minObjects, opts.maxObjects);
  // Attributes are drawn first and only positions are retried: re-drawing attributes on a collision
  // would make crowded clips favour small, still objects.
  for (let attempt = 0; attempt < 200; attempt++) {
    const attrs = drawAttributes(rng, count, opts);
    if (!attrs) continue;
    for (let layout = 0; layout < 40; layout++) {
      const objects = placeAll(rng, attrs, opts.frames);
      // The held-out object is drawn first; shuffle so it is not always object 0.
      if (objects) return { version: 1, frames: opts.frames, background, noise, objects: rng.shuffle(objects) };
    }
  }
  throw new Error(`could not place ${count} non-overlapping objects in 200 attempts`);
}

const rgb = z.tuple([z.number().int().min(0).max(255), z.number().int().min(0).max(255), z.number().int().min(0).max(255)]);
const point = z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]);

/** Validates a scene record read from disk. */
export const SceneSchema = z.object({
  version: z.literal(1),
  frames: z.number().int().min(1),
  background: z.object({ kind: z.enum(BACKGROUND_KINDS), a: rgb, b: rgb }),
  noise: z.object({ amplitude: z.number().int().min(0), specks: z.number().int().min(0), seed: z.number().int() }),
  objects: z
    .array(
      z.object({
        shape: z.enum(SHAPES),
        colour: z.enum(COLOURS),
        size: z.enum(SIZES),
        motion: z.enum(MOTIONS),
        start: point,
        end: point,
        event: z.object({ type: z.enum(EVENT_TYPES), frame: z.number().int().min(0), toColour: z.enum(COLOURS).optional() }).optional(),
      }),
    )
    .min(1),
}) satisfies z.ZodType<Scene>;
