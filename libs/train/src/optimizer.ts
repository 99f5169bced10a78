import * as tf from "@tensorflow/tfjs";

/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter), as torch.optim.AdamW: decay applies to
 * matrices only (rank ≥ 2), not to biases, LayerNorm gains or position tables' rows individually.
 * Its state is plain named tensors so a checkpoint can carry it and a resumed run continues exactly.
 */
export class AdamW {
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(readonly opts: { beta1: number; beta2: number; eps: number; weightDecay: number }) {}

  /**
   * One update of `params` (by name) with `grads` (by the same names) at learning rate `lr`, times
   * `lrScale(name)` per parameter (parameter groups, as torch's param_groups).
   */
  apply(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr: number, lrScale: (name: string) => number = () => 1): void {
    this.step++;
    const { beta1, beta2, eps, weightDecay } = this.opts;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    for (const [name, g] of grads) {
      const p = params.get(name);
      if (!p) throw new Error(`AdamW: gradient for unknown parameter "${name}"`);
      if (!this.m.has(name)) {
        const zeros = tf.zerosLike(p);
        this.m.set(name, tf.variable(zeros, false));
        this.v.set(name, tf.variable(zeros, false));
        zeros.dispose();
      }
      const m = this.m.get(name) as tf.Variable;
      const rate = lr * lrScale(name);
      const v = this.v.get(name) as tf.Variable;
      tf.tidy(() => {
        m.assign(m.mul(beta1).add(g.mul(1 - beta1)));
        v.assign(v.mul(beta2).add(g.square().mul(1 - beta2)));
        const update = m.div(bc1).div(v.div(bc2).sqrt().add(eps));
        const decay = p.rank >= 2 ? weightDecay : 0;
        p.assign(p.mul(1 - rate * decay).sub(update.mul(rate)));
      });
    }
  }

  /** Moments as "m.<param>" / "v.<param>" tensors (for a safetensors file). */
  stateTensors(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [n, t] of this.m) out.set(`m.${n}`, t);
    for (const [n, t] of this.v) out.set(`v.${n}`, t);
    return out;
  }

  loadState(step: number, tensors: Map<string, tf.Tensor>): void {
    this.dispose();
    this.step = step;
    for (const [key, t] of tensors) {
      const [kind, ...rest] = key.split(".");
      const name = rest.join(".");
      if (kind === "m") this.m.set(name, tf.variable(t, false));
      else if (kind === "v") this.v.set(name, tf.variable(t, false));
      else throw new Error(`AdamW: unexpected state tensor "${key}"`);
    }
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

export type Schedule = "constant" | "linear" | "cosine";

/** Learning rate at `step` (0-based): linear warmup to `lr` over `warmupSteps`, then the decay to 0 at `totalSteps`. */
export function learningRate(step: number, o: { lr: number; warmupSteps: number; totalSteps: number; schedule: Schedule }): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  if (o.schedule === "constant") return o.lr;
  const progress = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps));
  return o.schedule === "linear" ? o.lr * (1 - progress) : o.lr * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** Scales `grads` in place so their global L2 norm is at most `maxNorm` (0 = no clipping); returns the norm before. */
export async function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): Promise<number> {
  // An asynchronous read: GPU backends have no synchronous one in Node.
  const normTensor = tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => g.square().sum()))));
  const norm = (await normTensor.data())[0] as number;
  normTensor.dispose();
  if (maxNorm > 0 && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const [n, g] of grads) {
      grads.set(n, g.mul(scale));
      g.dispose();
    }
  }
  return norm;
}
