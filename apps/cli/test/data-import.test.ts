// `isrdpo data import` into NATS (--nats) and a directory (--artifacts), and its usage mistakes, run
// in this process (the process-level test with --server and exit codes is test/cli/import.test.ts).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectNats } from "@isrdpo/bus";
import { startNatsServer, type NatsServer } from "@isrdpo/bus/testing";
import { writeSyntheticDataset } from "@isrdpo/datasets";
import { CommanderError } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { importCommand } from "../src/commands/data-import.ts";

const root = mkdtempSync(join(tmpdir(), "isrdpo-cli-import-"));

/** Runs the command; returns what it printed on stdout and the exit code it set. */
async function run(args: string[]): Promise<{ out: string; exitCode: number | undefined }> {
  const writes: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
    writes.push(String(s));
    return true;
  });
  const before = process.exitCode;
  try {
    const cmd = importCommand()
      .exitOverride()
      .configureOutput({ writeErr: (s) => writes.push(s) });
    await cmd.parseAsync(args, { from: "user" });
    return { out: writes.join(""), exitCode: process.exitCode as number | undefined };
  } finally {
    spy.mockRestore();
    process.exitCode = before;
  }
}

describe("isrdpo data import (in process)", () => {
  let nats: NatsServer;
  const data = join(root, "data");
  beforeAll(async () => {
    nats = await startNatsServer();
    await writeSyntheticDataset(data, { seed: 22, train: 2, testIn: 0, testOut: 0 });
  }, 60_000);
  afterAll(async () => {
    await nats?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it("imports into NATS and into a directory; a repeat stores nothing new; no exit code when all is good", async () => {
    const args = ["--jsonl", join(data, "train.jsonl"), "--videos", data];
    const first = await run([...args, "--nats", nats.url]);
    expect(first.exitCode).toBeUndefined();
    expect(first.out).toMatch(
      new RegExp(`^imported into NATS ${nats.url}: \\d+ records .*; videos: 2 decoded, 0 already stored; 0 bad\\n`),
    );
    const uri = first.out.trimEnd().split("\n").at(-1)!;
    expect(uri).toMatch(/^artifact:\/\/datasets\/[0-9a-f]{64}\.jsonl$/);
    const again = await run([...args, "--nats", nats.url]);
    expect(again.out).toMatch(/videos: 0 decoded, 2 already stored; 0 bad\n/);
    expect(again.out.trimEnd().split("\n").at(-1)).toBe(uri);
    const { bus, artifacts } = await connectNats({ servers: nats.url });
    try {
      expect(await artifacts.list("artifact://frames/")).toHaveLength(2);
    } finally {
      await bus.close();
    }
    // The same dataset, byte for byte, wherever it is stored.
    const local = await run([...args, "--artifacts", join(root, "local")]);
    expect(local.out.trimEnd().split("\n").at(-1)).toBe(uri);
  }, 120_000);

  it("usage mistakes are one line (main prints it and exits non-zero)", async () => {
    await expect(run(["--jsonl", "x.jsonl", "--videos", "."])).rejects.toThrow(
      /^give exactly one of --server URL, --nats URL or --artifacts DIR \(where the artifacts live\)$/,
    );
    await expect(run(["--jsonl", join(root, "none.jsonl"), "--videos", ".", "--artifacts", join(root, "a")])).rejects.toThrow(
      new RegExp(`^cannot read ${join(root, "none.jsonl")}: file not found$`),
    );
    const size = await run(["--jsonl", "x", "--videos", ".", "--size", "big"]).catch((e: unknown) => e);
    expect(size).toBeInstanceOf(CommanderError);
    expect((size as CommanderError).exitCode).not.toBe(0);
    expect((size as Error).message).toContain(`option '--size <n|HxW>' argument 'big' is invalid. expected "N" or "HxW", 8 to 1024`);
  }, 60_000);
});
