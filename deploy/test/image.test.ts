// deploy/docker/Dockerfile and .dockerignore, checked without a Docker engine (none on the machines
// that build and test this repo): the structure of the stages, that every COPY source is in the build
// context, and a replay of the image's dependency install and entry point outside a container.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { render } from "../scripts/chart.ts";
import {
  buildContext,
  copyParts,
  type Dockerfile,
  execForm,
  isIgnored,
  lastOf,
  parseDockerfile,
  parseDockerignore,
  readDockerfile,
  selectFromContext,
  stage,
} from "../scripts/dockerfile.ts";
import { REPO_ROOT } from "../scripts/helm.ts";
import { baseEnv, lastJson, run } from "./support.ts";

type Obj = Record<string, any>;

const TARGETS = ["runtime", "runtime-gpu"];
const readJson = (p: string) => JSON.parse(readFileSync(join(REPO_ROOT, p), "utf8")) as Obj;

let df: Dockerfile;
let context: string[];
beforeAll(() => {
  df = readDockerfile();
  context = buildContext();
});

describe("Dockerfile", () => {
  it("the default target is the CPU runtime; the GPU runtime is a named target", () => {
    expect(df.stages.at(-1)!.name).toBe("runtime");
    expect(df.stages.map((s) => s.name)).toContain("runtime-gpu");
  });

  it("base images are pinned to exact versions", () => {
    const stageNames = new Set(df.stages.map((s) => s.name));
    for (const s of df.stages) {
      if (stageNames.has(s.from)) continue;
      expect(s.from, `stage ${s.name}`).toMatch(/^[\w./-]+:\d+\.\d+\.\d+[\w.-]*$/);
    }
  });

  it("the runtimes run as a non-root user, the chart's uid", () => {
    const values = parse(readFileSync(join(REPO_ROOT, "deploy/helm/isrdpo/values.yaml"), "utf8")) as Obj;
    for (const t of TARGETS) {
      const user = lastOf(df, t, "USER")?.rest ?? "";
      expect(user, t).toMatch(/^\d+:\d+$/);
      const [uid, gid] = user.split(":").map(Number);
      expect(uid, t).not.toBe(0);
      expect(uid, t).toBe(values.podSecurityContext.runAsUser);
      expect(gid, t).toBe(values.podSecurityContext.runAsGroup);
    }
  });

  it("the entry point is the isrdpo CLI in exec form (node is PID 1 and gets SIGTERM)", () => {
    for (const t of TARGETS) {
      expect(execForm(lastOf(df, t, "ENTRYPOINT"), "ENTRYPOINT")).toEqual(["node", "--import", "tsx", "src/main.ts"]);
      expect(lastOf(df, t, "WORKDIR")?.rest).toBe("/app/apps/cli");
      expect(execForm(lastOf(df, t, "CMD"), "CMD")).toEqual(["--help"]);
    }
    expect(() => execForm(parseDockerfile("FROM a:1.0.0\nENTRYPOINT node main.js\n").stages[0]!.instructions[0], "ENTRYPOINT")).toThrow(
      /exec form/,
    );
  });

  it("the chart's containers run exactly that entry point", () => {
    const entry = execForm(lastOf(df, "runtime", "ENTRYPOINT"), "ENTRYPOINT");
    const deps = render().filter((m) => m.kind === "Deployment") as Obj[];
    expect(deps).toHaveLength(6);
    for (const d of deps) expect(d.spec.template.spec.containers[0].command).toEqual(entry);
  }, 180_000); // may download Helm on a fresh clone

  it("installs production dependencies only, from the lockfile, with the repo's pnpm", () => {
    const installs = stage(df, "deps").instructions.filter((i) => i.cmd === "RUN" && /\bpnpm install\b/.test(i.rest));
    expect(installs).toHaveLength(1);
    expect(installs[0]!.rest).toMatch(/--prod\b/);
    expect(installs[0]!.rest).toMatch(/--frozen-lockfile\b/);
    const pnpmArg = stage(df, "deps")
      .instructions.find((i) => i.cmd === "ARG" && i.rest.startsWith("PNPM_VERSION="))!
      .rest.split("=")[1];
    const bootstrap = readFileSync(join(REPO_ROOT, "scripts/bootstrap.sh"), "utf8");
    expect(bootstrap).toContain(`PNPM_VERSION=${pnpmArg}`);
    // No package manager or build tool is run in the final images.
    for (const t of TARGETS) {
      for (const i of stage(df, t).instructions) expect(i.rest, `${t} line ${i.line}`).not.toMatch(/\b(pnpm|npm|apt-get)\b/);
    }
  });

  it("each variant keeps one native TensorFlow package", () => {
    const cpu = stage(df, "deps-cpu")
      .instructions.map((i) => i.rest)
      .join("\n");
    const gpu = stage(df, "deps-gpu")
      .instructions.map((i) => i.rest)
      .join("\n");
    expect(cpu).toMatch(/rm -rf .*@tensorflow\+tfjs-node-gpu@\*/);
    expect(gpu).toMatch(/rm -rf .*@tensorflow\+tfjs-node@\*/);
    expect(gpu).not.toMatch(/tfjs-node-gpu/);
    expect(lastOf(df, "runtime", "FROM")).toBeUndefined();
    const copies = (t: string) =>
      stage(df, t)
        .instructions.filter((i) => i.cmd === "COPY" && i.flags.from)
        .map((i) => i.flags.from);
    expect(copies("runtime")).toEqual(["deps-cpu"]);
    expect(copies("runtime-gpu")).toEqual(["node", "deps-gpu"]);
  });

  it("the GPU runtime has the Vulkan loader and asks the NVIDIA runtime for graphics; Dawn ships only there", () => {
    expect(stage(df, "runtime-gpu").from).toBe("gpu-base");
    const base = stage(df, "gpu-base")
      .instructions.map((i) => i.rest)
      .join("\n");
    expect(base).toMatch(/apt-get install -y --no-install-recommends libvulkan1 libglvnd0/);
    expect(base).toMatch(/\/etc\/vulkan\/icd\.d\/nvidia_icd\.json/);
    const env = stage(df, "runtime-gpu")
      .instructions.filter((i) => i.cmd === "ENV")
      .map((i) => i.rest)
      .join(" ");
    expect(env).toMatch(/NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics\b/);
    const deps = (t: string) =>
      stage(df, t)
        .instructions.map((i) => i.rest)
        .join("\n");
    expect(deps("deps-cpu")).toMatch(/node_modules\/\.pnpm\/webgpu@\* libs\/vlm\/node_modules\/webgpu/);
    expect(deps("deps-gpu")).toMatch(/webgpu\/dist\/darwin-universal/);
    expect(deps("deps-gpu")).not.toMatch(/webgpu\/dist\/linux-x64/);
  });

  it("every COPY source is in the build context, and COPY --from names an earlier stage", () => {
    df.stages.forEach((s, idx) => {
      for (const i of s.instructions.filter((x) => x.cmd === "COPY")) {
        if (i.flags.from) {
          expect(
            df.stages.slice(0, idx).map((x) => x.name),
            `line ${i.line}`,
          ).toContain(i.flags.from);
          continue;
        }
        for (const src of copyParts(i).sources) {
          expect(
            selectFromContext(context, src).length,
            `line ${i.line}: COPY ${src} selects nothing from the build context`,
          ).toBeGreaterThan(0);
        }
      }
    });
  });

  it("the copied sources hold every workspace package the CLI needs", () => {
    const copied = new Set(
      stage(df, "deps")
        .instructions.filter((i) => i.cmd === "COPY" && !i.flags.from)
        .flatMap((i) => copyParts(i).sources.flatMap((s) => selectFromContext(context, s))),
    );
    for (const f of [
      "package.json",
      "pnpm-lock.yaml",
      "pnpm-workspace.yaml",
      ".npmrc",
      "tsconfig.json",
      "tsconfig.base.json",
      "patches/@connectrpc__connect@2.1.2.patch",
      "apps/cli/src/main.ts",
    ]) {
      expect(copied.has(f), f).toBe(true);
    }
    // Walk the CLI's workspace dependencies: each package's manifest and sources must be in the image.
    const dirs = new Map<string, string>();
    for (const f of copied) {
      if (/^(libs|services|apps)\/[^/]+\/package\.json$/.test(f)) dirs.set(readJson(f).name, f.replace(/\/package\.json$/, ""));
    }
    const todo = ["@isrdpo/cli"];
    const seen = new Set<string>();
    while (todo.length) {
      const name = todo.pop()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const dir = dirs.get(name);
      expect(dir, `${name} (a workspace dependency of the CLI) is not copied into the image`).toBeDefined();
      const pkg = readJson(`${dir}/package.json`);
      expect(
        [...copied].some((f) => f.startsWith(`${dir}/src/`)),
        `${dir}/src`,
      ).toBe(true);
      for (const [dep, spec] of Object.entries({ ...pkg.dependencies, ...pkg.optionalDependencies } as Record<string, string>)) {
        if (spec.startsWith("workspace:")) todo.push(dep);
      }
    }
    expect(seen.size).toBeGreaterThan(7);
  });
});

