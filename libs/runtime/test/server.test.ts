// The server bootstrap in-process: Connect, gRPC and gRPC-Web on one port, auth, metrics, validation.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { GenerateResponseSchema, InferenceService, health } from "@isrdpo/contracts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalArtifactStore, MemoryBus, connectNats } from "@isrdpo/bus";
import { startNatsServer } from "@isrdpo/bus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";
import { counter } from "../src/metrics.ts";
import { createLogger } from "../src/logger.ts";
import { startServer, type RunningServer, type ServiceModule } from "../src/server.ts";
import { invalidArgument, requireNonEmpty, requireRange } from "../src/validation.ts";

const TOKEN = "test-token-0123456789";

const echo: ServiceModule = {
  name: "echo",
  defaultPort: 0,
  services: [InferenceService],
  register(router) {
    router.service(InferenceService, {
      generate(req) {
        if (req.inputs.length === 0) requireNonEmpty("inputs", "");
        if (req.inputs[0]!.prompt.startsWith("echo:")) invalidArgument("inputs[0].prompt", `"${req.inputs[0]!.prompt}" is not allowed`);
        const maxNewTokens = requireRange("sampling.max_new_tokens", req.sampling?.maxNewTokens ?? 0, 1, 4096, 16);
        return create(GenerateResponseSchema, {
          generations: req.inputs.map((input, i) => ({ inputIndex: i, text: input.prompt.toUpperCase(), tokenCount: maxNewTokens })),
        });
      },
    });
  },
};

describe("startServer", () => {
  let server: RunningServer;
  const transports: Record<string, (port: number) => Transport> = {
    grpc: (port) => createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }),
    connect: (port) => createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "2" }),
    grpcWeb: (port) => createGrpcWebTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "2" }),
  };
  const auth = { headers: { authorization: `Bearer ${TOKEN}` } };

  beforeAll(async () => {
    const config = loadConfig({
      env: { ISRDPO_GRPC_TOKEN: TOKEN, ISRDPO_METRICS_PORT: "0", ISRDPO_HOST: "127.0.0.1", ISRDPO_SHUTDOWN_GRACE_MS: "2000" },
    });
    // metricsPort 0 disables the HTTP listener; metrics are still collected, read below via a real port.
    server = await startServer(
      [echo],
      { config: { ...config, metricsPort: 0 }, logger: createLogger("test", "silent"), ...memoryTransports() },
      0,
    );
  });
  afterAll(() => server.close());

  it.each(Object.keys(transports))("answers over %s on the same port", async (name) => {
    const c = createClient(InferenceService, transports[name]!(server.port));
    const res = await c.generate({ inputs: [{ prompt: "red square" }] }, auth);
    expect(res.generations[0]).toMatchObject({ text: "RED SQUARE", tokenCount: 16 });
  });

  it("maps validation failures to INVALID_ARGUMENT naming the field", async () => {
    const c = createClient(InferenceService, transports.grpc!(server.port));
    await expect(c.generate({ inputs: [] }, auth)).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "inputs: must not be empty",
    });
    await expect(c.generate({ inputs: [{ prompt: "x" }], sampling: { maxNewTokens: 100_000 } }, auth)).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "sampling.max_new_tokens: must be between 1 and 4096, got 100000",
    });
  });

  it("refuses a message beyond limits.maxMessageBytes without reading it, and keeps serving", async () => {
    const prompt = "x".repeat(17 << 20); // the default limit is 16 MiB
    // HTTP/1.1 Connect gets the status; over HTTP/2 the server stops reading, so the client may see its
    // stream reset (ENHANCE_YOUR_CALM) instead. Either way the call fails and the next one is answered.
    const h1 = createClient(InferenceService, createConnectTransport({ baseUrl: `http://127.0.0.1:${server.port}`, httpVersion: "1.1" }));
    expect(await h1.generate({ inputs: [{ prompt }] }, auth).catch((e: unknown) => ConnectError.from(e).code)).toBe(Code.ResourceExhausted);
    for (const name of Object.keys(transports)) {
      const err = await createClient(InferenceService, transports[name]!(server.port))
        .generate({ inputs: [{ prompt }] }, auth)
        .catch((e: unknown) => ConnectError.from(e));
      expect(err, name).toBeInstanceOf(ConnectError);
      expect([Code.ResourceExhausted, Code.Internal], name).toContain((err as ConnectError).code);
      const fresh = createClient(InferenceService, transports[name]!(server.port));
      expect((await fresh.generate({ inputs: [{ prompt: "ok" }] }, auth)).generations[0]!.text).toBe("OK");
    }
  });

  it("cuts a status message that echoes a huge value, so the trailer cannot break the connection", async () => {
    const c = createClient(InferenceService, transports.grpc!(server.port));
    const err = ConnectError.from(await c.generate({ inputs: [{ prompt: `echo:${"x".repeat(100_000)}` }] }, auth).catch((e: unknown) => e));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/^inputs\[0\]\.prompt: "echo:x+… \(\d+ characters\)$/);
    expect(err.rawMessage.length).toBeLessThan(1100);
    expect((await c.generate({ inputs: [{ prompt: "ok" }] }, auth)).generations[0]!.text).toBe("OK");
  });

  it("requires the bearer token except for health checks", async () => {
    const c = createClient(InferenceService, transports.grpc!(server.port));
    const err = await c.generate({ inputs: [{ prompt: "x" }] }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.Unauthenticated });
    const wrong = await c
      .generate({ inputs: [{ prompt: "x" }] }, { headers: { authorization: `Bearer ${TOKEN}x` } })
      .catch((e: unknown) => ConnectError.from(e));
    expect(wrong).toMatchObject({ code: Code.Unauthenticated });
    const h = createClient(health.Health, transports.grpc!(server.port));
    expect((await h.check({ service: "isrdpo.v1.InferenceService" })).status).toBe(health.HealthCheckResponse_ServingStatus.SERVING);
  });
});

