export * from "./charts.ts";
export * from "./html.ts";
export * from "./run.ts";
export * from "./study.ts";
