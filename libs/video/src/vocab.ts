// The closed vocabulary of the synthetic world. The renderer, the language templates and the oracle's
// parser all read these lists, so a word means the same thing everywhere.

export const SHAPES = ["square", "circle", "triangle", "cross", "diamond", "ring"] as const;
export type Shape = (typeof SHAPES)[number];

export const COLOURS = ["red", "orange", "yellow", "green", "blue", "purple", "white"] as const;
export type Colour = (typeof COLOURS)[number];

/** What the dense head of the built-in model learns per visual token: the colours, then the shapes. */
export const DENSE_LABELS: readonly string[] = [...COLOURS, ...SHAPES];

export const SIZES = ["small", "large"] as const;
export type Size = (typeof SIZES)[number];

/** "still" is the motion of an object that does not move. */
export const MOTIONS = ["left", "right", "up", "down", "still"] as const;
export type Motion = (typeof MOTIONS)[number];

export const EVENT_TYPES = ["appear", "disappear", "change"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const QUESTION_TYPES = ["attribute", "count", "direction", "order", "existence", "open"] as const;
export type QuestionType = (typeof QUESTION_TYPES)[number];

export const SPLITS = ["train", "test-in", "test-out"] as const;
export type Split = (typeof SPLITS)[number];

/** Rendered colours: saturated and bright, so they stand out from the dark backgrounds. */
export const COLOUR_RGB: Record<Colour, readonly [number, number, number]> = {
  red: [220, 40, 40],
  orange: [240, 140, 20],
  yellow: [230, 220, 40],
  green: [40, 190, 60],
  blue: [50, 90, 235],
  purple: [160, 60, 210],
  white: [235, 235, 235],
};

/** Object sizes as a fraction of min(height, width): 6 px and 10 px at 32×32. */
export const SIZE_FRACTION: Record<Size, number> = { small: 6 / 32, large: 10 / 32 };

export const SHAPE_PLURAL: Record<Shape, string> = {
  square: "squares",
  circle: "circles",
  triangle: "triangles",
  cross: "crosses",
  diamond: "diamonds",
  ring: "rings",
};

/**
 * Shape–colour combinations never used in train or test-in; test-out clips each contain at least one.
 * One per shape, each colour at most once, so every shape and colour is still seen in training.
 */
export const HELD_OUT_COMBOS: readonly (readonly [Shape, Colour])[] = [
  ["square", "purple"],
  ["circle", "green"],
  ["triangle", "red"],
  ["cross", "yellow"],
  ["diamond", "white"],
  ["ring", "blue"],
];

export function isHeldOut(shape: Shape, colour: Colour): boolean {
  return HELD_OUT_COMBOS.some(([s, c]) => s === shape && c === colour);
}

export const NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"] as const;
