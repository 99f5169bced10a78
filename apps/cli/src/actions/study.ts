// `isrdpo study` (defined in ../commands/study.ts): the context/judge ablation as one command. Every
// run is the demo's run for its (seed, judge, context mode) on the embedded platform; runs of one
// seed share π_1 (the SFT cache). Each finished run is kept in --out/runs/, so an interrupted study
// resumes where it stopped and a grid can grow seed by seed.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fromJson, toJson } from "@bufbuild/protobuf";
import { RunSchema, RunState, type Run } from "@isrdpo/contracts";
import { studyCells, studyReportHtml, studyTable, type StudyRun } from "@isrdpo/report";
import { CONTEXT_MODE_NAMES, JUDGE_NAMES } from "../choices.ts";
import { demoSpec, type DemoPreset } from "../demo-spec.ts";
import { CONTEXT_MODES, JUDGES, withEmbedded } from "../embedded.ts";
import { duration, ProgressPrinter } from "../report.ts";

export interface StudyFlags {
  preset: DemoPreset;
  seeds: string;
  iterations: string;
  contextModes: string;
  judges: string;
  out: string;
  cache: boolean;
}

/** A comma-separated option as a list of allowed names, or one readable error naming the option. */
function names<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
  const list = value.split(",").map((s) => s.trim());
  for (const n of list) if (!allowed.includes(n as T)) throw new Error(`${flag}: unknown "${n}" (one of ${allowed.join(", ")})`);
  if (new Set(list).size !== list.length) throw new Error(`${flag}: "${value}" names something twice`);
  return list as T[];
}

export async function study(opts: StudyFlags): Promise<void> {
  const seeds = opts.seeds.split(",").map((s) => Number(s.trim()));
  if (seeds.some((s) => !Number.isInteger(s) || s < 0) || new Set(seeds).size !== seeds.length)
    throw new Error(`--seeds: must be distinct non-negative integers separated by commas, got "${opts.seeds}"`);
  const iterations = Number(opts.iterations);
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > 50)
    throw new Error(`--iterations: must be an integer from 1 to 50, got "${opts.iterations}"`);
  const modes = names("--context-modes", opts.contextModes, CONTEXT_MODE_NAMES);
  const judges = names("--judges", opts.judges, JUDGE_NAMES);
  const out = resolve(opts.out);
  mkdirSync(join(out, "runs"), { recursive: true });
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const grid = seeds.flatMap((seed) => judges.flatMap((judge) => modes.map((contextMode) => ({ seed, judge, contextMode }))));
  const command = `isrdpo study --preset ${opts.preset} --seeds ${seeds.join(",")} --iterations ${iterations} --context-modes ${modes.join(",")} --judges ${judges.join(",")}`;
  say(`${command}: ${grid.length} runs, results in ${out}`);

  const started = Date.now();
  const runs: StudyRun[] = [];
  const failed: string[] = [];
  await withEmbedded(out, "study.log", {}, async (e) => {
    for (const [k, arm] of grid.entries()) {
      const label = `[${k + 1}/${grid.length}] seed ${arm.seed}, judge ${arm.judge}, context ${arm.contextMode}`;
      const file = join(out, "runs", `seed${arm.seed}-${arm.judge}-${arm.contextMode}.json`);
      const spec = demoSpec({
        preset: opts.preset,
        iterations,
        contextMode: CONTEXT_MODES[arm.contextMode],
        judge: JUDGES[arm.judge],
        seed: arm.seed,
      });
      let run: Run | undefined;
      if (existsSync(file)) {
        const kept = fromJson(RunSchema, JSON.parse(readFileSync(file, "utf8")));
        // Reused only if it is the run this grid asks for, finished.
        if (kept.state === RunState.SUCCEEDED && kept.spec?.iterations === iterations && kept.spec?.name === spec.name) run = kept;
      }
      if (run) say(`${label}: reusing ${file}`);
      else {
        const pi1 = opts.cache ? e.cachedPi1(spec) : undefined;
        say(`${label}: ${pi1 ? `π_1 ${pi1.digest.slice(0, 12)} (cached)` : "π_1 by SFT"}`);
        const t0 = Date.now();
        run = await e.run(spec, new ProgressPrinter((line) => say(`  ${line}`)), pi1);
        writeFileSync(file, `${JSON.stringify(toJson(RunSchema, run), null, 2)}\n`);
        say(
          `${label}: ${RunState[run.state].toLowerCase()} in ${duration(Date.now() - t0)}${run.failureReason ? ` (${run.failureReason})` : ""}`,
        );
      }
      if (run.state === RunState.SUCCEEDED) runs.push({ ...arm, run });
      else failed.push(`${label}: ${run.failureReason || RunState[run.state].toLowerCase()}`);
    }
  });

  const cells = studyCells(runs);
  const notes = [
    `runs: ${runs.length} of ${grid.length} succeeded${failed.length ? `; failed: ${failed.join("; ")}` : ""}`,
    `wall time of this invocation: ${duration(Date.now() - started)}`,
  ].join("\n");
  writeFileSync(join(out, "report.json"), `${JSON.stringify({ command, runs: runs.length, failed, cells }, null, 2)}\n`);
  writeFileSync(join(out, "report.html"), await studyReportHtml({ cells, command, notes }));
  const rows = studyTable(cells);
  const columns = Object.keys(rows[0] ?? {});
  say("");
  say(`| ${columns.join(" | ")} |`);
  say(`|${"---|".repeat(columns.length)}`);
  for (const r of rows) say(`| ${columns.map((c) => r[c]).join(" | ")} |`);
  say("");
  say(`${notes}\nreport: ${join(out, "report.html")}, numbers: ${join(out, "report.json")}`);
  if (failed.length) process.exitCode = 1;
}
