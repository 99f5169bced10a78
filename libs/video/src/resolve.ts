// Any video the contracts can name (inline frames, a file or frame folder under a media root, an
// imported video's frames artifact, a synthetic clip id) as the frames a model takes: uint8 RGB, `dims` exactly.
import { decodeVideo, VideoError, type FfmpegOptions } from "./ffmpeg.ts";
import { confineMediaPath } from "./media.ts";
import type { FrameDims } from "./render.ts";
import { renderClip } from "./render.ts";
import { clipFromId } from "./splits.ts";

export type VideoSource =
  | { case: "frames"; value: { count: number; height: number; width: number; channels: number; data: Uint8Array } }
  | { case: "uri"; value: string }
  | { case: "syntheticClipId"; value: string }
  | { case: undefined; value?: undefined };

export interface ResolveOptions extends FfmpegOptions {
  /**
   * The directories video files may be read from (a server's `media.roots`); a path outside them, or
   * any path when there are none (the default), is refused with one message (see confineMediaPath).
   */
  mediaRoots?: readonly string[];
  /** Reads the frames of an `artifact://` URI (an imported video); without it such URIs are refused. */
  artifactFrames?: (uri: string, dims: FrameDims, field: string) => Promise<Uint8Array>;
}

/**
 * Frames of `dims` for a video source. Inline frames must already have the model's shape (callers
 * resize); files (only under `mediaRoots`) are decoded with ffmpeg, sampled uniformly and resized; imported videos are read
 * from their frames artifact; synthetic clips are rendered. Errors say which field is wrong (`field`
 * prefixes the message).
 */
export async function resolveVideo(
  source: VideoSource,
  dims: FrameDims,
  field = "video",
  options: ResolveOptions = {},
): Promise<Uint8Array> {
  switch (source.case) {
    case "frames": {
      const f = source.value;
      if (f.channels !== 3) throw new VideoError(`${field}.frames.channels`, `must be 3 (RGB), got ${f.channels}`);
      if (f.count !== dims.frames || f.height !== dims.height || f.width !== dims.width) {
        throw new VideoError(
          `${field}.frames`,
          `must be ${dims.frames}×${dims.height}×${dims.width} (frames×height×width), got ${f.count}×${f.height}×${f.width}`,
        );
      }
      const expected = dims.frames * dims.height * dims.width * 3;
      if (f.data.length !== expected) throw new VideoError(`${field}.frames.data`, `must hold ${expected} bytes, got ${f.data.length}`);
      return f.data;
    }
    case "syntheticClipId": {
      let clip: ReturnType<typeof clipFromId>;
      try {
        clip = clipFromId(source.value);
      } catch (err) {
        throw new VideoError(`${field}.synthetic_clip_id`, (err as Error).message);
      }
      return renderClip(clip.scene, dims);
    }
    case "uri": {
      if (source.value.startsWith("artifact://")) {
        if (!options.artifactFrames) throw new VideoError(`${field}.uri`, "artifact URIs cannot be read here");
        return options.artifactFrames(source.value, dims, `${field}.uri`);
      }
      const path = await confineMediaPath(source.value, options.mediaRoots ?? [], `${field}.uri`);
      try {
        return (await decodeVideo(path, { ...options, ...dims })).data;
      } catch (err) {
        // Named as the caller named it: the server's real path stays private.
        if (err instanceof VideoError)
          throw new VideoError(`${field}.uri`, `"${source.value}": ${err.reason.split(path).join(source.value)}`);
        throw err;
      }
    }
    default:
      throw new VideoError(field, "one of frames, uri or synthetic_clip_id is required");
  }
}

/** What a prompt item's video looks like in the contracts (PromptItem.video). */
export interface ItemVideo {
  id: string;
  video?: { id: string; source: VideoSource };
}

/**
 * Frames for each distinct video of a shard's items, decoded once each. An item whose video cannot be
 * read is returned in `failures` with the reason; the others go on.
 */
export async function resolveItemVideos(
  items: readonly ItemVideo[],
  dims: FrameDims,
  options: ResolveOptions = {},
): Promise<{ frames: Map<string, Uint8Array>; failures: { itemId: string; reason: string }[] }> {
  const frames = new Map<string, Uint8Array>();
  const bad = new Map<string, string>();
  const failures: { itemId: string; reason: string }[] = [];
  for (const item of items) {
    const video = item.video;
    const key = video ? videoKey(video) : "";
    if (!video || key === "") {
      failures.push({ itemId: item.id, reason: "video: missing" });
      continue;
    }
    if (!frames.has(key) && !bad.has(key)) {
      try {
        frames.set(key, await resolveVideo(video.source, dims, "video", options));
      } catch (err) {
        bad.set(key, (err as Error).message);
      }
    }
    const reason = bad.get(key);
    if (reason !== undefined) failures.push({ itemId: item.id, reason });
  }
  return { frames, failures };
}

/** The id a video is known by (its `id`, else its source), shared by caches and exported datasets. */
export function videoKey(video: { id: string; source: VideoSource }): string {
  if (video.id) return video.id;
  const s = video.source;
  return s.case === "uri" || s.case === "syntheticClipId" ? s.value : "";
}
