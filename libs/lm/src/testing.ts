// A real OpenAI-compatible chat-completions server on node:http, for tests of anything that talks to
// an LM: every request is recorded (headers and body), and `respond` scripts each answer: text, an
// error status, a malformed body, or silence (a timeout).
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ChatRequest {
  headers: IncomingHttpHeaders;
  body: { model: string; messages: { role: string; content: string }[]; temperature?: number; max_tokens?: number; seed?: number };
}

export type Reply =
  | { text: string | null }
  | { status: number; body?: string; headers?: Record<string, string> }
  | { raw: string }
  | { hang: true };

export interface ChatServer {
  url: string;
  requests: ChatRequest[];
  close(): Promise<void>;
}

export async function startChatServer(respond: (req: ChatRequest, index: number) => Reply | Promise<Reply>): Promise<ChatServer> {
  const requests: ChatRequest[] = [];
  const hanging = new Set<import("node:http").ServerResponse>();
  const server: Server = createServer((req, res) => {
    let data = "";
    req.on("data", (c: Buffer) => (data += c.toString("utf8")));
    req.on("end", async () => {
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
        res.writeHead(404).end();
        return;
      }
      const request: ChatRequest = { headers: req.headers, body: JSON.parse(data) };
      const index = requests.push(request) - 1;
      const reply = await respond(request, index);
      if ("hang" in reply) {
        hanging.add(res);
        return;
      }
      if ("raw" in reply) {
        res.writeHead(200, { "content-type": "application/json" }).end(reply.raw);
        return;
      }
      if ("status" in reply) {
        res
          .writeHead(reply.status, { "content-type": "application/json", ...reply.headers })
          .end(reply.body ?? JSON.stringify({ error: { message: `status ${reply.status}`, type: "server_error" } }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          id: `chatcmpl-${index}`,
          object: "chat.completion",
          created: 0,
          model: request.body.model,
          choices: [{ index: 0, message: { role: "assistant", content: reply.text }, finish_reason: "stop" }],
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
