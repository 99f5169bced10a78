// The port every service listens on. Plaintext: one TCP port that speaks HTTP/2 with prior knowledge
// (gRPC, h2c clients) and HTTP/1.1 (curl, browsers, Connect and gRPC-Web over HTTP/1.1). Node's
// http2.createServer cannot fall back to HTTP/1.1 without TLS (allowHTTP1 relies on ALPN), so each
// connection is routed by its first bytes: the HTTP/2 client preface, or anything else. With TLS,
// ALPN chooses and `allowHTTP1` does the rest.
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Config } from "./config.ts";

/** A request handler for both protocols: what connectNodeAdapter returns and takes as fallback. */
export type NodeHandler = ReturnType<typeof connectNodeAdapter>;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export interface Listener {
  server: net.Server;
  /** Stop accepting; let in-flight requests and streams finish for up to `graceMs`; then cut. */
  close(graceMs: number): Promise<"done" | "timeout">;
}

/**
 * Hands a plaintext connection to the HTTP/2 server if it opens with the client preface. The bytes
 * read to decide go back into the socket's buffer, where both servers read them first.
 */
function route(socket: net.Socket, h1: http.Server, h2: http2.Http2Server): void {
  const decide = () => {
    const seen: Buffer | null = socket.read();
    if (seen === null) return socket.once("readable", decide);
    const n = Math.min(seen.length, PREFACE.length);
    const h2Start = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
    socket.unshift(seen);
    // A prefix of the preface: wait until more bytes arrive (read() returns null until then).
    if (h2Start && n < PREFACE.length) return socket.once("readable", () => waitMore(seen.length));
    (h2Start ? h2 : h1).emit("connection", socket);
  };
  const waitMore = (had: number) => (socket.readableLength > had ? decide() : socket.once("readable", () => waitMore(had)));
  socket.once("readable", decide);
}

export function createListener(handler: NodeHandler, config: Config): Listener {
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  const trackSessions = (s: http2.Http2Server | http2.Http2SecureServer) =>
    s.on("session", (session: http2.Http2Session) => {
      sessions.add(session);
      session.once("close", () => sessions.delete(session));
    });
  let server: net.Server;
  let h1: http.Server | undefined;
  if (config.tls) {
    const secure = http2.createSecureServer(
      { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile), allowHTTP1: true },
      handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
    );
    trackSessions(secure);
    server = secure;
  } else {
    const h2 = http2.createServer(handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
    trackSessions(h2);
    h1 = http.createServer(handler as http.RequestListener);
    // h1 never listens itself: "listening" starts its connection tracking (request and header
    // timeouts, closeIdleConnections) for the connections handed to it.
    h1.emit("listening");
    const plain = h1;
    server = net.createServer((socket) => route(socket, plain, h2));
  }
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  return {
    server,
    async close(graceMs) {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      // GOAWAY: HTTP/2 sessions accept no new streams; streams in flight run to completion.
      for (const session of sessions) session.close();
      // HTTP/1.1: idle keep-alive connections close now, busy ones once their response is done.
      const idle = h1 && setInterval(() => h1.closeIdleConnections(), 100);
      h1?.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), graceMs)));
      const result = await Promise.race([stopped.then(() => "done" as const), grace]);
      clearTimeout(timer);
      if (idle) clearInterval(idle);
      h1?.close(() => undefined); // stops its connection tracking; it never listened
      if (result === "timeout") {
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
        await stopped;
      }
      return result;
    },
  };
}
