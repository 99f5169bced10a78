// The isrdpo Helm chart, rendered offline with the pinned Helm binary (fetched once into .tools/).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  key,
  lint,
  type Manifest,
  parseManifests,
  GPU_VALUES,
  PRODUCTION_VALUES,
  render,
  renderNotes,
  template,
  validateManifests,
  validateReferences,
  validateSchemas,
} from "../scripts/chart.ts";
import { ensureHelm } from "../scripts/helm.ts";
import { CASES, validateCase } from "../scripts/validate-chart.ts";

type Obj = Record<string, any>;

const SERVICES = ["orchestrator", "inference", "context", "judge", "trainer", "evaluator"] as const;
const SCALED = ["inference", "context", "judge", "evaluator"] as const;
const PORTS: Record<string, number> = {
  orchestrator: 50051,
  inference: 50052,
  context: 50053,
  judge: 50054,
  trainer: 50055,
  evaluator: 50056,
};

const component = (m: Manifest) => m.metadata.labels?.["app.kubernetes.io/component"];
const find = (ms: Manifest[], kind: string, comp: string) => ms.filter((m) => m.kind === kind && component(m) === comp) as Obj[];
const one = (ms: Manifest[], kind: string, comp: string): Obj => {
  const found = find(ms, kind, comp);
  expect(found, `${kind} of ${comp}`).toHaveLength(1);
  return found[0]!;
};

