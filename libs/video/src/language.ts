// Templated language of the synthetic world: object phrases, referring expressions and the reference
// caption. The oracle (oracle.ts) parses exactly this language back into claims.
import { coloursOf, type Scene, type SceneObject } from "./scene.ts";
import { SHAPE_PLURAL, type Colour, type EventType, type Motion, type Shape, type Size } from "./vocab.ts";

/** A partial description of an object, as text can give it ("the red object", "a large circle"). */
export interface ObjectDesc {
  shape?: Shape;
  colour?: Colour;
  size?: Size;
}

/** Whether an object fits a description; a colour fits if the object shows it at any frame. */
export function matchesDesc(o: SceneObject, d: ObjectDesc): boolean {
  return (
    (d.shape === undefined || d.shape === o.shape) &&
    (d.size === undefined || d.size === o.size) &&
    (d.colour === undefined || coloursOf(o).includes(d.colour))
  );
}

/** "small red circle", "red object", "large square". */
export function descPhrase(d: ObjectDesc, plural = false): string {
  const noun = d.shape ? (plural ? SHAPE_PLURAL[d.shape] : d.shape) : plural ? "objects" : "object";
  return [d.size, d.colour, noun].filter(Boolean).join(" ");
}

export function fullDesc(o: SceneObject): ObjectDesc {
  return { shape: o.shape, colour: o.colour, size: o.size };
}

/** Colour and shape: unique in a scene by construction (scene.ts). */
export function refDesc(o: SceneObject): ObjectDesc {
  return { shape: o.shape, colour: o.colour };
}

/**
 * The shortest description of `o` that names it uniquely in the scene, using only the allowed
 * attributes (a question about an object's colour must not name its colour). Undefined if none does.
 */
export function uniqueDesc(scene: Scene, o: SceneObject, allowed: readonly (keyof ObjectDesc)[]): ObjectDesc | undefined {
  const subsets: (keyof ObjectDesc)[][] = [
    ["shape"],
    ["colour"],
    ["size", "shape"],
    ["colour", "shape"],
    ["size", "colour"],
    ["size", "colour", "shape"],
  ];
  for (const keys of subsets) {
    if (!keys.every((k) => allowed.includes(k))) continue;
    const d: ObjectDesc = {};
    for (const k of keys) (d as Record<string, string>)[k] = o[k];
    if (scene.objects.filter((x) => matchesDesc(x, d)).length === 1) return d;
  }
  return undefined;
}

export const MOTION_PHRASE: Record<Motion, string> = {
  left: "moves left",
  right: "moves right",
  up: "moves up",
  down: "moves down",
  still: "stays still",
};

export function eventPhrase(type: EventType, toColour?: Colour): string {
  if (type === "change") return `turns ${toColour}`;
  return type === "appear" ? "appears" : "disappears";
}

export function countSentence(n: number, noun = "objects"): string {
  return n === 1 ? `There is 1 ${noun === "objects" ? "object" : noun}.` : `There are ${n} ${noun}.`;
}

export function objectSentence(o: SceneObject): string {
  return `A ${descPhrase(fullDesc(o))} ${MOTION_PHRASE[o.motion]}.`;
}

/** Events in time order (ties keep object order). */
export function orderedEvents(scene: Scene): { object: SceneObject; index: number }[] {
  return scene.objects
    .map((object, index) => ({ object, index }))
    .filter((e) => e.object.event)
    .sort((a, b) => a.object.event!.frame - b.object.event!.frame || a.index - b.index);
}

export function eventSentences(scene: Scene): string[] {
  let lastFrame = -1;
  return orderedEvents(scene).map(({ object }) => {
    const ev = object.event!;
    const lead = lastFrame >= 0 && ev.frame > lastFrame ? "Then the" : "The";
    lastFrame = ev.frame;
    return `${lead} ${descPhrase(refDesc(object))} ${eventPhrase(ev.type, ev.toColour)}.`;
  });
}

/**
 * The detailed reference caption: the object count, one sentence per object (size, colour, shape,
 * motion) from left to right (by where each starts), then the events in time order. A fixed order
 * makes the caption a function of what the video shows, so a model can learn to write it.
 * e.g. "There are 2 objects. A small red circle moves left. A large blue square stays still. The blue square turns green."
 */
export function referenceCaption(scene: Scene): string {
  const leftToRight = [...scene.objects].sort((a, b) => a.start[0] - b.start[0]);
  return [countSentence(scene.objects.length), ...leftToRight.map(objectSentence), ...eventSentences(scene)].join(" ");
}
