import * as tf from "@tensorflow/tfjs";
import { attentionBias, oneHot, type VideoLMM } from "./model.ts";
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
 * A right-padded batch for scoring/training, as plain arrays: text ids [batch, time]; positions and
 * key validity for every row [visual | text]; targets (the next token) and a mask that is 1 exactly
 * where the target is an answer token.
 */
export interface ScoreBatch {
  batch: number;
  time: number;
  tokens: Int32Array;
  positions: Int32Array;
  keyValid: Uint8Array[];
  targets: Int32Array;
  answerMask: Float32Array;
  answerLengths: number[];
}

export function buildScoreBatch(model: VideoLMM, rows: readonly TextRow[], padId: number, what = "items", firstIndex = 0): ScoreBatch {
  const nv = model.numVisual;
  const maxText = model.config.maxTextLen;
  rows.forEach((r, i) => {
    const n = r.prompt.length + r.answer.length;
    if (n > maxText) {
      throw new InputError(
        `${what}[${firstIndex + i}]: prompt (${r.prompt.length} tokens with <bos>) + answer (${r.answer.length} with <eos>) = ${n} tokens, ` +
          `more than the model's maxTextLen ${maxText}`,
      );
    }
    if (r.answer.length === 0) throw new InputError(`${what}[${firstIndex + i}]: empty answer`);
  });
  const time = Math.max(...rows.map((r) => r.prompt.length + r.answer.length));
  const b = rows.length;
  const tokens = new Int32Array(b * time).fill(padId);
  const positions = new Int32Array(b * (nv + time));
  const keyValid: Uint8Array[] = [];
  const targets = new Int32Array(b * time).fill(padId);
  const answerMask = new Float32Array(b * time);
  rows.forEach((r, i) => {
    const ids = [...r.prompt, ...r.answer];
    tokens.set(ids, i * time);
    const valid = new Uint8Array(nv + time);
    for (let j = 0; j < nv + ids.length; j++) {
      valid[j] = 1;
      positions[i * (nv + time) + j] = j;
    }
    keyValid.push(valid);
    // Row t predicts token t+1; answer tokens sit at t+1 ∈ [prompt.length, ids.length).
    for (let t = 0; t + 1 < ids.length; t++) {
      targets[i * time + t] = ids[t + 1] as number;
      if (t + 1 >= r.prompt.length) answerMask[i * time + t] = 1;
    }
  });
  return { batch: b, time, tokens, positions, keyValid, targets, answerMask, answerLengths: rows.map((r) => r.answer.length) };
}

/**
 * Per-token log-probabilities of the targets [batch, time] (0 where the mask is 0) and, for
 * convenience, the logits. `visual` is [batch, numVisual, dModel]. Differentiable.
 */
export function targetLogProbs(model: VideoLMM, visual: tf.Tensor3D, sb: ScoreBatch): { tokenLogProbs: tf.Tensor2D; logits: tf.Tensor3D } {
  const nv = model.numVisual;
  const tokens = tf.tensor2d(sb.tokens, [sb.batch, sb.time], "int32");
  const positions = tf.tensor2d(sb.positions, [sb.batch, nv + sb.time], "int32");
  const bias = attentionBias(sb.keyValid, nv + sb.time, 0);
  const { hidden } = model.forward(visual, tokens, positions, bias);
  const logits = model.logits(hidden);
  const logp = tf.logSoftmax(logits);
  const onehot = oneHot(tf.tensor1d(sb.targets, "int32"), model.config.vocabSize).reshape(logits.shape);
  const mask = tf.tensor2d(sb.answerMask, [sb.batch, sb.time]);
  return { tokenLogProbs: logp.mul(onehot).sum(-1).mul(mask) as tf.Tensor2D, logits };
}
