// What the loop asks of the model, on top of generation and log-probs: answer a question, describe a
// video (fresh, retrospectively, or clip by clip), and judge two answers. One place, shared by the
// services and the embedded demo, so every deployment asks the model the same way.
import { generate, type Sampling } from "./generate.ts";
import { choiceLogProbs, sequenceLogProbs } from "./logprobs.ts";
import type { VideoInput, VideoLMM } from "./model.ts";
import { VERDICTS, VERIFY_VERDICTS, asTarget, prompts } from "./prompts.ts";
import type { Tokenizer } from "./tokenizer.ts";
import type { ScalarHead } from "./reward.ts";
import { InputError } from "./errors.ts";

export interface Policy {
  model: VideoLMM;
  tok: Tokenizer;
  /** Set when the model version is a reward model (its checkpoint has reward_head.safetensors). */
  rewardHead?: ScalarHead;
}

/**
 * `numSamples` answers per question, input-major: result[i] holds the answers of questions[i].
 * `signal` stops generation between steps (a cancelled request or a stopping worker).
 */
export async function answerQuestions(
  policy: Policy,
  questions: readonly { video: VideoInput; question: string }[],
  sampling: Sampling,
  numSamples = 1,
  signal?: AbortSignal,
): Promise<string[][]> {
  const generations = await generate(
    policy.model,
    policy.tok,
    questions.map((q) => ({ ...q.video, prompt: prompts.answer(q.question) })),
    sampling,
    { numSamples, ...(signal ? { signal } : {}) },
  );
  return questions.map((_, i) => generations.slice(i * numSamples, (i + 1) * numSamples).map((g) => g.text.trim()));
}

/**
 * The prompt `build(context)` with as much of `context` as fits the model while leaving `reserve`
 * tokens to answer: whole sentences are dropped from the front (the oldest part of a description).
 * Returns undefined when even an empty context does not fit.
 */
export function fitPrompt(policy: Policy, build: (context: string) => string, context: string, reserve: number): string | undefined {
  const room = policy.model.config.maxTextLen - reserve - 1; // <bos>
  const sentences = context.split(/(?<=[.!?])\s+/).filter((x) => x !== "");
  const withLast = (keep: number) => build(sentences.slice(sentences.length - keep).join(" "));
  const fits = (keep: number) => policy.tok.encode(withLast(keep)).length <= room;
  if (fits(sentences.length)) return withLast(sentences.length);
  if (!fits(0)) return undefined;
  // Binary search for the most sentences that fit (fewer sentences, fewer tokens): O(log n) encodings.
  let lo = 0;
  let hi = sentences.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return withLast(lo);
}

/** Tokens a description may take: the prompt of a refinement must leave this much room. */
const DESCRIPTION_RESERVE = 64;

/**
 * c_t for each video: a fresh description, or, given c_{t-1} (`previous`), the refined one. The
 * self-retrospective context of ISR-DPO is the second form; a c_{t-1} too long for the model keeps
 * its last sentences.
 */
export async function describeVideos(
  policy: Policy,
  videos: readonly { video: VideoInput; previous?: string }[],
  sampling: Sampling,
): Promise<string[]> {
  const generations = await generate(
    policy.model,
    policy.tok,
    videos.map((v) => ({
      ...v.video,
      prompt:
        v.previous && v.previous.trim() !== ""
          ? (fitPrompt(policy, prompts.refine, v.previous, DESCRIPTION_RESERVE) ?? prompts.describe())
          : prompts.describe(),
    })),
    sampling,
  );
  return generations.map((g) => g.text.trim());
}

/**
 * VLM-RLAIF's clip narrative: split the video into `clipCount` consecutive clips, stretch each to the
 * model's frame count (nearest frame), describe each, and join the descriptions in order.
 */
export async function describeClips(
  policy: Policy,
  video: VideoInput,
  clipCount: number,
  sampling: Sampling,
): Promise<{ context: string; clips: string[] }> {
  const { frames: n, height, width, channels } = policy.model.config;
  if (!Number.isInteger(clipCount) || clipCount < 1 || clipCount > n) {
    throw new InputError(`clipCount: must be an integer from 1 to ${n} (the model's frames), got ${clipCount}`);
  }
  const frameBytes = height * width * channels;
  const clips = Array.from({ length: clipCount }, (_, c) => {
    const start = Math.floor((c * n) / clipCount);
    const end = Math.floor(((c + 1) * n) / clipCount);
    const frames = new Uint8Array(n * frameBytes);
    for (let f = 0; f < n; f++) {
      const source = start + Math.floor((f * (end - start)) / n);
      frames.set(video.frames.subarray(source * frameBytes, (source + 1) * frameBytes), f * frameBytes);
    }
    return { video: { videoId: `${video.videoId}#clip${c + 1}of${clipCount}`, frames } };
  });
  const descriptions = await describeVideos(policy, clips, sampling);
  return { context: descriptions.join(" "), clips: descriptions };
}

