#!/usr/bin/env node
// The `isrdpo` command (`pnpm isrdpo ...` from the repo).
import { main } from "@isrdpo/runtime";
import { buildProgram } from "./program.ts";

await main(() => buildProgram().parseAsync(process.argv));
