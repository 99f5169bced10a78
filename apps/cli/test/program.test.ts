// The command tree: version, required options marked in help, and `run list|get` output for people
// and for programs, against a real RunService server.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { GetRunResponseSchema, ListRunsResponseSchema, RunService, RunState } from "@isrdpo/contracts";
import { LocalArtifactStore, MemoryBus } from "@isrdpo/bus";
import { createLogger, loadConfig, startServer } from "@isrdpo/runtime";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SERVICE_NAMES } from "../src/commands/serve.ts";
import { buildProgram } from "../src/program.ts";

afterEach(() => vi.restoreAllMocks());

const capture = () => {
  const out: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((s) => {
    out.push(String(s));
    return true;
  });
  return out;
};

describe("isrdpo", () => {
  it("prints its version and marks required options in help", async () => {
    const program = buildProgram().exitOverride();
    const out = capture();
    await expect(program.parseAsync(["node", "isrdpo", "--version"])).rejects.toMatchObject({ code: "commander.version" });
    expect(out.join("")).toBe("0.1.0\n");
    const create = buildProgram()
      .commands.find((c) => c.name() === "run")!
      .commands.find((c) => c.name() === "create")!;
    // Commander wraps descriptions to the widest option, so compare with the wrapping undone.
    const help = create.helpInformation().replace(/\s+/g, " ");
    expect(help).toMatch(/--spec <file> run spec \(YAML or JSON, RunSpec fields\) \(required\)/);
    expect(help).toMatch(/-o, --output <format>/);
  });

  it("serve offers exactly the services (its choices are listed without loading them)", async () => {
    const { SERVICES } = await import("../src/services.ts");
    expect([...SERVICE_NAMES].sort()).toEqual(Object.keys(SERVICES).sort());
  });

  it("run list has a header with state, iteration and age; run get -o json is the Run", async () => {
    const now = Date.now();
    const runs = [
      {
        id: "r-b",
        state: RunState.RUNNING,
        currentIteration: 1,
        spec: { name: "second", iterations: 3 },
        createTime: timestampFromDate(new Date(now - 90_000)),
      },
      {
        id: "r-a",
        state: RunState.SUCCEEDED,
        currentIteration: 2,
        spec: { name: "first", iterations: 2 },
        createTime: timestampFromDate(new Date(now - 5_000)),
      },
    ];
    const config = loadConfig({ env: {}, flags: { host: "127.0.0.1", metricsPort: 0 } });
    const server = await startServer(
      [
        {
          name: "runs",
          defaultPort: 0,
          services: [RunService],
          register: (router) =>
            router.service(RunService, {
              listRuns: () => create(ListRunsResponseSchema, { runs }),
              getRun: (req) => create(GetRunResponseSchema, { run: runs.find((r) => r.id === req.runId) }),
            }),
        },
      ],
      {
        config,
        logger: createLogger("t", "silent"),
        bus: new MemoryBus(),
        artifacts: new LocalArtifactStore(mkdtempSync(join(tmpdir(), "p-"))),
      },
      0,
    );
    try {
      const server_ = `http://127.0.0.1:${server.port}`;
      let out = capture();
      await buildProgram().parseAsync(["node", "isrdpo", "run", "list", "--server", server_]);
      const lines = out.join("").trimEnd().split("\n");
      expect(lines[0]).toMatch(/^RUN {2}STATE {6}ITERATION {2}AGE +NAME$/);
      // ages are measured from now: about 1m30s and 5s (the server start adds a little)
      expect(lines[1]).toMatch(/^r-b {2}running {4}1\/3 {8}1m[3-5]\ds +second$/);
      expect(lines[2]).toMatch(/^r-a {2}succeeded {2}2\/2 {8}\d+s +first$/);
      expect(lines).toHaveLength(3);
      vi.restoreAllMocks();
      out = capture();
      await buildProgram().parseAsync(["node", "isrdpo", "run", "get", "r-b", "--server", server_, "-o", "json"]);
      expect(JSON.parse(out.join(""))).toMatchObject({
        id: "r-b",
        state: "RUN_STATE_RUNNING",
        currentIteration: 1,
        spec: { name: "second" },
      });
    } finally {
      await server.close();
    }
  });
});
