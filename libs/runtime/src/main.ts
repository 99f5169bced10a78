// Entry-point wrapper of every process and of the CLI. Kept apart from the server code so that a
// command line that only prints help loads nothing else.
import { ConfigError } from "./errors.ts";

/** Entry-point wrapper: a user error prints one line and exits 2; no stack traces for users. */
export async function main(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`isrdpo: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`isrdpo: ${(err as Error).message ?? String(err)}\n`);
    if (process.env.ISRDPO_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  }
}