describe("HTTP/1.1 and CORS", () => {
  const post = (port: number, headers: Record<string, string> = {}) =>
    fetch(`http://127.0.0.1:${port}/isrdpo.v1.InferenceService/Generate`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ inputs: [{ prompt: "hi" }] }),
    });

  it("answers HTTP/1.1 without prior knowledge (curl, browsers): Connect JSON, Connect and gRPC-Web streams", async () => {
    const config = loadConfig({ env: { ISRDPO_HOST: "127.0.0.1", ISRDPO_METRICS_PORT: "0" } });
    const s = await startServer([echo], { config, logger: createLogger("test", "silent"), ...memoryTransports() }, 0);
    try {
      // fetch (undici) speaks HTTP/1.1 only
      const res = await post(s.port, { origin: "http://elsewhere.example" });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ generations: [{ text: "HI" }] });
      // CORS is off by default: no browser on another origin may read the answer
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      const baseUrl = `http://127.0.0.1:${s.port}`;
      for (const transport of [
        createConnectTransport({ baseUrl, httpVersion: "1.1" }),
        createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
      ]) {
        const c = createClient(InferenceService, transport);
        expect((await c.generate({ inputs: [{ prompt: "x" }] })).generations[0]!.text).toBe("X");
        // a server stream (health Watch) over HTTP/1.1
        const stream = createClient(health.Health, transport).watch({ service: "" })[Symbol.asyncIterator]();
        expect((await stream.next()).value.status).toBe(health.HealthCheckResponse_ServingStatus.SERVING);
        await stream.return?.();
      }
    } finally {
      await s.close();
    }
  });

  it("allows only the configured origins, answers preflights, and keeps bearer auth", async () => {
    const config = loadConfig({
      env: {
        ISRDPO_HOST: "127.0.0.1",
        ISRDPO_METRICS_PORT: "0",
        ISRDPO_GRPC_TOKEN: TOKEN,
        ISRDPO_CORS_ALLOWED_ORIGINS: "http://app.example:8080",
      },
    });
    expect(config.cors.allowedOrigins).toEqual(["http://app.example:8080"]);
    const s = await startServer([echo], { config, logger: createLogger("test", "silent"), ...memoryTransports() }, 0);
    try {
      const pre = await fetch(`http://127.0.0.1:${s.port}/isrdpo.v1.InferenceService/Generate`, {
        method: "OPTIONS",
        headers: {
          origin: "http://app.example:8080",
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization,content-type",
        },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get("access-control-allow-origin")).toBe("http://app.example:8080");
      expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
      expect(pre.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
      const ok = await post(s.port, { origin: "http://app.example:8080", authorization: `Bearer ${TOKEN}` });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("access-control-allow-origin")).toBe("http://app.example:8080");
      const other = await post(s.port, { origin: "http://evil.example", authorization: `Bearer ${TOKEN}` });
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
      const anonymous = await post(s.port, { origin: "http://app.example:8080" });
      expect(anonymous.status).toBe(401);
    } finally {
      await s.close();
    }
    expect(() => loadConfig({ env: { ISRDPO_CORS_ALLOWED_ORIGINS: "app.example" } })).toThrow(
      'invalid config cors.allowedOrigins.0: must be "*" or an origin like https://host:port (from ISRDPO_CORS_ALLOWED_ORIGINS)',
    );
  });
});

