"""RLHF step 3: optimise the policy against the reward model, near the SFT model.

Lecture slide "RLHF": with r_theta the reward model of step 2 and pi^SFT the policy of
step 1, the RL policy pi_phi^RL maximises

    objective(phi) = E_{(x, y) ~ pi_phi^RL} [ r_theta(x, y) - beta log( pi_phi^RL(y|x) / pi^SFT(y|x) ) ]
                     + gamma E_{x ~ D_pretrain} [ log pi_phi^RL(x) ]

The first expectation is over the policy's own samples, so it needs RL (its gradient passes
through the sampling); the beta term keeps the policy near pi^SFT, whose text the reward
model was trained on (far from it the reward model is an unreliable judge); the gamma term
keeps plain language modelling alive on pretraining text. This module holds what every
policy-gradient method shares, and REINFORCE with a leave-one-out baseline; PPO is in
``ppo.py``, DPO (the same objective without sampling) in ``dpo.py``.

Shape glossary: B responses (rows), T response positions, V vocabulary, P prompts, K
responses per prompt (B = P K, the K responses of a prompt in consecutive rows).

Responses are right-padded: row b holds its L_b response tokens in positions 0 .. L_b - 1
and the response mask m (B, T) is True exactly there (what ``generate_batch`` returns:
``mask = arange(T) < lengths``). Every row needs at least one response token.

Per-token log-probabilities at the rollout temperature tau. A rollout samples y_t from
softmax(z_t / tau), z_t the logits at response position t, so the policy being trained is
THAT distribution, and every log-probability in the losses is taken from it:

    log pi(y_t) = log_softmax(z_t / tau)[y_t],     d log pi(y_t) / d z_t = (onehot(y_t) - softmax(z_t / tau)) / tau

The KL-penalised reward, per token. log(pi^RL(y|x) / pi^SFT(y|x)) is a sum over the response's
tokens, so the penalty is spread over them; the reward model scores the whole response, so
its score sits at the LAST real response token:

    r_t = -beta (log pi(y_t) - log pi^SFT(y_t))  +  [t = L - 1] r_theta(x, y)       (masked: 0)

KL metrics, with d_t = log pi(y_t) - log pi_ref(y_t) on the policy's own samples:
k1 = d (unbiased for KL(pi || pi_ref), but single samples may be negative) and
k3 = e^{-d} - 1 + d (also unbiased, never negative, lower variance near pi_ref). Both are
reported as the mean over all response tokens of the batch (nats per token).

REINFORCE with the leave-one-out baseline (RLOO). The return of a response is the sum of its
per-token rewards, R = r_theta(x, y) - beta sum_t d_t (no discount: gamma = 1 over tokens). With K
samples per prompt, each is judged against the mean of the OTHER K - 1:

    A_i = R_i - 1/(K-1) sum_{j != i} R_j = K/(K-1) (R_i - mean_j R_j)

The baseline of sample i does not depend on sample i, so the gradient stays unbiased, and
it removes the part of R common to the prompt. The loss, minimised, is

    L_PG = -1/B sum_b A_b sum_t m_bt log pi(y_bt)

a mean over RESPONSES and a sum over their tokens (log pi(y|x) is the sum), so its gradient
is minus the REINFORCE estimate of the gradient of the objective's first term. A and the
rewards are constants: no gradient flows through them (the penalty's own dependence on phi
has zero expectation, E_pi[grad log pi] = 0).

The adaptive KL controller (lm-human-preferences): after an update over n samples that
measured a KL of KL per response, with a target KL_target and a horizon H,

    e = clip(KL / KL_target - 1, -0.2, 0.2),     beta <- beta (1 + e n / H)

so beta grows when the policy drifts further than wanted, and shrinks when it stays closer.

The pretraining mix. The gamma term is a language-modelling loss (the mean cross-entropy,
-mean log pi(x)) on a batch of pretraining text, added in the SAME update:

    L = L_policy + gamma L_LM,       grad L = grad L_policy + gamma grad L_LM

Decisions:
- Means: KL metrics and PPO's losses are means over all response tokens of the batch;
  the REINFORCE loss is a mean over responses of a sum over tokens (module text above).
- Log-probabilities at masked positions are 0.0 (as ``generate_batch`` records them), and
  no gradient reaches a masked position's logits.
- The reference model of the KL terms is the SFT model (pi_ref = pi^SFT), frozen.
- Rollouts sample from the full softmax at tau, never top-k or top-p: otherwise the
  sampling distribution is not the pi whose log-probabilities enter the losses.

Left out: per-token reward models, discounting inside a response (gamma = 1 over tokens;
PPO's GAE has its own gamma, see ``ppo.py``), entropy bonuses, and the reference
model's own temperature (both policies are read at the same tau).
"""

import numpy as np

from ._checks import (check_beta, check_grad_mix, check_kl_control, check_logprob_array, check_response_mask,
                      check_response_model, check_response_tokens, check_rloo_returns, check_row_values,
                      check_token_arrays, check_token_logits)
