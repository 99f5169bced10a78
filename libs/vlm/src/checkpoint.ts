import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type * as tf from "@tensorflow/tfjs";
import { parseModelConfig } from "./config.ts";
import { VideoLMM } from "./model.ts";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
import { Tokenizer } from "./tokenizer.ts";
import { REWARD_HEAD, REWARD_HEAD_FILE, ScalarHead } from "./reward.ts";

/**
 * A checkpoint directory:
 *   model.safetensors  weights (readable by any safetensors reader)
 *   config.json        the model config
 *   tokenizer.json     the tokenizer
 *   reward_head.safetensors  a reward model's scalar head (reward.ts), only in reward models
 *   (extra files, e.g. the trainer's optimizer state)
 *   manifest.json      sha256 of every file above, and the checkpoint digest = sha256 of those lines
 * Loading verifies every file against the manifest before parsing it.
 */
export const MANIFEST = "manifest.json";

export async function saveCheckpoint(
  dir: string,
  model: VideoLMM,
  tok: Tokenizer,
  extra: Record<string, Uint8Array> = {},
): Promise<{ digest: string }> {
  const files: Record<string, Uint8Array> = {
    "model.safetensors": await encodeSafetensors(model.params as Map<string, tf.Tensor>, { format: "isrdpo-vlm" }),
    "config.json": new TextEncoder().encode(`${JSON.stringify(model.config, null, 2)}\n`),
    "tokenizer.json": new TextEncoder().encode(JSON.stringify(tok.toJSON())),
    ...extra,
  };
  return writeCheckpointFiles(dir, files);
}

/** Writes files plus a manifest; the manifest goes last (by rename), so a crash leaves no valid-looking checkpoint. */
export async function writeCheckpointFiles(dir: string, files: Record<string, Uint8Array>): Promise<{ digest: string }> {
  await mkdir(dir, { recursive: true });
  const sha: Record<string, string> = {};
  for (const name of Object.keys(files).sort()) {
    if (name === MANIFEST || name.includes("/") || name.includes("..")) throw new Error(`checkpoint: invalid file name "${name}"`);
    const bytes = files[name] as Uint8Array;
    sha[name] = createHash("sha256").update(bytes).digest("hex");
    await writeFile(join(dir, name), bytes);
  }
  const digest = manifestDigest(sha);
  const tmp = join(dir, `${MANIFEST}.tmp`);
  await writeFile(tmp, `${JSON.stringify({ version: 1, digest, files: sha }, null, 2)}\n`);
  await rename(tmp, join(dir, MANIFEST));
  return { digest };
}

/** The checkpoint digest: sha256 of the lines "<sha256>  <name>\n" of `files` (name → sha256), sorted by name. */
export function manifestDigest(files: Record<string, string>): string {
  const lines = Object.keys(files)
    .sort()
    .map((n) => `${files[n]}  ${n}\n`)
    .join("");
  return createHash("sha256").update(lines).digest("hex");
}

/** Reads the manifest and returns a reader that verifies each file's sha256 before returning it. */
export async function openCheckpoint(
  dir: string,
): Promise<{ digest: string; files: string[]; read: (name: string) => Promise<Uint8Array> }> {
  const manifestPath = join(dir, MANIFEST);
  let manifest: { digest: string; files: Record<string, string> };
  try {
    manifest = JSON.parse(await readFile(manifestPath, "utf8"));
  } catch (err) {
    throw new Error(`checkpoint ${manifestPath}: cannot read manifest (${(err as Error).message})`);
  }
  if (typeof manifest?.digest !== "string" || typeof manifest.files !== "object" || manifest.files === null) {
    throw new Error(`checkpoint ${manifestPath}: manifest lacks "digest" or "files"`);
  }
  if (manifestDigest(manifest.files) !== manifest.digest)
    throw new Error(`checkpoint ${manifestPath}: digest does not match the listed files`);
  return {
    digest: manifest.digest,
    files: Object.keys(manifest.files),
    read: async (name: string) => {
      const expected = manifest.files[name];
      const path = join(dir, name);
      if (!expected) throw new Error(`checkpoint ${path}: not listed in ${MANIFEST}`);
      let bytes: Uint8Array;
      try {
        bytes = await readFile(path);
      } catch (err) {
        throw new Error(`checkpoint ${path}: cannot read (${(err as Error).message})`);
      }
      const actual = createHash("sha256").update(bytes).digest("hex");
      if (actual !== expected) {
        throw new Error(
          `checkpoint ${path}: sha256 ${actual.slice(0, 12)}… does not match the manifest (${expected.slice(0, 12)}…): the file is truncated or corrupted`,
        );
      }
      return bytes;
    },
  };
}

/** A checkpoint's model and tokenizer, and its reward head when it is a reward model. */
export async function loadCheckpoint(dir: string): Promise<{ model: VideoLMM; tok: Tokenizer; digest: string; rewardHead?: ScalarHead }> {
  const ckpt = await openCheckpoint(dir);
  const json = async (name: string) => {
    const bytes = await ckpt.read(name);
    try {
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (err) {
      throw new Error(`checkpoint ${join(dir, name)}: invalid JSON (${(err as Error).message})`);
    }
  };
  const config = parseModelConfig(await json("config.json"));
  const tok = Tokenizer.fromJSON(await json("tokenizer.json"));
  if (tok.vocabSize !== config.vocabSize) {
    throw new Error(`checkpoint ${dir}: tokenizer has ${tok.vocabSize} ids, config.json says vocabSize ${config.vocabSize}`);
  }
  const weightsPath = join(dir, "model.safetensors");
  const { tensors } = decodeSafetensors(await ckpt.read("model.safetensors"), weightsPath);
  let model: VideoLMM;
  try {
    model = VideoLMM.fromWeights(config, tensors, weightsPath);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  if (!ckpt.files.includes(REWARD_HEAD_FILE)) return { model, tok, digest: ckpt.digest };
  try {
    const headPath = join(dir, REWARD_HEAD_FILE);
    return {
      model,
      tok,
      digest: ckpt.digest,
      rewardHead: ScalarHead.decode(REWARD_HEAD, await ckpt.read(REWARD_HEAD_FILE), config.dModel, headPath),
    };
  } catch (err) {
    model.dispose();
    throw err;
  }
}
