// Rasterises a scene into frames: Uint8Array RGB, frame-major then row-major (count×height×width×3),
// the layout of the contracts' `Frames` message.
import { createRng } from "./rng.ts";
import { colourAt, positionAt, visibleAt, type Scene, type SceneObject } from "./scene.ts";
import { COLOURS, COLOUR_RGB, DENSE_LABELS, SIZE_FRACTION, type Shape } from "./vocab.ts";

export interface FrameDims {
  frames: number;
  height: number;
  width: number;
}

/** Whether the offset (dx, dy) from the centre, in units of the half-size r, is inside the shape. */
function inside(shape: Shape, dx: number, dy: number): boolean {
  const ax = Math.abs(dx);
  const ay = Math.abs(dy);
  switch (shape) {
    case "square":
      return ax <= 0.85 && ay <= 0.85;
    case "circle":
      return dx * dx + dy * dy <= 1;
    case "triangle":
      // Apex up, base down: the half-width grows from 0 at dy=-1 to 1 at dy=+1.
      return dy >= -1 && dy <= 0.9 && ax <= (dy + 1) / 1.9;
    case "cross":
      return (ax <= 0.34 && ay <= 1) || (ay <= 0.34 && ax <= 1);
    case "diamond":
      return ax + ay <= 1;
    case "ring": {
      const d2 = dx * dx + dy * dy;
      return d2 <= 1 && d2 > 0.3;
    }
  }
}

/** Writes the background of one frame (the same in every frame) into `out`. */
function paintBackground(scene: Scene, out: Uint8Array, width: number, height: number): void {
  const { kind, a, b } = scene.background;
  const cell = Math.max(2, Math.round(Math.min(width, height) / 8));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // t: how far from colour a towards colour b this pixel is.
      let t = 0;
      if (kind === "hgradient") t = width > 1 ? x / (width - 1) : 0;
      else if (kind === "vgradient") t = height > 1 ? y / (height - 1) : 0;
      else if (kind === "checker") t = (Math.floor(x / cell) + Math.floor(y / cell)) % 2;
      else if (kind === "stripes") t = Math.floor((x + y) / cell) % 2;
      const i = (y * width + x) * 3;
      out[i] = Math.round(a[0] + (b[0] - a[0]) * t);
      out[i + 1] = Math.round(a[1] + (b[1] - a[1]) * t);
      out[i + 2] = Math.round(a[2] + (b[2] - a[2]) * t);
    }
  }
}

/** Adds uniform noise in [-amp, amp] to every byte, from a xorshift32 stream; returns the new state. */
function addNoise(frame: Uint8Array, amp: number, state: number): number {
  let xs = state;
  const span = 2 * amp + 1;
  for (let i = 0; i < frame.length; i++) {
    xs ^= xs << 13;
    xs ^= xs >>> 17;
    xs ^= xs << 5;
    const v = (frame[i] as number) + ((xs >>> 0) % span) - amp;
    frame[i] = v < 0 ? 0 : Math.min(v, 255);
  }
  return xs;
}

/** Calls `paint` for each pixel (x, y) the object covers at frame f (sampled at pixel centres). */
export function forEachPixel(
  o: SceneObject,
  f: number,
  frames: number,
  width: number,
  height: number,
  paint: (x: number, y: number) => void,
): void {
  const [fx, fy] = positionAt(o, f, frames);
  const cx = fx * width;
  const cy = fy * height;
  const r = (SIZE_FRACTION[o.size] * Math.min(width, height)) / 2;
  const x0 = Math.max(0, Math.floor(cx - r - 1));
  const x1 = Math.min(width - 1, Math.ceil(cx + r + 1));
  const y0 = Math.max(0, Math.floor(cy - r - 1));
  const y1 = Math.min(height - 1, Math.ceil(cy + r + 1));
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) if (inside(o.shape, (x + 0.5 - cx) / r, (y + 0.5 - cy) / r)) paint(x, y);
}

/**
 * The labels of the dense head (DENSE_LABELS) per visual token, as the model cuts a clip into tokens
 * (tubelets of frames × patches, in time, row, column order): 1 where an object of that colour or
 * shape covers a pixel of the token in one of its frames. [numVisual × DENSE_LABELS.length].
 */
export function denseTargets(scene: Scene, dims: FrameDims & { patchSize: number; tubelet: number }): Float32Array {
  const { frames, height, width, patchSize: p, tubelet } = dims;
  if (frames !== scene.frames) throw new Error(`denseTargets: scene has ${scene.frames} frames, asked for ${frames}`);
  const rows = height / p;
  const cols = width / p;
  const k = DENSE_LABELS.length;
  const out = new Float32Array((frames / tubelet) * rows * cols * k);
  for (let f = 0; f < frames; f++) {
    for (const o of scene.objects) {
      if (!visibleAt(o, f)) continue;
      const colour = DENSE_LABELS.indexOf(colourAt(o, f));
      const shape = DENSE_LABELS.indexOf(o.shape);
      forEachPixel(o, f, frames, width, height, (x, y) => {
        const token = (Math.floor(f / tubelet) * rows + Math.floor(y / p)) * cols + Math.floor(x / p);
        out[token * k + colour] = 1;
        out[token * k + shape] = 1;
      });
    }
  }
  return out;
}

export function renderClip(scene: Scene, dims: Partial<FrameDims> = {}): Uint8Array {
  const frames = dims.frames ?? scene.frames;
  const height = dims.height ?? 32;
  const width = dims.width ?? 32;
  if (frames !== scene.frames) throw new Error(`renderClip: scene has ${scene.frames} frames, asked for ${frames}`);
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 8 || width < 8) {
    throw new Error(`renderClip: height and width must be integers ≥ 8, got ${height}×${width}`);
  }
  const out = new Uint8Array(frames * height * width * 3);
  const frameBg = new Uint8Array(height * width * 3);
  paintBackground(scene, frameBg, width, height);
  const noise = createRng(`noise:${scene.noise.seed}`);
  // Pixel noise from a xorshift32 stream seeded by the scene: one call per byte is the hot loop.
  let xs = (scene.noise.seed ^ 0x9e3779b9) >>> 0 || 1;
  const amp = scene.noise.amplitude;
  for (let f = 0; f < frames; f++) {
    const frame = out.subarray(f * height * width * 3, (f + 1) * height * width * 3);
    frame.set(frameBg);
    for (const o of scene.objects) {
      if (!visibleAt(o, f)) continue;
      const [cr, cg, cb] = COLOUR_RGB[colourAt(o, f)];
      forEachPixel(o, f, frames, width, height, (x, y) => {
        const i = (y * width + x) * 3;
        frame[i] = cr;
        frame[i + 1] = cg;
        frame[i + 2] = cb;
      });
    }
    if (amp > 0) xs = addNoise(frame, amp, xs);
    // Single-pixel specks in object colours, dimmed: distractors that are never an object.
    for (let s = 0; s < scene.noise.specks; s++) {
      const x = noise.int(0, width - 1);
      const y = noise.int(0, height - 1);
      const c = COLOUR_RGB[noise.pick(COLOURS)];
      const i = (y * width + x) * 3;
      frame[i] = c[0] >> 1;
      frame[i + 1] = c[1] >> 1;
      frame[i + 2] = c[2] >> 1;
    }
  }
  return out;
}
