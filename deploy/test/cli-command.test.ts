// Every container the chart renders runs a command the isrdpo CLI accepts: the chart is rendered,
// each Deployment's command + args are run from the repo (the image's /app is the repo root) with
// `--dry-run` and the environment and files Kubernetes would give the pod; the CLI must exit 0 and
// resolve the configuration the chart meant.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type Manifest, PRODUCTION_VALUES, render } from "../scripts/chart.ts";
import { execForm, lastOf, readDockerfile } from "../scripts/dockerfile.ts";
import { REPO_ROOT } from "../scripts/helm.ts";
import { baseEnv, container, fakeSecret, lastJson, pool, prepare, run } from "./support.ts";

type Obj = Record<string, any>;

const SERVICES = ["orchestrator", "inference", "context", "judge", "trainer", "evaluator"];
/** The image's application root (deploy/docker/Dockerfile copies the workspace to /app). */
const IMAGE_APP_ROOT = "/app";

let tmp: string;
const variants: Array<{ name: string; manifests: Manifest[] }> = [];

beforeAll(() => {
  tmp = mkdtempSync(join(REPO_ROOT, ".tools", "cli-command-"));
  const extra = join(tmp, "values-full.yaml");
  // Every optional path the templates have: config file, TLS, external NATS with a CA, credentials.
  writeFileSync(
    extra,
    stringify({
      config: {
        logLevel: "debug",
        metricsPort: 9100,
        file: { artifactDir: "/tmp/isrdpo/from-config-file", nats: { ackWaitMs: 120000 } },
        backend: "wasm",
      },
      credentials: { grpcToken: "tok-0123456789abcdef", natsUser: "isrdpo", natsPassword: "pw" },
      tls: { enabled: true, secretName: "isrdpo-tls" },
      nats: { enabled: false },
      externalNats: { url: "tls://nats.messaging.svc:4222", tlsCaSecret: "nats-ca" },
      judge: { logLevel: "trace", port: 6000 },
      trainer: { backend: "cpu", checkpoints: { mountPath: "/checkpoints" } },
    }),
  );
  variants.push({ name: "default values", manifests: render() });
  variants.push({ name: "production values", manifests: render({ values: [PRODUCTION_VALUES] }) });
  variants.push({ name: "every option", manifests: render({ values: [extra] }) });
}, 180_000); // the first run on a fresh clone downloads Helm

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const deployments = (ms: Manifest[]) => ms.filter((m) => m.kind === "Deployment") as Obj[];

function hostDir(workingDir: string): string {
  expect(workingDir.startsWith(`${IMAGE_APP_ROOT}/`), `workingDir ${workingDir} is inside the image's ${IMAGE_APP_ROOT}`).toBe(true);
  return join(REPO_ROOT, workingDir.slice(IMAGE_APP_ROOT.length));
}

