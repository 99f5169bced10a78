// Glue shared by the services that run the model (inference, context, judge, trainer, evaluator):
// the process's model cache, loading a ModelRef, a request's video as frames, sampling parameters,
// and library errors as typed gRPC statuses.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ArtifactNotFoundError, ArtifactIntegrityError, artifactPath, type ArtifactStore } from "@isrdpo/bus";
import { readFrames } from "@isrdpo/datasets";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ArtifactRef, ModelRef, SamplingParams, Video } from "@isrdpo/contracts";
import { gauge, invalidArgument, type ServiceContext } from "@isrdpo/runtime";
import { resolveVideo, VideoError, videoKey, type FrameDims, type ResolveOptions } from "@isrdpo/video";
import { LmResponseError, type ChatModel } from "@isrdpo/lm";
import {
  generate,
  InputError,
  MANIFEST,
  modelUri,
  sharedModels,
  type ModelLease,
  type Policy,
  type Sampling,
  type VideoInput,
} from "@isrdpo/vlm";

/** The tfjs backend this process computes on, and its GPU: 1 for the one in use. */
const backendInfo = gauge({
  name: "isrdpo_tfjs_backend_info",
  help: "The tfjs backend this process runs the model on (label backend) and, for WebGPU, its GPU adapter.",
  labelNames: ["backend", "adapter"],
});

/** The model cache of this process (shared by every service in it), once the backend is up. */
export async function modelsOf(ctx: ServiceContext) {
  const shared = sharedModels(ctx.artifacts, join(ctx.config.checkpointDir, "models"), ctx.config.backend, (line) => ctx.logger.info(line));
  const info = await shared.ready;
  backendInfo.set({ backend: info.name, adapter: info.adapter }, 1);
  return shared.models;
}

async function modelCall<T>(
  ref: ModelRef | undefined,
  field: string,
  load: (digest: string, manifest: string | ArtifactRef) => Promise<T>,
): Promise<T> {
  if (!ref || ref.digest === "") invalidArgument(`${field}.digest`, "required (the sha256 of a published model)");
  if (!/^[0-9a-f]{64}$/.test(ref.digest))
    invalidArgument(`${field}.digest`, `must be 64 lower-case hex characters, got "${ref.digest.slice(0, 80)}"`);
  if (ref.checkpoint?.uri) {
    try {
      artifactPath(ref.checkpoint.uri);
    } catch (err) {
      invalidArgument(`${field}.checkpoint.uri`, (err as Error).message.replace(/^uri: /, ""));
    }
  }
  const manifest = ref.checkpoint?.uri ? ref.checkpoint : modelUri(ref.digest, MANIFEST);
  try {
    return await load(ref.digest, manifest);
  } catch (err) {
    if (err instanceof ArtifactNotFoundError)
      throw new ConnectError(`${field}: model ${ref.digest} not found in the artifact store`, Code.NotFound);
    if (err instanceof ArtifactIntegrityError)
      throw new ConnectError(`${field}: model ${ref.digest} is corrupted: ${err.message}`, Code.DataLoss);
    // A checkpoint URI whose manifest is not this model's (or not a manifest).
    if (err instanceof InputError) invalidArgument(`${field}.checkpoint`, err.message);
    throw err;
  }
}

/**
 * Runs `use` with the model a request names (shared, cached by digest, kept alive until `use` ends):
 * INVALID_ARGUMENT without a digest, NOT_FOUND for an unknown one.
 */
export async function withModel<T>(
  ctx: ServiceContext,
  ref: ModelRef | undefined,
  field: string,
  use: (policy: Policy) => Promise<T>,
): Promise<T> {
  const models = await modelsOf(ctx);
  const lease = await modelCall(ref, field, (digest, manifest) => models.acquire(digest, manifest));
  try {
    return await use(lease.policy);
  } finally {
    lease.release();
  }
}

/** The lease form of withModel, for a server stream that uses the model across yields. */
export async function acquireModel(ctx: ServiceContext, ref: ModelRef | undefined, field: string): Promise<ModelLease> {
  const models = await modelsOf(ctx);
  return modelCall(ref, field, (digest, manifest) => models.acquire(digest, manifest));
}

/** A private copy of a model (training changes its weights; the shared one must not change). */
export async function loadModelCopy(ctx: ServiceContext, ref: ModelRef | undefined, field: string): Promise<Policy> {
  const models = await modelsOf(ctx);
  return modelCall(ref, field, (digest, manifest) => models.loadCopy(digest, manifest));
}

/** resolveVideo's reader of imported videos: their frames artifacts in `artifacts`. */
const artifactFrames = (artifacts: ArtifactStore) => (uri: string, dims: FrameDims, field: string) =>
  readFrames(artifacts, uri, dims, field);

/** How this service reads a caller's video: imported frames from its store, files only under `media.roots`. */
export const videoOptions = (ctx: ServiceContext): ResolveOptions => ({
  artifactFrames: artifactFrames(ctx.artifacts),
  mediaRoots: ctx.config.media.roots,
});

