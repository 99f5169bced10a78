// Every judge strategy behind one asynchronous entry point: the policy's own judges and the oracle
// (strategies.ts), and the two that wait on something else (an LM endpoint, generation):
//
//   caption-proxy   LLaVA-Hound-DPO: a language model that never sees the video scores each distinct
//                   answer 0–5 against a caption of it (the dataset's caption, or c_t), pointwise; the
//                   best and the worst are the pair. Any ChatModel: an OpenAI-compatible endpoint
//                   (`ChatClient`) or the policy itself, text only. An answer the judge's output does
//                   not give a score (unparsable, or unjudged because the request budget is spent)
//                   makes its item an explicit tie, counted in the stats — never a default score.
//   self-critique   VideoSAVi: π_t critiques its first answer and revises it; the pair is
//                   (revision ≻ original) when the filter (self-likelihood, self-verify,
//                   caption-proxy, or none) prefers the revision, else an explicit tie.
//   reward-model    VLM-RLAIF: a Bradley–Terry reward model (a JOB_KIND_REWARD_MODEL output) scores
//                   each distinct answer given the video, the question and the context c_t; the best
//                   and the worst are the pair, a tie when σ(r_best − r_worst) is within the margin.
import { scoreAnswers, type CaptionJudgeProtocol, type ChatModel } from "@isrdpo/lm";
import { asTarget, critiqueAnswers, fitPrompt, prompts, scoreRewards, type Policy } from "@isrdpo/vlm";
import { bestVsWorst, firstCopies, logScoreConfidence, nothingToCompare, sameAnswer, tie, type Preference } from "./preferences.ts";
import { judgeItems, JudgeInputError, type ItemToJudge, type JudgeMethod, type JudgeOptions } from "./strategies.ts";

export const CRITIQUE_FILTERS = ["none", "self-likelihood", "self-verify", "caption-proxy"] as const;
export type CritiqueFilter = (typeof CRITIQUE_FILTERS)[number];

export type Strategy = JudgeMethod | "caption-proxy" | "self-critique" | "reward-model";

export interface CaptionProxyJudge {
  model: ChatModel;
  protocol: CaptionJudgeProtocol;
  /** Judgements per answer (most frequent score kept). */
  samples: number;
  /** The dataset's caption of the video (`ItemToJudge.caption`), or the context c_t. */
  source: "dataset" | "context";
  /** Requests this call may still make; 0: none (every answer unjudged). Undefined: the model's own limit. */
  requestShare?: number;
}

export interface StrategyOptions extends JudgeOptions {
  /** caption-proxy, and the self-critique filter of that name. */
  captionProxy?: CaptionProxyJudge;
  /** self-critique: who decides that the revision is better. Default "self-verify". */
  critiqueFilter?: CritiqueFilter;
  /** self-critique: tokens of a critique and of a revision. Default 64. */
  critiqueMaxNewTokens?: number;
  /** reward-model: the reward model (a model version with a reward head). */
  rewardModel?: Policy;
}

/** What a judge did besides judging. */
export interface JudgeStats {
  /** Judge answers (over all samples) no parser understood. */
  unparsable: number;
  /** Answers left without a score (unparsable or unjudged): their items are ties. */
  unscored: number;
  /** Why judging stopped early (a spent request budget), or "". */
  stopped: string;
}

export interface JudgeOutcome {
  preferences: Preference[];
  stats: JudgeStats;
}

const noStats = (): JudgeStats => ({ unparsable: 0, unscored: 0, stopped: "" });

/** Judges every item's answers with one strategy. */
export async function judgeAll(
  strategy: Strategy,
  policy: Policy | undefined,
  items: readonly ItemToJudge[],
  opts: StrategyOptions,
): Promise<JudgeOutcome> {
  if (strategy === "caption-proxy") return captionProxy(items, opts);
  if (strategy === "reward-model") return rewardModel(items, opts);
  if (strategy === "self-critique") {
    if (!policy) throw new Error("judge: the self-critique strategy needs a policy model");
    return selfCritique(policy, items, opts);
  }
  return { preferences: await judgeItems(strategy, policy, items, opts), stats: noStats() };
}

/** Why a caption-proxy judge cannot read a caption for an item (undefined when it can). */
export function missingCaption(it: Pick<ItemToJudge, "caption" | "context">, source: CaptionProxyJudge["source"]): string | undefined {
  if ((source === "context" ? it.context : (it.caption ?? "")).trim() !== "") return undefined;
  return source === "context"
    ? "caption-proxy: no context c_t to read as the caption (caption source CONTEXT needs a context stage)"
    : "caption-proxy: the item has no caption of its video (caption source DATASET needs a dataset with captions)";
}

/** The caption a caption-proxy judge reads for an item; a missing one is the caller's mistake. */
function captionOf(it: ItemToJudge, source: CaptionProxyJudge["source"]): string {
  const problem = missingCaption(it, source);
  if (problem) throw new JudgeInputError(problem);
  return (source === "context" ? it.context : it.caption!).trim();
}

