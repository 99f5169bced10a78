export * from "./metrics.ts";
export * from "./qa.ts";