let tmp: string;
/** Writes a values file (the way users pass values) and returns its path. */
function valuesFile(values: Obj): string {
  const f = join(tmp, `values-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, stringify(values));
  return f;
}

let defaults: Manifest[];
let production: Manifest[];

beforeAll(() => {
  ensureHelm();
  tmp = mkdtempSync(join(tmpdir(), "isrdpo-chart-test-"));
  defaults = render();
  production = render({ values: [PRODUCTION_VALUES] });
  return () => rmSync(tmp, { recursive: true, force: true });
}, 180_000); // the first run on a fresh clone downloads Helm

describe("offline validation (the CI script's cases)", () => {
  for (const c of CASES) {
    it(`${c.name}: lint --strict, template and schema validation pass`, async () => {
      expect(await validateCase(c)).toEqual([]);
    });
  }

  it("the schema validation rejects a wrong manifest", async () => {
    const dep = structuredClone(defaults.find((m) => m.kind === "Deployment")!) as Obj;
    dep.spec.replicas = "many";
    dep.spec.template.spec.containers[0].ports[0].containerPort = "grpc";
    const errors = await validateSchemas([dep as Manifest]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/spec\/replicas must be integer/);
    expect(errors[0]).toMatch(/containerPort must be integer/);
    expect(await validateSchemas([{ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } }])).toEqual([
      "Widget/w: no Kubernetes schema for example.com/v1 Widget",
    ]);
  });

  it("the reference checks catch what the schemas cannot", () => {
    const ms = structuredClone(defaults) as Obj[];
    const judge = ms.find((m) => m.kind === "Deployment" && component(m as Manifest) === "judge")!;
    judge.spec.template.spec.containers[0].readinessProbe.grpc.port = 1234;
    judge.spec.template.metadata.labels["app.kubernetes.io/component"] = "jduge";
    const svc = ms.find((m) => m.kind === "Service" && component(m as Manifest) === "trainer")!;
    svc.spec.ports[0].targetPort = "grcp";
    const errors = validateReferences(ms as Manifest[]).join("\n");
    expect(errors).toMatch(/judge container judge: readinessProbe port 1234 is not a container port/);
    expect(errors).toMatch(/Deployment\/isrdpo-judge: spec.selector does not select its own pod template/);
    expect(errors).toMatch(/Service\/isrdpo-judge: selector matches no pod template/);
    expect(errors).toMatch(/Service\/isrdpo-trainer: port grpc targets grcp/);
    expect(errors).toMatch(/PodDisruptionBudget\/isrdpo-judge: selector matches 0 workloads/);
  });

  it("every optional path of the templates renders valid objects", async () => {
    const options: Obj[] = [
      { tls: { enabled: true, secretName: "isrdpo-tls" }, config: { metricsPort: 0, file: { artifactDir: "/data/artifacts" } } },
      {
        nats: { enabled: false },
        externalNats: { url: "tls://nats.example:4222", tlsCaSecret: "nats-ca" },
        credentials: { existingSecret: "creds" },
      },
      { nats: { replicas: 5, auth: "password" }, credentials: { natsUser: "u", natsPassword: "p", grpcToken: "0123456789abcdef" } },
      { serviceAccount: { create: false }, image: { digest: `sha256:${"a".repeat(64)}` }, imagePullSecrets: [{ name: "regcred" }] },
      {
        trainer: { checkpoints: { persistence: { existingClaim: "my-claim" } } },
        evaluator: { enabled: false },
        context: { podDisruptionBudget: { enabled: false } },
      },
      ...SCALED.map((svc) => ({
        [svc]: { autoscaling: { enabled: true, targetCPUUtilizationPercentage: null, targetMemoryUtilizationPercentage: 80 } },
      })),
    ];
    for (const values of options) {
      const ms = render({ values: [valuesFile(values)] });
      const external = ["creds"];
      // A claim given by name is the user's: add it so the reference check sees it.
      if (values.trainer)
        ms.push({
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: { name: "my-claim" },
          spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
        });
      expect(await validateManifests(ms, external), JSON.stringify(values)).toEqual([]);
    }
  });

  it("a Secret the release reads must exist (in the release or declared external)", async () => {
    const prodOnly = CASES.find((c) => c.name.includes("production"))!;
    const errors = await validateManifests(render(prodOnly.opts));
    expect(errors.join("\n")).toMatch(/reads Secret isrdpo-credentials, not in the release/);
  });
});

describe("bad values fail at install time with the schema's message", () => {
  const cases: Array<[string, Obj, RegExp]> = [
    ['judge.replicas: "many"', { judge: { replicas: "many" } }, /judge\.replicas: Invalid type\. Expected: integer, given: string/],
    ["judge.replicas: -1", { judge: { replicas: -1 } }, /judge\.replicas: Must be greater than or equal to 0/],
    [
      "trainer.replicas (the trainer is single-process)",
      { trainer: { replicas: 2 } },
      /trainer: Additional property replicas is not allowed/,
    ],
    ["orchestrator.replicas", { orchestrator: { replicas: 3 } }, /orchestrator: Additional property replicas is not allowed/],
    ["a typo in a key", { judge: { replcias: 2 } }, /judge: Additional property replcias is not allowed/],
    ["inference.port out of range", { inference: { port: 70000 } }, /inference\.port: Must be less than or equal to 65535/],
    ["an unknown log level", { config: { logLevel: "verbose" } }, /config\.logLevel: config\.logLevel must be one of the following/],
    [
      "nats.replicas: 2 (no RAFT majority)",
      { nats: { replicas: 2 } },
      /nats\.replicas: nats\.replicas must be one of the following: 1, 3, 5/,
    ],
    ["a short gRPC token", { credentials: { grpcToken: "short" } }, /credentials\.grpcToken: Does not match pattern/],
    [
      "a non-NATS external URL",
      { nats: { enabled: false }, externalNats: { url: "http://nats:4222" } },
      /externalNats\.url: Does not match pattern/,
    ],
  ];
  for (const [name, values, message] of cases) {
    it(name, () => {
      const r = template({ values: [valuesFile(values)] });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
      expect(r.stderr).toMatch(message);
    });
  }

  const crossField: Array<[string, Obj, RegExp]> = [
    [
      "no NATS at all",
      { nats: { enabled: false } },
      /no NATS: services in separate pods need one; set nats.enabled=true or externalNats.url/,
    ],
    ["both NATS", { externalNats: { url: "nats://nats:4222" } }, /nats.enabled and externalNats.url are both set/],
    [
      "autoscaling min > max",
      { judge: { autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 2 } } },
      /judge.autoscaling.minReplicas \(5\) is greater than judge.autoscaling.maxReplicas \(2\)/,
    ],
    [
      "grace period shorter than the shutdown grace",
      { trainer: { terminationGracePeriodSeconds: 10 } },
      /trainer.terminationGracePeriodSeconds \(10 s\) must be longer than config.shutdownGraceMs \(10000 ms\)/,
    ],
    ["NATS token auth without a token", { nats: { auth: "token" } }, /nats.auth=token needs credentials.natsToken/],
    ["TLS without a Secret", { tls: { enabled: true } }, /tls.enabled=true needs tls.secretName/],
    ["metrics port on a gRPC port", { config: { metricsPort: 50051 } }, /orchestrator.port is config.metricsPort \(50051\)/],
    [
      "config.file setting what the chart sets",
      { config: { file: { shutdownGraceMs: 5000 } } },
      /config.file.shutdownGraceMs is set by the chart \(the environment would override the file\): use config.shutdownGraceMs/,
    ],
    [
      "config.file setting a NATS connection key",
      { config: { file: { nats: { ackWaitMs: 60000, url: "nats://x:4222" } } } },
      /config.file.nats.url is set by the chart \(the environment would override the file\): use nats.\* \/ externalNats.url/,
    ],
  ];
  for (const [name, values, message] of crossField) {
    it(name, () => {
      const r = template({ values: [valuesFile(values)] });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(message);
    });
  }

  it("lint --strict fails on a bad value too", () => {
    const r = lint({ values: [valuesFile({ judge: { replicas: "many" } })] });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/judge\.replicas: Invalid type\. Expected: integer, given: string/);
  });
});

describe("independent scaling", () => {
  function diff(a: Manifest[], b: Manifest[]): string[] {
    const byKey = (ms: Manifest[]) => new Map(ms.map((m) => [key(m), JSON.stringify(m)]));
    const [ma, mb] = [byKey(a), byKey(b)];
    return [...new Set([...ma.keys(), ...mb.keys()])].filter((k) => ma.get(k) !== mb.get(k)).sort();
  }
  const componentOf = (ms: Manifest[], k: string) => component(ms.find((m) => key(m) === k)!);

  for (const svc of SCALED) {
    it(`changing ${svc}.replicas changes only ${svc}'s Deployment`, () => {
      const after = render({ values: [valuesFile({ [svc]: { replicas: 5 } })] });
      expect(diff(defaults, after)).toEqual([`Deployment/isrdpo-${svc}`]);
      expect(one(after, "Deployment", svc).spec.replicas).toBe(5);
    });

    it(`changing ${svc}.autoscaling changes only ${svc}'s objects`, () => {
      const after = render({ values: [valuesFile({ [svc]: { autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 9 } } })] });
      const changed = diff(defaults, after);
      expect(changed).toEqual([`Deployment/isrdpo-${svc}`, `HorizontalPodAutoscaler/isrdpo-${svc}`]);
      for (const k of changed) expect(componentOf(after, k)).toBe(svc);
      const hpa = one(after, "HorizontalPodAutoscaler", svc);
      expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 9, scaleTargetRef: { kind: "Deployment", name: `isrdpo-${svc}` } });
      // The HPA owns the replica count: the Deployment must not set it, or every upgrade resets it.
      expect(one(after, "Deployment", svc).spec.replicas).toBeUndefined();
    });
  }

  it("an upgrade of the image or the shared config rolls the services, not NATS or the volumes", () => {
    const deps = SERVICES.map((s) => `Deployment/isrdpo-${s}`);
    expect(diff(defaults, render({ values: [valuesFile({ image: { tag: "0.2.0" } })] }))).toEqual(deps.sort());
    // A ConfigMap change restarts the pods through their checksum annotation.
    expect(diff(defaults, render({ values: [valuesFile({ config: { logLevel: "debug" } })] }))).toEqual(
      ["ConfigMap/isrdpo-config", ...deps].sort(),
    );
    // The trainer's own image (GPU tag) touches the trainer only.
    expect(diff(defaults, render({ values: [valuesFile({ trainer: { image: { tag: "0.1.0-gpu" } } })] }))).toEqual([
      "Deployment/isrdpo-trainer",
    ]);
  });

  it("the same holds from the production values", () => {
    const after = render({ values: [PRODUCTION_VALUES, valuesFile({ judge: { autoscaling: { maxReplicas: 40 } } })] });
    expect(diff(production, after)).toEqual(["HorizontalPodAutoscaler/isrdpo-judge"]);
    const off = render({ values: [PRODUCTION_VALUES, valuesFile({ judge: { autoscaling: { enabled: false }, replicas: 3 } })] });
    expect(diff(production, off)).toEqual(["Deployment/isrdpo-judge", "HorizontalPodAutoscaler/isrdpo-judge"]);
    expect(find(off, "HorizontalPodAutoscaler", "judge")).toEqual([]);
  });
});

