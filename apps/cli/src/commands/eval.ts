// `isrdpo eval`: a published model on synthetic benchmark splits (the oracle) or imported QA sets
// (match, or an LM judge), through EvaluatorService: on a cluster (--server) or in this process over
// a local artifact directory (--artifacts, e.g. a demo's).
// The services and tfjs load inside the action, so `isrdpo --help` stays fast.
import { join } from "node:path";
import { Command, Option } from "commander";

interface EvalFlags {
  model: string;
  server?: string;
  artifacts?: string;
  clips: string;
  seed: string;
  dataset: string[];
  judge: "match" | "lm" | "builtin";
  judgeEndpoint?: string;
  judgeModel?: string;
  judgeKeyEnv?: string;
  judgeProtocol?: string;
  judgeSamples: string;
  judgeMaxRequests: string;
}

/** The AnswerJudge of the --judge flags (the evaluator validates it and names a bad field). */
async function answerJudgeOf(o: EvalFlags) {
  const { AnswerJudgeKind } = await import("@isrdpo/contracts");
  const count = (flag: string, v: string) => {
    if (!/^\d+$/.test(v)) throw new Error(`${flag}: must be a whole number, got "${v}"`);
    return Number(v);
  };
  const kind = { match: AnswerJudgeKind.MATCH, lm: AnswerJudgeKind.LM, builtin: AnswerJudgeKind.BUILTIN }[o.judge];
  return {
    kind,
    endpoint: o.judgeEndpoint ?? "",
    model: o.judgeModel ?? "",
    apiKeyEnv: o.judgeKeyEnv ?? "",
    protocol: o.judgeProtocol ?? "",
    samples: count("--judge-samples", o.judgeSamples),
    maxRequests: count("--judge-max-requests", o.judgeMaxRequests),
  };
}

export function evalCommand(): Command {
  return new Command("eval")
    .description(
      "evaluate a published model on the synthetic test splits (accuracy, score, claim precision and recall), or on imported QA sets (--dataset)",
    )
    .requiredOption("--model <digest>", "sha256 digest of the model (e.g. from run.json or `isrdpo run watch`)")
    .option("--server <url>", "EvaluatorService address")
    .option("--artifacts <dir>", "evaluate in this process, reading models from a local artifact directory")
    .option("--clips <n>", "clips per split", "50")
    .option("--seed <n>", "seed of the benchmark clips", "2001")
    .option(
      "--dataset <uri>",
      "an imported QA set (isrdpo data import) instead of the synthetic splits; repeatable",
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .addOption(new Option("--judge <kind>", "how answers to --dataset are scored").choices(["match", "lm", "builtin"]).default("match"))
    .option("--judge-endpoint <url>", "--judge lm: OpenAI-compatible base URL, e.g. http://vllm:8000/v1")
    .option("--judge-model <name>", "--judge lm: model name")
    .option("--judge-key-env <VAR>", "--judge lm: environment variable holding the API key")
    .option("--judge-protocol <id>", "video-chatgpt-qa-v1 (lm default) or compact-qa-v1 (builtin default)")
    .option("--judge-samples <n>", "judgements per item, majority-voted", "1")
    .option("--judge-max-requests <n>", "request budget of the LM judge (0: none)", "0")
    .action(async (opts: EvalFlags) => {
      const [
        { createClient },
        { createGrpcTransport },
        { EvaluatorService },
        { LocalArtifactStore, MemoryBus },
        runtime,
        { evaluatorService },
        { qaSplitTable },
        { splitTable },
      ] = await Promise.all([
        import("@connectrpc/connect"),
        import("@connectrpc/connect-node"),
        import("@isrdpo/contracts"),
        import("@isrdpo/bus"),
        import("@isrdpo/runtime"),
        import("@isrdpo/service-evaluator"),
        import("../qa-report.ts"),
        import("../report.ts"),
      ]);
      const { createLogger, loadConfig, startServer } = runtime;
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
        const splits = opts.dataset.length
          ? opts.dataset.map((uri) => ({ source: { case: "sharegptJsonl" as const, value: { uri } } }))
          : ["test-in", "test-out"].map((split) => ({ source: { case: "synthetic" as const, value: { seed, split, clipCount } } }));
        const { report } = await client.evaluate({
          model: { digest: opts.model },
          spec: { splits, answerJudge: await answerJudgeOf(opts) },
        });
        const all = report?.splits ?? [];
        const imported = all.filter((s) => s.scorer !== "oracle");
        if (imported.length < all.length) process.stdout.write(`${splitTable(all.filter((s) => s.scorer === "oracle"))}\n`);
        if (imported.length) process.stdout.write(`${qaSplitTable(imported)}\n`);
      } finally {
        await close();
      }
    });
}
