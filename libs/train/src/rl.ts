import * as tf from "@tensorflow/tfjs";

/**
 * The objectives of RLHF / RLAIF as VLM-RLAIF (Ahn et al. 2024, arXiv 2402.03746) uses them: a
 * Bradley–Terry reward model, then PPO against it with a per-token KL penalty to the reference
 * (Ouyang et al. 2022, "Training language models to follow instructions with human feedback",
 * arXiv 2203.02155). Names and definitions follow Hugging Face TRL (RewardTrainer, PPOTrainer).
 * Tensor functions are differentiable in their first argument and call no tidy() (run them inside
 * variableGrads or tidy); the rollout-time ones (GAE, the penalised rewards) work on plain numbers.
 * Token tensors are [batch, time] with a 0/1 `mask` marking the response tokens.
 */

/** Σ(x·mask) / Σ mask: the mean over response tokens (TRL's masked_mean). */
export function maskedMean(x: tf.Tensor, mask: tf.Tensor): tf.Scalar {
  return x.mul(mask).sum().div(mask.sum().maximum(1)) as tf.Scalar;
}

/**
 * Bradley–Terry reward-model loss (Bradley & Terry 1952; as in Ouyang et al. 2022, eq. 1, and TRL's
 * RewardTrainer): mean over pairs of −log σ(r(y_w) − r(y_l)), written as softplus(−(r_w − r_l)),
 * which is stable for any margin.
 */
export function bradleyTerryLoss(rewardsChosen: tf.Tensor1D, rewardsRejected: tf.Tensor1D): tf.Scalar {
  return tf.softplus(rewardsChosen.sub(rewardsRejected).neg()).mean() as tf.Scalar;
}

/**
 * The same loss and TRL's reward-model metrics on plain numbers (float64: evaluation and tests):
 * `accuracy` = share of pairs with r_w > r_l (strict: a tie counts as wrong), `margin` = mean r_w − r_l.
 */
export function bradleyTerryMetrics(
  rewardsChosen: ArrayLike<number>,
  rewardsRejected: ArrayLike<number>,
): { loss: number; accuracy: number; margin: number } {
  const n = rewardsChosen.length;
  if (n === 0 || rewardsRejected.length !== n)
    throw new Error(`bradleyTerryMetrics: ${n} chosen and ${rewardsRejected.length} rejected rewards (need the same, > 0)`);
  let loss = 0;
  let correct = 0;
  let margin = 0;
  for (let i = 0; i < n; i++) {
    const d = (rewardsChosen[i] as number) - (rewardsRejected[i] as number);
    loss += Math.max(-d, 0) + Math.log1p(Math.exp(-Math.abs(d)));
    if (d > 0) correct++;
    margin += d;
  }
  return { loss: loss / n, accuracy: correct / n, margin: margin / n };
}

/**
 * Generalised advantage estimation, Schulman et al. 2016, "High-Dimensional Continuous Control Using
 * Generalized Advantage Estimation" (arXiv 1506.02438), for one episode (a response) of T tokens:
 *   δ_t = r_t + γ·V_{t+1} − V_t   (V_T = 0: the episode ends with the response)
 *   A_t = δ_t + γλ·A_{t+1},  returns R_t = A_t + V_t (the value targets).
 */
export function gae(
  rewards: readonly number[],
  values: readonly number[],
  gamma: number,
  lambda: number,
): { advantages: number[]; returns: number[] } {
  const T = rewards.length;
  if (values.length !== T) throw new Error(`gae: ${T} rewards and ${values.length} values`);
  const advantages = new Array<number>(T).fill(0);
  let next = 0;
  let nextValue = 0;
  for (let t = T - 1; t >= 0; t--) {
    const delta = (rewards[t] as number) + gamma * nextValue - (values[t] as number);
    next = delta + gamma * lambda * next;
    advantages[t] = next;
    nextValue = values[t] as number;
  }
  return { advantages, returns: advantages.map((a, t) => a + (values[t] as number)) };
}

/**
 * Per-token rewards of a response with a KL penalty to the reference (Ouyang et al. 2022, eq. 2;
 * TRL's PPOTrainer): r_t = −β·(log π(y_t) − log π_ref(y_t)), and the score of the whole response
 * (the reward model's, or a toy reward's) added at its last token. Also the per-token KL estimates
 * (log π − log π_ref, the "k1" estimator TRL reports as objective/kl, summed per response).
 */
export function klPenalisedRewards(
  score: number,
  logProbs: readonly number[],
  refLogProbs: readonly number[],
  klCoef: number,
): { rewards: number[]; kl: number[] } {
  if (logProbs.length === 0 || refLogProbs.length !== logProbs.length)
    throw new Error(`klPenalisedRewards: ${logProbs.length} log-probs and ${refLogProbs.length} reference log-probs`);
  const kl = logProbs.map((l, t) => l - (refLogProbs[t] as number));
  const rewards = kl.map((k) => -klCoef * k);
  rewards[rewards.length - 1]! += score;
  return { rewards, kl };
}

/**
 * PPO's clipped surrogate, Schulman et al. 2017, "Proximal Policy Optimization Algorithms" (arXiv
 * 1707.06347), eq. 7, as a loss over response tokens: with ρ_t = exp(log π − log π_old),
 *   mean_t max(−A_t·ρ_t, −A_t·clip(ρ_t, 1−ε, 1+ε)).
 * `clipFraction` (TRL's policy/clipfrac_avg) is the share of tokens where the clipped term won.
 */
export function ppoPolicyLoss(
  logProbs: tf.Tensor2D,
  oldLogProbs: tf.Tensor2D,
  advantages: tf.Tensor2D,
  mask: tf.Tensor2D,
  clipRange: number,
): { loss: tf.Scalar; clipFraction: tf.Scalar } {
  const ratio = logProbs.sub(oldLogProbs).exp();
  const unclipped = advantages.neg().mul(ratio);
  const clipped = advantages.neg().mul(ratio.clipByValue(1 - clipRange, 1 + clipRange));
  return {
    loss: maskedMean(tf.maximum(unclipped, clipped), mask),
    clipFraction: maskedMean(tf.greater(clipped, unclipped).toFloat(), mask),
  };
}

/**
 * The clipped value loss of PPO as OpenAI's baselines and TRL implement it: the value may move at
 * most ε from the rollout's value before the squared error stops rewarding the move,
 *   ½·mean_t max((V_t − R_t)², (clip(V_t, V_old−ε, V_old+ε) − R_t)²).
 */
export function clippedValueLoss(
  values: tf.Tensor2D,
  oldValues: tf.Tensor2D,
  returns: tf.Tensor2D,
  mask: tf.Tensor2D,
  clipRange: number,
): tf.Scalar {
  const clipped = oldValues.add(values.sub(oldValues).clipByValue(-clipRange, clipRange));
  const loss = tf.maximum(values.sub(returns).square(), clipped.sub(returns).square());
  return maskedMean(loss, mask).mul(0.5) as tf.Scalar;
}

/**
 * Mean entropy per response token of the policy's next-token distributions, −Σ_v p_v·log p_v
 * (reported as TRL's policy/entropy_avg; PPO's entropy bonus, Schulman et al. 2017 eq. 9).
 * `logits` [batch, time, vocab].
 */
export function tokenEntropy(logits: tf.Tensor3D, mask: tf.Tensor2D): tf.Scalar {
  const logp = tf.logSoftmax(logits);
  return maskedMean(logp.exp().mul(logp).sum(-1).neg(), mask);
}
