// Server bootstrap: one port answering Connect, gRPC and gRPC-Web over HTTP/2 and HTTP/1.1 (TLS when
// configured), with grpc.health.v1, gRPC reflection v1 and v1alpha, bearer-token auth, per-RPC Prometheus
// metrics, optional CORS and a web app on the same port, and a graceful shutdown that lets in-flight
// calls (streams included) finish within a grace period.
import { timingSafeEqual } from "node:crypto";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { health } from "@isrdpo/contracts";
import type { ArtifactStore, Bus } from "@isrdpo/bus";
import type { Config } from "./config.ts";
import { HealthRegistry, ServingStatus } from "./health.ts";
import type { Logger } from "./logger.ts";
import { createMetrics, serveMetrics, settleCall } from "./metrics.ts";
import { registerReflection } from "./reflection.ts";
import { withCors } from "./cors.ts";
import { createListener, type NodeHandler } from "./listener.ts";
import { ConfigError } from "./errors.ts";

export interface ServiceContext {
  config: Config;
  logger: Logger;
  /** Events, work queues and run state: NATS JetStream, or in memory in embedded mode. */
  bus: Bus;
  artifacts: ArtifactStore;
}

/** What a service folder exports: its protobuf services, their handlers, and background work. */
export interface ServiceModule {
  /** The name `isrdpo serve <name>` takes. */
  name: string;
  defaultPort: number;
  services: DescService[];
  /** Registers RPC handlers; RPCs left out answer UNIMPLEMENTED. */
  register(router: ConnectRouter, ctx: ServiceContext): void;
  /** Optional background work (e.g. work-queue consumers); returns its stop function. */
  start?(ctx: ServiceContext): Promise<() => Promise<void>>;
}

export interface RunningServer {
  port: number;
  metricsPort: number | undefined;
  health: HealthRegistry;
  /** Graceful: stop accepting, finish in-flight calls up to the grace period, close sessions. */
  close(): Promise<void>;
}

function authInterceptor(token: string): Interceptor {
  const expected = Buffer.from(`Bearer ${token}`);
  return (next) => async (req) => {
    if (req.service.typeName !== health.Health.typeName) {
      const given = Buffer.from(req.header.get("authorization") ?? "");
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new ConnectError("missing or wrong bearer token", Code.Unauthenticated);
      }
    }
    return next(req);
  };
}

/** Logs unexpected handler errors (not the typed statuses handlers throw on purpose). */
function errorLogInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      if (!(err instanceof ConnectError)) {
        logger.error({ err, rpc: `${req.service.typeName}/${req.method.name}` }, "handler failed");
      }
      throw err;
    }
  };
}

/** Longest status message sent: client input echoed in it is cut (see boundedMessages). */
const MAX_STATUS_MESSAGE = 1024;

const bounded = (err: unknown): unknown => {
  if (!(err instanceof ConnectError) || err.rawMessage.length <= MAX_STATUS_MESSAGE) return err;
  const cut = `${err.rawMessage.slice(0, MAX_STATUS_MESSAGE)}… (${err.rawMessage.length} characters)`;
  return new ConnectError(cut, err.code, err.metadata, undefined, err.cause);
};

/**
 * Cuts long status messages. An error naming a huge field value (a 40 000-character job id) would
 * otherwise go out as a grpc-message trailer larger than an HTTP/2 frame, and the connection — every
 * call multiplexed on it — dies with FRAME_SIZE_ERROR.
 */
function boundedMessages(): Interceptor {
  return (next) => (req) => settleCall(next, req, (err) => (err === undefined ? undefined : bounded(err)));
}

export interface StartServerOptions {
  /** Answers requests that are not RPCs (e.g. a web app at `/`); default: 404. */
  web?: NodeHandler;
}

/** grpc.health.v1 service name that stays SERVING while the process runs (Kubernetes liveness). */
const LIVENESS_SERVICE = "liveness";

export async function startServer(
  modules: ServiceModule[],
  ctx: ServiceContext,
  port: number,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  const { config, logger } = ctx;
  const healthRegistry = new HealthRegistry();
  const metrics = createMetrics();
  const interceptors = [boundedMessages(), metrics.interceptor, errorLogInterceptor(logger)];
  if (config.grpcToken) interceptors.push(authInterceptor(config.grpcToken));

  const services = modules.flatMap((m) => m.services);
  const handler = connectNodeAdapter({
    interceptors,
    readMaxBytes: config.limits.maxMessageBytes,
    routes: (router) => {
      for (const module of modules) module.register(router, ctx);
      healthRegistry.register(router);
      registerReflection(router, [...services, health.Health]);
    },
    ...(options.web ? { fallback: options.web } : {}),
  });

  // Ports first, work second: a port clash is reported for the port that clashed, before any worker
  // starts pulling from the bus.
  let metricsServer: HttpServer | undefined;
  if (config.metricsPort !== 0) {
    metricsServer = await serveMetrics(metrics.registry, config.host, config.metricsPort).catch((err: NodeJS.ErrnoException) => {
      throw err.code === "EADDRINUSE"
        ? new ConfigError(`cannot listen on ${config.host}:${config.metricsPort} (metricsPort): address already in use`)
        : err;
    });
  }
  const listener = createListener(withCors(handler, config.cors.allowedOrigins), config);
  const server = listener.server;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, config.host, () => resolve());
    });
  } catch (err) {
    if (metricsServer) await new Promise((resolve) => metricsServer!.close(resolve));
    throw err;
  }
  const boundPort = (server.address() as AddressInfo).port;

  const stops: Array<() => Promise<void>> = [];
  for (const module of modules) if (module.start) stops.push(await module.start(ctx));

  const serving = (status: (typeof ServingStatus)[keyof typeof ServingStatus]) => {
    healthRegistry.set("", status);
    for (const service of services) healthRegistry.set(service.typeName, status);
  };
  serving(ServingStatus.SERVING);
  // The liveness probe's service: the process answers, whatever its dependencies do (a NATS outage
  // must make pods unready, not restart them).
  healthRegistry.set(LIVENESS_SERVICE, ServingStatus.SERVING);
  // Without the broker no work moves and no run can be read: say so to probes until it is back.
  const unwatch = ctx.bus.onConnectionChange?.((connected) => {
    if (closing) return;
    if (connected) logger.info("NATS connection back: serving");
    else logger.warn("NATS connection lost: NOT_SERVING until it is back (reconnecting)");
    serving(connected ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  });
  if (unwatch) stops.push(async () => unwatch());
  logger.info(
    {
      port: boundPort,
      metricsPort: metricsServer && (metricsServer.address() as AddressInfo).port,
      services: services.map((s) => s.typeName),
      tls: Boolean(config.tls),
      cors: config.cors.allowedOrigins,
    },
    "serving",
  );

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      healthRegistry.shutdown();
      if ((await listener.close(config.shutdownGraceMs)) === "timeout") logger.warn("grace period over; open connections were cut");
      for (const stop of stops) await stop();
      if (metricsServer) await new Promise((resolve) => metricsServer!.close(resolve));
      logger.info("stopped");
    })());

  return {
    port: boundPort,
    metricsPort: metricsServer ? (metricsServer.address() as AddressInfo).port : undefined,
    health: healthRegistry,
    close,
  };
}

/** Closes the server on SIGTERM / SIGINT, then exits 0 (1 if the shutdown itself failed). */
export function closeOnSignals(server: RunningServer, logger: Logger): void {
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "shutting down");
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
}
