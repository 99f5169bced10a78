export * from "./vocab.ts";
export * from "./rng.ts";
export * from "./scene.ts";
export * from "./render.ts";
export * from "./language.ts";
export * from "./instructions.ts";
export * from "./oracle.ts";
