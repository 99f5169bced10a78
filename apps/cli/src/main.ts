#!/usr/bin/env node
// The `isrdpo` command (`pnpm isrdpo ...` from the repo, or apps/cli/bin/isrdpo.js from anywhere).
import { main } from "@isrdpo/runtime/main";
import { buildProgram } from "./program.ts";

// `pnpm isrdpo` runs in the repository root; paths on the command line are the caller's.
if (process.env.npm_lifecycle_event === "isrdpo" && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);

await main(() => buildProgram().parseAsync(process.argv));
