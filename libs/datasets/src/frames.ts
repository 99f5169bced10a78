// Frames artifacts: a video decoded once at import to the model's frame format, stored as a binary
// protobuf `Frames` (count, height, width, channels, RGB bytes). Named by the sha256 of the source
// video and the decode dimensions, so the same video imported twice is one artifact, and an
// interrupted import finds what it already stored without decoding again.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FramesSchema } from "@isrdpo/contracts";
import type { ArtifactStore } from "@isrdpo/bus";
import { VideoError, type FrameDims } from "@isrdpo/video";

export const FRAMES_MEDIA_TYPE = "application/x-protobuf; messageType=isrdpo.v1.Frames";

/** artifact://frames/f<frames>-<height>x<width>/<source sha256>.pb */
export function framesUri(sourceSha256: string, dims: FrameDims): string {
  return `artifact://frames/f${dims.frames}-${dims.height}x${dims.width}/${sourceSha256}.pb`;
}

export function encodeFrames(data: Uint8Array, dims: FrameDims): Uint8Array {
  return toBinary(FramesSchema, create(FramesSchema, { count: dims.frames, height: dims.height, width: dims.width, channels: 3, data }));
}

/**
 * The frames of an artifact, exactly `dims` (a model takes one shape; the import decoded to one):
 * a different shape is a VideoError naming `field` and saying how to import for this model.
 */
export async function readFrames(store: ArtifactStore, uri: string, dims: FrameDims, field: string): Promise<Uint8Array> {
  let f: ReturnType<typeof fromBinary<typeof FramesSchema>>;
  try {
    f = fromBinary(FramesSchema, await store.get(uri));
  } catch (err) {
    throw new VideoError(field, `${uri}: ${(err as Error).message}`);
  }
  if (f.count !== dims.frames || f.height !== dims.height || f.width !== dims.width || f.channels !== 3) {
    throw new VideoError(
      field,
      `${uri} holds ${f.count}×${f.height}×${f.width} frames, the model takes ${dims.frames}×${dims.height}×${dims.width}: ` +
        `import the videos again with --frames ${dims.frames} --size ${dims.height}${dims.width !== dims.height ? `x${dims.width}` : ""}`,
    );
  }
  if (f.data.length !== dims.frames * dims.height * dims.width * 3) throw new VideoError(field, `${uri}: frame data has the wrong length`);
  return f.data;
}
