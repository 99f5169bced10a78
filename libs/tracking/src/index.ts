export * from "./history.ts";
export * from "./tensorboard.ts";