from .batched import padded_positions
from .nn import log_softmax

# --------------------------------------------------------------------------- masked sums (math shared with ppo and dpo)


def masked_mean(x, mask):
    """Mean of ``x`` over the True entries of ``mask`` (same shape), a float."""
    return float(np.sum(np.where(mask, x, 0.0)) / np.count_nonzero(mask))


def masked_sum(x, mask):
    """Per-row sums of ``x`` (B, T) over its True entries: (B,), e.g. log pi(y|x) from its tokens."""
    return np.where(mask, x, 0.0).sum(axis=-1)


def last_token_index(mask):
    """Position of each row's last response token, (B,): L_b - 1."""
    return mask.sum(axis=-1) - 1


# --------------------------------------------------------------------------- per-token log-probabilities


def token_logprobs_forward(logits, tokens, mask, temperature=1.0):
    """log softmax(logits / temperature)[tokens] at every response position, 0 elsewhere.

    ``logits`` (B, T, V) float: logits[b, t] is the distribution of tokens[b, t];
    ``tokens`` (B, T) int; ``mask`` (B, T) response mask. Returns (logprobs (B, T) in the
    dtype of ``logits``, cache).
    """
    logits, tokens, mask = check_token_logits(logits, tokens, mask, temperature)
    ### BEGIN SOLUTION
    ### HINT: log_softmax of logits / temperature, then np.take_along_axis at the tokens; np.where for the mask
    logp = log_softmax(logits / temperature)  # (B, T, V)
    picked = np.take_along_axis(logp, tokens[..., None], axis=-1)[..., 0]  # (B, T)
    return np.where(mask, picked, 0.0).astype(logits.dtype), (logp, tokens, mask, temperature)
    ### END SOLUTION


def token_logprobs_backward(dlogprobs, cache):
    """Gradient of token_logprobs_forward w.r.t. the logits: (B, T, V)."""
    ### BEGIN SOLUTION
    ### HINT: d log softmax(z / tau)[y] / dz = (onehot(y) - softmax(z / tau)) / tau, zero at masked positions
    logp, tokens, mask, temperature = cache
    scale = np.where(mask, dlogprobs, 0.0)[..., None] / temperature  # (B, T, 1)
    dlogits = -np.exp(logp) * scale  # the softmax part, (B, T, V)
    # forward: picked = logp[y], so the chosen token's logit also gets + scale
    np.put_along_axis(dlogits, tokens[..., None], np.take_along_axis(dlogits, tokens[..., None], axis=-1) + scale,
                      axis=-1)
    return dlogits.astype(logp.dtype)
    ### END SOLUTION


# --------------------------------------------------------------------------- the reward and the KL


def kl_penalized_rewards(logprobs, ref_logprobs, scores, mask, beta):
    """Per-token rewards (B, T): -beta (log pi - log pi_ref) at every response token, plus the
    reward model's ``scores`` (B,) at each row's last response token; 0 at masked positions."""
    beta = check_beta(beta)
    logprobs, ref_logprobs, mask = check_token_arrays(mask, "logprobs", logprobs, ref_logprobs=ref_logprobs)
    scores = check_row_values(scores, "scores", logprobs)
    ### BEGIN SOLUTION
    ### HINT: the penalty at every masked-in token; the score added at position last_token_index(mask) of each row
    rewards = np.where(mask, -beta * (logprobs - ref_logprobs), 0.0)  # (B, T)
    rewards[np.arange(len(scores)), last_token_index(mask)] += scores
    return rewards
    ### END SOLUTION


def kl_estimators(logprobs, ref_logprobs, mask):
    """(k1, k3): the means over response tokens of d and e^{-d} - 1 + d, d = log pi - log pi_ref."""
    logprobs, ref_logprobs, mask = check_token_arrays(mask, "logprobs", logprobs, ref_logprobs=ref_logprobs)
    ### BEGIN SOLUTION
    d = logprobs - ref_logprobs  # (B, T)
    return masked_mean(d, mask), masked_mean(np.expm1(-d) + d, mask)
    ### END SOLUTION


# --------------------------------------------------------------------------- REINFORCE with a leave-one-out baseline


def rloo_advantages(returns):
    """A_i = R_i - mean of the other K - 1 returns of the same prompt; ``returns`` (P, K), K >= 2."""
    returns = check_rloo_returns(returns)
    ### BEGIN SOLUTION
    ### HINT: the others' mean is (sum of the row - R_i) / (K - 1)
    K = returns.shape[1]
    return returns - (returns.sum(axis=1, keepdims=True) - returns) / (K - 1)
    ### END SOLUTION


def policy_gradient_loss_forward(logprobs, advantages, mask):
    """L = -1/B sum_b A_b sum_t m_bt log pi(y_bt): (loss, cache). ``advantages`` (B,), constants."""
    logprobs = check_logprob_array(logprobs)
    advantages = check_row_values(advantages, "advantages", logprobs)
    mask = check_response_mask(mask, logprobs.shape)
    ### BEGIN SOLUTION
    ### HINT: masked_sum gives log pi(y|x) per row
    B = logprobs.shape[0]
    loss = -float(advantages @ masked_sum(logprobs, mask)) / B
    return loss, (advantages, mask, logprobs.dtype)
    ### END SOLUTION


