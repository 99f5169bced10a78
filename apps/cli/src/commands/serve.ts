// `isrdpo serve`: the services are loaded only when the command runs.
import { Argument, Command, Option } from "commander";

/** The names `serve` takes (services.ts maps them to modules; a test checks they match). */
export const SERVICE_NAMES = ["orchestrator", "inference", "context", "judge", "trainer", "evaluator"] as const;

export function serveCommand(): Command {
  return new Command("serve")
    .description("serve one service, or all of them in one process on one port (orchestrator and all: the dashboard at /)")
    .addArgument(new Argument("<service>", "service to serve").choices([...SERVICE_NAMES, "all"]))
    .option("--port <n>", "gRPC / Connect / gRPC-Web port (default: the service's own; 50050 for all)")
    .option("--metrics-port <n>", "Prometheus /metrics port; 0 disables it")
    .option("--nats <url>", "NATS URL (distributed mode); omitted: embedded in-memory bus")
    .option("--config <file>", "YAML or JSON config file (default: $ISRDPO_CONFIG)")
    .addOption(new Option("--log-level <level>", "log level").choices(["fatal", "error", "warn", "info", "debug", "trace", "silent"]))
    .option("--dry-run", "validate the flags and config, print the resolved config, and exit")
    .action(
      async (
        service: string,
        opts: { port?: string; metricsPort?: string; nats?: string; config?: string; logLevel?: string; dryRun?: boolean },
      ) => {
        const [{ runServices }, { SERVICES }] = await Promise.all([import("@isrdpo/runtime"), import("../services.ts")]);
        const modules = service === "all" ? Object.values(SERVICES) : [SERVICES[service]!];
        // The dashboard lives where the runs are: on the orchestrator's port (loaded only there).
        const web =
          modules.some((m) => m.name === "orchestrator") && !opts.dryRun ? (await import("@isrdpo/dashboard")).dashboardHandler : undefined;
        await runServices(modules, {
          ...(web ? { web } : {}),
          ...(opts.config ? { file: opts.config } : {}),
          flags: { port: opts.port, metricsPort: opts.metricsPort, "nats.url": opts.nats, logLevel: opts.logLevel },
          dryRun: opts.dryRun ?? false,
        });
      },
    );
}
