// The process around one or more services: config, logger, server, signals. Used by each service's
// entry point and by `isrdpo serve`.
import { redactNatsUrl } from "@isrdpo/bus";
import { ConfigError, loadConfig, redactConfig, type LoadConfigOptions } from "./config.ts";
import { createLogger } from "./logger.ts";
import { openTransports } from "./transports.ts";
import { closeOnSignals, startServer, type RunningServer, type ServiceContext, type ServiceModule } from "./server.ts";
import type { NodeHandler } from "./listener.ts";

export interface RunServicesOptions extends LoadConfigOptions {
  /** A web app on the same port, for requests that are not RPCs (the dashboard). */
  web?: (ctx: ServiceContext) => NodeHandler;
  /** Validate and print the resolved config as one JSON line, then return without serving. */
  dryRun?: boolean;
}

export async function runServices(modules: ServiceModule[], options: RunServicesOptions = {}): Promise<RunningServer | undefined> {
  const config = loadConfig(options);
  const port = config.port ?? (modules.length === 1 ? modules[0]!.defaultPort : 50050);
  const name = modules.map((m) => m.name).join("+");
  if (options.dryRun) {
    process.stdout.write(`${JSON.stringify({ services: modules.map((m) => m.name), port, config: redactConfig(config) })}\n`);
    return undefined;
  }
  const logger = createLogger(`isrdpo-${modules.length === 1 ? name : "all"}`, config.logLevel);
  const { bus, artifacts, mode } = await openTransports(config, logger);
  logger.info({ mode, nats: config.nats.url && redactNatsUrl(config.nats.url) }, "transports ready");
  let server: RunningServer;
  try {
    const ctx = { config, logger, bus, artifacts };
    server = await startServer(modules, ctx, port, options.web ? { web: options.web(ctx) } : {});
  } catch (err) {
    await bus.close();
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE") throw new ConfigError(`cannot listen on ${config.host}:${port}: address already in use`);
    throw err;
  }
  const closeServer = server.close;
  // The bus outlives the server: work in flight finishes and answers before the connection closes.
  const withBus = { ...server, close: () => closeServer().finally(() => bus.close()) };
  closeOnSignals(withBus, logger);
  return withBus;
}
