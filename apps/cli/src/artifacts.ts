// Where the CLI's import and export read and write artifacts: a local directory (--artifacts, e.g. a
// demo's), the cluster's NATS Object Store (--nats), or the orchestrator's ArtifactService (--server).
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { ArtifactService, type ArtifactRef } from "@isrdpo/contracts";
import { ArtifactNotFoundError, LocalArtifactStore, connectNats, redactNatsUrl, type ArtifactStore } from "@isrdpo/bus";
import { NATS_CONNECT_TIMEOUT_MS, transport } from "./client.ts";

export interface StoreTarget {
  server?: string;
  nats?: string;
  artifacts?: string;
}

export interface OpenedStore {
  store: ArtifactStore;
  /** For messages: "artifact directory X", "NATS X", "server X". */
  where: string;
  close(): Promise<void>;
}

/** The one artifact store a command names; none or several is a usage error. */
export async function openArtifactStore(t: StoreTarget): Promise<OpenedStore> {
  const given = [t.server, t.nats, t.artifacts].filter(Boolean).length;
  if (given !== 1) throw new Error("give exactly one of --server URL, --nats URL or --artifacts DIR (where the artifacts live)");
  if (t.artifacts) return { store: new LocalArtifactStore(t.artifacts), where: `artifact directory ${t.artifacts}`, close: async () => {} };
  if (t.nats) {
    const { bus, artifacts } = await connectNats({
      servers: t.nats.split(","),
      retryForMs: 10_000,
      connectTimeoutMs: NATS_CONNECT_TIMEOUT_MS,
    });
    return { store: artifacts, where: `NATS ${redactNatsUrl(t.nats)}`, close: () => bus.close() };
  }
  return {
    store: new GrpcArtifactStore(createClient(ArtifactService, transport(t.server!))),
    where: `server ${t.server}`,
    close: async () => {},
  };
}

/** Largest chunk of one PutArtifact message (gRPC's default message limit is 4 MiB). */
const CHUNK = 1 << 20;

/** ArtifactStore over the orchestrator's ArtifactService. */
class GrpcArtifactStore implements ArtifactStore {
  constructor(private readonly client: Client<typeof ArtifactService>) {}

  put(uri: string, data: Uint8Array, mediaType?: string): Promise<ArtifactRef> {
    return this.putStream(
      uri,
      (async function* () {
        yield data;
      })(),
      mediaType,
    );
  }

  async putStream(uri: string, chunks: AsyncIterable<Uint8Array>, mediaType = ""): Promise<ArtifactRef> {
    async function* messages() {
      yield { uri, mediaType };
      for await (const c of chunks) for (let at = 0; at < c.length; at += CHUNK) yield { chunk: c.subarray(at, at + CHUNK) };
    }
    const { ref } = await this.client.putArtifact(messages());
    return ref!;
  }

  async get(ref: ArtifactRef | string): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for await (const c of this.getStream(ref)) parts.push(c);
    return Buffer.concat(parts);
  }

  async *getStream(ref: ArtifactRef | string): AsyncGenerator<Uint8Array> {
    const uri = typeof ref === "string" ? ref : ref.uri;
    try {
      for await (const res of this.client.getArtifact({ uri, sha256: typeof ref === "string" ? "" : ref.sha256 })) yield res.chunk;
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.NotFound) throw new ArtifactNotFoundError(uri);
      throw err;
    }
  }

  async stat(uri: string): Promise<ArtifactRef | undefined> {
    return (await this.client.statArtifact({ uri })).ref;
  }

  list(): Promise<ArtifactRef[]> {
    return Promise.reject(new Error("listing artifacts is not available over --server (use --nats or --artifacts)"));
  }
}