describe("container commands", () => {
  it("are the image's entry point, run from the image's working directory", () => {
    const df = readDockerfile();
    for (const target of ["runtime", "runtime-gpu"]) {
      const entry = execForm(lastOf(df, target, "ENTRYPOINT"), "ENTRYPOINT");
      const workdir = lastOf(df, target, "WORKDIR")?.rest;
      for (const v of variants) {
        for (const dep of deployments(v.manifests)) {
          expect(container(dep).command, `${v.name} ${dep.metadata.name}`).toEqual(entry);
          expect(container(dep).workingDir, `${v.name} ${dep.metadata.name}`).toBe(workdir);
        }
      }
    }
  });

  it("name one service each, every service once", () => {
    for (const v of variants) {
      const served = deployments(v.manifests).map((d) => container(d).args.slice(0, 2).join(" "));
      expect(served.sort()).toEqual(SERVICES.map((s) => `serve ${s}`).sort());
    }
  });

  it("are accepted by `isrdpo serve <service> --dry-run` with the pod's environment", async () => {
    // Every service with the default and the production values; with every option on, the services
    // whose command or environment has something of their own (the rest share the same settings).
    const ownOptions = new Set(["judge", "trainer", "context"]);
    const jobs = variants.flatMap((v) =>
      deployments(v.manifests)
        .filter((dep) => v.name !== "every option" || ownOptions.has(container(dep).args[1]))
        .map((dep) => async () => {
          const name = `${v.name} ${dep.metadata.name}`;
          const p = prepare(dep, v.manifests, mkdtempSync(join(tmp, "pod-")));
          const [file, ...pre] = p.command;
          const r = await run(file!, [...pre, ...p.args, "--dry-run"], { cwd: hostDir(p.workingDir), env: { ...baseEnv(), ...p.env } });
          return { name, dep, p, r };
        }),
    );
    // The first start-up fills tsx's transform cache; the others then start faster.
    const results = [await jobs[0]!(), ...(await pool(4, jobs.slice(1)))];
    expect(results).toHaveLength(15);
    for (const { name, dep, p, r } of results) {
      expect(r.code, `${name}: exit ${r.code}\n${r.stderr}`).toBe(0);
      const out = lastJson(r.stdout);
      expect(out, `${name}: --dry-run printed no JSON line: ${r.stdout}`).toBeDefined();
      const c = container(dep);
      const grpcPort = (c.ports as Obj[]).find((x) => x.name === "grpc")!.containerPort;
      const service = c.args[1];
      // What the CLI resolved is what the chart meant.
      expect(out!.services, name).toEqual([service]);
      expect(out!.port, name).toBe(grpcPort);
      expect(out!.config.metricsPort, name).toBe(Number(c.args[c.args.indexOf("--metrics-port") + 1]));
      expect(out!.config.nats.url, name).toBe(p.env.ISRDPO_NATS_URL);
      expect(out!.config.host, name).toBe("0.0.0.0");
      expect(out!.config.shutdownGraceMs, name).toBe(Number(p.env.ISRDPO_SHUTDOWN_GRACE_MS));
      if (service === "trainer") expect(out!.config.checkpointDir, name).toBe(p.env.ISRDPO_CHECKPOINT_DIR);
      if (p.env.ISRDPO_GRPC_TOKEN) expect(out!.config.grpcToken, name).toBe("<redacted>");
      if (p.env.ISRDPO_TLS_CERT_FILE)
        expect(out!.config.tls, name).toEqual({ certFile: p.env.ISRDPO_TLS_CERT_FILE, keyFile: p.env.ISRDPO_TLS_KEY_FILE });
      for (const secretKey of ["grpc-token", "nats-password", "nats-token"]) {
        expect(r.stdout + r.stderr, `${name}: the ${secretKey} was printed`).not.toContain(fakeSecret(secretKey));
      }
    }
    const full = results.filter((x) => x.name.startsWith("every option"));
    const judge = full.find((x) => x.name.endsWith("isrdpo-judge"))!;
    expect(lastJson(judge.r.stdout)!.config.logLevel).toBe("trace");
    const trainer = full.find((x) => x.name.endsWith("isrdpo-trainer"))!;
    expect(lastJson(trainer.r.stdout)!.config.backend).toBe("cpu");
    const context = lastJson(full.find((x) => x.name.endsWith("isrdpo-context"))!.r.stdout)!;
    expect(context.config.backend).toBe("wasm");
    // The config file is mounted where ISRDPO_CONFIG points, and read.
    expect(context.config.artifactDir).toBe("/tmp/isrdpo/from-config-file");
    // A nats key the chart does not set comes from the file, beside the chart's NATS URL from the environment.
    expect(context.config.nats).toMatchObject({ url: "tls://nats.messaging.svc:4222", ackWaitMs: 120000 });
  }, 180_000); // 15 CLI start-ups; generous for a loaded CI machine

  it("and the same harness fails on a command or environment the CLI refuses", async () => {
    const v = variants[0]!;
    const dep = deployments(v.manifests).find((d) => container(d).args[1] === "judge")!;
    const p = prepare(dep, v.manifests, mkdtempSync(join(tmp, "pod-")));
    const [file, ...pre] = p.command;
    const cwd = hostDir(p.workingDir);
    const env = { ...baseEnv(), ...p.env };
    const badArgs = p.args.map((a) => (a === "judge" ? "jugde" : a));
    const [wrongService, wrongEnv] = await Promise.all([
      run(file!, [...pre, ...badArgs, "--dry-run"], { cwd, env }),
      run(file!, [...pre, ...p.args, "--dry-run"], { cwd, env: { ...env, ISRDPO_LOG_LEVEL: "verbose" } }),
    ]);
    expect(wrongService.code).not.toBe(0);
    expect(wrongService.stderr).toMatch(/jugde/);
    expect(wrongEnv.code).not.toBe(0);
    expect(wrongEnv.stderr).toMatch(/logLevel/);
  }, 120_000);
});
