// The bus and artifact store of a process: NATS JetStream when a NATS URL is configured (distributed
// mode), otherwise the in-memory bus and a local artifact directory (embedded mode, one process).
import { readFileSync } from "node:fs";
import { connectNats, LocalArtifactStore, MemoryBus, redactNatsUrl, type ArtifactStore, type Bus } from "@isrdpo/bus";
import type { Config } from "./config.ts";
import type { Logger } from "./logger.ts";

export interface Transports {
  bus: Bus;
  artifacts: ArtifactStore;
  mode: "embedded" | "distributed";
}

export async function openTransports(config: Config, logger?: Logger): Promise<Transports> {
  const { nats } = config;
  if (!nats.url) return { bus: new MemoryBus(), artifacts: new LocalArtifactStore(config.artifactDir), mode: "embedded" };
  logger?.info({ nats: redactNatsUrl(nats.url) }, "connecting to NATS");
  const { bus, artifacts } = await connectNats({
    servers: nats.url.split(","),
    onRetry: (problem, nextTryMs) => logger?.warn({ nextTryMs }, `${problem}; retrying`),
    ackWaitMs: nats.ackWaitMs,
    connection: {
      ...(nats.user ? { user: nats.user, pass: nats.password ?? "" } : {}),
      ...(nats.token ? { token: nats.token } : {}),
      ...(nats.tlsCaFile ? { tls: { ca: readFileSync(nats.tlsCaFile, "utf8") } } : {}),
      name: "isrdpo",
    },
  }).catch((err: Error) => {
    throw new Error(`cannot connect to NATS at ${redactNatsUrl(nats.url!)}: ${err.message}`);
  });
  return { bus, artifacts, mode: "distributed" };
}
