// Issue 18: a NATS nobody listens on is never a silent wait, credentials in its URL are never printed
// (logs, --dry-run, errors), and a port clash names the port that clashed.
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { runToEnd, spawnTs } from "../support/processes.ts";

const URL = "nats://isrdpo:hunter2-secret@127.0.0.1:1";

describe("an unreachable NATS", () => {
  it("a service logs at once that it is connecting, then each retry, without the password", async () => {
    const child = spawnTs("apps/cli/src/main.ts", ["serve", "inference", "--port", "0", "--nats", URL]);
    let err = "";
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    const started = Date.now();
    const lines = () => err.split("\n").filter((l) => l.startsWith("{"));
    const retried = () => lines().some((l) => l.includes("unreachable") && l.includes("retrying"));
    while (!retried() && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGKILL");
    expect(lines().some((l) => l.includes('"connecting to NATS"') && l.includes("nats://<redacted>@127.0.0.1:1"))).toBe(true);
    expect(retried(), err).toBe(true);
    expect(err).not.toContain("hunter2");
  });

  it("`run list --nats` fails with one line naming NATS, well within 15 s", async () => {
    const started = Date.now();
    const res = await runToEnd("apps/cli/src/main.ts", ["run", "list", "--nats", URL]);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(res.code).not.toBe(0);
    expect(res.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/^isrdpo: cannot reach NATS at nats:\/\/<redacted>@127\.0\.0\.1:1 within 5 s: /),
    ]);
  });

  it("--dry-run prints the URL with its credentials redacted", async () => {
    const res = await runToEnd("apps/cli/src/main.ts", ["serve", "judge", "--nats", URL, "--dry-run"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("nats://<redacted>@127.0.0.1:1");
    expect(res.stdout).not.toContain("hunter2");
  });
});

describe("a port clash", () => {
  it("names the metrics port when that is the one taken, in one line, without a stack trace", async () => {
    const taken = createServer();
    const port = await new Promise<number>((resolve) =>
      taken.listen(0, "127.0.0.1", () => resolve((taken.address() as { port: number }).port)),
    );
    try {
      const res = await runToEnd("apps/cli/src/main.ts", ["serve", "judge", "--port", "0", "--metrics-port", String(port)], {
        ISRDPO_HOST: "127.0.0.1",
        ISRDPO_METRICS_PORT: String(port),
      });
      expect(res.code).toBe(2);
      const lines = res.stderr.split("\n").filter((l) => l && !l.startsWith("{"));
      expect(lines).toEqual([`isrdpo: cannot listen on 127.0.0.1:${port} (metricsPort): address already in use`]);
    } finally {
      taken.close();
    }
  });
});