describe("what the chart renders", () => {
  it("a Deployment and a Service per service, on its own gRPC port", () => {
    for (const ms of [defaults, production]) {
      for (const svc of SERVICES) {
        const dep = one(ms, "Deployment", svc);
        const c = dep.spec.template.spec.containers[0];
        expect(c.ports).toContainEqual({ name: "grpc", containerPort: PORTS[svc], protocol: "TCP" });
        const service = one(ms, "Service", svc);
        expect(service.spec.ports[0]).toMatchObject({ name: "grpc", port: PORTS[svc], targetPort: "grpc" });
      }
    }
  });

  it("readiness, liveness and startup go through grpc.health.v1 on the gRPC port (liveness: the process, not NATS)", () => {
    for (const svc of SERVICES) {
      const c = one(defaults, "Deployment", svc).spec.template.spec.containers[0];
      for (const probe of ["startupProbe", "readinessProbe"]) expect(c[probe].grpc).toEqual({ port: PORTS[svc] });
      expect(c.livenessProbe.grpc).toEqual({ port: PORTS[svc], service: "liveness" });
    }
    // With TLS the kubelet's gRPC probe cannot connect: the chart falls back to TCP checks.
    const tls = render({ values: [valuesFile({ tls: { enabled: true, secretName: "isrdpo-tls" } })] });
    const c = one(tls, "Deployment", "judge").spec.template.spec.containers[0];
    expect(c.readinessProbe.tcpSocket).toEqual({ port: "grpc" });
    expect(c.env).toContainEqual({ name: "ISRDPO_TLS_CERT_FILE", value: "/etc/isrdpo/tls/tls.crt" });
  });

  it("the trainer and the orchestrator are single replicas that never overlap", () => {
    for (const ms of [defaults, production]) {
      for (const svc of ["trainer", "orchestrator"]) {
        const dep = one(ms, "Deployment", svc);
        expect(dep.spec.replicas).toBe(1);
        expect(dep.spec.strategy).toEqual({ type: "Recreate" });
        expect(find(ms, "HorizontalPodAutoscaler", svc)).toEqual([]);
        expect(find(ms, "PodDisruptionBudget", svc)).toEqual([]);
      }
    }
  });

  it("the trainer mounts its checkpoint volume where ISRDPO_CHECKPOINT_DIR points", () => {
    for (const ms of [defaults, production]) {
      const pod = one(ms, "Deployment", "trainer").spec.template.spec;
      const c = pod.containers[0];
      const dir = c.env.find((e: Obj) => e.name === "ISRDPO_CHECKPOINT_DIR").value;
      const mount = c.volumeMounts.find((m: Obj) => m.mountPath === dir);
      expect(mount).toBeDefined();
      const claim = pod.volumes.find((v: Obj) => v.name === mount.name).persistentVolumeClaim.claimName;
      expect(one(ms, "PersistentVolumeClaim", "trainer").metadata.name).toBe(claim);
    }
    expect(one(production, "PersistentVolumeClaim", "trainer").spec).toMatchObject({
      storageClassName: "fast-ssd",
      resources: { requests: { storage: "100Gi" } },
    });
    const ephemeral = render({ values: [valuesFile({ trainer: { checkpoints: { persistence: { enabled: false } } } })] });
    expect(find(ephemeral, "PersistentVolumeClaim", "trainer")).toEqual([]);
    expect(one(ephemeral, "Deployment", "trainer").spec.template.spec.volumes).toContainEqual({ name: "checkpoints", emptyDir: {} });
  });

  it("production puts the trainer on GPU nodes and the scaled services behind HPAs and PDBs", () => {
    const trainer = one(production, "Deployment", "trainer").spec.template.spec;
    expect(trainer.nodeSelector).toEqual({ "nvidia.com/gpu.present": "true" });
    expect(trainer.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    expect(trainer.containers[0].resources.limits["nvidia.com/gpu"]).toBe(1);
    expect(trainer.containers[0].image).toBe("registry.example.com/isrdpo/isrdpo:0.1.0-gpu");
    for (const svc of ["inference", "judge"]) expect(find(production, "HorizontalPodAutoscaler", svc)).toHaveLength(1);
    for (const svc of SCALED) expect(find(production, "PodDisruptionBudget", svc)).toHaveLength(1);
    expect(one(production, "PodDisruptionBudget", "inference").spec.maxUnavailable).toBe("25%");
  });

  it("gpu.enabled gives a pod a GPU, the driver capabilities for Vulkan, and the webgpu backend unless it names one", () => {
    const gpu = render({ values: [PRODUCTION_VALUES, GPU_VALUES] });
    const env = (ms: Manifest[], svc: string) =>
      Object.fromEntries(
        ((one(ms, "Deployment", svc).spec.template.spec.containers[0].env ?? []) as Obj[])
          .filter((e) => "value" in e)
          .map((e) => [e.name, e.value]),
      );
    for (const svc of ["trainer", "inference", "judge"]) {
      const c = one(gpu, "Deployment", svc).spec.template.spec.containers[0];
      expect(c.resources.limits["nvidia.com/gpu"]).toBe(1);
      expect(c.resources.limits.memory).toBeDefined(); // the service's own limits are kept
      expect(c.image).toBe("registry.example.com/isrdpo/isrdpo:0.1.0-gpu");
      expect(env(gpu, svc)).toMatchObject({ NVIDIA_DRIVER_CAPABILITIES: "compute,utility,graphics", ISRDPO_BACKEND: "webgpu" });
    }
    for (const svc of ["context", "evaluator", "orchestrator"]) {
      expect(one(gpu, "Deployment", svc).spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"]).toBeUndefined();
      expect(env(gpu, svc).NVIDIA_DRIVER_CAPABILITIES).toBeUndefined();
    }
    for (const svc of SERVICES) expect(env(defaults, svc).NVIDIA_DRIVER_CAPABILITIES).toBeUndefined();
    // A service's own backend wins; the capabilities must include graphics (the schema says so).
    const own = render({ values: [valuesFile({ judge: { backend: "tensorflow", gpu: { enabled: true, count: 2 } } })] });
    expect(env(own, "judge").ISRDPO_BACKEND).toBe("tensorflow");
    expect(one(own, "Deployment", "judge").spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"]).toBe(2);
    const bad = template({ values: [valuesFile({ judge: { gpu: { enabled: true, driverCapabilities: "compute,utility" } } })] });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/driverCapabilities/);
  });

  it("pods get longer to stop than the services' shutdown grace", () => {
    for (const ms of [defaults, production]) {
      const cm = ms.find((m) => m.kind === "ConfigMap" && m.metadata.name === "isrdpo-config") as Obj;
      const graceMs = Number(cm.data.ISRDPO_SHUTDOWN_GRACE_MS);
      for (const svc of SERVICES) {
        expect(one(ms, "Deployment", svc).spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(graceMs);
      }
    }
  });

  it("credentials go through a Secret, never through the ConfigMap or plain env", () => {
    const token = "tok-0123456789abcdef";
    const ms = render({
      values: [
        valuesFile({ credentials: { grpcToken: token, natsUser: "isrdpo", natsPassword: "pw-secret-value" }, nats: { auth: "password" } }),
      ],
    });
    const text = JSON.stringify(ms.filter((m) => m.kind !== "Secret"));
    expect(text).not.toContain(token);
    expect(text).not.toContain("pw-secret-value");
    const secret = ms.find((m) => m.kind === "Secret") as Obj;
    expect(Buffer.from(secret.data["grpc-token"], "base64").toString()).toBe(token);
    const env = one(ms, "Deployment", "judge").spec.template.spec.containers[0].env as Obj[];
    expect(env.find((e) => e.name === "ISRDPO_GRPC_TOKEN")?.valueFrom.secretKeyRef).toEqual({
      name: secret.metadata.name,
      key: "grpc-token",
    });
    expect(env.find((e) => e.name === "ISRDPO_NATS_PASSWORD")?.valueFrom.secretKeyRef.key).toBe("nats-password");
    expect(env.find((e) => e.name === "ISRDPO_NATS_TOKEN")).toBeUndefined();
    // Changing a credential restarts the pods (checksum annotation).
    const other = render({
      values: [
        valuesFile({
          credentials: { grpcToken: `${token}x`, natsUser: "isrdpo", natsPassword: "pw-secret-value" },
          nats: { auth: "password" },
        }),
      ],
    });
    expect(one(other, "Deployment", "judge").spec.template.metadata.annotations["checksum/credentials"]).not.toBe(
      one(ms, "Deployment", "judge").spec.template.metadata.annotations["checksum/credentials"],
    );
    expect(validateReferences(ms)).toEqual([]);
  });

  it("runs as non-root with a read-only root filesystem", () => {
    for (const svc of SERVICES) {
      const pod = one(defaults, "Deployment", svc).spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
      expect(pod.containers[0].securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(pod.containers[0].volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    }
  });

  it("NetworkPolicies (production): gRPC from the release and the allowed peers, NATS from the release only", () => {
    expect(defaults.filter((m) => m.kind === "NetworkPolicy")).toEqual([]);
    const policies = production.filter((m) => m.kind === "NetworkPolicy") as Obj[];
    expect(policies.map((p) => component(p as Manifest)).sort()).toEqual([...SERVICES, "nats"].sort());
    const release = { podSelector: { matchLabels: { "app.kubernetes.io/instance": "isrdpo", "app.kubernetes.io/part-of": "isrdpo" } } };
    const judge = one(production, "NetworkPolicy", "judge");
    expect(judge.spec.ingress[0]).toEqual({
      from: [release, { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "isrdpo-clients" } } }],
      ports: [{ port: 50054, protocol: "TCP" }],
    });
    const nats = one(production, "NetworkPolicy", "nats");
    expect(nats.spec.ingress[0]).toEqual({
      from: [release],
      ports: [
        { port: 4222, protocol: "TCP" },
        { port: 6222, protocol: "TCP" },
      ],
    });
    // Every pod the release runs carries the labels the policies admit.
    for (const m of production as Obj[]) {
      if (m.spec?.template) expect(m.spec.template.metadata.labels, key(m as Manifest)).toMatchObject(release.podSelector.matchLabels);
    }
  });

  it("an external NATS replaces the StatefulSet, with its CA mounted for tls://", () => {
    const ms = render({
      values: [valuesFile({ nats: { enabled: false }, externalNats: { url: "tls://nats.messaging:4222", tlsCaSecret: "nats-ca" } })],
    });
    expect(ms.filter((m) => m.kind === "StatefulSet")).toEqual([]);
    const cm = ms.find((m) => m.kind === "ConfigMap") as Obj;
    expect(cm.data.ISRDPO_NATS_URL).toBe("tls://nats.messaging:4222");
    const c = one(ms, "Deployment", "inference").spec.template.spec.containers[0];
    expect(c.env).toContainEqual({ name: "ISRDPO_NATS_TLS_CA_FILE", value: "/etc/isrdpo/nats-ca/ca.crt" });
    expect(c.volumeMounts).toContainEqual({ name: "nats-ca", mountPath: "/etc/isrdpo/nats-ca", readOnly: true });
  });
});

describe("the chart's own NATS", () => {
  const natsServer = ["/usr/sbin/nats-server", "/usr/bin/nats-server"].find((p) => existsSync(p)) ?? "nats-server";

  function natsConf(ms: Manifest[]): { conf: string; env: Record<string, string> } {
    const cm = ms.find((m) => m.kind === "ConfigMap" && component(m) === "nats") as Obj;
    const sts = ms.find((m) => m.kind === "StatefulSet") as Obj;
    const env: Record<string, string> = {};
    for (const e of sts.spec.template.spec.containers[0].env as Obj[]) env[e.name] = e.value ?? `fake-${e.name.toLowerCase()}`;
    return { conf: cm.data["nats.conf"], env };
  }

  function check(conf: string, env: Record<string, string>) {
    const f = join(tmp, `nats-${Math.random().toString(36).slice(2)}.conf`);
    writeFileSync(f, conf);
    const r = spawnSync(natsServer, ["-c", f, "-t"], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env } });
    if (r.error) throw new Error(`nats-server is needed for this test (scripts/bootstrap.sh installs it): ${r.error.message}`);
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  }

  it("nats-server accepts the rendered configuration (single node, cluster with token, password auth)", () => {
    const variants = [
      defaults,
      render({ values: [PRODUCTION_VALUES] }),
      render({ values: [valuesFile({ nats: { auth: "password" }, credentials: { natsUser: "u", natsPassword: "p" } })] }),
    ];
    for (const ms of variants) {
      const { conf, env } = natsConf(ms);
      const r = check(conf, env);
      expect(r.out).toMatch(/configuration file .* is valid/);
      expect(r.status).toBe(0);
    }
    const prod = natsConf(production);
    expect(prod.conf).toMatch(/routes: \[\n\s+nats:\/\/isrdpo-nats-0\.isrdpo-nats-headless\.isrdpo\.svc:6222/);
    expect(prod.env).toHaveProperty("NATS_TOKEN");
  });

  it("and the check can fail: a missing credential variable is refused", () => {
    const { conf, env } = natsConf(production);
    delete env.NATS_TOKEN;
    const r = check(conf, env);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/NATS_TOKEN/);
  });

  it("every service is pointed at it", () => {
    const cm = defaults.find((m) => m.kind === "ConfigMap" && m.metadata.name === "isrdpo-config") as Obj;
    expect(cm.data.ISRDPO_NATS_URL).toBe("nats://isrdpo-nats.isrdpo.svc:4222");
    const svc = defaults.find((m) => m.kind === "Service" && m.metadata.name === "isrdpo-nats") as Obj;
    expect(svc.spec.ports[0]).toMatchObject({ port: 4222, targetPort: "client" });
    const sts = defaults.find((m) => m.kind === "StatefulSet") as Obj;
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("10Gi");
  });
});

describe("NOTES.txt", () => {
  it("shows how to reach RunService with buf curl, grpcurl and isrdpo run create / watch", () => {
    const notes = renderNotes();
    expect(notes).toContain("kubectl -n isrdpo port-forward svc/isrdpo-orchestrator 50051:50051");
    expect(notes).toContain("buf curl --protocol grpc --http2-prior-knowledge http://localhost:50051/isrdpo.v1.RunService/ListRuns");
    expect(notes).toContain('grpcurl -plaintext -d \'{"run_id": "<run-id>"}\' localhost:50051 isrdpo.v1.RunService/WatchRun');
    expect(notes).toContain("isrdpo run watch <run-id> --server http://localhost:50051");
    expect(notes).toContain("isrdpo run create --spec examples/cluster-run.yaml --server http://localhost:50051 --watch");
    expect(notes).toMatch(/judge\s+isrdpo-judge\.isrdpo\.svc:50054\s+1 replica\n/);
    expect(notes).not.toContain("TOKEN");
  });

  it("adds the bearer token and TLS when they are on", () => {
    const notes = renderNotes({ values: [PRODUCTION_VALUES, valuesFile({ tls: { enabled: true, secretName: "isrdpo-tls" } })] });
    expect(notes).toContain("get secret isrdpo-credentials -o jsonpath='{.data.grpc-token}'");
    expect(notes).toContain(
      'buf curl --protocol grpc -H "authorization: Bearer $TOKEN" https://localhost:50051/isrdpo.v1.RunService/ListRuns',
    );
    expect(notes).toContain("ISRDPO_GRPC_TOKEN=$TOKEN isrdpo run watch <run-id> --server https://localhost:50051");
    expect(notes).toContain(
      "ISRDPO_GRPC_TOKEN=$TOKEN isrdpo run create --spec examples/cluster-run.yaml --server https://localhost:50051 --watch",
    );
    expect(notes).toMatch(/judge\s+isrdpo-judge\.isrdpo\.svc:50054\s+autoscaled 2-16/);
  });
});

describe("parseManifests", () => {
  it("refuses output that is not YAML", () => {
    expect(() => parseManifests("a: [1,\n---\n")).toThrow(/does not parse/);
  });
});
