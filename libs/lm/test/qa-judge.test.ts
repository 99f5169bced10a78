import { afterEach, describe, expect, it } from "vitest";
import {
  ChatClient,
  COMPACT_QA_V1,
  VIDEO_CHATGPT_QA_V1,
  judgeQa,
  majorityVerdict,
  parsePredScore,
  parseScore,
  qaJudgeProtocol,
} from "../src/index.ts";
import { startChatServer, type ChatServer, type Reply } from "../src/testing.ts";

const servers: ChatServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe("parsers", () => {
  it("read the Video-ChatGPT dict in its Python and JSON forms, inside other text", () => {
    expect(parsePredScore("{'pred': 'yes', 'score': 4}")).toEqual({ match: true, score: 4 });
    expect(parsePredScore('{"pred": "no", "score": 1}')).toEqual({ match: false, score: 1 });
    expect(parsePredScore("Sure!\n```python\n{'pred': 'Yes', 'score': 4.8}\n```")).toEqual({ match: true, score: 4.8 });
    expect(parsePredScore("{'score': '3', 'pred': 'no'}")).toEqual({ match: false, score: 3 });
    expect(parsePredScore("pred: yes, score: 5")).toEqual({ match: true, score: 5 });
    for (const bad of ["", "I think it matches.", "{'pred': 'maybe', 'score': 3}", "{'pred': 'yes'}", "{'pred': 'yes', 'score': 'high'}"])
      expect(parsePredScore(bad), bad).toBeUndefined();
  });

  it("the protocol truncates scores to integers (as Video-ChatGPT's script) and rejects out-of-range ones", () => {
    expect(VIDEO_CHATGPT_QA_V1.parse("{'pred': 'yes', 'score': 4.8}")).toEqual({ match: true, score: 4 });
    expect(VIDEO_CHATGPT_QA_V1.parse("{'pred': 'yes', 'score': 7}")).toBeUndefined();
    expect(VIDEO_CHATGPT_QA_V1.parse("{'pred': 'no', 'score': -1}")).toBeUndefined();
    expect(COMPACT_QA_V1.parse(" yes 4")).toEqual({ match: true, score: 4 });
    expect(COMPACT_QA_V1.parse(" no, score 0")).toEqual({ match: false, score: 0 });
    expect(COMPACT_QA_V1.parse(" a red circle")).toBeUndefined();
  });

  it('"Score: N" on a scale', () => {
    const s = { min: 1, max: 5 };
    expect(parseScore("Score: 4", s)).toBe(4);
    expect(parseScore("The answer is vague.\n**Score:** 2/5", s)).toBe(2);
    expect(parseScore("score = 3.5", s)).toBe(3.5);
    expect(parseScore("first score: 1, final score: 5", s)).toBe(5);
    expect(parseScore(" 3 ", s)).toBe(3);
    expect(parseScore("Score: 0", s)).toBeUndefined();
    expect(parseScore("no number here", s)).toBeUndefined();
  });

  it("majority vote: majority yes/no (tie → no), most frequent score (tie → lower), fallback when nothing parsed", () => {
    const fb = { match: false, score: 0 };
    const y = (score: number) => ({ match: true, score });
    const n = (score: number) => ({ match: false, score });
    expect(majorityVerdict([y(4), y(4), n(2)], fb)).toEqual({ match: true, score: 4 });
    expect(majorityVerdict([y(5), n(2)], fb)).toEqual({ match: false, score: 2 });
    expect(majorityVerdict([undefined, y(3), undefined], fb)).toEqual({ match: true, score: 3 });
    expect(majorityVerdict([undefined, undefined], fb)).toBe(fb);
  });

  it("unknown protocol ids are refused with the known ones listed", () => {
    expect(qaJudgeProtocol("video-chatgpt-qa-v1")).toBe(VIDEO_CHATGPT_QA_V1);
    expect(() => qaJudgeProtocol("gpt-eval")).toThrow('protocol: unknown "gpt-eval" (known: video-chatgpt-qa-v1, compact-qa-v1)');
  });
});

