import * as tf from "@tensorflow/tfjs";
import { oneHot, type VideoLMM } from "./model.ts";
import type { Tokenizer } from "./tokenizer.ts";
import { InputError } from "./errors.ts";

/** The text of one sequence: `<bos> prompt` then the answer (with `<eos>`) whose tokens are scored. */
export interface TextRow {
  prompt: number[];
  answer: number[];
}

/** Token ids of a prompt (with <bos>) and, if given, of an answer (with <eos>). */
export function encodeRow(tok: Tokenizer, prompt: string, answer?: string): TextRow {
  return {
    prompt: [tok.bosId, ...tok.encode(prompt)],
    answer: answer === undefined ? [] : [...tok.encode(answer), tok.eosId],
  };
}

/**
 * A right-padded batch for scoring/training, as plain arrays. A row holds the visual tokens of one
 * video and one or more text segments (packing: several prompts about the same video share its visual
 * tokens). Each segment sees the visual tokens and itself only, at the positions it would have alone,
 * so a packed segment scores exactly as an unpacked row would. Fields: text ids [batch, time];
 * positions for every row [visual | text]; key validity (non-padding) per row; the additive attention
 * mask [batch, rows, rows]; targets (the next token) and a mask that is 1 exactly where the target is
 * an answer token; the segment of each such target.
 */
export interface ScoreBatch {
  batch: number;
  time: number;
  tokens: Int32Array;
  positions: Int32Array;
  keyValid: Uint8Array[];
  mask: Float32Array;
  targets: Int32Array;
  answerMask: Float32Array;
  /** Per target position (batch × time): the index of its segment, or -1 where it is not an answer token. */
  segmentOf: Int32Array;
  /** Answer tokens per segment, in order (rows first, then segments within a row). */
  answerLengths: number[];
}

const NEG_INF = -1e9;

/** One segment per row: the common, unpacked case. */
export function buildScoreBatch(model: VideoLMM, rows: readonly TextRow[], padId: number, what = "items", firstIndex = 0): ScoreBatch {
  return buildPackedBatch(
    model,
    rows.map((r) => [r]),
    padId,
    what,
    firstIndex,
  );
}

/** Rows of several segments each (see ScoreBatch). `firstIndex` numbers segments in error messages. */
export function buildPackedBatch(
  model: VideoLMM,
  packs: readonly (readonly TextRow[])[],
  padId: number,
  what = "items",
  firstIndex = 0,
): ScoreBatch {
  const nv = model.numVisual;
  const maxText = model.config.maxTextLen;
  let index = firstIndex;
  for (const pack of packs) {
    if (pack.length === 0) throw new InputError(`${what}: a packed row without segments`);
    for (const r of pack) {
      const n = r.prompt.length + r.answer.length;
      if (n > maxText) {
        throw new InputError(
          `${what}[${index}]: prompt (${r.prompt.length} tokens with <bos>) + answer (${r.answer.length} with <eos>) = ${n} tokens, ` +
            `more than the model's maxTextLen ${maxText}`,
        );
      }
      if (r.answer.length === 0) throw new InputError(`${what}[${index}]: empty answer`);
      index++;
    }
  }
  const textLength = (pack: readonly TextRow[]) => pack.reduce((n, r) => n + r.prompt.length + r.answer.length, 0);
  const time = Math.max(...packs.map(textLength));
  const b = packs.length;
  const rows = nv + time;
  const tokens = new Int32Array(b * time).fill(padId);
  const positions = new Int32Array(b * rows);
  const keyValid: Uint8Array[] = [];
  const mask = new Float32Array(b * rows * rows).fill(NEG_INF);
  const targets = new Int32Array(b * time).fill(padId);
  const answerMask = new Float32Array(b * time);
  const segmentOf = new Int32Array(b * time).fill(-1);
  const answerLengths: number[] = [];
  packs.forEach((pack, i) => {
    const valid = new Uint8Array(rows);
    valid.fill(1, 0, nv + textLength(pack));
    keyValid.push(valid);
    const see = (q: number, k: number) => {
      mask[(i * rows + q) * rows + k] = 0;
    };
    // Visual rows: causal among themselves, as in an unpacked row. Padding rows see the visual keys.
    for (let q = 0; q < rows; q++) {
      positions[i * rows + q] = q < nv ? q : 0;
      for (let k = 0; k <= Math.min(q, nv - 1); k++) see(q, k);
    }
    let start = 0;
    for (const r of pack) {
      const segment = answerLengths.length;
      const ids = [...r.prompt, ...r.answer];
      tokens.set(ids, i * time + start);
      for (let t = 0; t < ids.length; t++) {
        const q = nv + start + t;
        positions[i * rows + q] = nv + t;
        for (let k = nv + start; k <= q; k++) see(q, k);
        // Row t predicts token t+1 of its own segment; answer tokens sit at t+1 ∈ [prompt.length, ids.length).
        if (t + 1 < ids.length) {
          targets[i * time + start + t] = ids[t + 1] as number;
          if (t + 1 >= r.prompt.length) {
            answerMask[i * time + start + t] = 1;
            segmentOf[i * time + start + t] = segment;
          }
        }
      }
      answerLengths.push(r.answer.length);
      start += ids.length;
    }
  });
  return { batch: b, time, tokens, positions, keyValid, mask, targets, answerMask, segmentOf, answerLengths };
}

