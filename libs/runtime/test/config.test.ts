import { mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, redactConfig } from "../src/config.ts";

const dir = mkdtempSync(join(tmpdir(), "isrdpo-config-"));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("loadConfig", () => {
  it("applies defaults", () => {
    const config = loadConfig({ env: {} });
    expect(config).toMatchObject({
      host: "0.0.0.0",
      metricsPort: 9464,
      logLevel: "info",
      shutdownGraceMs: 10_000,
      nats: { ackWaitMs: 30_000 },
      media: { roots: [] },
      limits: { maxMessageBytes: 16 << 20, maxTextChars: 16_384, maxSequences: 1_024 },
    });
    expect(config.port).toBeUndefined();
    expect(config.threads).toBe(availableParallelism());
  });

  it("takes stage threads from ISRDPO_THREADS, at least one", () => {
    expect(loadConfig({ env: { ISRDPO_THREADS: "3" } }).threads).toBe(3);
    expect(() => loadConfig({ env: { ISRDPO_THREADS: "0" } })).toThrow(/^invalid config threads: .*\(from ISRDPO_THREADS\)$/);
  });

  it("reads media roots as a list and limits as numbers, from the environment or a file", () => {
    expect(loadConfig({ env: { ISRDPO_MEDIA_ROOTS: "/data/a, /data/b", ISRDPO_MAX_TEXT_CHARS: "1000" } })).toMatchObject({
      media: { roots: ["/data/a", "/data/b"] },
      limits: { maxTextChars: 1000 },
    });
    const path = file("m.yaml", "media:\n  roots: [/mnt/videos]\nlimits:\n  maxMessageBytes: 1048576\n");
    expect(loadConfig({ env: { ISRDPO_CONFIG: path } })).toMatchObject({
      media: { roots: ["/mnt/videos"] },
      limits: { maxMessageBytes: 1 << 20 },
    });
    expect(() => loadConfig({ env: { ISRDPO_MAX_MESSAGE_BYTES: "10" } })).toThrow(
      "invalid config limits.maxMessageBytes: Too small: expected number to be >=1024 (from ISRDPO_MAX_MESSAGE_BYTES)",
    );
  });

  it("layers file < environment < flags", () => {
    const path = file("c.yaml", "port: 1000\nmetricsPort: 2000\nlogLevel: debug\nnats:\n  url: nats://file:4222\n");
    const config = loadConfig({
      env: { ISRDPO_CONFIG: path, ISRDPO_METRICS_PORT: "3000", ISRDPO_NATS_USER: "u" },
      flags: { port: "4000" },
    });
    expect(config).toMatchObject({ port: 4000, metricsPort: 3000, logLevel: "debug", nats: { url: "nats://file:4222", user: "u" } });
  });

  it("names the field and its source on a bad value", () => {
    expect(() => loadConfig({ env: { ISRDPO_PORT: "70000" } })).toThrow(
      new ConfigError("invalid config port: Too big: expected number to be <=65535 (from ISRDPO_PORT)"),
    );
    expect(() => loadConfig({ env: {}, flags: { logLevel: "loud" } })).toThrow(/^invalid config logLevel: .*\(from --log-level\)$/);
    const path = file("bad.yaml", "nats:\n  url: 5\n  passwrd: x\n");
    expect(() => loadConfig({ env: {}, file: path })).toThrow(/^invalid config nats(\.url)?: .*\(from config file .*bad\.yaml\)$/);
  });

  it("rejects unknown keys and unreadable files in one line", () => {
    expect(() => loadConfig({ env: {}, file: file("typo.yaml", "prot: 5\n") })).toThrow(/Unrecognized key.*prot/);
    expect(() => loadConfig({ env: {}, file: join(dir, "missing.yaml") })).toThrow(/^config file .*missing\.yaml: ENOENT/);
    expect(() => loadConfig({ env: {}, file: file("list.yaml", "- 1\n- 2\n") })).toThrow(/expected a mapping/);
  });

  it("requires a long enough bearer token and redacts secrets", () => {
    expect(() => loadConfig({ env: { ISRDPO_GRPC_TOKEN: "short" } })).toThrow(/grpcToken: must be at least 16 characters/);
    const config = loadConfig({ env: { ISRDPO_GRPC_TOKEN: "0123456789abcdef", ISRDPO_NATS_PASSWORD: "pw", ISRDPO_NATS_USER: "me" } });
    const redacted = redactConfig(config);
    expect(redacted.grpcToken).toBe("<redacted>");
    expect(redacted.nats).toEqual({ user: "me", password: "<redacted>", ackWaitMs: 30_000 });
    expect(config.grpcToken).toBe("0123456789abcdef");
  });
});
