// `isrdpo data`: write a synthetic dataset directory, and check that a dataset directory loads.
// The datasets library (ffmpeg, the video world) is loaded only when a subcommand runs.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { Command } from "commander";
import { intArg } from "./args.ts";
import { importCommand } from "./data-import.ts";

/** Raised for a dataset that does not load cleanly; main prints its message as one line. */
export class DataCommandError extends Error {
  override name = "DataCommandError";
}

interface SynthFlags {
  out: string;
  train: number;
  test: number;
  testOut?: number;
  seed: number;
  frames: number;
  size: number;
  ffmpeg?: string;
}

export function dataCommand(): Command {
  const data = new Command("data").description("synthetic datasets and dataset directories");
  data
    .command("synth")
    .description("write a synthetic dataset directory: clips as mp4, questions as ShareGPTVideo JSONL, scene records")
    .requiredOption("--out <dir>", "output directory")
    .requiredOption("--train <n>", "train clips", intArg(0, 1_000_000))
    .requiredOption("--test <n>", "test-in clips (and test-out clips unless --test-out is given)", intArg(0, 1_000_000))
    .option("--test-out <n>", "test-out clips (default: --test)", intArg(0, 1_000_000))
    .requiredOption("--seed <n>", "seed", intArg(0, Number.MAX_SAFE_INTEGER))
    .option("--frames <n>", "frames per clip", intArg(4, 256), 8)
    .option("--size <n>", "frame height and width in pixels", intArg(8, 1024), 32)
    .option("--ffmpeg <path>", "a system ffmpeg instead of the bundled one")
    .action(async (o: SynthFlags) => {
      const { writeSyntheticDataset } = await import("@isrdpo/datasets");
      // Progress on stderr from the clips written so far (stdout stays the one-line result).
      const total = o.train + o.test + (o.testOut ?? o.test);
      const t0 = Date.now();
      const ticker = setInterval(() => {
        readdir(join(o.out, "clips"))
          .then((files) => {
            const done = files.filter((f) => f.endsWith(".mp4")).length;
            const rate = done / ((Date.now() - t0) / 1000);
            process.stderr.write(`data synth: ${done}/${total} clips (${rate.toFixed(1)}/s)\n`);
          })
          .catch(() => undefined); // not created yet
      }, 5_000);
      const manifest = await writeSyntheticDataset(o.out, {
        seed: o.seed,
        train: o.train,
        testIn: o.test,
        testOut: o.testOut ?? o.test,
        frames: o.frames,
        height: o.size,
        width: o.size,
        ...(o.ffmpeg ? { ffmpegPath: o.ffmpeg } : {}),
      }).finally(() => clearInterval(ticker));
      const splits = Object.entries(manifest.splits)
        .map(([s, n]) => `${s} ${n}`)
        .join(", ");
      process.stdout.write(
        `wrote ${o.out}: ${splits} clips of ${manifest.frames}×${manifest.height}×${manifest.width} (seed ${manifest.seed})\n`,
      );
    });
  data
    .command("check")
    .description("load a dataset directory, decoding every video and checking each file's sha256; fails if any item is bad")
    .argument("<dir>", "dataset directory")
    .option("--ffmpeg <path>", "a system ffmpeg instead of the bundled one")
    .action(async (dir: string, o: { ffmpeg?: string }) => {
      const { loadDatasetDir } = await import("@isrdpo/datasets");
      const ds = await loadDatasetDir(dir, o.ffmpeg ? { ffmpegPath: o.ffmpeg } : {});
      const perSplit = new Map<string, number>();
      for (const it of ds.items) perSplit.set(it.split, (perSplit.get(it.split) ?? 0) + 1);
      const counts = [...perSplit].map(([s, n]) => `${s} ${n}`).join(", ") || "none";
      process.stdout.write(`${dir}: ${ds.items.length} items (${counts}), ${ds.bad.length} bad\n`);
      for (const b of ds.bad) process.stdout.write(`bad ${b.id}: ${b.reason}\n`);
      if (ds.bad.length > 0)
        throw new DataCommandError(`${dir}: ${ds.bad.length} bad item(s); first: ${ds.bad[0]!.id}: ${ds.bad[0]!.reason}`);
    });
  data.addCommand(importCommand());
  return data;
}
