// Prometheus metrics: per-RPC count and latency, plus Node process metrics, on an HTTP /metrics port.
import { createServer, type Server } from "node:http";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface Metrics {
  registry: Registry;
  interceptor: Interceptor;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labelNames = ["service", "method", "code"] as const;
  const handled = new Counter({
    name: "grpc_server_handled_total",
    help: "RPCs completed on the server, by status code.",
    labelNames,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "grpc_server_handling_seconds",
    help: "Time from request start to the last response message.",
    labelNames,
    buckets: [0.001, 0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 60, 300],
    registers: [registry],
  });

  const interceptor: Interceptor = (next) => async (req) => {
    const start = process.hrtime.bigint();
    const labels = { service: req.service.typeName, method: req.method.name };
    const observe = (code: Code | "OK") => {
      const name = code === "OK" ? "OK" : Code[code];
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      handled.inc({ ...labels, code: name });
      latency.observe({ ...labels, code: name }, seconds);
    };
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (err) {
      observe(ConnectError.from(err).code);
      throw err;
    }
    if (!res.stream) {
      observe("OK");
      return res;
    }
    // Server streams count when the last message has been sent.
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        try {
          yield* messages;
          observe("OK");
        } catch (err) {
          observe(ConnectError.from(err).code);
          throw err;
        }
      })(),
    };
  };
  return { registry, interceptor };
}

/** Serves GET /metrics; returns the bound port. */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/metrics") {
      registry
        .metrics()
        .then((body) => res.writeHead(200, { "content-type": registry.contentType }).end(body))
        .catch((err: Error) => res.writeHead(500).end(err.message));
      return;
    }
    res.writeHead(404).end("not found: try GET /metrics\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
