// `isrdpo demo` (defined in ../commands/demo.ts): the whole loop in one process (embedded mode: in-memory bus, local artifacts), through
// the same services and RPCs as a cluster. SFT models are cached by spec, so a second run starts at π_1.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { toBinary, toJson, fromJson, type JsonValue } from "@bufbuild/protobuf";
import {
  ContextMode,
  JudgeStrategy,
  ModelRefSchema,
  RunSchema,
  RunState,
  SftSpecSchema,
  type ModelRef,
  type RunSpec,
} from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus } from "@isrdpo/bus";
import { loadConfig, startServer } from "@isrdpo/runtime";
import { pino } from "pino";
import { runClient, trainerClient } from "../client.ts";
import type { CONTEXT_MODE_NAMES } from "../choices.ts";
import { demoSpec, type DemoPreset } from "../demo-spec.ts";
import { iterationRows, nothingToTrain } from "@isrdpo/report";
import { writeRunOutputs } from "../outputs.ts";
import { iterationTable, ProgressPrinter } from "../report.ts";
import { SERVICES } from "../services.ts";
import { followRun } from "../watch.ts";

const CONTEXT_MODES: Record<(typeof CONTEXT_MODE_NAMES)[number], ContextMode> = {
  none: ContextMode.NONE,
  fixed: ContextMode.FIXED,
  renew: ContextMode.RENEW,
  retrospective: ContextMode.RETROSPECTIVE,
  "clip-narrative": ContextMode.CLIP_NARRATIVE,
};

/** SFT models made by earlier demos, by the digest of their SftSpec. */
function sftCache(out: string) {
  const path = join(out, "sft-models.json");
  const entries: Record<string, JsonValue> = existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : {};
  const key = (spec: RunSpec) => {
    const sft = spec.initialModel?.source.case === "sft" ? spec.initialModel.source.value : undefined;
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

export interface DemoFlags {
  preset: DemoPreset;
  iterations: string;
  contextMode: string;
  judge: string;
  seed: string;
  out: string;
  cache: boolean;
}

export async function demo(opts: DemoFlags): Promise<void> {
  const iterations = Number(opts.iterations);
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > 50)
    throw new Error(`--iterations: must be an integer from 1 to 50, got "${opts.iterations}"`);
  const seed = Number(opts.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed: must be a non-negative integer, got "${opts.seed}"`);
  const out = resolve(opts.out);
  mkdirSync(out, { recursive: true });
  const say = (line: string) => process.stdout.write(`${line}\n`);

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
    },
  });
  const logFile = join(out, "demo.log");
  const logger = pino({ name: "isrdpo-demo", level: "info" }, pino.destination({ dest: logFile, sync: false }));
  const ctx = { config, logger, bus: new MemoryBus(), artifacts: new LocalArtifactStore(config.artifactDir) };
  const server = await startServer(Object.values(SERVICES), ctx, 0);
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const runs = runClient(base);
    const spec = demoSpec({
      preset: opts.preset,
      iterations,
      contextMode: CONTEXT_MODES[opts.contextMode as keyof typeof CONTEXT_MODES],
      judge: opts.judge === "oracle" ? JudgeStrategy.ORACLE : JudgeStrategy.SELF,
      seed,
    });
    const cache = sftCache(out);
    const cached = opts.cache ? cache.get(spec) : undefined;
    const runSpec = cached ? { ...spec, initialModel: { ...spec.initialModel!, source: { case: "model" as const, value: cached } } } : spec;
    say(`isrdpo demo: preset ${opts.preset}, ${iterations} iterations, context ${opts.contextMode}, judge ${opts.judge}, seed ${seed}`);
    say(
      `  π_1: ${cached ? `cached SFT model ${cached.digest.slice(0, 12)} (--no-cache trains it again)` : "SFT from scratch"}; logs: ${logFile}`,
    );
    const { run: created } = await runs.createRun({ spec: runSpec as RunSpec });
    const printer = new ProgressPrinter(say);
    const run = await followRun(runs, created!.id, printer, { trainer: trainerClient(base) });
    const pi1 = run.iterations.find((i) => i.iteration === 1)?.policy;
    if (!cached && pi1?.digest) cache.set(spec, pi1);
    const record = join(out, "run.json");
    writeFileSync(record, `${JSON.stringify(toJson(RunSchema, run), null, 2)}\n`);
    const html = await writeRunOutputs(out, run, ctx.artifacts, [record, logFile]);
    const rows = iterationRows(run);
    say("");
    say(`Row t: the model iteration t produced (row 0: π_1 after SFT) on held-out clips, and the preferences it was trained on.`);
    say(iterationTable(rows));
    for (const w of nothingToTrain(rows)) say(`warning: ${w}`);
    say("");
    say(
      `run ${run.id}: ${RunState[run.state].toLowerCase()}${run.failureReason ? ` (${run.failureReason})` : ""}; record in ${record}, report in ${html}, curves: tensorboard --logdir ${join(out, "tensorboard")}`,
    );
    if (run.state !== RunState.SUCCEEDED) process.exitCode = 1;
  } finally {
    await server.close();
    await ctx.bus.close();
  }
}
