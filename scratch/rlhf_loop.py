"""A small RLHF loop: RLOO against a reward, the KL penalty to the SFT model, the pretraining mix
(harness: never graded; it runs the graded pieces of ``rlhf``).

One iteration, for P prompts and K samples of each (B = P K rows):

    1. rollouts     generate_batch(policy, each prompt K times, temperature tau)   tokens, lengths
    2. scoring      log pi and log pi_SFT of the sampled tokens at tau; the reward's score
    3. rewards      kl_penalized_rewards -> per-sequence returns -> rloo_advantages
    4. update       policy-gradient loss (+ gamma x LM loss on a pretraining batch), its
                    gradient through the GPT, global-norm clipping, one AdamW step
    5. beta         adaptive_kl_update when a KL target is given

Each iteration records: ``score`` (the reward's mean), ``gold`` (a second, held-out judge's
mean, when given), ``kl_k1`` and ``kl_k3`` (per response, i.e. the per-token means times the
mean length), ``entropy`` (mean per-token entropy of the policy at tau), ``length``, ``beta``,
``loss`` and ``lm_loss`` (the pretraining batch's, when gamma > 0).

A loss that is not finite stops the loop with FloatingPointError before the update is applied.

Left out: PPO's value head and epochs over a batch (the losses are in ``ppo``), and the
lecture demo's sweeps (beta = 0, gamma, DPO side by side).
"""

import math

import numpy as np


def rlhf_rloo(impl, policy, reference, prompts, reward, *, iterations, k, max_new_tokens, beta, lr, rng,
              temperature=1.0, stop_id=None, pad_id=0, gold=None, kl_target=None, horizon=10000,
              gamma=0.0, pretrain_batches=None, max_grad_norm=1.0, log=None):
    """Train ``policy`` (a GPT, in place) with RLOO against ``reward``; returns the history dict.

    ``reference``: the frozen SFT GPT; ``prompts``: P token-id lists; ``reward(rows, tokens,
    lengths) -> (B,)`` scores sampled responses (``rows`` the B prompts, each repeated K
    times); ``gold``: the same signature, only reported. ``kl_target`` (per response): adapt
    beta with ``horizon``. ``gamma`` > 0 needs ``pretrain_batches``, an iterator of
    (ids, targets). ``log``: a callable given each iteration's metrics dict.
    """
    rlhf = impl.rlhf
    if gamma > 0 and pretrain_batches is None:
        raise ValueError("gamma > 0 needs pretrain_batches (an iterator of (ids, targets))")
    rows = [list(prompt) for prompt in prompts for _ in range(k)]
    ids, left_pad = impl.batched.pad_left(rows, pad_id)
    state = impl.optim.adamw_init(policy.params)
    history = {name: [] for name in ("score", "gold", "kl_k1", "kl_k3", "entropy", "length", "beta", "loss",
                                     "lm_loss")}
    for iteration in range(iterations):
        out = impl.batched.generate_batch(policy, rows, max_new_tokens, temperature=temperature, stop_id=stop_id,
                                          pad_id=pad_id, rng=rng)
        mask = np.arange(max_new_tokens)[None, :] < out.lengths[:, None]
        logits, cache = rlhf.response_forward(policy, ids, left_pad, out.tokens)
        logprobs, lp_cache = rlhf.token_logprobs_forward(logits, out.tokens, mask, temperature)
        ref_logits, _ = rlhf.response_forward(reference, ids, left_pad, out.tokens)
        ref_logprobs, _ = rlhf.token_logprobs_forward(ref_logits, out.tokens, mask, temperature)
        scores = np.asarray(reward(rows, out.tokens, out.lengths), dtype=np.float64)
        rewards = rlhf.kl_penalized_rewards(logprobs, ref_logprobs, scores, mask, beta)
        advantages = rlhf.rloo_advantages(rlhf.masked_sum(rewards, mask).reshape(len(prompts), k)).ravel()
        loss, pg_cache = rlhf.policy_gradient_loss_forward(logprobs, advantages, mask)
        dlogits = rlhf.token_logprobs_backward(rlhf.policy_gradient_loss_backward(1.0, pg_cache), lp_cache)
        grads = rlhf.response_backward(policy, dlogits.astype(policy.dtype), cache)
        lm_loss = float("nan")
        if gamma > 0:
            lm_loss, lm_grads = policy.loss_and_grads(*next(pretrain_batches))
            loss, grads = rlhf.mixed_loss_and_grads(loss, grads, lm_loss, lm_grads, gamma)
        if not math.isfinite(loss):
            raise FloatingPointError(f"iteration {iteration}: the loss is {loss}; the update was not applied "
                                     f"(lower lr, or raise beta)")
        grads, _ = impl.optim.clip_grad_norm(grads, max_grad_norm)
        impl.optim.adamw_step(policy.params, grads, state, lr, weight_decay=0.0)
        k1, k3 = rlhf.kl_estimators(logprobs, ref_logprobs, mask)
        mean_length = float(out.lengths.mean())
        metrics = {"score": float(scores.mean()),
                   "gold": float(np.mean(gold(rows, out.tokens, out.lengths))) if gold else float("nan"),
                   "kl_k1": k1 * mean_length, "kl_k3": k3 * mean_length,
                   "entropy": token_entropy(impl, logits, mask, temperature), "length": mean_length,
                   "beta": beta, "loss": loss, "lm_loss": lm_loss}
        for name, value in metrics.items():
            history[name].append(value)
        if log is not None:
            log(iteration, metrics)
        if kl_target is not None:
            beta = rlhf.adaptive_kl_update(beta, metrics["kl_k1"], kl_target, len(rows), horizon)
    return history


def token_entropy(impl, logits, mask, temperature):
    """Mean entropy (nats) of softmax(logits / tau) over the response positions of ``mask``."""
    logp = impl.nn.log_softmax(logits / temperature)  # (B, T, V)
    return float(-(np.exp(logp) * logp).sum(axis=-1)[mask].mean())
