#!/usr/bin/env node
// Runs the TypeScript CLI in this process through tsx's loader (no build step). tsx is resolved from
// this package, not from the caller's directory, so the bin works from anywhere; paths on the
// command line stay relative to the caller's directory.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
