// Seeded request fuzzing of every service of a running server (issue 18): for each service a mix of
// random field values (mostly small, sometimes huge or hostile: path-like strings, artifact:// escapes,
// NaN, 2^32−1, long unspaced text, big lists) and undecodable bytes. A handler may answer OK or any
// typed status, never INTERNAL/UNKNOWN; health is polled throughout. Shared by the CI test
// (test/services/fuzz.test.ts, 1 000 per service) and the bench (bench/fuzz.ts, 10 000).
import { readFileSync } from "node:fs";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  ArtifactService,
  ContextService,
  EvaluatorService,
  health,
  InferenceService,
  JudgeService,
  RunService,
  TrainerService,
} from "@isrdpo/contracts";
import fc from "fast-check";

const HOSTILE = [
  "/etc/passwd",
  "/etc/shadow",
  "../../../../etc/passwd",
  "/root/.ssh/id_rsa",
  "concat:/etc/passwd|/etc/hosts",
  "file:///etc/passwd",
  "artifact://../..",
  "artifact://datasets/../../x",
  "artifact://models/x/../../etc",
  "artifact://datasets/missing.jsonl",
  "syn-3-test-in-f8-0",
  "syn-3-test-in-f16-0",
  "syn-999999999999-train-f8-4294967295",
  "syn-",
  "latest",
  "0".repeat(64),
  "\u0000",
  "\uD800",
  "%s%n%x",
  "' OR 1=1 --",
  "nats://user:pass@host:4222",
];

/** A string field: usually short, sometimes hostile, sometimes huge (unspaced or spaced). */
const text = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.string({ maxLength: 24 }) },
    { weight: 3, arbitrary: fc.constantFrom(...HOSTILE) },
    { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 40_000 }).map((n) => "x".repeat(n)) },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 6_000 }).map((n) => "red circle moves. ".repeat(n)) },
  );

/** A uint32 field: mostly 0–8, sometimes at the edges. */
const count = (): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 8 }) },
    { weight: 2, arbitrary: fc.constantFrom(0, 64, 257, 1_025, 20_001, 100_000, 2 ** 31 - 1, 2 ** 32 - 1) },
  );

/** A float field: ordinary values and NaN, ±Infinity, huge and negative ones. */
const real = (): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) },
    { weight: 2, arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1, 1e30, 5, 11) },
  );

const u64 = () => fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
/**
 * A repeated field: mostly 0–max items, sometimes just past the limits (257–300: MAX_INPUTS is 256).
 * Messages stay well under limits.maxMessageBytes: an oversized one makes the server stop reading,
 * and HTTP/2 then resets the whole connection (tested in libs/runtime/test/server.test.ts).
 */
const list = <T>(arb: fc.Arbitrary<T>, max = 3, huge = true) =>
  huge
    ? fc.oneof(
        { weight: 9, arbitrary: fc.array(arb, { maxLength: max }) },
        { weight: 1, arbitrary: fc.array(arb, { minLength: 257, maxLength: 300 }) },
      )
    : fc.array(arb, { maxLength: max });
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 3 });

export interface FuzzTargets {
  /** A published model's digest: valid requests reach the model. */
  digest: string;
}

