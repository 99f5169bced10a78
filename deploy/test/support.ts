// Runs a rendered container's command outside Kubernetes: the environment Kubernetes would give it
// (ConfigMap envFrom, env values, Secrets replaced by fake values) and its mounted files (ConfigMap
// items written out, Secrets faked, other volumes as empty folders), with every in-container path
// mapped to a temporary folder.
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Manifest } from "../scripts/chart.ts";

type Obj = Record<string, any>;

/** The fake value given for a Secret key: distinct per key, long enough for the runtime's minimums. */
export const fakeSecret = (key: string): string => `fake-${key}-0123456789abcdef`;

export interface PreparedContainer {
  command: string[];
  args: string[];
  workingDir: string;
  env: Record<string, string>;
  /** container path → host path */
  mounts: Map<string, string>;
}

export function container(dep: Obj): Obj {
  return dep.spec.template.spec.containers[0];
}

/** Builds the environment and files of a Deployment's first container under `root`. */
export function prepare(dep: Obj, manifests: Manifest[], root: string): PreparedContainer {
  const pod = dep.spec.template.spec as Obj;
  const c = container(dep);
  const configMaps = new Map(manifests.filter((m) => m.kind === "ConfigMap").map((m) => [m.metadata.name, m as Obj]));
  const mounts = new Map<string, string>();
  for (const vm of (c.volumeMounts ?? []) as Obj[]) {
    const host = join(root, vm.name);
    mkdirSync(host, { recursive: true });
    mounts.set(vm.mountPath, host);
    const vol = (pod.volumes as Obj[]).find((v) => v.name === vm.name);
    if (!vol) throw new Error(`${dep.metadata.name}: no volume ${vm.name}`);
    if (vol.configMap) {
      const cm = configMaps.get(vol.configMap.name);
      if (!cm) throw new Error(`${dep.metadata.name}: ConfigMap ${vol.configMap.name} is not rendered`);
      const items: Obj[] = vol.configMap.items ?? Object.keys(cm.data ?? {}).map((k) => ({ key: k, path: k }));
      for (const it of items) {
        if (!(it.key in (cm.data ?? {}))) throw new Error(`${dep.metadata.name}: ConfigMap ${cm.metadata.name} has no key ${it.key}`);
        writeFileSync(join(host, it.path), cm.data[it.key]);
      }
    } else if (vol.secret) {
      const items: Obj[] = vol.secret.items ?? ["tls.crt", "tls.key", "ca.crt"].map((k) => ({ key: k, path: k }));
      for (const it of items) writeFileSync(join(host, it.path), `${fakeSecret(it.key)}\n`);
    }
  }
  const mapPath = (value: string): string => {
    for (const [inside, host] of mounts) {
      if (value === inside || value.startsWith(`${inside}/`)) return host + value.slice(inside.length);
    }
    return value;
  };
  const env: Record<string, string> = {};
  for (const ef of (c.envFrom ?? []) as Obj[]) {
    const cm = ef.configMapRef && configMaps.get(ef.configMapRef.name);
    if (!cm) throw new Error(`${dep.metadata.name}: envFrom ${JSON.stringify(ef)} is not a rendered ConfigMap`);
    for (const [k, v] of Object.entries(cm.data ?? {})) env[k] = mapPath(String(v));
  }
  for (const e of (c.env ?? []) as Obj[]) {
    if (e.value !== undefined) env[e.name] = mapPath(String(e.value));
    else if (e.valueFrom?.secretKeyRef) env[e.name] = fakeSecret(e.valueFrom.secretKeyRef.key);
    else if (e.valueFrom?.configMapKeyRef)
      env[e.name] = configMaps.get(e.valueFrom.configMapKeyRef.name)?.data?.[e.valueFrom.configMapKeyRef.key];
    else if (e.valueFrom?.fieldRef) env[e.name] = "fake-field";
    else env[e.name] = "";
  }
  return { command: c.command ?? [], args: c.args ?? [], workingDir: c.workingDir ?? "/", env, mounts };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  file: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string>; timeoutMs?: number },
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 45_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** A minimal environment: no ISRDPO_* variable of the machine running the tests leaks in. */
export function baseEnv(): Record<string, string> {
  const keep = ["PATH", "HOME", "TMPDIR", "LANG", "SystemRoot"];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!]));
}

/** Runs `tasks` with at most `limit` at a time. */
export async function pool<T>(limit: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    }),
  );
  return out;
}

/** The last line of stdout that parses as a JSON object (the --dry-run output). */
export function lastJson(stdout: string): Obj | undefined {
  for (const line of stdout.trim().split("\n").reverse()) {
    try {
      const v = JSON.parse(line) as unknown;
      if (v && typeof v === "object" && !Array.isArray(v)) return v as Obj;
    } catch {
      // not JSON
    }
  }
  return undefined;
}
