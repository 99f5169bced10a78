#!/usr/bin/env node
// Runs the TypeScript CLI through tsx (no build step). tsx is resolved from this package, not from
// the caller's directory, so the bin works from anywhere; paths on the command line stay relative to
// the caller's directory.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const tsx = import.meta.resolve("tsx");
const { status } = spawnSync(process.execPath, ["--import", tsx, main, ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(status ?? 1);
