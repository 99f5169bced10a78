// The embedded platform `demo` and `study` run on: every service on one local port in this process,
// the in-memory bus, artifacts and checkpoints under the output directory, and the SFT models earlier
// runs made there (cached by the digest of their SftSpec, so runs of one seed share π_1).
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fromJson, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import {
  ContextMode,
  JudgeStrategy,
  ModelRefSchema,
  SftSpecSchema,
  type ModelRef,
  type Run,
  type RunService,
  type RunSpec,
  type TrainerService,
} from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus, type ArtifactStore } from "@isrdpo/bus";
import { normalizeRunSpec } from "@isrdpo/orchestration";
import { loadConfig, startServer } from "@isrdpo/runtime";
import { pino } from "pino";
import type { CONTEXT_MODE_NAMES, JUDGE_NAMES } from "./choices.ts";
import { runClient, trainerClient } from "./client.ts";
import type { ProgressPrinter } from "./report.ts";
import { SERVICES } from "./services.ts";
import { followRun } from "./watch.ts";

export const CONTEXT_MODES: Record<(typeof CONTEXT_MODE_NAMES)[number], ContextMode> = {
  none: ContextMode.NONE,
  fixed: ContextMode.FIXED,
  renew: ContextMode.RENEW,
  retrospective: ContextMode.RETROSPECTIVE,
  "clip-narrative": ContextMode.CLIP_NARRATIVE,
};

export const JUDGES: Record<(typeof JUDGE_NAMES)[number], JudgeStrategy> = {
  self: JudgeStrategy.SELF,
  "self-verify": JudgeStrategy.SELF_VERIFY,
  "self-likelihood": JudgeStrategy.SELF_LIKELIHOOD,
  oracle: JudgeStrategy.ORACLE,
  "caption-proxy": JudgeStrategy.CAPTION_PROXY,
  "self-critique": JudgeStrategy.SELF_CRITIQUE,
};

/** SFT models made by earlier runs in `out`, by the digest of their SftSpec. */
function sftCache(out: string) {
  const path = join(out, "sft-models.json");
  const entries: Record<string, JsonValue> = existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : {};
  // The SftSpec as the run will train it (normalised: e.g. a self-critique run's SFT teaches critique).
  // critique_skills off is hashed as unset, so models cached before the field existed stay valid.
  const key = (spec: RunSpec) => {
    const source = normalizeRunSpec(spec).initialModel?.source;
    const sft = source?.case === "sft" ? source.value : undefined;
    if (sft && !sft.critiqueSkills) sft.critiqueSkills = undefined;
    return sft ? createHash("sha256").update(toBinary(SftSpecSchema, sft)).digest("hex") : undefined;
  };
  return {
    get(spec: RunSpec): ModelRef | undefined {
      const k = key(spec);
      return k && entries[k] ? fromJson(ModelRefSchema, entries[k]) : undefined;
    },
    set(spec: RunSpec, model: ModelRef) {
      const k = key(spec);
      if (!k) return;
      entries[k] = toJson(ModelRefSchema, model);
      writeFileSync(path, `${JSON.stringify(entries, null, 2)}\n`);
    },
  };
}

export interface Embedded {
  runs: Client<typeof RunService>;
  trainer: Client<typeof TrainerService>;
  artifacts: ArtifactStore;
  logFile: string;
  /** Worker threads for stage work (config.threads). */
  threads: number;
  /** π_1 of an earlier run in this directory whose SFT had the same SftSpec as `spec`'s, if any. */
  cachedPi1(spec: RunSpec): ModelRef | undefined;
  /**
   * Runs `spec` to its end, starting from `pi1` instead of its SFT when given; a π_1 trained by SFT
   * here is remembered for later runs with the same SftSpec.
   */
  run(spec: RunSpec, printer: ProgressPrinter, pi1?: ModelRef): Promise<Run>;
}

/**
 * Starts the embedded platform under `out` (logs to `logName` there), calls `fn`, and stops it.
 * `threads`: stage worker threads (default ISRDPO_THREADS, else the cores).
 */
export async function withEmbedded<T>(
  out: string,
  logName: string,
  opts: { threads?: string | undefined },
  fn: (e: Embedded) => Promise<T>,
): Promise<T> {
  // Embedded mode whatever the environment says: one process, no server to install.
  const config = loadConfig({
    env: {},
    flags: {
      host: "127.0.0.1",
      port: 0,
      metricsPort: 0,
      logLevel: "info",
      artifactDir: join(out, "artifacts"),
      checkpointDir: join(out, "checkpoints"),
      backend: process.env.ISRDPO_BACKEND,
      threads: opts.threads ?? process.env.ISRDPO_THREADS,
    },
  });
  const logFile = join(out, logName);
  const logger = pino({ name: "isrdpo", level: "info" }, pino.destination({ dest: logFile, sync: false }));
  const ctx = { config, logger, bus: new MemoryBus(), artifacts: new LocalArtifactStore(config.artifactDir) };
  const server = await startServer(Object.values(SERVICES), ctx, 0);
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const runs = runClient(base);
    const trainer = trainerClient(base);
    const cache = sftCache(out);
    return await fn({
      runs,
      trainer,
      artifacts: ctx.artifacts,
      logFile,
      threads: config.threads,
      cachedPi1: (spec) => cache.get(spec),
      async run(spec, printer, pi1) {
        const runSpec = pi1 ? { ...spec, initialModel: { ...spec.initialModel!, source: { case: "model" as const, value: pi1 } } } : spec;
        const { run: created } = await runs.createRun({ spec: runSpec as RunSpec });
        const run = await followRun(runs, created!.id, printer, { trainer });
        const trained = run.iterations.find((i) => i.iteration === 1)?.policy;
        if (!pi1 && trained?.digest) cache.set(spec, trained);
        return run;
      },
    });
  } finally {
    await server.close();
    await ctx.bus.close();
  }
}
