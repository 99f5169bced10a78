// A chat model: messages in, text out. ChatClient speaks OpenAI-compatible chat completions (OpenAI,
// vLLM, Ollama, llama.cpp) through the official `openai` package, with what a batch job needs around
// it: a concurrency limit, retries with exponential backoff on 429 / 5xx / timeouts, and a request
// budget. The API key comes from an environment variable named in the config and never leaves the
// SDK: not in errors, logs, toJSON() or inspect().
import { inspect } from "node:util";
import type OpenAI from "openai";
import pLimit, { type LimitFunction } from "p-limit";
import { z } from "zod";
import { LmBudgetError, LmConfigError, LmHttpError, LmResponseError, LmTimeoutError } from "./errors.ts";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface CompleteOptions {
  /** Overrides the client's default (0: greedy). */
  temperature?: number;
  maxTokens?: number;
  /** Passed to servers that support it (OpenAI, vLLM); others ignore it. */
  seed?: number;
  signal?: AbortSignal;
}

/** What judges and evaluators need of a language model; ChatClient and the built-in model implement it. */
export interface ChatModel {
  /** e.g. "gpt-4o-mini@https://api.openai.com/v1" or "builtin:<digest>"; recorded with results. */
  readonly name: string;
  complete(messages: readonly ChatMessage[], options?: CompleteOptions): Promise<string>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const ChatClientConfigSchema = z
  .object({
    /** e.g. "http://vllm:8000/v1" (the part before /chat/completions). */
    baseUrl: z.url({ protocol: /^https?$/ }),
    model: z.string().min(1),
    /** Name of the environment variable that holds the API key; unset: no key (local servers). */
    apiKeyEnv: z.string().regex(ENV_NAME, "must be an environment variable name").optional(),
    timeoutMs: z.number().int().min(1).default(60_000),
    /** Requests in flight at once. */
    concurrency: z.number().int().min(1).max(1024).default(4),
    /** Further attempts after a 429, a 5xx, a timeout or a dropped connection. */
    maxRetries: z.number().int().min(0).max(20).default(4),
    /** Backoff before retry k is retryBaseMs · 2^(k−1), at most retryMaxMs (or the server's Retry-After). */
    retryBaseMs: z.number().int().min(0).default(500),
    retryMaxMs: z.number().int().min(0).default(20_000),
    /** Most HTTP requests this client makes, retries included; 0: no limit. */
    maxRequests: z.number().int().min(0).default(0),
    temperature: z.number().min(0).max(2).default(0),
    maxTokens: z.number().int().min(1).default(256),
  })
  .strict();
export type ChatClientConfig = z.input<typeof ChatClientConfigSchema>;

/** pino-compatible: retries are logged at warn with the status and delay, never the key. */
export interface LmLogger {
  warn(obj: object, msg: string): void;
}

export interface ChatClientStats {
  requests: number;
  retries: number;
}

const RETRYABLE = (status: number) => status === 408 || status === 429 || status >= 500;

// The SDK is loaded on the first request: processes that never call an LM do not pay for it.
let sdk: Promise<typeof import("openai")> | undefined;
const loadSdk = () => (sdk ??= import("openai"));

/** An OpenAI-compatible chat-completions endpoint. */
export class ChatClient implements ChatModel {
  readonly name: string;
  readonly config: Readonly<z.output<typeof ChatClientConfigSchema>>;
  // Private fields: the SDK client holds the key, so it must never be serialised or inspected.
  readonly #openai: () => Promise<OpenAI>;
  readonly #limit: LimitFunction;
  readonly #logger: LmLogger | undefined;
  #requests = 0;
  #retries = 0;

