// Prometheus metrics on an HTTP /metrics port: per-RPC counts and latency with go-grpc-prometheus's
// names and labels (grpc_service, grpc_method, grpc_type, grpc_code), Node process metrics, and the
// domain metrics services record (runs, stages, queues, training) in this process's `domainMetrics`.
import { createServer, type Server } from "node:http";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type GaugeConfiguration,
} from "prom-client";

export interface Metrics {
  registry: Registry;
  interceptor: Interceptor;
}

/**
 * Domain metrics of this process. One registry per process (every server in it scrapes it), so a
 * metric is created once, by whichever service asks first.
 */
export const domainMetrics = new Registry();

export function counter<L extends string>(config: CounterConfiguration<L>): Counter<L> {
  return (domainMetrics.getSingleMetric(config.name) as Counter<L>) ?? new Counter({ ...config, registers: [domainMetrics] });
}

export function gauge<L extends string>(config: GaugeConfiguration<L>): Gauge<L> {
  return (domainMetrics.getSingleMetric(config.name) as Gauge<L>) ?? new Gauge({ ...config, registers: [domainMetrics] });
}

/** go-grpc-prometheus's grpc_type values. */
const GRPC_TYPE: Record<string, string> = {
  unary: "unary",
  server_streaming: "server_stream",
  client_streaming: "client_stream",
  bidi_streaming: "bidi_stream",
};

export function createMetrics(): Metrics {
  const rpcRegistry = new Registry();
  collectDefaultMetrics({ register: rpcRegistry });
  const labelNames = ["grpc_service", "grpc_method", "grpc_type", "grpc_code"] as const;
  const started = new Counter({
    name: "grpc_server_started_total",
    help: "RPCs started on the server.",
    labelNames: ["grpc_service", "grpc_method", "grpc_type"],
    registers: [rpcRegistry],
  });
  const handled = new Counter({
    name: "grpc_server_handled_total",
    help: "RPCs completed on the server, by status code.",
    labelNames,
    registers: [rpcRegistry],
  });
  const latency = new Histogram({
    name: "grpc_server_handling_seconds",
    help: "Time from request start to the last response message.",
    labelNames,
    buckets: [0.001, 0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 60, 300],
    registers: [rpcRegistry],
  });

  const interceptor: Interceptor = (next) => async (req) => {
    const start = process.hrtime.bigint();
    const labels = {
      grpc_service: req.service.typeName,
      grpc_method: req.method.name,
      grpc_type: GRPC_TYPE[req.method.methodKind] ?? req.method.methodKind,
    };
    started.inc(labels);
    const observe = (code: Code | "OK") => {
      const name = code === "OK" ? "OK" : Code[code];
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      handled.inc({ ...labels, grpc_code: name });
      latency.observe({ ...labels, grpc_code: name }, seconds);
    };
    // Server streams count when the last message has been sent.
    return settleCall(next, req, (err) => {
      observe(err === undefined ? "OK" : ConnectError.from(err).code);
      return err;
    });
  };
  return { registry: rpcRegistry, interceptor };
}

/**
 * Calls `next(req)` and hands its outcome to `settle` once: when a unary call returns or fails, and
 * for a server stream when its last message has gone out or it failed. An error is replaced by what
 * `settle` returns; `settle(undefined)` means success.
 */
export async function settleCall<R extends { stream: boolean; message: unknown }, Q>(
  next: (req: Q) => Promise<R>,
  req: Q,
  settle: (err: unknown) => unknown,
): Promise<R> {
  let res: R;
  try {
    res = await next(req);
  } catch (err) {
    throw settle(err);
  }
  if (!res.stream) {
    settle(undefined);
    return res;
  }
  const messages = res.message as AsyncIterable<unknown>;
  return {
    ...res,
    message: (async function* () {
      try {
        yield* messages;
      } catch (err) {
        throw settle(err);
      }
      settle(undefined);
    })(),
  };
}

/** Serves GET /metrics; returns the bound port. */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/metrics") {
      // The domain registry gains metrics as services create them: read it at scrape time.
      Promise.all([registry.metrics(), domainMetrics.metrics()])
        .then((bodies) => res.writeHead(200, { "content-type": registry.contentType }).end(bodies.join("\n")))
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
