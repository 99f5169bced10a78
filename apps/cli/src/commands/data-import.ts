// `isrdpo data import`: a ShareGPTVideo / LLaVA-Hound JSONL and its videos into the artifact store, so
// run specs and evaluations can name the dataset by its artifact:// URI.
import { Command, InvalidArgumentError } from "commander";
import type { StoreTarget } from "../artifacts.ts";
import { intArg } from "./args.ts";

/** Exit code of an import that stored the good records but reported bad ones. */
const EXIT_SOME_BAD = 3;

interface ImportFlags extends StoreTarget {
  jsonl: string;
  videos: string;
  frames: number;
  size: { height: number; width: number };
  concurrency: number;
  ffmpeg?: string;
}

/** "32" or "32x48" (height × width). */
function sizeArg(value: string): { height: number; width: number } {
  const m = /^(\d+)(?:x(\d+))?$/.exec(value.trim());
  const [height, width] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [0, 0];
  if (!(height >= 8 && height <= 1024 && width >= 8 && width <= 1024)) throw new InvalidArgumentError('expected "N" or "HxW", 8 to 1024');
  return { height, width };
}

export function importCommand(): Command {
  return new Command("import")
    .description(
      "import a ShareGPTVideo JSONL and its videos: validate every record, decode every video (ffmpeg) to the model's frame format, " +
        "store frames and dataset as artifacts (content-addressed, resumable); the last line printed is the dataset's artifact:// URI. " +
        `Exit code ${EXIT_SOME_BAD} when some lines were bad (each printed with its line and reason).`,
    )
    .requiredOption("--jsonl <file>", "ShareGPTVideo JSONL: {id, video, conversations, caption?}")
    .requiredOption("--videos <dir>", "directory the records' video paths are relative to")
    .option("--frames <n>", "frames per video (the model's; every preset takes 8)", intArg(1, 256), 8)
    .option("--size <n|HxW>", "frame size (the model's; every preset takes 32)", sizeArg, { height: 32, width: 32 })
    .option("--concurrency <n>", "videos decoded at once", intArg(1, 64), 2)
    .option("--ffmpeg <path>", "a system ffmpeg instead of the bundled one")
    .option("--server <url>", "store through the cluster's ArtifactService (the orchestrator)")
    .option("--nats <url>", "store in the cluster's NATS Object Store")
    .option("--artifacts <dir>", "store in a local artifact directory (embedded mode, e.g. .isrdpo/demo/artifacts)")
    .action(async (o: ImportFlags) => {
      const [{ importDataset }, { openArtifactStore }] = await Promise.all([import("@isrdpo/datasets"), import("../artifacts.ts")]);
      const say = (line: string) => process.stdout.write(`${line}\n`);
      const { store, where, close } = await openArtifactStore(o);
      let shown = 0;
      try {
        const s = await importDataset({
          jsonl: o.jsonl,
          videos: o.videos,
          store,
          frames: o.frames,
          ...o.size,
          concurrency: o.concurrency,
          ...(o.ffmpeg ? { ffmpegPath: o.ffmpeg } : {}),
          onBad: (b) => say(`bad line ${b.line}${b.id ? ` (id ${b.id})` : ""}: ${b.reason}`),
          onProgress: (c) => {
            if (!process.stderr.isTTY || Date.now() - shown < 2000) return;
            shown = Date.now();
            process.stderr.write(`import: ${c.lines} lines, ${c.records} records, ${c.videosDecoded} videos decoded, ${c.bad} bad\n`);
          },
        });
        const counts =
          `${s.records} records (${s.items} QA items) of ${s.lines} lines; videos: ${s.videosDecoded} decoded, ` +
          `${s.videosStored} already stored; ${s.bad} bad`;
        if (!s.dataset) throw new Error(`${o.jsonl}: nothing imported: ${counts}`);
        say(`imported into ${where}: ${counts}`);
        say(s.dataset.uri); // last and alone, for scripts: URI=$(isrdpo data import ... | tail -1)
        if (s.bad > 0) process.exitCode = EXIT_SOME_BAD;
      } finally {
        await close();
      }
    });
}