/** A judge that answers from the request: yes/5 when the predicted answer contains the correct one. */
function fairJudge(text: string): Reply {
  const correct = /Correct Answer: (.*)\n/.exec(text)![1]!;
  const predicted = /Predicted Answer: (.*)\n/.exec(text)![1]!;
  return predicted.toLowerCase().includes(correct.toLowerCase())
    ? { text: "{'pred': 'yes', 'score': 5}" }
    : { text: "{'pred': 'no', 'score': 1}" };
}

describe("judgeQa against a chat-completions server", () => {
  const items = [
    { question: "What colour is the circle?", reference: "red", prediction: "A red circle." },
    { question: "How many objects?", reference: "2", prediction: "3" },
    { question: "Which way does it move?", reference: "left", prediction: "It moves left." },
  ];

  it("sends the protocol's prompt and reads every verdict", async () => {
    const server = await startChatServer((req) => fairJudge(req.body.messages[1]!.content));
    servers.push(server);
    const out = await judgeQa(new ChatClient({ baseUrl: server.url, model: "m" }), items);
    expect(out).toMatchObject({ protocol: "video-chatgpt-qa-v1", judge: `m@${server.url}`, unparsable: 0, unjudged: 0, stopped: "" });
    expect(out.results.map((r) => [r!.match, r!.score])).toEqual([
      [true, 5],
      [false, 1],
      [true, 5],
    ]);
    const sent = server.requests[0]!.body.messages;
    expect(sent.map((m) => m.role)).toEqual(["system", "user"]);
    expect(sent[1]!.content).toContain("Question: What colour is the circle?\nCorrect Answer: red\nPredicted Answer: A red circle.\n");
    expect(server.requests[0]!.body.temperature).toBe(0);
  });

  it("counts malformed and empty answers as unparsable; an item with no parsable sample gets the fallback", async () => {
    // Item 0: two good samples of three; item 1: every sample unparsable; item 2: one malformed body among good ones.
    const server = await startChatServer((req) => {
      const content = req.body.messages[1]!.content;
      const sample = req.body.seed!;
      if (content.includes("How many")) return sample === 0 ? { text: "" } : { text: "I cannot tell." };
      if (content.includes("colour") && sample === 1) return { text: "yes!!" };
      if (content.includes("Which way") && sample === 2) return { raw: "<html>502</html>" };
      return fairJudge(content);
    });
    servers.push(server);
    const out = await judgeQa(new ChatClient({ baseUrl: server.url, model: "m", concurrency: 2 }), items, { samples: 3 });
    expect(server.requests).toHaveLength(9);
    expect(server.requests.every((r) => r.body.temperature === 0.7)).toBe(true);
    expect(out.results).toEqual([
      { match: true, score: 5, parsed: 2, unparsable: 1 },
      { match: false, score: 0, parsed: 0, unparsable: 3 },
      { match: true, score: 5, parsed: 2, unparsable: 1 },
    ]);
    expect(out).toMatchObject({ unparsable: 5, unjudged: 1, stopped: "" });
  });

  it("a spent budget stops judging: judged items keep their verdict, the rest are reported undefined", async () => {
    const server = await startChatServer((req) => fairJudge(req.body.messages[1]!.content));
    servers.push(server);
    const out = await judgeQa(new ChatClient({ baseUrl: server.url, model: "m", maxRequests: 2, concurrency: 1 }), items);
    expect(server.requests).toHaveLength(2);
    expect(out.results[0]).toMatchObject({ match: true, score: 5 });
    expect(out.results[1]).toMatchObject({ match: false, score: 1 });
    expect(out.results[2]).toBeUndefined();
    expect(out.stopped).toMatch(/^LM request budget of 2 used up/);
  });

  it("an endpoint that keeps failing fails the judgement with its status", async () => {
    const server = await startChatServer(() => ({ status: 503 }));
    servers.push(server);
    const client = new ChatClient({ baseUrl: server.url, model: "m", maxRetries: 1, retryBaseMs: 1 });
    await expect(judgeQa(client, items.slice(0, 1))).rejects.toMatchObject({ name: "LmHttpError", status: 503, attempts: 2 });
  });
});