describe("metrics", () => {
  it("counts RPCs per method and status on /metrics", async () => {
    const config = loadConfig({ env: { ISRDPO_HOST: "127.0.0.1" } });
    const probe = await startServer(
      [echo],
      { config: { ...config, metricsPort: await freePort() }, logger: createLogger("test", "silent"), ...memoryTransports() },
      0,
    );
    try {
      const c = createClient(InferenceService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${probe.port}` }));
      await c.generate({ inputs: [{ prompt: "a" }] });
      await c.generate({ inputs: [{ prompt: "b" }] });
      await c.generate({ inputs: [] }).catch(() => undefined);
      const text = await (await fetch(`http://127.0.0.1:${probe.metricsPort}/metrics`)).text();
      const rpc = 'grpc_service="isrdpo.v1.InferenceService",grpc_method="Generate",grpc_type="unary"';
      expect(text).toContain(`grpc_server_started_total{${rpc}} 3`);
      expect(text).toContain(`grpc_server_handled_total{${rpc},grpc_code="OK"} 2`);
      expect(text).toContain(`grpc_server_handled_total{${rpc},grpc_code="InvalidArgument"} 1`);
      expect(text).toContain(`grpc_server_handling_seconds_count{${rpc},grpc_code="OK"} 2`);
      // domain metrics recorded anywhere in the process are on the same page
      counter({ name: "isrdpo_test_events_total", help: "test", labelNames: ["kind"] }).inc({ kind: "a" });
      expect(await (await fetch(`http://127.0.0.1:${probe.metricsPort}/metrics`)).text()).toContain('isrdpo_test_events_total{kind="a"} 1');
    } finally {
      await probe.close();
    }
  });
});

function memoryTransports() {
  return { bus: new MemoryBus(), artifacts: new LocalArtifactStore(mkdtempSync(join(tmpdir(), "isrdpo-rt-"))) };
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe("startServer with NATS", () => {
  it("answers NOT_SERVING while the NATS connection is down, and SERVING once it is back", async () => {
    const storeDir = mkdtempSync(join(tmpdir(), "isrdpo-nats-health-"));
    let nats = await startNatsServer({ storeDir });
    const { bus, artifacts } = await connectNats({ servers: nats.url, ackWaitMs: 1000 });
    const config = loadConfig({ env: { ISRDPO_HOST: "127.0.0.1", ISRDPO_METRICS_PORT: "0" } });
    const s = await startServer([echo], { config, logger: createLogger("test", "silent"), bus, artifacts }, 0);
    const h = createClient(health.Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${s.port}` }));
    const status = async () => (await h.check({ service: "" })).status;
    const until = async (want: health.HealthCheckResponse_ServingStatus, what: string) => {
      const deadline = Date.now() + 15_000;
      while ((await status()) !== want) {
        if (Date.now() > deadline) throw new Error(`health did not become ${what} within 15 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      expect(await status()).toBe(health.HealthCheckResponse_ServingStatus.SERVING);
      await nats.stop();
      await until(health.HealthCheckResponse_ServingStatus.NOT_SERVING, "NOT_SERVING");
      expect((await h.check({ service: "isrdpo.v1.InferenceService" })).status).toBe(health.HealthCheckResponse_ServingStatus.NOT_SERVING);
      // The process itself is alive: the liveness probe must not restart it for a NATS outage.
      expect((await h.check({ service: "liveness" })).status).toBe(health.HealthCheckResponse_ServingStatus.SERVING);
      nats = await startNatsServer({ storeDir, port: nats.port });
      await until(health.HealthCheckResponse_ServingStatus.SERVING, "SERVING again");
    } finally {
      await s.close();
      await bus.close();
      await nats.stop();
    }
  }, 60_000);
});
