// A scalar head on the language model's final hidden states: the reward model's score of a whole
// answer (read at its last token, VLM-RLAIF's and TRL's sequence-classification reward model) and
// PPO's value of every prefix (TRL's value head). The model's own weights are untouched; the head is
// its own file in a checkpoint, so a reward model is any model version plus this file.
import * as tf from "@tensorflow/tfjs";
import { encodeRow, sequenceHidden, buildScoreBatch, type ScoreBatch } from "./sequence.ts";
import type { ScoreItem } from "./logprobs.ts";
import { matMul2d, type VideoLMM } from "./model.ts";
import { Rng } from "./rng.ts";
import type { Tokenizer } from "./tokenizer.ts";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
import { InputError } from "./errors.ts";

/** The reward head's file in a checkpoint (and in a published model version). */
export const REWARD_HEAD_FILE = "reward_head.safetensors";

export class ScalarHead {
  private constructor(
    /** "<prefix>.weight" [dModel, 1] and "<prefix>.bias" [1]. */
    readonly params: Map<string, tf.Variable>,
    /** Its parameters' prefix; `<prefix>.safetensors` is its file in a checkpoint. */
    readonly prefix: string,
  ) {}

  /** A new head, weights N(0, 1/dModel) as torch's nn.Linear scale, bias 0. */
  static create(prefix: string, dModel: number, seed: number): ScalarHead {
    const rng = new Rng(seed);
    const w = tf.truncatedNormal([dModel, 1], 0, 1 / Math.sqrt(dModel), "float32", rng.nextSeed());
    const head = new ScalarHead(
      new Map([
        [`${prefix}.weight`, tf.variable(w, true)],
        [`${prefix}.bias`, tf.variable(tf.zeros([1]), true)],
      ]),
      prefix,
    );
    w.dispose();
    return head;
  }

  /** A head from a safetensors file; its weight must match the model's dModel. */
  static decode(prefix: string, bytes: Uint8Array, dModel: number, source: string): ScalarHead {
    const { tensors } = decodeSafetensors(bytes, source);
    try {
      const w = tensors.get(`${prefix}.weight`);
      const b = tensors.get(`${prefix}.bias`);
      if (!w || !b) throw new InputError(`${source}: lacks ${prefix}.weight or ${prefix}.bias`);
      if (w.shape.join(",") !== `${dModel},1` || b.shape.join(",") !== "1")
        throw new InputError(`${source}: head shapes [${w.shape}] / [${b.shape}] do not fit dModel ${dModel}`);
      return new ScalarHead(
        new Map([
          [`${prefix}.weight`, tf.variable(w, true)],
          [`${prefix}.bias`, tf.variable(b, true)],
        ]),
        prefix,
      );
    } finally {
      tf.dispose([...tensors.values()]);
    }
  }

  encode(): Promise<Uint8Array> {
    return encodeSafetensors(this.params as Map<string, tf.Tensor>, { format: "isrdpo-scalar-head" });
  }

  /** A deep copy (PPO's value head starts as the reward model's head). */
  clone(prefix = this.prefix): ScalarHead {
    return new ScalarHead(
      new Map([
        [`${prefix}.weight`, tf.variable(this.weight(), true)],
        [`${prefix}.bias`, tf.variable(this.bias(), true)],
      ]),
      prefix,
    );
  }

  /** One number per text position: hidden [batch, time, dModel] → [batch, time]. Differentiable. */
  perToken(hidden: tf.Tensor3D): tf.Tensor2D {
    const [b, t, d] = hidden.shape;
    return matMul2d(hidden.reshape([b * t, d]) as tf.Tensor2D, this.weight() as tf.Tensor2D)
      .add(this.bias())
      .reshape([b, t]) as tf.Tensor2D;
  }

  /**
   * One number per row, read at its last text token (the answer's <eos>): [batch]. The position is
   * picked with a 0/1 mask, not gather, whose gradient the wasm backend lacks.
   */
  atLastToken(hidden: tf.Tensor3D, sb: ScoreBatch, numVisual: number): tf.Tensor1D {
    const pick = new Float32Array(sb.batch * sb.time);
    sb.keyValid.forEach((valid, i) => {
      const rows = valid.reduce((a, v) => a + v, 0);
      pick[i * sb.time + rows - numVisual - 1] = 1;
    });
    return this.perToken(hidden)
      .mul(tf.tensor2d(pick, [sb.batch, sb.time]))
      .sum(1) as tf.Tensor1D;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
  }

  private weight(): tf.Variable {
    return this.params.get(`${this.prefix}.weight`) as tf.Variable;
  }

  private bias(): tf.Variable {
    return this.params.get(`${this.prefix}.bias`) as tf.Variable;
  }
}

/** The reward head's parameter names ("reward_head.weight", "reward_head.bias"). */
export const REWARD_HEAD = "reward_head";

/** r(video, prompt, answer) for a batch: the reward head at the last token. Differentiable. */
export function rewardScores(model: VideoLMM, head: ScalarHead, visual: tf.Tensor3D, sb: ScoreBatch): tf.Tensor1D {
  return head.atLastToken(sequenceHidden(model, visual, sb), sb, model.numVisual);
}

/**
 * The reward of each item (`prompt` already holds the question and its context), in batches of
 * `batchSize`; yields to the event loop between batches and stops when `signal` aborts.
 */
export async function scoreRewards(
  model: VideoLMM,
  tok: Tokenizer,
  head: ScalarHead,
  items: readonly ScoreItem[],
  opts: { batchSize?: number; signal?: AbortSignal } = {},
): Promise<number[]> {
  const batchSize = opts.batchSize ?? 32;
  const out: number[] = [];
  for (let start = 0; start < items.length; start += batchSize) {
    const chunk = items.slice(start, start + batchSize);
    const sb = buildScoreBatch(
      model,
      chunk.map((it) => encodeRow(tok, it.prompt, it.answer)),
      tok.padId,
      "items",
      start,
    );
    const scores = tf.tidy(() => rewardScores(model, head, model.visualTokens(chunk), sb));
    out.push(...(await scores.data()));
    scores.dispose();
    await new Promise((resolve) => setImmediate(resolve));
    if (opts.signal?.aborted) throw new Error(`scoreRewards: aborted after ${out.length} of ${items.length} items`);
  }
  return out;
}