function shapes(t: FuzzTargets) {
  const digest = fc.oneof({ weight: 3, arbitrary: fc.constant(t.digest) }, { weight: 1, arbitrary: text() });
  const model = maybe(
    fc.record({
      name: text(),
      digest,
      checkpoint: maybe(fc.record({ uri: text(), sha256: text() })),
    }),
  );
  const frames = fc.record({
    count: count(),
    height: count(),
    width: count(),
    channels: count(),
    data: fc.oneof(
      { weight: 5, arbitrary: fc.uint8Array({ maxLength: 64 }) },
      { weight: 1, arbitrary: fc.constant(new Uint8Array(8 * 32 * 32 * 3)) },
    ),
  });
  const video = maybe(
    fc.record({
      id: fc.oneof(fc.constant(""), text()),
      source: fc.oneof(
        fc.record({ case: fc.constant("syntheticClipId" as const), value: fc.oneof(fc.constant("syn-3-test-in-f8-0"), text()) }),
        fc.record({ case: fc.constant("uri" as const), value: text() }),
        fc.record({ case: fc.constant("frames" as const), value: frames }),
        fc.constant({ case: undefined }),
      ),
    }),
  );
  const sampling = maybe(
    fc.record({
      temperature: real(),
      topP: real(),
      topK: count(),
      maxNewTokens: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 6 }) }, { weight: 1, arbitrary: count() }),
      stop: list(text()),
      seed: u64(),
    }),
  );
  const synthetic = fc.record({
    seed: u64(),
    split: fc.oneof(fc.constantFrom("train", "test-in", "test-out", ""), text()),
    clipCount: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 2 }) }, { weight: 1, arbitrary: count() }),
    frames: count(),
    height: count(),
    width: count(),
  });
  const datasetRef = fc.record({
    source: fc.oneof(
      fc.record({ case: fc.constant("synthetic" as const), value: synthetic }),
      fc.record({ case: fc.constant("sharegptJsonl" as const), value: fc.record({ uri: text(), sha256: text() }) }),
      fc.constant({ case: undefined }),
    ),
  });
  const evaluation = maybe(
    fc.record({
      splits: list(datasetRef, 2),
      sampling,
      answerJudge: maybe(
        fc.record({ kind: fc.integer({ min: 0, max: 5 }), endpoint: text(), model: text(), apiKeyEnv: text(), samples: count() }),
      ),
    }),
  );
  const training = maybe(
    fc.record({
      learningRate: real(),
      epochs: count(),
      batchSize: count(),
      gradientAccumulationSteps: count(),
      warmupSteps: count(),
      schedule: fc.integer({ min: 0, max: 6 }),
      weightDecay: real(),
      maxGradNorm: real(),
      maxSteps: fc.constantFrom(1, 2, 0, 2 ** 32 - 1),
      seed: u64(),
    }),
  );
  const jobSpec = fc.record({
    kind: fc.integer({ min: 0, max: 5 }),
    baseModel: model,
    preset: fc.oneof(fc.constantFrom("", "test", "small", "huge"), text()),
    data: list(fc.record({ uri: text(), sha256: text() }), 2),
    syntheticData: maybe(synthetic),
    training,
    outputName: text(),
  });
  const runSpec = maybe(
    fc.record({
      name: text(),
      initialModel: maybe(
        fc.record({
          source: fc.oneof(
            fc.record({ case: fc.constant("model" as const), value: fc.record({ name: text(), digest }) }),
            fc.record({
              case: fc.constant("sft" as const),
              value: fc.record({
                preset: fc.constantFrom("test", "small", "x"),
                data: maybe(synthetic),
                training,
                datasets: list(fc.record({ uri: text() }), 2),
              }),
            }),
          ),
        }),
      ),
      prompts: maybe(datasetRef),
      iterations: count(),
      responsesPerItem: count(),
      shardSize: count(),
      responseSampling: sampling,
      training,
      evaluation,
      judge: maybe(fc.record({ strategy: fc.integer({ min: 0, max: 9 }), tieMargin: real() })),
    }),
  );
  return { model, video, sampling, evaluation, jobSpec, runSpec };
}

type Call = ((c: Clients, signal: AbortSignal) => Promise<unknown>) & { request: unknown };
/** A call that remembers its request, so a failure can be reported with what was sent. */
const call = (request: unknown, fn: (c: Clients, signal: AbortSignal) => Promise<unknown>): Call => Object.assign(fn, { request });
interface Clients {
  inference: Client<typeof InferenceService>;
  context: Client<typeof ContextService>;
  judge: Client<typeof JudgeService>;
  trainer: Client<typeof TrainerService>;
  evaluator: Client<typeof EvaluatorService>;
  runs: Client<typeof RunService>;
  artifacts: Client<typeof ArtifactService>;
}

const drain = async (stream: AsyncIterable<unknown>, max = 50) => {
  let n = 0;
  for await (const _ of stream) if (++n >= max) break;
};

