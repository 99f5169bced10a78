import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { PoolAbortError, PoolClosedError, WorkerCrashError, WorkerPool } from "../src/index.ts";

const script = new URL("./echo-worker.ts", import.meta.url);
let pool: WorkerPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe("WorkerPool", () => {
  it("answers every request, each with its own result, spread over the threads", async () => {
    pool = new WorkerPool({ size: 2, script });
    const out = (await Promise.all(Array.from({ length: 8 }, (_, i) => pool!.run({ op: "echo", value: i })))) as {
      value: number;
      threadId: number;
    }[];
    expect(out.map((o) => o.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(out.map((o) => o.threadId)).size).toBe(2);
  }, 30_000);

  it("a request in flight keeps the process alive; an idle pool lets it exit", async () => {
    const child = fileURLToPath(new URL("./keep-alive.ts", import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", child], { timeout: 30_000 });
    expect(stdout).toBe("answer 7\n");
  }, 30_000);

  it("cancels: a queued request is dropped, a running one's thread is stopped and replaced", async () => {
    pool = new WorkerPool({ size: 1, script });
    const ac = new AbortController();
    const started = Date.now();
    const running = pool.run({ op: "spin", value: 20_000 }, [], ac.signal);
    const queued = pool.run({ op: "echo", value: 1 }, [], ac.signal);
    const after = pool.run({ op: "echo", value: 2 });
    await new Promise((r) => setTimeout(r, 300));
    ac.abort(new Error("run cancelled"));
    await expect(running).rejects.toThrow(PoolAbortError);
    await expect(queued).rejects.toThrow(/request cancelled: run cancelled/);
    // The replacement thread serves what came after, long before the spin would have ended.
    expect(((await after) as { value: number }).value).toBe(2);
    expect(Date.now() - started).toBeLessThan(10_000);
    await expect(pool.run({ op: "echo", value: 3 }, [], ac.signal)).rejects.toThrow(PoolAbortError);
  }, 30_000);

  it("moves buffers both ways", async () => {
    pool = new WorkerPool({ size: 1, script });
    const data = new Float32Array([1, 2, 3.5]);
    const out = (await pool.run({ op: "sum", data }, [data.buffer as ArrayBuffer])) as Float32Array;
    expect(Array.from(out)).toEqual([6.5]);
    expect(data.byteLength).toBe(0); // transferred, not copied
  }, 30_000);

  it("rejects with the worker's error and keeps serving", async () => {
    pool = new WorkerPool({ size: 1, script });
    await expect(pool.run({ op: "fail", value: 7 })).rejects.toThrow("failed on 7");
    expect(await pool.run({ op: "echo", value: 1 })).toMatchObject({ value: 1 });
  }, 30_000);

  it("fails the request of a thread that dies, replaces the thread, and serves the rest", async () => {
    pool = new WorkerPool({ size: 1, script });
    const dead = pool.run({ op: "die" });
    const next = pool.run({ op: "echo", value: 2 });
    await expect(dead).rejects.toBeInstanceOf(WorkerCrashError);
    expect(await next).toMatchObject({ value: 2 });
  }, 30_000);

  it("rejects queued and new requests once closed", async () => {
    pool = new WorkerPool({ size: 1, script });
    const running = expect(pool.run({ op: "echo", value: 1 })).rejects.toBeInstanceOf(PoolClosedError);
    const queued = expect(pool.run({ op: "echo", value: 2 })).rejects.toBeInstanceOf(PoolClosedError);
    await pool.close();
    await Promise.all([running, queued]);
    await expect(pool.run({ op: "echo" })).rejects.toBeInstanceOf(PoolClosedError);
    expect(() => new WorkerPool({ size: 0, script })).toThrow(/size must be a positive integer/);
  }, 30_000);
});
