import { inspect } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import {
  ChatClient,
  LmBudgetError,
  LmConfigError,
  LmHttpError,
  LmResponseError,
  LmTimeoutError,
  type ChatClientConfig,
} from "../src/index.ts";
import { startChatServer, type ChatServer, type Reply } from "../src/testing.ts";

const KEY = "sk-test-5f0e2c9b7a6d4e31";
const servers: ChatServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(respond: (index: number) => Reply | Promise<Reply>): Promise<ChatServer> {
  const s = await startChatServer((_, i) => respond(i));
  servers.push(s);
  return s;
}

/** A client with fast retries, the key in a private environment, and every log line captured. */
function client(server: ChatServer, config: Partial<ChatClientConfig> = {}) {
  const logs: string[] = [];
  const c = new ChatClient(
    { baseUrl: server.url, model: "judge-1", apiKeyEnv: "JUDGE_KEY", retryBaseMs: 5, retryMaxMs: 50, ...config },
    { env: { JUDGE_KEY: KEY }, logger: { warn: (obj, msg) => logs.push(JSON.stringify({ ...obj, msg })) } },
  );
  return { c, logs };
}

const user = [{ role: "user" as const, content: "Score this." }];

describe("ChatClient", () => {
  it("sends the model, messages and sampling; returns the text; the key goes in the Authorization header only", async () => {
    const server = await serve(() => ({ text: "Score: 4" }));
    const { c } = client(server, { temperature: 0.2, maxTokens: 32 });
    expect(await c.complete([{ role: "system", content: "You judge." }, ...user], { seed: 7 })).toBe("Score: 4");
    const [req] = server.requests;
    expect(req!.body).toMatchObject({
      model: "judge-1",
      messages: [
        { role: "system", content: "You judge." },
        { role: "user", content: "Score this." },
      ],
      temperature: 0.2,
      max_tokens: 32,
      seed: 7,
    });
    expect(req!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(c.stats()).toEqual({ requests: 1, retries: 0 });
  });

  it("retries 429 and 500 with backoff (Retry-After honoured), then answers", async () => {
    const replies: Reply[] = [{ status: 429, headers: { "retry-after": "0" } }, { status: 500 }, { status: 503 }, { text: "ok" }];
    const server = await serve((i) => replies[i]!);
    const { c, logs } = client(server);
    expect(await c.complete(user)).toBe("ok");
    expect(server.requests).toHaveLength(4);
    expect(c.stats()).toEqual({ requests: 4, retries: 3 });
    expect(logs.map((l) => JSON.parse(l).attempt)).toEqual([1, 2, 3]);
    expect(JSON.parse(logs[1]!)).toMatchObject({ delayMs: 10, msg: "LM request failed; retrying" });
  });

  it("gives up after maxRetries with a typed error naming the status; a 400 is not retried", async () => {
    const always500 = await serve(() => ({ status: 500, body: JSON.stringify({ error: { message: "model crashed" } }) }));
    const { c } = client(always500, { maxRetries: 2 });
    const err = await c.complete(user).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LmHttpError);
    expect(err).toMatchObject({ status: 500, attempts: 3 });
    expect((err as Error).message).toContain("model crashed");
    expect(always500.requests).toHaveLength(3);

    const bad = await serve(() => ({ status: 400 }));
    const { c: c2 } = client(bad);
    await expect(c2.complete(user)).rejects.toMatchObject({ name: "LmHttpError", status: 400, attempts: 1 });
    expect(bad.requests).toHaveLength(1);
  });

  it("a slow server times out, is retried, and fails with LmTimeoutError", async () => {
    const server = await serve(() => ({ hang: true }));
    const { c } = client(server, { timeoutMs: 150, maxRetries: 1 });
    const err = await c.complete(user).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LmTimeoutError);
    expect((err as Error).message).toMatch(/no answer within 150 ms after 2 attempt\(s\)$/);
    expect(server.requests).toHaveLength(2);
  });

  it("malformed JSON and an answer without choices are LmResponseError; empty content is empty text", async () => {
    const replies: Reply[] = [{ raw: "{not json" }, { raw: JSON.stringify({ id: "x", choices: [] }) }, { text: "" }, { text: null }];
    const server = await serve((i) => replies[i]!);
    const { c } = client(server);
    await expect(c.complete(user)).rejects.toBeInstanceOf(LmResponseError);
    await expect(c.complete(user)).rejects.toThrow(/not a chat completion: no choices/);
    expect(await c.complete(user)).toBe("");
    expect(await c.complete(user)).toBe("");
    expect(server.requests).toHaveLength(4); // none of these is retried
  });

  it("the request budget counts retries, stops calls and says so", async () => {
    const server = await serve((i) => (i === 0 ? { status: 500 } : { text: "fine" }));
    const { c } = client(server, { maxRequests: 3 });
    expect(await c.complete(user)).toBe("fine"); // 2 requests
    expect(await c.complete(user)).toBe("fine"); // 1 request
    const err = await c.complete(user).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LmBudgetError);
    expect((err as Error).message).toBe(`LM request budget of 3 used up (judge-1@${server.url}): no further requests are made`);
    expect(server.requests).toHaveLength(3);
  });

  it("never runs more requests at once than the concurrency limit", async () => {
    let inFlight = 0;
    let peak = 0;
    const server = await serve(async () => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      return { text: "x" };
    });
    const { c } = client(server, { concurrency: 3 });
    await Promise.all(Array.from({ length: 12 }, () => c.complete(user)));
    expect(server.requests).toHaveLength(12);
    expect(peak).toBe(3);
  });

  it("the key is never in logs, errors, toJSON or inspect", async () => {
    const replies: Reply[] = [{ status: 429 }, { status: 401, body: JSON.stringify({ error: { message: "bad key" } }) }];
    const server = await serve((i) => replies[i]!);
    const { c, logs } = client(server);
    const err = (await c.complete(user).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ name: "LmHttpError", status: 401 });
    expect(server.requests.every((r) => r.headers.authorization === `Bearer ${KEY}`)).toBe(true); // it was used
    const seen = [...logs, err.message, String(err.stack), JSON.stringify(c), inspect(c, { depth: 10, showHidden: true })].join("\n");
    expect(logs.length).toBe(1);
    expect(seen).toContain("judge-1");
    expect(seen).not.toContain(KEY);
    expect(seen).not.toContain(KEY.slice(3, 15));
  });

  it("a missing key variable or a bad URL is a config error naming the field", () => {
    expect(() => new ChatClient({ baseUrl: "http://127.0.0.1:1/v1", model: "m", apiKeyEnv: "NOPE_KEY" }, { env: {} })).toThrow(
      new LmConfigError("apiKeyEnv", "environment variable NOPE_KEY is not set"),
    );
    expect(() => new ChatClient({ baseUrl: "not a url", model: "m" })).toThrow(/^baseUrl: /);
    expect(() => new ChatClient({ baseUrl: "http://x/v1", model: "m", concurrency: 0 })).toThrow(/^concurrency: /);
  });
});