export interface PairToJudge {
  video: VideoInput;
  question: string;
  /** c_t; empty means no context (plain self-rewarding). */
  context: string;
  a: string;
  b: string;
}

export interface Judgment {
  verdict: "a" | "b" | "tie";
  /** P(a is better), averaged over the orders judged. */
  probA: number;
  /** |2·probA − 1| in [0, 1]. */
  confidence: number;
  /** P(a is better) as the judge put it in each order: [a first] or [a first, b first]. */
  orders: number[];
  tieReason: string;
}

/**
 * [log π(" a"), log π(" b")] after each judge prompt: one forward per prompt when each verdict is a
 * single token (the usual case), else each verdict scored as an answer.
 */
async function verdictLogProbs(
  policy: Policy,
  items: { videoId: string; frames: Uint8Array; prompt: string }[],
): Promise<[number, number][]> {
  const fast = await choiceLogProbs(policy.model, policy.tok, items, [VERDICTS.a, VERDICTS.b]);
  if (fast) return fast as [number, number][];
  const scored = await sequenceLogProbs(
    policy.model,
    policy.tok,
    items.flatMap((it) => [VERDICTS.a, VERDICTS.b].map((answer) => ({ ...it, answer }))),
  );
  return items.map((_, i) => [scored[2 * i]!.sum, scored[2 * i + 1]!.sum]);
}

/**
 * The model as its own judge: it reads the question, the two answers (and the context) and names the
 * better one; P(a better) comes from the log-probs of the two verdict tokens. Judged in both orders
 * to cancel position bias; orders that disagree, or a confidence below `tieMargin`, make an explicit tie.
 */
export async function judgePairs(
  policy: Policy,
  pairs: readonly PairToJudge[],
  opts: { tieMargin: number; singleOrder?: boolean },
): Promise<Judgment[]> {
  const orders = opts.singleOrder ? [false] : [false, true];
  // A context too long for the model keeps its last sentences; a pair too long even without context
  // cannot be judged and is a tie.
  const promptsOf = pairs.map((p) =>
    orders.map((swapped) =>
      fitPrompt(
        policy,
        (context) => (swapped ? prompts.judge(p.question, p.b, p.a, context) : prompts.judge(p.question, p.a, p.b, context)),
        p.context,
        2,
      ),
    ),
  );
  const judgeable = pairs.flatMap((_, i) => (promptsOf[i]!.every((x) => x !== undefined) ? [i] : []));
  // For each pair and order: log π(" a") and log π(" b") after the judge prompt.
  const verdicts = await verdictLogProbs(
    policy,
    judgeable.flatMap((i) => promptsOf[i]!.map((prompt) => ({ ...pairs[i]!.video, prompt: prompt! }))),
  );
  const slot = new Map(judgeable.map((i, k) => [i, k]));
  return pairs.map((_, i) => {
    const k = slot.get(i);
    if (k === undefined)
      return { verdict: "tie", probA: 0.5, confidence: 0, orders: [], tieReason: "answers too long for the model to judge" };
    const scores = verdicts.slice(k * orders.length, (k + 1) * orders.length);
    const probs = orders.map((swapped, o) => {
      const [first, second] = scores[o]!;
      const firstBetter = 1 / (1 + Math.exp(second - first));
      return swapped ? 1 - firstBetter : firstBetter;
    });
    const probA = probs.reduce((s, p) => s + p, 0) / probs.length;
    const confidence = Math.abs(2 * probA - 1);
    let tieReason = "";
    if (probs.length === 2 && (probs[0]! - 0.5) * (probs[1]! - 0.5) <= 0) tieReason = "orders disagree";
    else if (confidence < opts.tieMargin)
      tieReason = `confidence ${confidence.toFixed(3)} below margin ${Number(opts.tieMargin.toPrecision(6))}`;
    return { verdict: tieReason ? "tie" : probA > 0.5 ? "a" : "b", probA, confidence, orders: probs, tieReason };
  });
}