/** A request's video as the frames this model takes; a bad one is INVALID_ARGUMENT naming the field. */
export async function videoInput(ctx: ServiceContext, policy: Policy, video: Video | undefined, field: string): Promise<VideoInput> {
  if (!video) invalidArgument(field, "required");
  const { frames, height, width } = policy.model.config;
  try {
    const data = await resolveVideo(video.source, { frames, height, width }, field, videoOptions(ctx));
    // Inline frames without an id are keyed by content, so the visual-token cache stays correct.
    const videoId = videoKey(video) || `sha256:${createHash("sha256").update(data).digest("hex")}`;
    return { videoId, frames: data };
  } catch (err) {
    if (err instanceof VideoError) invalidArgument(err.path, err.reason);
    throw err;
  }
}

/** Stop strings one request may give. */
const MAX_STOPS = 16;

export interface SamplingDefaults {
  temperature: number;
  maxNewTokens: number;
}

/**
 * Sampling parameters from a request, range-checked; protobuf zeros mean the defaults given. Without
 * defaults (a stage's params, from the normalised RunSpec that has them filled in) they must be complete.
 */
export function sampling(p: SamplingParams | undefined, field: string, policy: Policy, defaults?: SamplingDefaults): Sampling {
  if (!p && !defaults) invalidArgument(field, "required");
  const temperature = p?.temperature ?? defaults!.temperature;
  if (!(temperature >= 0 && temperature <= 5)) invalidArgument(`${field}.temperature`, `must be between 0 and 5, got ${temperature}`);
  const topP = p?.topP || 1;
  if (!(topP > 0 && topP <= 1)) invalidArgument(`${field}.top_p`, `must be in (0, 1], got ${topP}`);
  const topK = p?.topK ?? 0;
  const stop = p?.stop ?? [];
  if (stop.length > MAX_STOPS) invalidArgument(`${field}.stop`, `at most ${MAX_STOPS} strings, got ${stop.length}`);
  stop.forEach((x, i) => {
    if (x.length < 1 || x.length > 256) invalidArgument(`${field}.stop[${i}]`, `must be 1–256 characters, got ${x.length}`);
  });
  if (topK > policy.model.config.vocabSize)
    invalidArgument(`${field}.top_k`, `must be at most the vocabulary size ${policy.model.config.vocabSize}, got ${topK}`);
  // An explicit request beyond the model's text length is an error; the default just fits the model.
  const maxTextLen = policy.model.config.maxTextLen;
  const maxNewTokens =
    p?.maxNewTokens || (defaults ? Math.min(defaults.maxNewTokens, maxTextLen) : invalidArgument(`${field}.max_new_tokens`, "required"));
  if (maxNewTokens > maxTextLen)
    invalidArgument(`${field}.max_new_tokens`, `must be at most ${maxTextLen} (the model's text length), got ${maxNewTokens}`);
  return { temperature, topP, topK, maxNewTokens, stop, seed: Number((p?.seed ?? 0n) % BigInt(2 ** 31)) };
}

/** The model's InputError (a prompt too long for it, ...) as INVALID_ARGUMENT naming the field. */
export async function asInvalidArgument<T>(run: () => Promise<T> | T): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof InputError) throw new ConnectError(err.message, Code.InvalidArgument);
    throw err;
  }
}
/**
 * Model work for an RPC that stops with its caller: `run` is given the handler's signal (aborted when
 * the client cancels or its deadline passes), and the call then ends CANCELLED / DEADLINE_EXCEEDED
 * instead of reporting the aborted model loop as INTERNAL.
 */
export async function cancellable<T>(signal: AbortSignal, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (!signal.aborted) throw err;
    const reason = ConnectError.from(signal.reason);
    throw reason.code === Code.Unknown ? new ConnectError("cancelled by the client", Code.Canceled) : reason;
  }
}
export * from "./stages.ts";
export type { HandlerModule } from "./threads.ts";

/**
 * The policy as a ChatModel, text only (a blank video; the messages joined into one prompt): the
 * built-in LM judge, for when no LM endpoint is at hand. A prompt too long for the model is an
 * LmResponseError, counted as an unparsable answer like any other answer the judge cannot use.
 */
export function policyChatModel(policy: Policy, name: string): ChatModel {
  const { frames, height, width } = policy.model.config;
  const blank = new Uint8Array(frames * height * width * 3);
  return {
    name,
    async complete(messages, options = {}) {
      const prompt = messages.map((m) => m.content).join("\n");
      try {
        const [g] = await generate(policy.model, policy.tok, [{ videoId: "text-only", frames: blank, prompt }], {
          temperature: options.temperature ?? 0,
          maxNewTokens: options.maxTokens ?? 16,
          seed: options.seed ?? 0,
        });
        return g!.text;
      } catch (err) {
        if (err instanceof InputError) throw new LmResponseError(name, err.message);
        throw err;
      }
    },
  };
}
