// Service configuration: defaults < config file (YAML/JSON, ISRDPO_CONFIG or --config) < environment
// < command-line flags. Validated with zod; an invalid value fails with one line naming the field
// and where it came from.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { redactNatsUrl } from "@isrdpo/bus";

const number = () => z.coerce.number({ error: (issue) => (issue.code === "invalid_type" ? "must be a number" : undefined) });
const port = number().int().min(0).max(65535);
/** A list given as one comma-separated string (an environment variable or a flag). */
const commaList = (v: unknown) =>
  typeof v === "string"
    ? v
        .split(",")
        .map((o) => o.trim())
        .filter(Boolean)
    : v;

export const ConfigSchema = z
  .object({
    host: z.string().min(1).default("0.0.0.0"),
    /** gRPC / Connect / gRPC-Web port; unset means the service's default port. */
    port: port.optional(),
    /** Prometheus /metrics over plain HTTP; 0 disables it. */
    metricsPort: port.default(9464),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    nats: z
      .object({
        /** Empty: embedded mode with the in-memory bus. */
        url: z.string().optional(),
        user: z.string().optional(),
        password: z.string().optional(),
        token: z.string().optional(),
        tlsCaFile: z.string().optional(),
        /** How long a pulled work item may go without an ack or heartbeat before redelivery. */
        ackWaitMs: number().int().min(1000).max(3_600_000).default(30_000),
      })
      .strict()
      .prefault({}),
    /** When set, every RPC except health checks needs `authorization: Bearer <grpcToken>`. */
    grpcToken: z.string().min(16, "must be at least 16 characters").optional(),
    tls: z
      .object({ certFile: z.string().min(1), keyFile: z.string().min(1) })
      .strict()
      .optional(),
    /** How long in-flight calls may run after SIGTERM before sessions are destroyed. */
    shutdownGraceMs: number().int().min(0).max(3_600_000).default(10_000),
    artifactDir: z.string().min(1).default(".isrdpo/artifacts"),
    checkpointDir: z.string().min(1).default(".isrdpo/checkpoints"),
    /** Browser origins allowed to call the services (Connect-Web, gRPC-Web); empty: CORS off. */
    cors: z
      .object({
        allowedOrigins: z
          .preprocess(commaList, z.array(z.string().regex(/^(\*|https?:\/\/[^/\s]+)$/, 'must be "*" or an origin like https://host:port')))
          .default([]),
      })
      .strict()
      .prefault({}),
    /**
     * Directories whose video files RPC callers and runs may name by path (e.g. a mounted data volume);
     * empty (the default): no file is read for a caller — frames, synthetic clip ids and artifact://
     * videos only. A path outside every root is refused with the same message whether or not it exists.
     */
    media: z
      .object({ roots: z.preprocess(commaList, z.array(z.string().min(1, "must not be empty"))).default([]) })
      .strict()
      .prefault({}),
    /** What one request may carry; larger ones are refused up front (INVALID_ARGUMENT / RESOURCE_EXHAUSTED naming the limit). */
    limits: z
      .object({
        /** One message's bytes (Connect's readMaxBytes, every protocol): 16 MiB holds 256 inline 8×32×32 clips. */
        maxMessageBytes: number()
          .int()
          .min(1024)
          .max(1 << 30)
          .default(16 << 20),
        /** Characters of one text field (prompt, context, instruction, answer, candidate). */
        maxTextChars: number().int().min(64).max(10_000_000).default(16_384),
        /** Sequences one ScoreSequences or Judge request may score (inputs × candidates, answers). */
        maxSequences: number().int().min(2).max(1_000_000).default(1_024),
      })
      .strict()
      .prefault({}),
    /**
     * tfjs backend (ISRDPO_BACKEND); unset picks tfjs-node-gpu, webgpu (when Dawn finds a GPU), tfjs-node,
     * wasm, cpu. The names are @isrdpo/vlm's BACKENDS (runtime does not depend on the model library).
     */
    backend: z.enum(["tensorflow", "webgpu", "wasm", "cpu"]).optional(),
    /**
     * Worker threads for stage work (responses, context, judge, evaluate shards) and for a training
     * job's gradient shards (TrainingParams.grad_shards), one tfjs backend each: wasm is
     * single-threaded in Node, so this is how a process uses its cores. 1: in the main thread.
     * Default: the cores available to the process.
     */
    threads: number()
      .int()
      .min(1)
      .max(256)
      .default(() => availableParallelism()),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** Environment variable → config path. */
export const ENV_VARS: Record<string, string> = {
  ISRDPO_HOST: "host",
  ISRDPO_PORT: "port",
  ISRDPO_METRICS_PORT: "metricsPort",
  ISRDPO_LOG_LEVEL: "logLevel",
  ISRDPO_NATS_URL: "nats.url",
  ISRDPO_NATS_USER: "nats.user",
  ISRDPO_NATS_PASSWORD: "nats.password",
  ISRDPO_NATS_TOKEN: "nats.token",
  ISRDPO_NATS_TLS_CA_FILE: "nats.tlsCaFile",
  ISRDPO_NATS_ACK_WAIT_MS: "nats.ackWaitMs",
  ISRDPO_GRPC_TOKEN: "grpcToken",
  ISRDPO_TLS_CERT_FILE: "tls.certFile",
  ISRDPO_TLS_KEY_FILE: "tls.keyFile",
  ISRDPO_SHUTDOWN_GRACE_MS: "shutdownGraceMs",
  ISRDPO_ARTIFACT_DIR: "artifactDir",
  ISRDPO_CHECKPOINT_DIR: "checkpointDir",
  ISRDPO_BACKEND: "backend",
  ISRDPO_THREADS: "threads",
  ISRDPO_CORS_ALLOWED_ORIGINS: "cors.allowedOrigins",
  ISRDPO_MEDIA_ROOTS: "media.roots",
  ISRDPO_MAX_MESSAGE_BYTES: "limits.maxMessageBytes",
  ISRDPO_MAX_TEXT_CHARS: "limits.maxTextChars",
  ISRDPO_MAX_SEQUENCES: "limits.maxSequences",
};

const SECRET_PATHS = new Set(["nats.password", "nats.token", "grpcToken"]);

import { ConfigError } from "./errors.ts";

export { ConfigError };

type Tree = Record<string, unknown>;

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = tree;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
    node = node[key] as Tree;
  }
  node[keys[keys.length - 1]!] = value;
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Config file path; defaults to ISRDPO_CONFIG. */
  file?: string;
  /** Values from command-line flags, by config path (e.g. { port: "50052", "nats.url": "..." }). */
  flags?: Record<string, unknown>;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const merged: Tree = {};
  const origin = new Map<string, string>();

  const file = options.file ?? env.ISRDPO_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError(`config file ${file}: ${(err as Error).message.split("\n")[0]}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new ConfigError(`config file ${file}: expected a mapping of settings`);
      }
      Object.assign(merged, parsed);
    }
  }
  for (const [name, path] of Object.entries(ENV_VARS)) {
    const value = env[name];
    if (value !== undefined && value !== "") {
      setPath(merged, path, value);
      origin.set(path, name);
    }
  }
  for (const [path, value] of Object.entries(options.flags ?? {})) {
    if (value !== undefined) {
      setPath(merged, path, value);
      origin.set(path, `--${path.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    }
  }

  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path = issue.path.join(".") || "(root)";
    // A list item's path ends in its index: its source is the list's.
    const source = [...origin.keys()].find((k) => path === k || path.startsWith(`${k}.`));
    const from = (source && origin.get(source)) ?? (file ? `config file ${file}` : undefined);
    throw new ConfigError(`invalid config ${path}: ${issue.message}${from ? ` (from ${from})` : ""}`);
  }
  return result.data;
}

/** The config with secrets replaced, for logs and --dry-run. */
export function redactConfig(config: Config): Config {
  const copy = structuredClone(config) as Tree;
  for (const path of SECRET_PATHS) {
    const keys = path.split(".");
    let node: Tree | undefined = copy;
    for (const key of keys.slice(0, -1)) node = node?.[key] as Tree | undefined;
    const last = keys[keys.length - 1]!;
    if (node && node[last] !== undefined) node[last] = "<redacted>";
  }
  const redacted = copy as Config;
  if (redacted.nats.url) redacted.nats.url = redactNatsUrl(redacted.nats.url);
  return redacted;
}