/** The request generators of each service: one arbitrary of calls per service. */
function services(t: FuzzTargets): Record<string, fc.Arbitrary<Call>> {
  const s = shapes(t);
  const input = fc.record({ video: s.video, prompt: text() });
  return {
    inference: fc.oneof(
      fc
        .record({ model: s.model, inputs: list(input), sampling: s.sampling, numSamples: count() })
        .map((r) => call(r, (c: Clients, signal: AbortSignal) => c.inference.generate(r as never, { signal }))),
      fc
        .record({ model: s.model, input: maybe(input), sampling: s.sampling })
        .map((r) => call(r, (c: Clients, signal: AbortSignal) => drain(c.inference.generateStream(r as never, { signal })))),
      fc
        .record({ model: s.model, inputs: list(fc.record({ video: s.video, prompt: text(), candidates: list(text(), 4) }), 3, false) })
        .map((r) => call(r, (c: Clients, signal: AbortSignal) => c.inference.scoreSequences(r as never, { signal }))),
    ),
    context: fc
      .record({
        model: s.model,
        video: s.video,
        mode: fc.integer({ min: 0, max: 7 }),
        previousContext: text(),
        clipCount: count(),
        sampling: s.sampling,
      })
      .map((r) => call(r, (c: Clients, signal: AbortSignal) => c.context.describe(r as never, { signal }))),
    judge: fc
      .record({
        model: s.model,
        strategy: fc.integer({ min: 0, max: 9 }),
        video: s.video,
        instruction: text(),
        context: text(),
        responseA: text(),
        responseB: text(),
        tieMargin: real(),
        singleOrder: fc.boolean(),
        responses: list(text(), 4),
        likelihoodScore: fc.integer({ min: 0, max: 4 }),
      })
      .map((r) => call(r, (c: Clients, signal: AbortSignal) => c.judge.judge(r as never, { signal }))),
    trainer: fc.oneof(
      fc
        .record({ spec: maybe(s.jobSpec), jobId: text() })
        .map((r) => call(r, (c: Clients, signal: AbortSignal) => c.trainer.startJob(r as never, { signal }))),
      fc.record({ jobId: text() }).map((r) => call(r, (c: Clients, signal: AbortSignal) => c.trainer.getJob(r, { signal }))),
      fc.record({ jobId: text() }).map((r) => call(r, (c: Clients, signal: AbortSignal) => c.trainer.cancelJob(r, { signal }))),
      fc.record({ jobId: text() }).map((r) => call(r, (c: Clients, signal: AbortSignal) => drain(c.trainer.watchJob(r, { signal }), 1))),
    ),
    evaluator: fc.oneof(
      fc
        .record({ model: s.model, spec: s.evaluation })
        .map((r) => call(r, (c: Clients, signal: AbortSignal) => c.evaluator.evaluate(r as never, { signal }))),
      fc
        .record({ modelA: s.model, modelB: s.model, spec: s.evaluation })
        .map((r) => call(r, (c: Clients, signal: AbortSignal) => c.evaluator.compare(r as never, { signal }))),
    ),
    orchestrator: fc.oneof(
      fc
        .record({ spec: s.runSpec, idempotencyKey: text() })
        .map((r) => call(r, (c: Clients, signal: AbortSignal) => c.runs.createRun(r as never, { signal }))),
      fc.record({ runId: text() }).map((r) => call(r, (c: Clients, signal: AbortSignal) => c.runs.getRun(r, { signal }))),
      fc
        .record({ pageSize: count(), pageToken: text() })
        .map((r) => call(r, (c: Clients, signal: AbortSignal) => c.runs.listRuns(r, { signal }))),
      fc
        .record({ runId: text(), reason: text() })
        .map((r) => call(r, (c: Clients, signal: AbortSignal) => c.runs.cancelRun(r, { signal }))),
      fc
        .record({ runId: text(), fromSequence: u64() })
        .map((r) => call(r, (c: Clients, signal: AbortSignal) => drain(c.runs.watchRun(r, { signal }), 1))),
      fc.record({ uri: text() }).map((r) => call(r, (c: Clients, signal: AbortSignal) => c.artifacts.statArtifact(r, { signal }))),
      fc
        .record({ uri: text(), sha256: text() })
        .map((r) => call(r, (c: Clients, signal: AbortSignal) => drain(c.artifacts.getArtifact(r, { signal }), 2))),
      fc.record({ uri: text(), mediaType: text(), chunks: fc.array(fc.uint8Array({ maxLength: 256 }), { maxLength: 3 }) }).map((r) =>
        call(r, (c: Clients, signal: AbortSignal) =>
          c.artifacts.putArtifact(
            (async function* () {
              for (const [i, chunk] of (r.chunks.length ? r.chunks : [new Uint8Array()]).entries())
                yield i === 0 ? { uri: r.uri, mediaType: r.mediaType, chunk } : { chunk };
            })(),
            { signal },
          ),
        ),
      ),
    ),
  };
}

/** A request, shortened for a report: long strings and byte arrays summarised. */
function describe(request: unknown): string {
  return JSON.stringify(request, (_, v: unknown) =>
    typeof v === "bigint"
      ? `${v}n`
      : v instanceof Uint8Array
        ? `<${v.length} bytes>`
        : typeof v === "string" && v.length > 60
          ? `${v.slice(0, 20)}…<${v.length} chars>`
          : Array.isArray(v) && v.length > 8
            ? [...v.slice(0, 3), `…<${v.length} items>`]
            : v,
  ).slice(0, 2000);
}

/** mulberry32: a small seeded generator for the random bodies. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const METHODS: Record<string, DescService> = {
  inference: InferenceService,
  context: ContextService,
  judge: JudgeService,
  trainer: TrainerService,
  evaluator: EvaluatorService,
  orchestrator: RunService,
};

/**
 * Undecodable bodies (random bytes) for a unary method of a service, over Connect HTTP/1.1. A body
 * that is not the request message never reaches a handler: connect-es answers it INTERNAL "parse
 * binary: …" (as grpc-go does), which is counted apart from the handlers' answers.
 */