  constructor(config: ChatClientConfig, options: { env?: NodeJS.ProcessEnv; logger?: LmLogger } = {}) {
    const parsed = ChatClientConfigSchema.safeParse(config);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new LmConfigError(issue.path.join(".") || "config", issue.message);
    }
    this.config = parsed.data;
    const env = options.env ?? process.env;
    let apiKey = "EMPTY"; // what vLLM and llama.cpp accept when they run without auth
    if (this.config.apiKeyEnv) {
      const value = env[this.config.apiKeyEnv];
      if (!value) throw new LmConfigError("apiKeyEnv", `environment variable ${this.config.apiKeyEnv} is not set`);
      apiKey = value;
    }
    this.name = `${this.config.model}@${this.config.baseUrl}`;
    let client: Promise<OpenAI> | undefined;
    const sdkOptions = { baseURL: this.config.baseUrl, apiKey, maxRetries: 0, timeout: this.config.timeoutMs, logLevel: "off" as const };
    this.#openai = () => (client ??= loadSdk().then((m) => new m.default(sdkOptions)));
    this.#limit = pLimit(this.config.concurrency);
    this.#logger = options.logger;
  }

  stats(): ChatClientStats {
    return { requests: this.#requests, retries: this.#retries };
  }

  /** The text of the first choice ("" when the server sent empty content). */
  complete(messages: readonly ChatMessage[], options: CompleteOptions = {}): Promise<string> {
    return this.#limit(() => this.#attempts(messages, options));
  }

  async #attempts(messages: readonly ChatMessage[], options: CompleteOptions): Promise<string> {
    const c = this.config;
    for (let attempt = 1; ; attempt++) {
      options.signal?.throwIfAborted();
      if (c.maxRequests > 0 && this.#requests >= c.maxRequests) throw new LmBudgetError(c.maxRequests, this.name);
      this.#requests++;
      let failure: LmHttpError | LmTimeoutError;
      let retryAfterMs: number | undefined;
      const openai = await this.#openai();
      const { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } = await loadSdk();
      try {
        const res = await openai.chat.completions.create(
          {
            model: c.model,
            messages: messages.map((m) => ({ role: m.role, content: m.content })),
            temperature: options.temperature ?? c.temperature,
            max_tokens: options.maxTokens ?? c.maxTokens,
            ...(options.seed !== undefined ? { seed: options.seed } : {}),
          },
          { ...(options.signal ? { signal: options.signal } : {}) },
        );
        const content: unknown = res?.choices?.[0]?.message?.content;
        if (content === null || content === undefined) {
          if (!Array.isArray(res?.choices) || res.choices.length === 0) throw new LmResponseError(this.name, "no choices");
          return "";
        }
        if (typeof content !== "string") throw new LmResponseError(this.name, "message content is not text");
        return content;
      } catch (err) {
        if (err instanceof LmResponseError) throw err;
        if (err instanceof APIUserAbortError || options.signal?.aborted) throw options.signal?.reason ?? err;
        if (err instanceof APIConnectionTimeoutError)
          failure = new LmTimeoutError(attempt, this.name, `no answer within ${c.timeoutMs} ms`);
        else if (err instanceof APIConnectionError) failure = new LmTimeoutError(attempt, this.name, `connection failed (${err.message})`);
        else if (err instanceof APIError && err.status !== undefined) {
          failure = new LmHttpError(err.status, attempt, this.name, excerpt(err.message));
          if (!RETRYABLE(err.status)) throw failure;
          retryAfterMs = retryAfter(err.headers);
        } else throw new LmResponseError(this.name, excerpt((err as Error).message ?? String(err)));
      }
      if (attempt > c.maxRetries) throw failure;
      const delayMs = Math.min(c.retryMaxMs, retryAfterMs ?? c.retryBaseMs * 2 ** (attempt - 1));
      this.#retries++;
      this.#logger?.warn({ model: c.model, baseUrl: c.baseUrl, attempt, delayMs, error: failure.message }, "LM request failed; retrying");
      await sleep(delayMs, options.signal);
    }
  }

  toJSON(): object {
    return { name: this.name, config: this.config };
  }

  [inspect.custom](): string {
    return `ChatClient ${inspect(this.toJSON())}`;
  }
}

function excerpt(text: string): string {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > 300 ? `${one.slice(0, 300)}…` : one;
}

/** Retry-After in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
function retryAfter(headers: Headers | undefined): number | undefined {
  const value = headers?.get("retry-after");
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener("abort", abort, { once: true });
  });
}
