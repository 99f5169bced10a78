// `isrdpo eval`: a published model on synthetic benchmark splits, with the oracle, through
// EvaluatorService: on a cluster (--server) or in this process over a local artifact directory
// (--artifacts, e.g. a demo's).
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EvaluatorService } from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus } from "@isrdpo/bus";
import { createLogger, loadConfig, startServer } from "@isrdpo/runtime";
import { evaluatorService } from "@isrdpo/service-evaluator";
import { Command } from "commander";
import { splitTable } from "../report.ts";

export function evalCommand(): Command {
  return new Command("eval")
    .description("evaluate a published model on the synthetic test splits (accuracy, score, claim precision and recall)")
    .requiredOption("--model <digest>", "sha256 digest of the model (e.g. from run.json or `isrdpo run watch`)")
    .option("--server <url>", "EvaluatorService address")
    .option("--artifacts <dir>", "evaluate in this process, reading models from a local artifact directory")
    .option("--clips <n>", "clips per split", "50")
    .option("--seed <n>", "seed of the benchmark clips", "2001")
    .action(async (opts: { model: string; server?: string; artifacts?: string; clips: string; seed: string }) => {
      if (!opts.server === !opts.artifacts) throw new Error("give exactly one of --server or --artifacts");
      const clipCount = Number(opts.clips);
      if (!Number.isInteger(clipCount) || clipCount < 1) throw new Error(`--clips: must be a positive integer, got "${opts.clips}"`);
      let seed: bigint;
      try {
        seed = BigInt(opts.seed);
      } catch {
        throw new Error(`--seed: must be an integer, got "${opts.seed}"`);
      }
      let close = async () => undefined as undefined;
      let baseUrl = opts.server!;
      if (opts.artifacts) {
        const config = loadConfig({
          env: {},
          flags: {
            host: "127.0.0.1",
            metricsPort: 0,
            artifactDir: opts.artifacts,
            checkpointDir: join(opts.artifacts, "..", "checkpoints"),
          },
        });
        const ctx = {
          config,
          logger: createLogger("isrdpo-eval", "warn"),
          bus: new MemoryBus(),
          artifacts: new LocalArtifactStore(opts.artifacts),
        };
        const server = await startServer([evaluatorService], ctx, 0);
        baseUrl = `http://127.0.0.1:${server.port}`;
        close = async () => {
          await server.close();
          await ctx.bus.close();
        };
      }
      try {
        const client = createClient(EvaluatorService, createGrpcTransport({ baseUrl }));
        const splits = ["test-in", "test-out"].map((split) => ({
          source: { case: "synthetic" as const, value: { seed, split, clipCount } },
        }));
        const { report } = await client.evaluate({ model: { digest: opts.model }, spec: { splits } });
        process.stdout.write(`${splitTable(report?.splits ?? [])}\n`);
      } finally {
        await close();
      }
    });
}
