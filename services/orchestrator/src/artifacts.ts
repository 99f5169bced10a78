// ArtifactService: the cluster's artifact store for clients that reach it only over gRPC (the CLI's
// import and export with --server). Content streams through in chunks both ways.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  ArtifactRefSchema,
  GetArtifactResponseSchema,
  PutArtifactResponseSchema,
  StatArtifactResponseSchema,
  type ArtifactService,
  type PutArtifactRequest,
} from "@isrdpo/contracts";
import { ArtifactIntegrityError, ArtifactNotFoundError, type ArtifactStore } from "@isrdpo/bus";
import { invalidArgument } from "@isrdpo/runtime";

/** What an import stores; everything else in the store is written by the services alone. */
const WRITABLE = ["artifact://datasets/", "artifact://frames/"];

async function mapped<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw asConnectError(err);
  }
}

function asConnectError(err: unknown): unknown {
  if (err instanceof ArtifactNotFoundError) return new ConnectError(err.message, Code.NotFound);
  if (err instanceof ArtifactIntegrityError) return new ConnectError(err.message, Code.DataLoss);
  // The stores' own URI checks: "uri: ... must start with artifact://" and the like.
  if (err instanceof Error && err.message.startsWith("uri: ")) return new ConnectError(err.message, Code.InvalidArgument);
  return err;
}

export function artifactRpc(artifacts: ArtifactStore): ServiceImpl<typeof ArtifactService> {
  return {
    statArtifact: (req) => mapped(async () => create(StatArtifactResponseSchema, { ref: await artifacts.stat(req.uri) })),

    putArtifact: (requests) =>
      mapped(async () => {
        const it = requests[Symbol.asyncIterator]();
        const first = await it.next();
        if (first.done || !first.value.uri) invalidArgument("uri", "the first message must name the artifact");
        const { uri, mediaType, chunk } = first.value as PutArtifactRequest;
        if (!WRITABLE.some((p) => uri.startsWith(p)))
          invalidArgument("uri", `"${uri}": only ${WRITABLE.join(" and ")} artifacts can be written here`);
        async function* chunks(): AsyncGenerator<Uint8Array> {
          if (chunk.length) yield chunk;
          for (let next = await it.next(); !next.done; next = await it.next()) if (next.value.chunk.length) yield next.value.chunk;
        }
        return create(PutArtifactResponseSchema, { ref: await artifacts.putStream(uri, chunks(), mediaType || undefined) });
      }),

    async *getArtifact(req) {
      try {
        const ref = req.sha256 ? create(ArtifactRefSchema, { uri: req.uri, sha256: req.sha256 }) : req.uri;
        for await (const chunk of artifacts.getStream(ref)) yield create(GetArtifactResponseSchema, { chunk });
      } catch (err) {
        throw asConnectError(err);
      }
    },
  };
}