describe(".dockerignore", () => {
  it("keeps host installs, tests, local state and unrelated folders out of the build context", () => {
    expect(context.length).toBeGreaterThan(20);
    for (const f of context) {
      expect(f, f).not.toMatch(/(^|\/)(node_modules|\.git|\.tools|\.isrdpo|test)\//);
      expect(f, f).not.toMatch(/\.test\.ts$/);
      expect(f, f).toMatch(
        /^(libs|services|apps|patches)\/|^(package\.json|pnpm-lock\.yaml|pnpm-workspace\.yaml|\.npmrc|tsconfig(\.base)?\.json)$/,
      );
    }
  });

  it("follows Docker's matching rules", () => {
    const rules = parseDockerignore("*\n!libs\n!keep.txt\n**/node_modules\n**/*.test.ts\nlibs/x/secret\n");
    expect(isIgnored(rules, "README.md")).toBe(true);
    expect(isIgnored(rules, "keep.txt")).toBe(false);
    expect(isIgnored(rules, "libs/a/src/index.ts")).toBe(false);
    expect(isIgnored(rules, "libs/a/node_modules/x/index.js")).toBe(true);
    expect(isIgnored(rules, "node_modules/x")).toBe(true);
    expect(isIgnored(rules, "libs/a/src/a.test.ts")).toBe(true);
    expect(isIgnored(rules, "libs/x/secret/key")).toBe(true);
    expect(isIgnored(rules, "docs/deploy.md")).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------
// Replay: the deps stage's COPY instructions and its `pnpm install` run in a scratch folder (offline,
// from the pnpm store the repo's own install filled), then the runtime's ENTRYPOINT runs from its
// WORKDIR. This is the image minus the container: it fails when the production install lacks a module
// the services import (a dev dependency used at run time, or tsx itself).
// ---------------------------------------------------------------------------------------------------
const cliDeclaresTsx = "tsx" in (readJson("apps/cli/package.json").dependencies ?? {});

describe.skipIf(!cliDeclaresTsx)("the image, replayed without Docker (needs tsx as a production dependency of apps/cli)", () => {
  let app: string;

  function pnpm(): [string, string[]] {
    const p = process.env.npm_execpath;
    if (p && /pnpm/.test(p)) return /\.[cm]?js$/.test(p) ? [process.execPath, [p]] : [p, []];
    const version = /PNPM_VERSION=(\S+)/.exec(readFileSync(join(REPO_ROOT, "scripts/bootstrap.sh"), "utf8"))![1]!;
    return ["npx", ["--yes", `pnpm@${version}`]];
  }

  beforeAll(async () => {
    // Outside the repo: inside it, Node would find the repo's own node_modules by walking up the folders
    // and hide a module missing from the image. The install reads the store the repo's install filled.
    app = join(mkdtempSync(join(tmpdir(), "isrdpo-image-")), "app");
    mkdirSync(app);
    const [pnpmFile, pnpmPre] = pnpm();
    const store = await run(pnpmFile, [...pnpmPre, "store", "path"], { cwd: REPO_ROOT, env: baseEnv() });
    if (store.code !== 0) throw new Error(`pnpm store path failed: ${store.stderr}`);
    const deps = stage(df, "deps");
    const workdir = lastOf(df, "deps", "WORKDIR")!.rest;
    const toHost = (p: string) => join(app, p.startsWith("/") ? p.slice(workdir.length) : p);
    for (const i of deps.instructions.filter((x) => x.cmd === "COPY" && !x.flags.from)) {
      const { sources, dest } = copyParts(i);
      for (const src of sources) {
        const base = src.replace(/^\.\//, "").replace(/\/+$/, "");
        for (const f of selectFromContext(context, src)) {
          const rel =
            dest.endsWith("/") && dest !== "./" ? join(dest, f.slice(base.length)) : dest === "./" ? f : join(dest, f.slice(base.length));
          const target = toHost(rel);
          mkdirSync(join(target, ".."), { recursive: true });
          if (existsSync(join(REPO_ROOT, f))) cpSync(join(REPO_ROOT, f), target);
        }
      }
    }
    const install = deps.instructions.find((x) => x.cmd === "RUN" && /\bpnpm install\b/.test(x.rest))!;
    const args = install.rest.replace(/^.*?\bpnpm\s+/, "").split(/\s+/);
    const r = await run(pnpmFile, [...pnpmPre, ...args, "--store-dir", store.stdout.trim(), "--reporter=silent"], {
      cwd: app,
      env: { ...baseEnv(), CI: "true" },
      timeoutMs: 120_000,
    });
    if (r.code !== 0) throw new Error(`the image's "pnpm ${args.join(" ")}" failed:\n${r.stdout}\n${r.stderr}`);
  }, 150_000);

  afterAll(() => {
    if (app) rmSync(join(app, ".."), { recursive: true, force: true });
  });

  it("has no dev dependency installed", () => {
    const root = readJson("package.json");
    for (const dev of Object.keys(root.devDependencies ?? {})) {
      if (dev === "tsx") continue;
      expect(existsSync(join(app, "node_modules", dev)), dev).toBe(false);
    }
    expect(existsSync(join(app, "node_modules/.pnpm/lock.yaml")) || existsSync(join(app, "node_modules/.modules.yaml"))).toBe(true);
  });

  it("runs `serve <service> --dry-run` and its default CMD", async () => {
    const entry = execForm(lastOf(df, "runtime", "ENTRYPOINT"), "ENTRYPOINT");
    const workdir = join(app, lastOf(df, "runtime", "WORKDIR")!.rest.slice("/app".length));
    const [file, ...pre] = entry;
    const env = { ...baseEnv(), NODE_ENV: "production" };
    // The CLI imports every service module at start, so one service exercises the whole import graph
    // (deploy/test/cli-command.test.ts runs each service's own command).
    // One after the other: the second start-up reuses tsx's transform cache.
    const dry = await run(file!, [...pre, "serve", "trainer", "--dry-run"], { cwd: workdir, env });
    const help = await run(file!, [...pre, ...execForm(lastOf(df, "runtime", "CMD"), "CMD")], { cwd: workdir, env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(lastJson(dry.stdout)?.services).toEqual(["trainer"]);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/serve/);
  }, 120_000);
});