async function randomBytes(base: string, service: DescService, rng: () => number): Promise<{ code: Code | "OK"; message: string }> {
  const unary = service.methods.filter((m) => m.methodKind === "unary");
  const method = unary[Math.floor(rng() * unary.length)]!;
  const body = Uint8Array.from({ length: Math.floor(rng() * 512) }, () => Math.floor(rng() * 256));
  const res = await fetch(`${base}/${service.typeName}/${method.name}`, {
    method: "POST",
    headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
    body,
  });
  if (res.ok) return { code: "OK", message: "" };
  const json = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
  const name = (json.code ?? "unknown").replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const code = (Code[(name.charAt(0).toUpperCase() + name.slice(1)) as keyof typeof Code] ?? Code.Unknown) as Code;
  return { code, message: json.message ?? "" };
}

export interface FuzzReport {
  service: string;
  requests: number;
  codes: Record<string, number>;
  /** Answers that must not happen: INTERNAL / UNKNOWN from a handler, with the request's index. */
  bad: { index: number; code: string; message: string; request?: string }[];
}

export interface FuzzResult {
  reports: FuzzReport[];
  /** Slowest health check answer while fuzzing, ms. */
  maxHealthMs: number;
  healthChecks: number;
  /** Resident set of the server process at the end, MiB (Linux), if its pid was given. */
  rssMiB?: number;
  wallS: number;
}

/**
 * Sends `perService` seeded requests to each service of the server at `base` (`concurrency` at a
 * time, each with `timeoutMs`), one in `bytesEvery` as random bytes, while a poller checks health
 * every 200 ms.
 */
export async function fuzzServer(opts: {
  base: string;
  targets: FuzzTargets;
  perService: number;
  seed: number;
  concurrency?: number;
  timeoutMs?: number;
  bytesEvery?: number;
  pid?: number;
  only?: string[];
}): Promise<FuzzResult> {
  const t0 = Date.now();
  // The client's HTTP/2 session buffers what it has not sent yet: 8 large requests to a busy server
  // exceed node's default 10 MB and the client itself refuses new streams (ENHANCE_YOUR_CALM).
  const transport: Transport = createGrpcTransport({ baseUrl: opts.base, nodeOptions: { maxSessionMemory: 512 } });
  const clients: Clients = {
    inference: createClient(InferenceService, transport),
    context: createClient(ContextService, transport),
    judge: createClient(JudgeService, transport),
    trainer: createClient(TrainerService, transport),
    evaluator: createClient(EvaluatorService, transport),
    runs: createClient(RunService, transport),
    artifacts: createClient(ArtifactService, transport),
  };
  // Health on its own connection, so it measures the server, not this client's queue.
  const checks = createClient(health.Health, createGrpcTransport({ baseUrl: opts.base }));
  let maxHealthMs = 0;
  let healthChecks = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const h0 = performance.now();
      await checks.check({ service: "" }, { timeoutMs: 30_000 }).catch(() => undefined);
      maxHealthMs = Math.max(maxHealthMs, performance.now() - h0);
      healthChecks++;
      await new Promise((r) => setTimeout(r, 200));
    }
  })();

  const gens = services(opts.targets);
  const reports: FuzzReport[] = [];
  for (const [name, arb] of Object.entries(gens)) {
    if (opts.only && !opts.only.includes(name)) continue;
    const calls = fc.sample(arb, { seed: opts.seed, numRuns: opts.perService });
    const rng = seeded(opts.seed);
    const report: FuzzReport = { service: name, requests: 0, codes: {}, bad: [] };
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < calls.length; i = next++) {
        let code: Code | "OK";
        let message = "";
        let undecodable = false;
        try {
          if (opts.bytesEvery && i % opts.bytesEvery === 0) {
            ({ code, message } = await randomBytes(opts.base, METHODS[name]!, rng));
            undecodable = code === Code.Internal && message.startsWith("parse binary");
          } else {
            const ctl = new AbortController();
            const timer = setTimeout(() => ctl.abort(), opts.timeoutMs ?? 20_000);
            try {
              await calls[i]!(clients, ctl.signal);
              code = "OK";
            } finally {
              clearTimeout(timer);
            }
          }
        } catch (err) {
          const e = ConnectError.from(err);
          code = e.code;
          message = e.rawMessage;
        }
        const label = undecodable ? "Undecodable" : code === "OK" ? "OK" : Code[code];
        report.codes[label] = (report.codes[label] ?? 0) + 1;
        report.requests++;
        if (!undecodable && (code === Code.Internal || code === Code.Unknown))
          report.bad.push({ index: i, code: label, message: message.slice(0, 300), request: describe(calls[i]!.request) });
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
    reports.push(report);
  }
  polling = false;
  await poller;
  const result: FuzzResult = { reports, maxHealthMs: Math.round(maxHealthMs), healthChecks, wallS: (Date.now() - t0) / 1000 };
  if (opts.pid) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${opts.pid}/status`, "utf8"));
    if (m) result.rssMiB = Math.round(Number(m[1]) / 1024);
  }
  return result;
}
