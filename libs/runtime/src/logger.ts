import { pino, type Logger } from "pino";

export type { Logger };

/** Structured JSON logs on stderr (stdout stays free for command output). */
export function createLogger(name: string, level = "info"): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: ["*.password", "*.token", "grpcToken", "*.grpcToken", "authorization"], censor: "<redacted>" },
    },
    pino.destination(2),
  );
}
