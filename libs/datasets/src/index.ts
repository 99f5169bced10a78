export * from "./jsonl.ts";
export * from "./sharegpt.ts";
export * from "./preference.ts";
export * from "./synthetic.ts";
export * from "./frames.ts";
export * from "./import.ts";
export * from "./sft.ts";
export * from "./export.ts";
