// Video files are read only under media roots, and a refusal never says whether a path exists.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { confineMediaPath, generateScene, renderClip, resolveItemVideos, resolveVideo, writeMp4 } from "../src/index.ts";

const base = realpathSync(mkdtempSync(join(tmpdir(), "isrdpo-media-")));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const root = join(base, "root");
const outside = join(base, "outside");
mkdirSync(join(root, "clips"), { recursive: true });
mkdirSync(outside);
writeFileSync(join(outside, "secret.mp4"), "not a video");
symlinkSync(outside, join(root, "escape"));
symlinkSync(join(outside, "secret.mp4"), join(root, "clips", "link.mp4"));
const dims = { frames: 8, height: 32, width: 32 };
const frames = renderClip(generateScene(5));

const refusal = async (uri: string, roots: readonly string[] = [root]) => {
  const err = await confineMediaPath(uri, roots, "video.uri").catch((e: Error) => e);
  if (!(err instanceof Error)) throw new Error(`${uri} was allowed as ${err}`);
  return err.message;
};

describe("confineMediaPath", () => {
  it("refuses every path outside the roots with one message, whether or not it exists", async () => {
    const hostile = [
      "/etc/passwd", // exists
      "/etc/no-such-file", // absent
      "/root/.ssh/id_rsa",
      join(outside, "secret.mp4"), // exists, beside the root
      join(outside, "absent.mp4"),
      "../outside/secret.mp4", // relative escape
      "../../../../etc/passwd",
      `${root}/../outside/secret.mp4`,
      `${root}/clips/../../outside/absent.mp4`,
      "escape/secret.mp4", // a symlink in the root pointing out: present and absent targets
      "escape/absent.mp4",
      "clips/link.mp4",
      "concat:/etc/passwd|/etc/hosts", // ffmpeg protocols
      "file:/etc/passwd",
      "http://127.0.0.1:1/x.mp4",
      "clips/a.mp4\0.png",
      "",
    ];
    const messages = new Set(await Promise.all(hostile.map((p) => refusal(p))));
    expect([...messages]).toEqual([
      "video.uri: not under a media root of this server (media.roots): send frames, a synthetic_clip_id, an artifact:// URI or a path inside a media root",
    ]);
  });

  it("without roots every path is refused, present or not", async () => {
    const messages = new Set(
      await Promise.all(["/etc/passwd", "/etc/absent", join(root, "clips"), "clips/a.mp4"].map((p) => refusal(p, []))),
    );
    expect([...messages]).toEqual([
      "video.uri: video files are not read by this server (no media.roots configured): send frames, a synthetic_clip_id or an artifact:// URI",
    ]);
  });

  it("allows paths inside a root, relative or absolute, present or not; a root that does not exist is skipped", async () => {
    const roots = [join(base, "missing-root"), root];
    expect(await confineMediaPath("clips/a.mp4", roots, "f")).toBe(join(root, "clips", "a.mp4"));
    expect(await confineMediaPath(join(root, "clips", "b.mp4"), roots, "f")).toBe(join(root, "clips", "b.mp4"));
    expect(await confineMediaPath("clips/../clips/c.mp4", roots, "f")).toBe(join(root, "clips", "c.mp4"));
    // A root named through a symlink confines to its target.
    symlinkSync(root, join(base, "root-link"));
    expect(await confineMediaPath(join(base, "root-link", "clips", "d.mp4"), [join(base, "root-link")], "f")).toBe(
      join(root, "clips", "d.mp4"),
    );
  });
});

describe("resolveVideo with media roots", () => {
  it("decodes a file inside a root; errors name the path as the caller gave it, never the server's real path", async () => {
    await writeMp4(frames, dims, join(root, "clips", "a.mp4"));
    const data = await resolveVideo({ case: "uri", value: "clips/a.mp4" }, dims, "video", { mediaRoots: [root] });
    expect(data.length).toBe(frames.length);
    const err = (await resolveVideo({ case: "uri", value: "clips/none.mp4" }, dims, "video", { mediaRoots: [root] }).catch(
      (e: Error) => e,
    )) as Error;
    expect(err.message).toBe('video.uri: "clips/none.mp4": file not found');
    writeFileSync(join(root, "clips", "junk.mp4"), "junk");
    const junk = (await resolveVideo({ case: "uri", value: "clips/junk.mp4" }, dims, "video", { mediaRoots: [root] }).catch(
      (e: Error) => e,
    )) as Error;
    expect(junk.message).toMatch(/^video\.uri: "clips\/junk\.mp4": not a readable video/);
    expect(junk.message).not.toContain(base);
  });

  it("a shard's items (runs' ShareGPT videos) get the same refusal as item failures", async () => {
    const items = ["/etc/passwd", "/etc/absent", relative(root, "/etc/passwd")].map((uri, i) => ({
      id: `i${i}`,
      video: { id: uri, source: { case: "uri" as const, value: uri } },
    }));
    const { failures } = await resolveItemVideos(items, dims, { mediaRoots: [root] });
    expect(failures).toHaveLength(3);
    expect(new Set(failures.map((f) => f.reason)).size).toBe(1);
    // The default reads no file at all.
    const none = await resolveItemVideos(items, dims);
    expect(none.failures.every((f) => f.reason.includes("no media.roots configured"))).toBe(true);
  });
});
