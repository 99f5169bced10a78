// InferenceService: generation and scoring with any published model version.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  FinishReason,
  GenerateResponseSchema,
  GenerateStreamResponseSchema,
  type InferenceService,
  ScoreSequencesResponseSchema,
  type GenerationInput,
} from "@isrdpo/contracts";
import { invalidArgument, requireRange, requireText, type ServiceContext } from "@isrdpo/runtime";
import { acquireModel, asInvalidArgument, cancellable, sampling, videoInput, withModel } from "@isrdpo/serving";
import { generate, sequenceLogProbs, type Policy, type ScoreItem } from "@isrdpo/vlm";

const MAX_INPUTS = 256;
const DEFAULTS = { temperature: 0, maxNewTokens: 32 };

async function inputsOf(ctx: ServiceContext, policy: Policy, inputs: GenerationInput[], field: string) {
  return Promise.all(
    inputs.map(async (input, i) => ({
      ...(await videoInput(ctx, policy, input.video, `${field}[${i}].video`)),
      prompt: requireText(`${field}[${i}].prompt`, input.prompt, ctx.config.limits.maxTextChars),
    })),
  );
}

const finish = (reason: "stop" | "length") => (reason === "stop" ? FinishReason.STOP : FinishReason.LENGTH);

export function inferenceRpc(ctx: ServiceContext): Partial<ServiceImpl<typeof InferenceService>> {
  return {
    async generate(req, call) {
      if (req.inputs.length === 0) invalidArgument("inputs", "must not be empty");
      if (req.inputs.length > MAX_INPUTS) invalidArgument("inputs", `at most ${MAX_INPUTS}, got ${req.inputs.length}`);
      const numSamples = requireRange("num_samples", req.numSamples, 1, 16, 1);
      const { maxSequences } = ctx.config.limits;
      if (req.inputs.length * numSamples > maxSequences)
        invalidArgument(
          "num_samples",
          `inputs × num_samples must be at most ${maxSequences} (limits.maxSequences), got ${req.inputs.length * numSamples}`,
        );
      return withModel(ctx, req.model, "model", async (policy) => {
        const s = sampling(req.sampling, "sampling", policy, DEFAULTS);
        const inputs = await inputsOf(ctx, policy, req.inputs, "inputs");
        const generations = await cancellable(call.signal, () =>
          asInvalidArgument(() => generate(policy.model, policy.tok, inputs, s, { numSamples, signal: call.signal })),
        );
        return create(GenerateResponseSchema, {
          model: req.model,
          generations: generations.map((g) => ({
            inputIndex: g.inputIndex,
            sampleIndex: g.sampleIndex,
            text: g.text,
            tokenCount: g.tokenIds.length,
            finishReason: finish(g.finishReason),
            logprobSum: g.logprobSum,
          })),
        });
      });
    },

    async *generateStream(req, handlerCtx) {
      if (!req.input) invalidArgument("input", "required");
      // The model stays leased while tokens stream; generation stops when the client goes away.
      const lease = await acquireModel(ctx, req.model, "model");
      let run: Promise<unknown> = Promise.resolve();
      try {
        const policy = lease.policy;
        const s = sampling(req.sampling, "sampling", policy, DEFAULTS);
        const [input] = await inputsOf(ctx, policy, [req.input], "input");
        // generate() reports each token through a callback; hand them to this stream as they come.
        const ids: number[] = [];
        const queue: number[] = [];
        let wake: (() => void) | undefined;
        let result: { reason: "stop" | "length" } | undefined;
        let failure: unknown;
        run = asInvalidArgument(() =>
          generate(policy.model, policy.tok, [input!], s, {
            signal: handlerCtx.signal,
            onToken: ({ tokenId }) => {
              queue.push(tokenId);
              wake?.();
            },
          }),
        )
          .then(
            ([g]) => (result = { reason: g!.finishReason }),
            (err: unknown) => (failure = err),
          )
          .finally(() => wake?.());
        let text = "";
        let index = 0;
        while (!handlerCtx.signal.aborted) {
          if (queue.length === 0 && result === undefined && failure === undefined) await new Promise<void>((r) => (wake = r));
          wake = undefined;
          if (failure !== undefined) throw failure;
          while (queue.length > 0) {
            ids.push(queue.shift()!);
            // Decode the whole answer so far: a character split across tokens appears once complete.
            const full = policy.tok.decode(ids, { skipSpecial: true });
            if (full.length > text.length && !full.endsWith("\uFFFD")) {
              yield create(GenerateStreamResponseSchema, { textDelta: full.slice(text.length), tokenIndex: index });
              text = full;
            }
            index++;
          }
          if (result !== undefined) {
            yield create(GenerateStreamResponseSchema, { textDelta: "", tokenIndex: index, finishReason: finish(result.reason) });
            return;
          }
        }
      } finally {
        await run;
        lease.release();
      }
    },

    async scoreSequences(req, call) {
      if (req.inputs.length === 0) invalidArgument("inputs", "must not be empty");
      if (req.inputs.length > MAX_INPUTS) invalidArgument("inputs", `at most ${MAX_INPUTS}, got ${req.inputs.length}`);
      const { maxSequences, maxTextChars } = ctx.config.limits;
      const sequences = req.inputs.reduce((n, input) => n + input.candidates.length, 0);
      if (sequences > maxSequences)
        invalidArgument("inputs", `at most ${maxSequences} candidates in all (limits.maxSequences), got ${sequences}`);
      req.inputs.forEach((input, i) => {
        if (input.candidates.length === 0) invalidArgument(`inputs[${i}].candidates`, "must not be empty");
        requireText(`inputs[${i}].prompt`, input.prompt, maxTextChars);
        input.candidates.forEach((c, j) => requireText(`inputs[${i}].candidates[${j}]`, c, maxTextChars, true));
      });
      return withModel(ctx, req.model, "model", async (policy) => {
        const items: ScoreItem[] = [];
        for (const [i, input] of req.inputs.entries()) {
          const video = await videoInput(ctx, policy, input.video, `inputs[${i}].video`);
          for (const answer of input.candidates) items.push({ ...video, prompt: input.prompt, answer });
        }
        const scores = await cancellable(call.signal, () =>
          asInvalidArgument(() => sequenceLogProbs(policy.model, policy.tok, items, { signal: call.signal })),
        );
        let next = 0;
        return create(ScoreSequencesResponseSchema, {
          results: req.inputs.map((input) => ({
            scores: input.candidates.map(() => {
              const s = scores[next++]!;
              return { logprobSum: s.sum, tokenCount: s.count };
            }),
          })),
        });
      });
    },
  };
}
