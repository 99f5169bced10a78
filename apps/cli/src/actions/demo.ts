// `isrdpo demo` (defined in ../commands/demo.ts): the whole loop in one process (embedded mode: in-memory bus, local artifacts), through
// the same services and RPCs as a cluster. SFT models are cached by spec, so a second run starts at π_1.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { toJson } from "@bufbuild/protobuf";
import { RunSchema, RunState } from "@isrdpo/contracts";
import { iterationRows, nothingToTrain } from "@isrdpo/report";
import { demoSpec, type DemoPreset } from "../demo-spec.ts";
import { CONTEXT_MODES, JUDGES, withEmbedded } from "../embedded.ts";
import { writeRunOutputs } from "../outputs.ts";
import { iterationTable, ProgressPrinter } from "../report.ts";

export interface DemoFlags {
  preset: DemoPreset;
  iterations: string;
  contextMode: string;
  judge: string;
  seed: string;
  out: string;
  cache: boolean;
  threads?: string;
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

  await withEmbedded(out, "demo.log", { threads: opts.threads }, async (e) => {
    const spec = demoSpec({
      preset: opts.preset,
      iterations,
      contextMode: CONTEXT_MODES[opts.contextMode as keyof typeof CONTEXT_MODES],
      judge: JUDGES[opts.judge as keyof typeof JUDGES],
      seed,
    });
    say(
      `isrdpo demo: preset ${opts.preset}, ${iterations} iterations, context ${opts.contextMode}, judge ${opts.judge}, seed ${seed}, ${e.threads} thread(s)`,
    );
    const cached = opts.cache ? e.cachedPi1(spec) : undefined;
    say(
      `  π_1: ${cached ? `cached SFT model ${cached.digest.slice(0, 12)} (--no-cache trains it again)` : "SFT from scratch"}; logs: ${e.logFile}`,
    );
    const run = await e.run(spec, new ProgressPrinter(say), cached);
    const record = join(out, "run.json");
    writeFileSync(record, `${JSON.stringify(toJson(RunSchema, run), null, 2)}\n`);
    const html = await writeRunOutputs(out, run, e.artifacts, [record, e.logFile]);
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
  });
}
