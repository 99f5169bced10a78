import * as tf from "@tensorflow/tfjs";
import { z } from "zod";

/**
 * DPO objectives with Hugging Face TRL's definitions (DPOTrainer, TRL ≥ 0.29; `sigmoid_norm` as added
 * in TRL 1.x), one function per loss below with its paper. Log-probs are summed over answer tokens. With the log-ratios
 *   Δc = log π(y_w) − log π_ref(y_w),  Δr = log π(y_l) − log π_ref(y_l),  Δ = Δc − Δr
 * and ε the label smoothing, per pair:
 *   sigmoid       −(1−ε)·logσ(βΔ) − ε·logσ(−βΔ)          (cDPO; ε = 0 is plain DPO)
 *   hinge         relu(1 − βΔ)
 *   ipo           (Δc/|y_w| − Δr/|y_l| − 1/(2β))²        (length-averaged, as TRL does for IPO)
 *   robust        (−(1−ε)·logσ(βΔ) + ε·logσ(−βΔ)) / (1−2ε)
 *   sigmoid_norm  −logσ(β·(Δc/|y_w| − Δr/|y_l|))
 * Lengths are clamped to ≥ 1 as in TRL. The loss is the batch mean. Metrics (TRL's names):
 * rewards/chosen = mean βΔc, rewards/rejected = mean βΔr, rewards/margins = mean β(Δc−Δr),
 * rewards/accuracies = mean [βΔc > βΔr] (strict: a tie counts as wrong).
 */

export const DPO_LOSS_TYPES = ["sigmoid", "hinge", "ipo", "robust", "sigmoid_norm"] as const;
export type DpoLossType = (typeof DPO_LOSS_TYPES)[number];

export const DpoParamsSchema = z
  .object({
    type: z.enum(DPO_LOSS_TYPES).default("sigmoid"),
    beta: z.number().positive().default(0.1),
    labelSmoothing: z.number().min(0).lt(0.5).default(0),
  })
  .strict();
export type DpoParams = z.input<typeof DpoParamsSchema>;

export interface DpoLossInputs {
  policyChosen: readonly number[];
  policyRejected: readonly number[];
  referenceChosen: readonly number[];
  referenceRejected: readonly number[];
  chosenLengths: readonly number[];
  rejectedLengths: readonly number[];
}

export interface DpoLossResult {
  loss: number;
  rewardsChosen: number;
  rewardsRejected: number;
  rewardsMargins: number;
  rewardsAccuracy: number;
}

/**
 * The arithmetic the losses are written in, once, for plain numbers (dpoLoss: metrics and tests,
 * in float64) and for tensors (dpoLossTensor: training, differentiable). Both evaluate the same
 * expression, so they agree by construction.
 */
interface Ops<T> {
  add(a: T, b: T): T;
  sub(a: T | number, b: T | number): T;
  mul(a: T, k: number): T;
  div(a: T, b: T | number): T;
  neg(a: T): T;
  square(a: T): T;
  relu(a: T): T;
  /** log σ(x) */
  logSigmoid(a: T): T;
}

const numberOps: Ops<number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, k) => a * k,
  div: (a, b) => a / b,
  neg: (a) => -a,
  square: (a) => a * a,
  relu: (a) => Math.max(0, a),
  // Stable for large |x|.
  logSigmoid: (x) => Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x))),
};

const tensorOps: Ops<tf.Tensor> = {
  add: (a, b) => a.add(b),
  sub: (a, b) => tf.sub(a, b),
  mul: (a, k) => a.mul(k),
  div: (a, b) => tf.div(a, b),
  neg: (a) => a.neg(),
  square: (a) => a.square(),
  relu: (a) => tf.relu(a),
  // −softplus(−x). (tf.logSigmoid's custom gradient fails on intermediate tensors in tfjs 4.22.)
  logSigmoid: (x) => tf.softplus(x.neg()).neg(),
};

/** One pair's (or a batch's) log-ratios Δc, Δr, Δ = Δc − Δr and answer lengths |y_w|, |y_l| (≥ 1). */
interface LogRatios<T> {
  dc: T;
  dr: T;
  d: T;
  lc: T;
  lr: T;
}

/**
 * DPO, Rafailov et al. 2023, "Direct Preference Optimization" (arXiv 2305.18290): −logσ(βΔ). With label
 * smoothing ε it is conservative DPO (cDPO), Mitchell 2023, "A note on DPO with noisy preferences":
 * −(1−ε)·logσ(βΔ) − ε·logσ(−βΔ).
 */
function sigmoidLoss<T>(o: Ops<T>, { d }: LogRatios<T>, beta: number, eps: number): T {
  return o.sub(o.mul(o.logSigmoid(o.mul(d, beta)), -(1 - eps)), o.mul(o.logSigmoid(o.mul(d, -beta)), eps));
}

/** The hinge loss of SLiC, Zhao et al. 2023, "SLiC-HF" (arXiv 2305.10425), with margin 1/β: relu(1 − βΔ). */
function hingeLoss<T>(o: Ops<T>, { d }: LogRatios<T>, beta: number): T {
  return o.relu(o.sub(1, o.mul(d, beta)));
}

