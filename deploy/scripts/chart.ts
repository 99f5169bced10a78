// Renders the isrdpo chart with the offline Helm binary and validates what it renders:
// every object against the Kubernetes OpenAPI schemas bundled in kubernetes-models, plus the
// references between objects that no schema sees (selectors, probe ports, claims, HPA targets...).
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ensureHelm, REPO_ROOT } from "./helm.ts";

export const CHART_DIR = join(REPO_ROOT, "deploy/helm/isrdpo");
export const PRODUCTION_VALUES = join(REPO_ROOT, "examples/values-production.yaml");
export const GPU_VALUES = join(REPO_ROOT, "examples/values-gpu.yaml");
export const RELEASE = "isrdpo";
export const NAMESPACE = "isrdpo";

export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
};

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): HelmResult {
  const r = spawnSync(ensureHelm(), args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

export interface RenderOptions {
  /** Values files, in order. */
  values?: string[];
  /** --set-json pairs: key path → JSON-serialisable value. */
  set?: Record<string, unknown>;
  release?: string;
  namespace?: string;
}

function valueArgs(opts: RenderOptions): string[] {
  const args: string[] = [];
  for (const f of opts.values ?? []) args.push("-f", f);
  for (const [k, v] of Object.entries(opts.set ?? {})) args.push("--set-json", `${k}=${JSON.stringify(v)}`);
  return args;
}

/** `helm template`; returns the raw result (status ≠ 0 on schema or template errors). */
export function template(opts: RenderOptions = {}): HelmResult {
  return helm(["template", opts.release ?? RELEASE, CHART_DIR, "--namespace", opts.namespace ?? NAMESPACE, ...valueArgs(opts)]);
}

export function lint(opts: RenderOptions = {}): HelmResult {
  return helm(["lint", "--strict", CHART_DIR, "--namespace", opts.namespace ?? NAMESPACE, ...valueArgs(opts)]);
}

export function parseManifests(text: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

/** Renders the chart; throws with Helm's message when it fails. */
export function render(opts: RenderOptions = {}): Manifest[] {
  const r = template(opts);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr.trim()}`);
  return parseManifests(r.stdout);
}

/**
 * Renders templates/NOTES.txt (what `helm install` prints), which `helm template` skips: a copy of the
 * chart turns it into a named template and prints it through a ConfigMap.
 */
export function renderNotes(opts: RenderOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "isrdpo-notes-"));
  try {
    const chart = join(dir, "isrdpo");
    cpSync(CHART_DIR, chart, { recursive: true });
    const notes = join(chart, "templates/NOTES.txt");
    writeFileSync(
      join(chart, "templates/_notes_render.tpl"),
      `{{- define "isrdpo.notesRender" -}}\n${readFileSync(notes, "utf8")}\n{{- end }}\n`,
    );
    unlinkSync(notes);
    writeFileSync(
      join(chart, "templates/notes-render.yaml"),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "isrdpo.notesRender" . | toJson }}\n',
    );
    const r = helm([
      "template",
      opts.release ?? RELEASE,
      chart,
      "--namespace",
      opts.namespace ?? NAMESPACE,
      "--show-only",
      "templates/notes-render.yaml",
      ...valueArgs(opts),
    ]);
    if (r.status !== 0) throw new Error(`rendering NOTES.txt failed: ${r.stderr.trim()}`);
    const [cm] = parseManifests(r.stdout) as Array<Manifest & { data: { notes: string } }>;
    return cm!.data.notes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const key = (m: Manifest): string => `${m.kind}/${m.metadata.name}`;

type Model = { validate(): void };
type ModelClass = new (data: unknown) => Model;
const modelCache = new Map<string, ModelClass | undefined>();

/** The kubernetes-models class of an apiVersion/kind, or undefined if there is none. */
async function modelFor(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  const id = `${apiVersion}/${kind}`;
  if (!modelCache.has(id)) {
    let cls: ModelClass | undefined;
    if (/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion) && /^[A-Z][A-Za-z0-9]+$/.test(kind)) {
      try {
        const mod = (await import(/* @vite-ignore */ `kubernetes-models/${apiVersion}/${kind}`)) as Record<string, ModelClass>;
        cls = mod[kind];
      } catch {
        cls = undefined;
      }
    }
    modelCache.set(id, cls);
  }
  return modelCache.get(id);
}

/** Schema errors of each manifest, as "Kind/name: message" lines (empty when all are valid). */
export async function validateSchemas(manifests: Manifest[]): Promise<string[]> {
  const errors: string[] = [];
  for (const m of manifests) {
    const where = `${m.kind ?? "?"}/${m.metadata?.name ?? "?"}`;
    if (typeof m.apiVersion !== "string" || typeof m.kind !== "string" || typeof m.metadata?.name !== "string") {
      errors.push(`${where}: apiVersion, kind and metadata.name are required`);
      continue;
    }
    const Cls = await modelFor(m.apiVersion, m.kind);
    if (!Cls) {
      errors.push(`${where}: no Kubernetes schema for ${m.apiVersion} ${m.kind}`);
      continue;
    }
    try {
      new Cls(m).validate();
    } catch (e) {
      errors.push(`${where}: ${(e as Error).message}`);
    }
  }
  return errors;
}

// Rendered manifests are untyped JSON: walked with optional chaining and checked at each step.
type Obj = Record<string, any>;

const DNS_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** Pod templates of workloads, by "Kind/name". */
function podTemplates(manifests: Manifest[]): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const m of manifests) {
    if (["Deployment", "StatefulSet", "DaemonSet", "Job"].includes(m.kind)) out.set(key(m), (m as Obj).spec?.template);
  }
  return out;
}

/**
 * What the schemas cannot check: unique names, DNS-valid names, selectors that select, probes and
 * Service target ports that exist, references to ConfigMaps / Secrets / claims in the release.
 * externalSecrets: Secrets that exist outside the release (e.g. credentials.existingSecret).
 */
export function validateReferences(manifests: Manifest[], externalSecrets: string[] = []): string[] {
  const errors: string[] = [];
  const seen = new Set<string>();
  const names = (kind: string) => new Set(manifests.filter((m) => m.kind === kind).map((m) => m.metadata.name));
  const configMaps = names("ConfigMap");
  const secrets = new Set([...names("Secret"), ...externalSecrets]);
  const claims = names("PersistentVolumeClaim");
  const templates = podTemplates(manifests);

  for (const m of manifests) {
    const k = key(m);
    if (seen.has(k)) errors.push(`${k}: rendered twice`);
    seen.add(k);
    const nameRe = m.kind === "Service" ? DNS_LABEL : DNS_SUBDOMAIN;
    if (!nameRe.test(m.metadata.name)) errors.push(`${k}: name is not a valid DNS ${m.kind === "Service" ? "label" : "subdomain"}`);
    for (const [lk, lv] of Object.entries(m.metadata.labels ?? {})) {
      if (typeof lv !== "string" || lv.length > 63 || !/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(lv)) {
        errors.push(`${k}: label ${lk}=${String(lv)} is not a valid label value`);
      }
    }
  }

  for (const [k, tpl] of templates) {
    const m = manifests.find((x) => key(x) === k) as Obj;
    const podLabels = tpl?.metadata?.labels as Record<string, string> | undefined;
    if (!matches(m.spec?.selector?.matchLabels, podLabels)) errors.push(`${k}: spec.selector does not select its own pod template`);
    const spec = tpl?.spec ?? {};
    const volumes = new Map<string, Obj>((spec.volumes ?? []).map((v: Obj) => [v.name, v]));
    const claimTemplates = new Set<string>((m.spec?.volumeClaimTemplates ?? []).map((c: Obj) => c.metadata?.name));
    for (const v of volumes.values()) {
      if (v.configMap && !configMaps.has(v.configMap.name))
        errors.push(`${k}: volume ${v.name} uses ConfigMap ${v.configMap.name}, not in the release`);
      if (v.persistentVolumeClaim && !claims.has(v.persistentVolumeClaim.claimName)) {
        errors.push(`${k}: volume ${v.name} uses claim ${v.persistentVolumeClaim.claimName}, not in the release`);
      }
    }
    for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])] as Obj[]) {
      const where = `${k} container ${c.name}`;
      const ports = new Map<string | number, number>();
      for (const p of c.ports ?? []) {
        ports.set(p.containerPort, p.containerPort);
        if (p.name) ports.set(p.name, p.containerPort);
      }
      for (const probeName of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const probe = c[probeName] as Obj | undefined;
        if (!probe) continue;
        const port = probe.grpc?.port ?? probe.tcpSocket?.port ?? probe.httpGet?.port;
        if (port !== undefined && !ports.has(port)) errors.push(`${where}: ${probeName} port ${port} is not a container port`);
      }
      for (const vm of c.volumeMounts ?? []) {
        if (!volumes.has(vm.name) && !claimTemplates.has(vm.name)) errors.push(`${where}: mounts unknown volume ${vm.name}`);
      }
      for (const ef of c.envFrom ?? []) {
        if (ef.configMapRef && !configMaps.has(ef.configMapRef.name))
          errors.push(`${where}: envFrom ConfigMap ${ef.configMapRef.name} is not in the release`);
      }
      const envNames = new Set<string>();
      for (const e of c.env ?? []) {
        if (envNames.has(e.name)) errors.push(`${where}: env ${e.name} is set twice`);
        envNames.add(e.name);
        const ref = e.valueFrom?.secretKeyRef;
        if (ref && !secrets.has(ref.name)) errors.push(`${where}: env ${e.name} reads Secret ${ref.name}, not in the release`);
        if (ref && !ref.optional) {
          const s = manifests.find((x) => x.kind === "Secret" && x.metadata.name === ref.name) as Obj | undefined;
          if (s && !(ref.key in (s.data ?? {})) && !(ref.key in (s.stringData ?? {}))) {
            errors.push(`${where}: env ${e.name} reads key ${ref.key} that Secret ${ref.name} does not have`);
          }
        }
        const cref = e.valueFrom?.configMapKeyRef;
        if (cref && !configMaps.has(cref.name)) errors.push(`${where}: env ${e.name} reads ConfigMap ${cref.name}, not in the release`);
      }
    }
  }

  for (const m of manifests as Obj[]) {
    const k = key(m as Manifest);
    if (m.kind === "Service" && m.spec?.selector) {
      const targets = [...templates.values()].filter((t) => matches(m.spec.selector, t?.metadata?.labels));
      if (targets.length === 0) errors.push(`${k}: selector matches no pod template`);
      for (const p of m.spec.ports ?? []) {
        const tp = p.targetPort ?? p.port;
        const ok = targets.some((t) =>
          (t.spec?.containers ?? []).some((c: Obj) => (c.ports ?? []).some((cp: Obj) => cp.name === tp || cp.containerPort === tp)),
        );
        if (targets.length > 0 && !ok) errors.push(`${k}: port ${p.name ?? p.port} targets ${tp}, which no selected container exposes`);
      }
    }
    if (m.kind === "PodDisruptionBudget") {
      const n = [...templates.values()].filter((t) => matches(m.spec?.selector?.matchLabels, t?.metadata?.labels)).length;
      if (n !== 1) errors.push(`${k}: selector matches ${n} workloads, expected 1`);
    }
    if (m.kind === "NetworkPolicy") {
      const n = [...templates.values()].filter((t) => matches(m.spec?.podSelector?.matchLabels, t?.metadata?.labels)).length;
      if (n !== 1) errors.push(`${k}: podSelector matches ${n} workloads, expected 1`);
    }
    if (m.kind === "HorizontalPodAutoscaler") {
      const ref = m.spec?.scaleTargetRef ?? {};
      const target = (manifests as Obj[]).find((x) => x.kind === ref.kind && x.metadata.name === ref.name);
      if (!target) errors.push(`${k}: scaleTargetRef ${ref.kind}/${ref.name} is not in the release`);
      else if (target.spec?.replicas !== undefined)
        errors.push(`${k}: its target ${ref.kind}/${ref.name} also sets spec.replicas (they would fight on every upgrade)`);
      if ((m.spec?.minReplicas ?? 1) > m.spec?.maxReplicas) errors.push(`${k}: minReplicas > maxReplicas`);
    }
  }
  return errors;
}

/** Schema and reference errors of a rendered release. */
export async function validateManifests(manifests: Manifest[], externalSecrets: string[] = []): Promise<string[]> {
  return [...(await validateSchemas(manifests)), ...validateReferences(manifests, externalSecrets)];
}
