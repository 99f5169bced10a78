import * as tf from "@tensorflow/tfjs";
import { z } from "zod";

/**
 * DPO objectives with Hugging Face TRL's definitions (DPOTrainer, TRL ≥ 0.29; `sigmoid_norm` as added
 * in TRL 1.x). Log-probs are summed over answer tokens. With the log-ratios
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

/** log σ(x), stable for large |x|. */
function logSigmoid(x: number): number {
  return Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
}

/** The DPO loss and TRL's reward metrics on plain numbers (batch means). */
export function dpoLoss(inputs: DpoLossInputs, params: DpoParams): DpoLossResult {
  const { type, beta, labelSmoothing: eps } = parseDpoParams(params);
  const n = checkInputs(inputs);
  let loss = 0;
  let chosen = 0;
  let rejected = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const dc = (inputs.policyChosen[i] as number) - (inputs.referenceChosen[i] as number);
    const dr = (inputs.policyRejected[i] as number) - (inputs.referenceRejected[i] as number);
    const d = dc - dr;
    const lc = Math.max(1, inputs.chosenLengths[i] as number);
    const lr = Math.max(1, inputs.rejectedLengths[i] as number);
    if (type === "sigmoid") loss += -(1 - eps) * logSigmoid(beta * d) - eps * logSigmoid(-beta * d);
    else if (type === "hinge") loss += Math.max(0, 1 - beta * d);
    else if (type === "ipo") loss += (dc / lc - dr / lr - 1 / (2 * beta)) ** 2;
    else if (type === "robust") loss += (-(1 - eps) * logSigmoid(beta * d) + eps * logSigmoid(-beta * d)) / (1 - 2 * eps);
    else loss += -logSigmoid(beta * (dc / lc - dr / lr));
    chosen += beta * dc;
    rejected += beta * dr;
    if (beta * dc > beta * dr) correct++;
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
  const { type, beta, labelSmoothing: eps } = parseDpoParams(params);
  const dc = policyChosen.sub(tf.tensor1d(inputs.referenceChosen as number[]));
  const dr = policyRejected.sub(tf.tensor1d(inputs.referenceRejected as number[]));
  const d = dc.sub(dr);
  const lc = tf.tensor1d(inputs.chosenLengths.map((l) => Math.max(1, l)));
  const lr = tf.tensor1d(inputs.rejectedLengths.map((l) => Math.max(1, l)));
  let perPair: tf.Tensor;
  if (type === "sigmoid")
    perPair = logSigmoidT(d.mul(beta))
      .mul(-(1 - eps))
      .sub(logSigmoidT(d.mul(-beta)).mul(eps));
  else if (type === "hinge") perPair = tf.relu(tf.scalar(1).sub(d.mul(beta)));
  else if (type === "ipo")
    perPair = dc
      .div(lc)
      .sub(dr.div(lr))
      .sub(1 / (2 * beta))
      .square();
  else if (type === "robust")
    perPair = logSigmoidT(d.mul(beta))
      .mul(-(1 - eps))
      .add(logSigmoidT(d.mul(-beta)).mul(eps))
      .div(1 - 2 * eps);
  else perPair = logSigmoidT(dc.div(lc).sub(dr.div(lr)).mul(beta)).neg();
  return perPair.mean() as tf.Scalar;
}

/** log σ(x) = −softplus(−x). (tf.logSigmoid's custom gradient fails on intermediate tensors in tfjs 4.22.) */
function logSigmoidT(x: tf.Tensor): tf.Tensor {
  return tf.softplus(x.neg()).neg();
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