async function captionProxy(items: readonly ItemToJudge[], opts: StrategyOptions): Promise<JudgeOutcome> {
  const cp = opts.captionProxy;
  if (!cp) throw new Error("judge: the caption-proxy strategy needs captionProxy options");
  const out: (Preference | undefined)[] = items.map((it) => nothingToCompare(it.answers));
  const open = items.flatMap((it, i) => (out[i] ? [] : [{ it, i, caption: captionOf(it, cp.source) }]));
  const rows = open.flatMap(({ it, caption }, k) =>
    [...new Set(firstCopies(it.answers))].map((a) => ({ k, a, caption, question: it.question, answer: it.answers[a]! })),
  );
  const stats = noStats();
  let scores: (number | undefined)[];
  if (cp.requestShare === 0) {
    stats.stopped = "this judge shard's share of the run's LM request budget is 0: no request was made";
    stats.unscored = rows.length;
    scores = rows.map(() => undefined);
  } else {
    const scored = await scoreAnswers(cp.model, rows, { protocol: cp.protocol, samples: cp.samples });
    Object.assign(stats, { unparsable: scored.unparsable, unscored: scored.unscored, stopped: scored.stopped });
    scores = scored.scores;
  }
  const range = cp.protocol.scale.max - cp.protocol.scale.min;
  open.forEach(({ it, i }, k) => {
    const mine = rows.flatMap((r, j) => (r.k === k ? [{ a: r.a, score: scores[j] }] : []));
    const missing = mine.filter((m) => m.score === undefined).length;
    const byAnswer = new Map(mine.map((m) => [m.a, m.score]));
    const first = firstCopies(it.answers);
    if (missing > 0) {
      const reason = stats.stopped
        ? `not judged: ${stats.stopped}`
        : `caption-proxy judge's answer unparsable for ${missing} of ${mine.length} answers`;
      out[i] = tie(
        first.map((a) => byAnswer.get(a) ?? Number.NaN),
        reason,
      );
      return;
    }
    out[i] = bestVsWorst(
      it.answers,
      (a) => byAnswer.get(a)!,
      (b, w) => (b - w) / range,
      opts.tieMargin,
    );
  });
  return { preferences: out as Preference[], stats };
}

async function selfCritique(policy: Policy, items: readonly ItemToJudge[], opts: StrategyOptions): Promise<JudgeOutcome> {
  if (items.some((it) => it.answers.length === 0)) throw new JudgeInputError("self-critique: every item needs an answer to critique");
  const critiqued = await critiqueAnswers(
    policy,
    items.map((it) => ({ video: it.video, question: it.question, answer: it.answers[0]! })),
    opts.critiqueMaxNewTokens ?? 64,
  );
  const filter = opts.critiqueFilter ?? "self-verify";
  const out: Preference[] = items.map((it, i) => {
    const c = critiqued[i]!;
    const base = { answers: [c.revision, it.answers[0]!], critique: c.critique };
    if (c.problem) return { ...tie([0, 0], c.problem, 0, 1), ...base };
    if (sameAnswer(c.revision, it.answers[0]!)) return { ...tie([0, 0], "revision identical to the original", 0, 1), ...base };
    return { chosen: 0, rejected: 1, scores: [1, 0], confidence: 1, orders: [], tie: false, tieReason: "", ...base };
  });
  const stats = noStats();
  const toFilter = out.flatMap((p, i) => (p.tie ? [] : [i]));
  if (filter !== "none" && toFilter.length > 0) {
    const pairs = toFilter.map((i) => ({ ...items[i]!, answers: out[i]!.answers! }));
    const judged = await judgeAll(filter, policy, pairs, opts);
    Object.assign(stats, judged.stats);
    toFilter.forEach((i, k) => {
      const p = judged.preferences[k]!;
      const base = { answers: out[i]!.answers!, critique: out[i]!.critique! };
      if (p.tie) out[i] = { ...tie(p.scores, `filter ${filter}: ${p.tieReason}`, 0, 1, p.confidence), ...base };
      else if (p.chosen !== 0)
        out[i] = { ...tie(p.scores, `filter ${filter}: the original scores higher than the revision`, 0, 1), ...base };
      else out[i] = { ...p, ...base };
    });
  }
  return { preferences: out, stats };
}

/**
 * Rewards of every distinct answer from the reward model, read as Bradley–Terry scores: confidence
 * |2σ(r_best − r_worst) − 1|. The prompt is the reward model's training input — the answer prompt
 * with the context — keeping the context's last sentences when the whole does not fit.
 */
async function rewardModel(items: readonly ItemToJudge[], opts: StrategyOptions): Promise<JudgeOutcome> {
  const rm = opts.rewardModel;
  if (!rm?.rewardHead) throw new JudgeInputError("reward-model: the judge needs a reward model (a model version with a reward head)");
  const out: (Preference | undefined)[] = items.map((it) => nothingToCompare(it.answers));
  const rows = items.flatMap((it, i) =>
    out[i]
      ? []
      : [...new Set(firstCopies(it.answers))].map((a) => {
          const answer = asTarget(it.answers[a]!);
          const reserve = rm.tok.encode(answer).length + 1;
          const prompt = fitPrompt(rm, (c) => prompts.answer(it.question, c), it.context, reserve) ?? prompts.answer(it.question);
          return { i, a, item: { ...it.video, prompt, answer } };
        }),
  );
  const rewards = await scoreRewards(
    rm.model,
    rm.tok,
    rm.rewardHead,
    rows.map((r) => r.item),
  );
  items.forEach((it, i) => {
    if (out[i]) return;
    const mine = new Map(rows.flatMap((r, k) => (r.i === i ? [[r.a, rewards[k]!] as const] : [])));
    out[i] = bestVsWorst(it.answers, (a) => mine.get(a)!, logScoreConfidence, opts.tieMargin);
  });
  return { preferences: out as Preference[], stats: noStats() };
}
