// Issue 2 acceptance: every service answers health and its RPCs over gRPC to a grpc-js client built from
// the .proto files; reflection works for `buf curl`; SIGTERM lets streams finish; bad config fails cleanly.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, grpc, unary } from "../support/grpc-js.ts";
import { REPO_ROOT, runToEnd, startServer, type ServerProcess } from "../support/processes.ts";

const exec = promisify(execFile);
const BUF = `${REPO_ROOT}node_modules/.bin/buf`;

// One call per service with a minimal request; each must answer well-formed or UNIMPLEMENTED.
const CALLS: Array<[service: string, method: string, request: object]> = [
  ["RunService", "ListRuns", {}],
  ["InferenceService", "Generate", { inputs: [{ prompt: "what colour is the square?" }] }],
  ["ContextService", "Describe", { video: { syntheticClipId: "clip-0" } }],
  ["JudgeService", "Judge", { instruction: "q", responseA: "a", responseB: "b" }],
  ["TrainerService", "GetJob", { jobId: "job-1" }],
  ["EvaluatorService", "Evaluate", {}],
];

describe("isrdpo serve all", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer("apps/cli/src/main.ts", ["serve", "all", "--port", "0"]);
  });
  afterAll(async () => {
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });

  it("reports SERVING for the server and for every service", async () => {
    const health = client("grpc.health.v1.Health", server.port);
    for (const name of ["", ...CALLS.map(([s]) => `isrdpo.v1.${s}`)]) {
      expect(await unary(health, "Check", { service: name })).toEqual({ status: "SERVING" });
    }
    await expect(unary(health, "Check", { service: "isrdpo.v1.NoSuchService" })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    health.close();
  });

  it.each(CALLS)("%s/%s answers well-formed or UNIMPLEMENTED", async (service, method, request) => {
    const c = client(service, server.port);
    try {
      const response = await unary(c, method, request);
      expect(typeof response).toBe("object");
    } catch (err) {
      const e = err as grpc.ServiceError;
      // A typed status with a message, never a transport failure.
      expect([grpc.status.UNIMPLEMENTED, grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND]).toContain(e.code);
      expect(e.details.length).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  });
});

describe("isrdpo serve inference", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer("apps/cli/src/main.ts", ["serve", "inference", "--port", "0"]);
  });
  afterAll(async () => {
    server.child.kill("SIGTERM");
    await server.exited;
  });

  // v1, and v1alpha for older grpcurl, grpcui and Postman.
  const REFLECTION = ["grpc-v1", "grpc-v1alpha"];

  it.each(REFLECTION)("lists its services through reflection %s, without proto files", async (version) => {
    const { stdout } = await exec(BUF, [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--reflect-protocol",
      version,
      "--list-services",
      `http://127.0.0.1:${server.port}`,
    ]);
    const services = stdout.trim().split("\n");
    expect(services).toContain("isrdpo.v1.InferenceService");
    expect(services).toContain("grpc.health.v1.Health");
    expect(services).toContain("grpc.reflection.v1.ServerReflection");
    expect(services).toContain("grpc.reflection.v1alpha.ServerReflection");
    expect(services).not.toContain("isrdpo.v1.JudgeService");
  });

  it.each(REFLECTION)("resolves request schemas through reflection %s (schema-less call)", async (version) => {
    const call = exec(BUF, [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--reflect-protocol",
      version,
      "-d",
      '{"inputs":[{"prompt":"hi"}]}',
      `http://127.0.0.1:${server.port}/isrdpo.v1.InferenceService/Generate`,
    ]);
    // buf curl exits non-zero on an error status and prints the status as JSON on stderr.
    const out = await call.then(
      (r) => r.stdout,
      (err: { stderr: string }) => err.stderr,
    );
    expect(out).toMatch(/"code": "(unimplemented|invalid_argument|not_found)"|"generations"/);
  });
});

describe("graceful shutdown", () => {
  it("lets a server stream in flight at SIGTERM complete, then exits 0", async () => {
    const server = await startServer("test/foundation/fixtures/slow-stream-server.ts", []);
    const c = client("TrainerService", server.port);
    const updates: any[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const call = c.WatchJob({ jobId: "j1" });
      call.on("data", (m: any) => {
        updates.push(m);
        if (updates.length === 1) server.child.kill("SIGTERM");
      });
      call.on("error", reject);
      call.on("end", resolve);
    });
    await done;
    c.close();
    expect(updates.map((u) => u.job.progress.step)).toEqual([1, 2, 3, 4, 5]);
    expect(updates.at(-1).job.state).toBe("JOB_STATE_SUCCEEDED");
    expect(await server.exited).toBe(0);
    expect(server.stderr()).toContain('"msg":"stopped"');
  });
});

describe("configuration errors", () => {
  it("an invalid value exits non-zero with one line naming the field and no stack trace", async () => {
    const { code, stdout, stderr } = await runToEnd("apps/cli/src/main.ts", ["serve", "judge"], { ISRDPO_SHUTDOWN_GRACE_MS: "soon" });
    expect(code).not.toBe(0);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toEqual(["isrdpo: invalid config shutdownGraceMs: must be a number (from ISRDPO_SHUTDOWN_GRACE_MS)"]);
  });

  it("an unknown service name is rejected with the list of choices", async () => {
    const { code, stderr } = await runToEnd("apps/cli/src/main.ts", ["serve", "judges"]);
    expect(code).not.toBe(0);
    expect(stderr).toContain("Allowed choices are orchestrator, inference, context, judge, trainer, evaluator, all");
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