def policy_gradient_loss_backward(dloss, cache):
    """Gradient of policy_gradient_loss_forward w.r.t. the log-probabilities: (B, T)."""
    ### BEGIN SOLUTION
    advantages, mask, dtype = cache
    # forward: loss = -1/B sum_b A_b sum_t m_bt logp_bt
    return (-dloss / len(advantages) * advantages[:, None] * mask).astype(dtype)
    ### END SOLUTION


# --------------------------------------------------------------------------- beta and gamma


def adaptive_kl_update(beta, kl, target, n_samples, horizon):
    """beta (1 + e n / horizon), e = clip(kl / target - 1, -0.2, 0.2): the new KL coefficient."""
    beta, kl = check_kl_control(beta, kl, target, n_samples, horizon)
    ### BEGIN SOLUTION
    error = np.clip(kl / target - 1.0, -0.2, 0.2)
    return beta * (1.0 + error * n_samples / horizon)
    ### END SOLUTION


def mixed_loss_and_grads(policy_loss, policy_grads, lm_loss, lm_grads, gamma):
    """The pretraining mix: (policy_loss + gamma lm_loss, {name: policy + gamma lm}).

    ``policy_grads`` and ``lm_grads``: gradient dicts with the same names (the policy's
    parameters); ``gamma`` >= 0. The result is a new dict (the inputs are left untouched).
    """
    check_grad_mix(policy_loss, policy_grads, lm_loss, lm_grads, gamma)
    ### BEGIN SOLUTION
    grads = {name: policy_grads[name] + gamma * lm_grads[name] for name in policy_grads}
    return policy_loss + gamma * lm_loss, grads
    ### END SOLUTION


# --------------------------------------------------------------------------- the GPT on prompts and responses (given)


def response_inputs(ids, left_pad, tokens):
    """One GPT pass over left-padded prompts and their responses: what to feed it.

    ``ids`` (B, P) and ``left_pad`` (B,) as ``batched.pad_left`` gives them; ``tokens`` (B, T)
    the responses (``generate_batch``'s tokens). The sequence is the prompt and the response
    but its last token, (B, P + T - 1); slot P - 1 + t predicts tokens[:, t]. Returns
    (sequence, padding, P) with ``padding`` = {"positions", "key_mask"} of
    ``batched.padded_positions`` (keyword arguments of the GPT's forward and forward_hidden).
    """
    ids, tokens = np.asarray(ids), check_response_tokens(tokens)
    sequence = np.concatenate([ids, tokens[:, :-1]], axis=1)  # (B, P + T - 1)
    positions, key_mask = padded_positions(left_pad, 0, sequence.shape[1])
    return sequence, {"positions": positions, "key_mask": key_mask}, ids.shape[1]


def response_pass(forward, ids, left_pad, tokens):
    """``forward`` (a GPT's ``forward`` or ``forward_hidden``) over prompts and responses
    (:func:`response_inputs`), read at the slots that predict response tokens: slot P - 1 + t
    predicts tokens[:, t]. Returns (its output there, (B, T, ...), a cache for
    :func:`response_pass_backward`)."""
    sequence, padding, P = response_inputs(ids, left_pad, tokens)
    full, cache = forward(sequence, **padding)  # (B, P + T - 1, ...)
    return full[:, P - 1:], (cache, full.shape, P)


def response_pass_backward(backward, dslots, cache):
    """``backward`` (the GPT's ``backward`` or ``backward_hidden``) for ``dslots`` (B, T, ...)
    at the response slots; the prompt's slots predict no response token and get zeros."""
    forward_cache, shape, P = cache
    full = np.zeros(shape, dtype=dslots.dtype)
    full[:, P - 1:] = dslots
    return backward(full, forward_cache)


def response_forward(model, ids, left_pad, tokens):
    """Logits of a GPT at the response positions of left-padded prompts and their responses:
    (logits (B, T, V), cache for :func:`response_backward`)."""
    check_response_model(model, ids, tokens, "response_forward")
    return response_pass(model.forward, ids, left_pad, tokens)


def response_backward(model, dlogits, cache):
    """The model's gradient dict for ``dlogits`` (B, T, V) at the response positions."""
    return response_pass_backward(model.backward, dlogits, cache)


def response_hidden_forward(model, ids, left_pad, tokens):
    """The GPT's final hidden states at the response positions, h (B, T, C) (h_t predicts
    tokens[:, t]), and a cache for :func:`response_hidden_backward` (for heads of one's own)."""
    check_response_model(model, ids, tokens, "response_hidden_forward")
    return response_pass(model.forward_hidden, ids, left_pad, tokens)


def response_hidden_backward(model, dh, cache):
    """The model's gradient dict for ``dh`` (B, T, C) at the response positions."""
    return response_pass_backward(model.backward_hidden, dh, cache)
