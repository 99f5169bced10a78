// `isrdpo run export`: a run's decisive preference pairs as a TRL or LLaVA-Hound JSONL, streamed,
// checked against the pair counts in the run record.
import { Command, Option } from "commander";
import type { Run } from "@isrdpo/contracts";
import type { StoreTarget } from "../artifacts.ts";

interface ExportFlags extends StoreTarget {
  format: "trl" | "llava-hound";
  out: string;
  runJson?: string;
}

/** The run record: from RunService (--server), the bus (--nats) or a demo's run.json (--artifacts). */
async function readRun(id: string, o: ExportFlags): Promise<Run> {
  if (o.server) {
    const { runClient } = await import("../client.ts");
    return (await runClient(o.server).getRun({ runId: id })).run!;
  }
  if (o.nats) {
    const [{ connectNats }, { Orchestrator }, { NATS_CONNECT_TIMEOUT_MS }] = await Promise.all([
      import("@isrdpo/bus"),
      import("@isrdpo/orchestration"),
      import("../client.ts"),
    ]);
    const { bus, artifacts } = await connectNats({
      servers: o.nats.split(","),
      retryForMs: 10_000,
      connectTimeoutMs: NATS_CONNECT_TIMEOUT_MS,
    });
    try {
      return await new Orchestrator({ bus, artifacts }).getRun(id);
    } finally {
      await bus.close();
    }
  }
  if (!o.runJson) throw new Error("--artifacts needs --run-json FILE (the run record, e.g. .isrdpo/demo/run.json)");
  const [{ readFileSync }, { fromJson }, { RunSchema }] = await Promise.all([
    import("node:fs"),
    import("@bufbuild/protobuf"),
    import("@isrdpo/contracts"),
  ]);
  const run = fromJson(RunSchema, JSON.parse(readFileSync(o.runJson, "utf8")));
  if (run.id !== id) throw new Error(`${o.runJson} is the record of run ${run.id}, not ${id}`);
  return run;
}

export function exportCommand(): Command {
  return new Command("export")
    .description(
      "write a run's decisive preference pairs (every iteration) as TRL or LLaVA-Hound JSONL; counts are checked against the run record",
    )
    .argument("<run-id>")
    .addOption(
      new Option("--format <format>", "trl: prompt/chosen/rejected (+ extra columns); llava-hound: id/video/prompt/chosen/rejected/scores")
        .choices(["trl", "llava-hound"])
        .makeOptionMandatory(),
    )
    .requiredOption("--out <file>", "output JSONL")
    .option("--server <url>", "the cluster's orchestrator (RunService and ArtifactService)")
    .option("--nats <url>", "the cluster's NATS (run state and artifacts)")
    .option("--artifacts <dir>", "a local artifact directory (embedded mode), with --run-json")
    .option("--run-json <file>", "the run record written by `isrdpo demo` (run.json), with --artifacts")
    .action(async (id: string, o: ExportFlags) => {
      const [{ exportVideoPaths, runPreferencePairs, writePreferenceExport }, { openArtifactStore }] = await Promise.all([
        import("@isrdpo/datasets"),
        import("../artifacts.ts"),
      ]);
      const { store, close } = await openArtifactStore(o);
      try {
        const run = await readRun(id, o);
        const written = await writePreferenceExport(o.out, o.format, runPreferencePairs(store, run, await exportVideoPaths(store, run)));
        const total = [...written.values()].reduce((a, b) => a + b, 0);
        const per = run.iterations
          .filter((it) => it.iteration > 0)
          .map((it) => {
            const n = written.get(it.iteration) ?? 0;
            const recorded = it.preferences ? it.preferences.pairs - it.preferences.ties : undefined;
            if (recorded !== undefined && recorded !== n)
              throw new Error(`iteration ${it.iteration}: wrote ${n} pairs but the run record counts ${recorded} decisive pairs`);
            return `iteration ${it.iteration}: ${n}${recorded === undefined ? " (not yet counted in the run record)" : ""}`;
          });
        process.stdout.write(`wrote ${total} decisive pairs to ${o.out} (${o.format}; ${per.join(", ") || "no iterations"})\n`);
      } finally {
        await close();
      }
    });
}