/**
 * Per-token log-probabilities of the targets [batch, time] (0 where the mask is 0) and, for
 * convenience, the logits. `visual` is [batch, numVisual, dModel]. Differentiable.
 */
export function targetLogProbs(model: VideoLMM, visual: tf.Tensor3D, sb: ScoreBatch): { tokenLogProbs: tf.Tensor2D; logits: tf.Tensor3D } {
  return logProbsFromHidden(model, sequenceHidden(model, visual, sb), sb);
}

/** The final hidden states of a batch's text rows [batch, time, dModel] (reward and value heads read them). Differentiable. */
export function sequenceHidden(model: VideoLMM, visual: tf.Tensor3D, sb: ScoreBatch): tf.Tensor3D {
  const nv = model.numVisual;
  const tokens = tf.tensor2d(sb.tokens, [sb.batch, sb.time], "int32");
  const positions = tf.tensor2d(sb.positions, [sb.batch, nv + sb.time], "int32");
  const bias = tf.tensor4d(sb.mask, [sb.batch, 1, nv + sb.time, nv + sb.time]);
  return model.forward(visual, tokens, positions, bias, null, false).hidden;
}

/** targetLogProbs from hidden states already computed (PPO reads the value head from the same ones). */
export function logProbsFromHidden(
  model: VideoLMM,
  hidden: tf.Tensor3D,
  sb: ScoreBatch,
): { tokenLogProbs: tf.Tensor2D; logits: tf.Tensor3D } {
  const logits = model.logits(hidden);
  const logp = tf.logSoftmax(logits);
  const onehot = oneHot(tf.tensor1d(sb.targets, "int32"), model.config.vocabSize).reshape(logits.shape);
  const mask = tf.tensor2d(sb.answerMask, [sb.batch, sb.time]);
  return { tokenLogProbs: logp.mul(onehot).sum(-1).mul(mask) as tf.Tensor2D, logits };
}

/** Sum of each segment's answer-token log-probs: [segments], in answerLengths' order. Differentiable. */
export function segmentSums(tokenLogProbs: tf.Tensor2D, sb: ScoreBatch): tf.Tensor1D {
  const n = sb.answerLengths.length;
  const onehot = new Float32Array(sb.batch * sb.time * n);
  sb.segmentOf.forEach((s, j) => {
    if (s >= 0) onehot[j * n + s] = 1;
  });
  return tf
    .matMul(tokenLogProbs.reshape([1, sb.batch * sb.time]), tf.tensor2d(onehot, [sb.batch * sb.time, n]))
    .reshape([n]) as tf.Tensor1D;
}
