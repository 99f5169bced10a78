// Issue 18: grpc-message is percent-encoded as the gRPC spec says (PROTOCOL-HTTP2.md, "Status-Message":
// only bytes outside 0x20–0x7E, and "%"), so grpc-js clients show the handler's message as written,
// not "model.digest%3A required". Connect's own encoding (encodeURIComponent) is patched in
// patches/@connectrpc__connect@2.1.2.patch; this checks it on the wire and through three clients.
import * as http2 from "node:http2";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { create, toBinary } from "@bufbuild/protobuf";
import { GenerateRequestSchema, InferenceService } from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus } from "@isrdpo/bus";
import { createLogger, loadConfig, startServer, type RunningServer, type ServiceModule } from "@isrdpo/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, grpc, unary } from "../support/grpc-js.ts";

const MESSAGE = "model.digest: required, 100% of calls, café — ünïcode\nsecond line";

/** Generate fails with the prompt as its message. */
const failing: ServiceModule = {
  name: "failing",
  defaultPort: 0,
  services: [InferenceService],
  register(router) {
    router.service(InferenceService, {
      generate(req) {
        throw new ConnectError(req.inputs[0]?.prompt ?? "", Code.InvalidArgument);
      },
    });
  },
};

/** The request as one length-prefixed message: flag 0, 4-byte big-endian length, the bytes. */
function requestFrame(): Buffer {
  const msg = toBinary(GenerateRequestSchema, create(GenerateRequestSchema, { inputs: [{ prompt: MESSAGE }] }));
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  frame.set(msg, 5);
  return frame;
}

/** One gRPC call over raw HTTP/2: the grpc-message exactly as sent (trailers-only or trailers). */
function rawGrpcMessage(port: number): Promise<string | undefined> {
  const frame = requestFrame();
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": "/isrdpo.v1.InferenceService/Generate",
      "content-type": "application/grpc",
      te: "trailers",
    });
    let message: string | undefined;
    req.on("response", (headers) => (message ??= headers["grpc-message"] as string | undefined));
    req.on("trailers", (trailers) => (message ??= trailers["grpc-message"] as string | undefined));
    req.on("data", () => undefined);
    req.on("end", () => {
      session.close();
      resolve(message);
    });
    req.on("error", reject);
    req.end(frame);
  });
}

/** One gRPC-Web call over HTTP/1.1: the grpc-message line of the trailer frame (flag 0x80) in the body. */
async function rawGrpcWebMessage(port: number): Promise<string | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/isrdpo.v1.InferenceService/Generate`, {
    method: "POST",
    headers: { "content-type": "application/grpc-web+proto" },
    body: requestFrame(),
  });
  const body = Buffer.from(await res.arrayBuffer());
  for (let at = 0; at + 5 <= body.length; at += 5 + body.readUInt32BE(at + 1)) {
    if (body[at] !== 0x80) continue;
    const trailer = body.subarray(at + 5, at + 5 + body.readUInt32BE(at + 1)).toString("latin1");
    return /^grpc-message: (.*)\r$/im.exec(trailer)?.[1];
  }
  return undefined;
}

const ON_THE_WIRE = "model.digest: required, 100%25 of calls, caf%C3%A9 %E2%80%94 %C3%BCn%C3%AFcode%0Asecond line";

describe("grpc-message", () => {
  let server: RunningServer;
  beforeAll(async () => {
    const config = loadConfig({ env: {}, flags: { host: "127.0.0.1", metricsPort: 0, shutdownGraceMs: 100 } });
    const ctx = {
      config,
      logger: createLogger("test", "silent"),
      bus: new MemoryBus(),
      artifacts: new LocalArtifactStore(mkdtempSync(join(tmpdir(), "isrdpo-status-"))),
    };
    server = await startServer([failing], ctx, 0);
  });
  afterAll(() => server.close());

  it("is encoded on the wire as the spec says: printable ASCII as is, other bytes and % as %XX", async () => {
    const raw = await rawGrpcMessage(server.port);
    expect(raw).toBe(ON_THE_WIRE);
    expect(raw).not.toContain("%3A");
  });

  it("is encoded the same in a gRPC-Web trailer frame", async () => {
    expect(await rawGrpcWebMessage(server.port)).toBe(ON_THE_WIRE);
  });

  it("reaches a grpc-js client exactly as the handler wrote it", async () => {
    const c = client("InferenceService", server.port);
    try {
      const err = (await unary(c, "Generate", { inputs: [{ prompt: MESSAGE }] }).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toBe(MESSAGE);
    } finally {
      c.close();
    }
  });

  it.each([
    ["gRPC", (baseUrl: string) => createGrpcTransport({ baseUrl })],
    ["gRPC-Web", (baseUrl: string) => createGrpcWebTransport({ baseUrl, httpVersion: "2" })],
  ])("reaches a Connect client over %s exactly as the handler wrote it", async (_, transport) => {
    const c = createClient(InferenceService, transport(`http://127.0.0.1:${server.port}`));
    const err = ConnectError.from(await c.generate({ inputs: [{ prompt: MESSAGE }] }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe(MESSAGE);
  });
});