/** A candidate answer to a question about a video, with the context c_t ("" for none). */
export interface AnswerToScore {
  video: VideoInput;
  question: string;
  context: string;
  answer: string;
}

/**
 * log π(answer | video, question[, context]) summed over the answer's tokens (its <eos> included),
 * and the token count: the self-likelihood judge's score. An answer whose prompt does not fit keeps
 * the context's last sentences (as the judge does).
 */
export function answerLogProbs(policy: Policy, items: readonly AnswerToScore[]): Promise<{ sum: number; count: number }[]> {
  const reserve = (a: AnswerToScore) => policy.tok.encode(asTarget(a.answer)).length + 1;
  return sequenceLogProbs(
    policy.model,
    policy.tok,
    items.map((it) => ({
      ...it.video,
      prompt: fitPrompt(policy, (c) => prompts.answer(it.question, c), it.context, reserve(it)) ?? prompts.answer(it.question),
      answer: asTarget(it.answer),
    })),
  );
}

/**
 * Self-verification: P(" yes") / (P(" yes") + P(" no")) after "is the answer right?", per answer.
 * Answers too long for the model to verify score 0.5 (no information), never an error.
 */
export async function verifyAnswers(policy: Policy, items: readonly AnswerToScore[]): Promise<number[]> {
  const promptsOf = items.map((it) => fitPrompt(policy, (c) => prompts.verify(it.question, it.answer, c), it.context, 2));
  const fits = items.flatMap((it, i) => (promptsOf[i] !== undefined ? [{ ...it.video, prompt: promptsOf[i]! }] : []));
  const choices = [VERIFY_VERDICTS.yes, VERIFY_VERDICTS.no];
  const scored =
    (await choiceLogProbs(policy.model, policy.tok, fits, choices)) ??
    (await (async () => {
      const s = await sequenceLogProbs(
        policy.model,
        policy.tok,
        fits.flatMap((f) => choices.map((answer) => ({ ...f, answer }))),
      );
      return fits.map((_, i) => [s[2 * i]!.sum, s[2 * i + 1]!.sum]);
    })());
  let k = 0;
  return promptsOf.map((p) => {
    if (p === undefined) return 0.5;
    const [yes, no] = scored[k++]!;
    return 1 / (1 + Math.exp(no! - yes!));
  });
}

/** An answer to critique and revise (VideoSAVi's self-critique). */
export interface AnswerToCritique {
  video: VideoInput;
  question: string;
  answer: string;
}

/** A critique and the revision written from it ("" when not written: `problem` says why). */
export interface Critiqued {
  critique: string;
  revision: string;
  /** Why there is no revision ("" when there is one). */
  problem: string;
}

/**
 * VideoSAVi's self-critique: the policy, shown the video, writes a critique of its own answer, then
 * a revised answer given that critique; both greedy (the same answer gets the same revision). An
 * answer whose critique or revision prompt does not fit the model's text length is not revised.
 */
export async function critiqueAnswers(policy: Policy, items: readonly AnswerToCritique[], maxNewTokens: number): Promise<Critiqued[]> {
  const room = (prompt: string) => policy.tok.encode(prompt).length + 1 + Math.min(maxNewTokens, 8) <= policy.model.config.maxTextLen;
  const greedy = { temperature: 0, maxNewTokens, seed: 0 };
  const out: Critiqued[] = items.map(() => ({ critique: "", revision: "", problem: "" }));
  const asked = items.flatMap((it, i) => {
    const prompt = prompts.critique(it.question, it.answer);
    if (room(prompt)) return [{ i, prompt }];
    out[i]!.problem = "answer too long for the model to critique";
    return [];
  });
  const run = async (rows: { i: number; prompt: string }[]) =>
    rows.length === 0
      ? []
      : generate(
          policy.model,
          policy.tok,
          rows.map(({ i, prompt }) => ({ ...items[i]!.video, prompt })),
          greedy,
        );
  const critiques = await run(asked);
  const revisable = asked.flatMap(({ i }, k) => {
    const critique = critiques[k]!.text.trim();
    out[i]!.critique = critique;
    const prompt = prompts.revise(items[i]!.question, items[i]!.answer, critique);
    if (room(prompt)) return [{ i, prompt }];
    out[i]!.problem = "critique too long for the model to revise from";
    return [];
  });
  const revisions = await run(revisable);
  revisable.forEach(({ i }, k) => {
    out[i]!.revision = revisions[k]!.text.trim();
    if (out[i]!.revision === "") out[i]!.problem = "empty revision";
  });
  return out;
}
