import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommanderError, type Command } from "commander";
import { afterAll, describe, expect, it, vi } from "vitest";
import { loadDatasetDir } from "@isrdpo/datasets";
import { DataCommandError, dataCommand } from "../src/commands/data.ts";

const root = mkdtempSync(join(tmpdir(), "isrdpo-cli-data-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The command with commander's process.exit turned into a thrown CommanderError, output captured. */
function command(): { cmd: Command; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const cmd = dataCommand();
  for (const c of [cmd, ...cmd.commands]) c.exitOverride().configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => err.push(s) });
  return { cmd, out, err };
}

async function run(args: string[]): Promise<string> {
  const { cmd } = command();
  const writes: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
    writes.push(String(s));
    return true;
  });
  try {
    await cmd.parseAsync(args, { from: "user" });
  } finally {
    spy.mockRestore();
  }
  return writes.join("");
}

describe("isrdpo data synth", () => {
  it("writes a dataset directory that loads back; the same seed gives the same files", async () => {
    const a = join(root, "a");
    const out = await run(["synth", "--out", a, "--train", "3", "--test", "1", "--seed", "11", "--size", "24"]);
    expect(out).toBe(`wrote ${a}: train 3, test-in 1, test-out 1 clips of 8×24×24 (seed 11)\n`);
    const ds = await loadDatasetDir(a);
    expect(ds.bad).toEqual([]);
    expect(new Set(ds.items.map((i) => i.clipId)).size).toBe(5);
    expect(ds.items.every((i) => i.frames?.height === 24 && i.frames.frames === 8)).toBe(true);
    const b = join(root, "b");
    await run(["synth", "--out", b, "--train", "3", "--test", "1", "--seed", "11", "--size", "24"]);
    for (const f of ["train.jsonl", "dataset.json", "clips/syn-11-train-f8-2.mp4", "scenes/syn-11-test-out-f8-0.json"]) {
      expect(readFileSync(join(b, f)).equals(readFileSync(join(a, f))), f).toBe(true);
    }
    await expect(run(["synth", "--out", a, "--train", "1", "--test", "1", "--seed", "1"])).rejects.toThrow(
      `${a}: output directory is not empty`,
    );
    expect(await run(["check", a])).toMatch(/: 3\d items \(train \d+, test-in \d+, test-out \d+\), 0 bad\n$/);
  });

  it("a bad flag is a usage error with a non-zero exit code", async () => {
    const { cmd, err } = command();
    const e = await cmd
      .parseAsync(["synth", "--out", join(root, "x"), "--train", "many", "--test", "1", "--seed", "1"], { from: "user" })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CommanderError);
    expect((e as CommanderError).exitCode).not.toBe(0);
    expect(err.join("")).toContain(`option '--train <n>' argument 'many' is invalid. expected a whole number, got "many"`);
    const missing = await command()
      .cmd.parseAsync(["synth", "--train", "1", "--test", "1", "--seed", "1"], { from: "user" })
      .catch((x: unknown) => x);
    expect((missing as CommanderError).exitCode).not.toBe(0);
  });

  it("check fails with one readable line when a clip is missing", async () => {
    const a = join(root, "c");
    await run(["synth", "--out", a, "--train", "1", "--test", "0", "--seed", "2"]);
    unlinkSync(join(a, "clips", "syn-2-train-f8-0.mp4"));
    const e = await run(["check", a]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DataCommandError);
    expect((e as Error).message).toMatch(/bad item\(s\); first: syn-2-train-f8-0-q0: .*syn-2-train-f8-0\.mp4: file not found$/);
    expect((e as Error).message).not.toContain("\n");
  });

  it("check reports a line that is not valid UTF-8 as a bad line, not as text with U+FFFD", async () => {
    const a = join(root, "u");
    mkdirSync(a);
    const good = '{"id": "a", "video": "a.mp4", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "caf';
    writeFileSync(join(a, "qa.jsonl"), Buffer.concat([Buffer.from(good), Buffer.from([0xe9]), Buffer.from('"}]}\n')]));
    const e = await run(["check", a]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DataCommandError);
    expect((e as Error).message).toBe(`${a}: 1 bad item(s); first: qa.jsonl:1: ${join(a, "qa.jsonl")}:1: not valid UTF-8`);
  });

  it("check names a clip changed after synth (one bit flipped) as a bad file: sha256 mismatch", async () => {
    const a = join(root, "f");
    await run(["synth", "--out", a, "--train", "1", "--test", "0", "--seed", "4"]);
    const mp4 = join(a, "clips", "syn-4-train-f8-0.mp4");
    const bytes = readFileSync(mp4);
    bytes[bytes.length >> 1]! ^= 0x10;
    writeFileSync(mp4, bytes);
    const e = await run(["check", a]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DataCommandError);
    expect((e as Error).message).toMatch(
      /bad item\(s\); first: syn-4-train-f8-0-q0: .*syn-4-train-f8-0\.mp4: sha256 mismatch \(dataset\.json: [0-9a-f]{64}, file: [0-9a-f]{64}\)$/,
    );
  });
});