/**
 * IPO, Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning from Human
 * Preferences" (arXiv 2310.12036), on length-averaged log-ratios as TRL does: (Δc/|y_w| − Δr/|y_l| − 1/(2β))².
 */
function ipoLoss<T>(o: Ops<T>, { dc, dr, lc, lr }: LogRatios<T>, beta: number): T {
  return o.square(o.sub(o.sub(o.div(dc, lc), o.div(dr, lr)), 1 / (2 * beta)));
}

/**
 * Robust DPO, Chowdhury et al. 2024, "Provably Robust DPO" (arXiv 2403.00409): an unbiased loss
 * under preference labels flipped with probability ε, (−(1−ε)·logσ(βΔ) + ε·logσ(−βΔ)) / (1−2ε).
 */
function robustLoss<T>(o: Ops<T>, { d }: LogRatios<T>, beta: number, eps: number): T {
  return o.div(o.add(o.mul(o.logSigmoid(o.mul(d, beta)), -(1 - eps)), o.mul(o.logSigmoid(o.mul(d, -beta)), eps)), 1 - 2 * eps);
}

/**
 * Length-normalised DPO as TRL defines `sigmoid_norm`: the DPO loss on log-ratios averaged over the
 * answer tokens, so a long answer is not favoured for its length: −logσ(β·(Δc/|y_w| − Δr/|y_l|)).
 */
function sigmoidNormLoss<T>(o: Ops<T>, { dc, dr, lc, lr }: LogRatios<T>, beta: number): T {
  return o.neg(o.logSigmoid(o.mul(o.sub(o.div(dc, lc), o.div(dr, lr)), beta)));
}

/** The per-pair loss of a type. */
function pairLoss<T>(o: Ops<T>, r: LogRatios<T>, { type, beta, labelSmoothing: eps }: z.output<typeof DpoParamsSchema>): T {
  switch (type) {
    case "sigmoid":
      return sigmoidLoss(o, r, beta, eps);
    case "hinge":
      return hingeLoss(o, r, beta);
    case "ipo":
      return ipoLoss(o, r, beta);
    case "robust":
      return robustLoss(o, r, beta, eps);
    case "sigmoid_norm":
      return sigmoidNormLoss(o, r, beta);
  }
}

/** The DPO loss and TRL's reward metrics on plain numbers (batch means). */
export function dpoLoss(inputs: DpoLossInputs, params: DpoParams): DpoLossResult {
  const p = parseDpoParams(params);
  const n = checkInputs(inputs);
  let loss = 0;
  let chosen = 0;
  let rejected = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const dc = (inputs.policyChosen[i] as number) - (inputs.referenceChosen[i] as number);
    const dr = (inputs.policyRejected[i] as number) - (inputs.referenceRejected[i] as number);
    const lc = Math.max(1, inputs.chosenLengths[i] as number);
    const lr = Math.max(1, inputs.rejectedLengths[i] as number);
    loss += pairLoss(numberOps, { dc, dr, d: dc - dr, lc, lr }, p);
    chosen += p.beta * dc;
    rejected += p.beta * dr;
    if (p.beta * dc > p.beta * dr) correct++;
  }
  return {
    loss: loss / n,
    rewardsChosen: chosen / n,
    rewardsRejected: rejected / n,
    rewardsMargins: (chosen - rejected) / n,
    rewardsAccuracy: correct / n,
  };
}

/**
 * The same loss on tensors, differentiable in the policy log-probs ([batch] each); the reference
 * log-probs and lengths are constants. Returns the batch-mean loss. (No tidy() inside: tensors kept
 * for the backward pass must outlive this call; run it inside variableGrads or tidy.)
 */
export function dpoLossTensor(
  policyChosen: tf.Tensor1D,
  policyRejected: tf.Tensor1D,
  inputs: Omit<DpoLossInputs, "policyChosen" | "policyRejected">,
  params: DpoParams,
): tf.Scalar {
  const p = parseDpoParams(params);
  const dc = policyChosen.sub(tf.tensor1d(inputs.referenceChosen as number[]));
  const dr = policyRejected.sub(tf.tensor1d(inputs.referenceRejected as number[]));
  const d = dc.sub(dr);
  const lc = tf.tensor1d(inputs.chosenLengths.map((l) => Math.max(1, l)));
  const lr = tf.tensor1d(inputs.rejectedLengths.map((l) => Math.max(1, l)));
  return pairLoss(tensorOps, { dc, dr, d, lc, lr }, p).mean() as tf.Scalar;
}

export function parseDpoParams(params: DpoParams): z.output<typeof DpoParamsSchema> {
  const parsed = DpoParamsSchema.safeParse(params);
  if (!parsed.success) throw new Error(`dpo: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function checkInputs(inputs: DpoLossInputs): number {
  const n = inputs.policyChosen.length;
  if (n === 0) throw new Error("dpoLoss: empty batch");
  for (const key of ["policyRejected", "referenceChosen", "referenceRejected", "chosenLengths", "rejectedLengths"] as const) {
    if (inputs[key].length !== n) throw new Error(`dpoLoss: ${key} has ${inputs[key].length} values, policyChosen has ${n}`);
  }
  return n;
}
