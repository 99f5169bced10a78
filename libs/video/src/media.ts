// Confinement of video files to the server's data roots (`media.roots`): a caller may name a file only
// if it resolves, symlinks followed, inside one of them. Everything else — absolute paths elsewhere,
// `../` escapes, ffmpeg protocol strings, NUL bytes — gets one refusal whose text never depends on
// whether the path exists, so the check cannot be used to probe the server's disk.
import { realpath } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { VideoError } from "./ffmpeg.ts";

/** The one refusal for a video path that is not under a media root (identical for absent and present files). */
export function mediaRefusal(field: string, roots: readonly string[]): VideoError {
  return new VideoError(
    field,
    roots.length === 0
      ? "video files are not read by this server (no media.roots configured): send frames, a synthetic_clip_id or an artifact:// URI"
      : "not under a media root of this server (media.roots): send frames, a synthetic_clip_id, an artifact:// URI or a path inside a media root",
  );
}

const inside = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
};

/** realpath of the path, or of its nearest existing ancestor joined with the rest (a missing file). */
async function realOrAncestor(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    if (parent === path) return path;
    return resolve(await realOrAncestor(parent), relative(parent, path));
  }
}

/**
 * The real absolute path of `uri` if it lies inside one of `roots` (a relative `uri` is tried under
 * each root in order), else the refusal of mediaRefusal. A missing file inside a root is returned
 * as is (decoding it then says "file not found": the caller may know what its own roots hold).
 */
export async function confineMediaPath(uri: string, roots: readonly string[], field: string): Promise<string> {
  // ffmpeg reads "proto:..." strings as protocols (concat:, subfile:, http:); only plain paths qualify.
  if (roots.length === 0 || uri === "" || uri.includes("\0") || /^[a-z][a-z0-9+.-]*:/i.test(uri)) throw mediaRefusal(field, roots);
  for (const root of roots) {
    const realRoot = await realpath(root).catch(() => undefined);
    if (!realRoot) continue;
    const candidate = isAbsolute(uri) ? resolve(uri) : resolve(realRoot, uri);
    // Lexical check first (no disk access for paths plainly elsewhere), then the one that follows symlinks.
    if (!inside(resolve(root), candidate) && !inside(realRoot, candidate)) continue;
    const real = await realOrAncestor(candidate);
    if (inside(realRoot, real)) return real;
  }
  throw mediaRefusal(field, roots);
}
