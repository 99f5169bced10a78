export * from "./client.ts";
export * from "./errors.ts";
export * from "./qa-judge.ts";
export * from "./caption-judge.ts";
