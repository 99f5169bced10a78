// The caption-proxy protocols against a real local chat-completions server: parsing, majority over
// samples, unparsable answers counted (never scored), 429/500 retried, a spent budget stopping, a
// silent server timing out — and the API key in no request log.
import { afterEach, describe, expect, it } from "vitest";
import {
  CAPTION_PROXY_V1,
  COMPACT_CAPTION_V1,
  ChatClient,
  LmHttpError,
  LmTimeoutError,
  captionJudgeProtocol,
  majorityScore,
  parseCaptionScore,
  protocolTemplate,
  scoreAnswers,
} from "../src/index.ts";
import { startChatServer, type ChatServer, type Reply } from "../src/testing.ts";

const servers: ChatServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(respond: (body: string, index: number) => Reply): Promise<ChatServer> {
  const s = await startChatServer((req, i) => respond(req.body.messages.map((m) => m.content).join("\n"), i));
  servers.push(s);
  return s;
}

const item = (answer: string) => ({ caption: "A red circle moves left. A blue square stays.", question: "What moves?", answer });
const fast = { retryBaseMs: 1, retryMaxMs: 5 };

describe("parseCaptionScore", () => {
  const scale = { min: 0, max: 5 };
  it('reads "Score: N" (the last), JSON {"score": N} inside text or a fence, a bare number', () => {
    expect(parseCaptionScore("The answer matches the caption.\nScore: 4", scale)).toBe(4);
    expect(parseCaptionScore("Score: 1 at first glance... final Score: 3", scale)).toBe(3);
    expect(parseCaptionScore('```json\n{"score": 2, "reason": "partly"}\n```', scale)).toBe(2);
    expect(parseCaptionScore('{"score": "5"}', scale)).toBe(5);
    expect(parseCaptionScore(" 0 ", scale)).toBe(0);
  });
  it("anything else, and scores off the scale, are unparsable", () => {
    for (const bad of ["", "good answer", "Score: 7", '{"score": -1}', '{"verdict": 3}', "Score: high"])
      expect(parseCaptionScore(bad, scale), bad).toBeUndefined();
  });
  it("the protocols are versioned and their templates recordable", () => {
    expect(captionJudgeProtocol("caption-proxy-v1")).toBe(CAPTION_PROXY_V1);
    expect(captionJudgeProtocol("compact-caption-v1")).toBe(COMPACT_CAPTION_V1);
    expect(() => captionJudgeProtocol("v0")).toThrow(/unknown "v0" \(known: caption-proxy-v1, compact-caption-v1\)/);
    expect(protocolTemplate(CAPTION_PROXY_V1)).toMatch(/Video caption: \{caption\}\nQuestion: \{question\}\nAnswer: \{answer\}/);
    expect(protocolTemplate(COMPACT_CAPTION_V1)).toBe("[user]\ncaption: {caption}\nquestion: {question}\nanswer: {answer}\nscore (0-5):");
  });
  it("majorityScore: the most frequent, a tie to the lower", () => {
    expect(majorityScore([3, 4, 4])).toBe(4);
    expect(majorityScore([5, 2])).toBe(2);
    expect(() => majorityScore([])).toThrow(/no scores/);
  });
});

describe("scoreAnswers against a chat-completions server", () => {
  it("scores each answer; malformed and empty answers are counted as unparsable, never scored", async () => {
    const s = await server((body) =>
      body.includes("Answer: a red circle")
        ? { text: "Right.\nScore: 5" }
        : body.includes("Answer: nothing")
          ? { text: "" }
          : { text: "It is fine." },
    );
    const judge = new ChatClient({ baseUrl: s.url, model: "m" });
    const out = await scoreAnswers(judge, [item("a red circle"), item("nothing"), item("a green star")], { protocol: CAPTION_PROXY_V1 });
    expect(out).toEqual({
      protocol: "caption-proxy-v1",
      judge: `m@${s.url}`,
      scores: [5, undefined, undefined],
      unparsable: 2,
      unscored: 2,
      stopped: "",
    });
    expect(s.requests[0]!.body.temperature).toBe(0);
  });

  it("majority over samples at temperature 0.7, each sample seeded", async () => {
    const s = await server((_, i) => ({ text: `Score: ${[2, 4, 4][i % 3]}` }));
    const judge = new ChatClient({ baseUrl: s.url, model: "m", concurrency: 1 });
    const out = await scoreAnswers(judge, [item("x")], { samples: 3 });
    expect(out.scores).toEqual([4]);
    expect(s.requests.map((r) => [r.body.temperature, r.body.seed])).toEqual([
      [0.7, 0],
      [0.7, 1],
      [0.7, 2],
    ]);
  });

  it("retries 429 and 500 with backoff, then scores", async () => {
    const s = await server((_, i) => (i === 0 ? { status: 429 } : i === 1 ? { status: 500 } : { text: "Score: 3" }));
    const judge = new ChatClient({ baseUrl: s.url, model: "m", ...fast });
    const out = await scoreAnswers(judge, [item("x")]);
    expect(out.scores).toEqual([3]);
    expect(judge.stats()).toEqual({ requests: 3, retries: 2 });
  });

  it("an endpoint that keeps failing is an error after its retries, not a score", async () => {
    const s = await server(() => ({ status: 503 }));
    const judge = new ChatClient({ baseUrl: s.url, model: "m", maxRetries: 2, ...fast });
    await expect(scoreAnswers(judge, [item("x")])).rejects.toBeInstanceOf(LmHttpError);
    expect(s.requests).toHaveLength(3);
  });

  it("a silent server times out (no hang)", async () => {
    const s = await server(() => ({ hang: true }));
    const judge = new ChatClient({ baseUrl: s.url, model: "m", timeoutMs: 100, maxRetries: 1, ...fast });
    await expect(scoreAnswers(judge, [item("x")])).rejects.toBeInstanceOf(LmTimeoutError);
  });

  it("a spent budget stops judging: the rest stay unscored and `stopped` says why", async () => {
    const s = await server(() => ({ text: "Score: 4" }));
    const judge = new ChatClient({ baseUrl: s.url, model: "m", concurrency: 1, maxRequests: 2 });
    const out = await scoreAnswers(judge, [item("a"), item("b"), item("c"), item("d")]);
    expect(out.scores).toEqual([4, 4, undefined, undefined]);
    expect(out.unscored).toBe(2);
    expect(out.stopped).toMatch(/LM request budget of 2 used up/);
    expect(s.requests).toHaveLength(2);
  });

  it("the API key goes in the Authorization header and nowhere else", async () => {
    const secret = "sk-test-caption-proxy-0123456789";
    const s = await server((_, i) => (i === 0 ? { status: 429 } : { text: "Score: 2" }));
    const lines: string[] = [];
    const judge = new ChatClient(
      { baseUrl: s.url, model: "m", apiKeyEnv: "JUDGE_KEY", ...fast },
      { env: { JUDGE_KEY: secret }, logger: { warn: (o, m) => lines.push(JSON.stringify(o) + m) } },
    );
    const out = await scoreAnswers(judge, [item("x")]);
    expect(out.scores).toEqual([2]);
    expect(s.requests[0]!.headers.authorization).toBe(`Bearer ${secret}`);
    expect(lines.length).toBe(1);
    expect(JSON.stringify({ lines, out, judge })).not.toContain(secret);
    expect(JSON.stringify(s.requests.map((r) => r.body))).not.toContain(secret);
  });
});
