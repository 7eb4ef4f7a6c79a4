"""PPO for RLHF: advantages from a value function, and updates that stay near the rollout's policy.

Lecture slide "RLHF", step 3, as InstructGPT runs it. REINFORCE (``rlhf.py``)
takes one gradient step per batch of samples and judges a whole response by one number.
PPO (i) credits each token by how much better than expected things went after it, with a
learned value V(s_t) of each response prefix (a scalar head on the policy's hidden states),
and (ii) takes several gradient steps on one batch of rollouts, with a clipped objective
that stops the new policy from moving far from the one that sampled them.

The value head. The state s_t before response token y_t is the prompt and y_<t, and the
GPT's hidden state h_t at the position that predicts y_t already summarises it; so the value
is one more linear read-out of the same h_t, next to the token head, sharing the trunk:

    logits_t = h_t W_head   (W_head = E^T when tied),        V_t = h_t . w + b

One forward pass gives both. In the backward pass the two heads' gradients meet at h_t and
travel down the trunk together:

    dh_t = dlogits_t W_head^T + dV_t w,   dW_head = sum_t h_t^T dlogits_t,   dw = sum_t dV_t h_t,   db = sum_t dV_t

Only the response positions are read out (a prompt position predicts no response token), so
the head costs B T (V + 1) C multiply-adds, not over the whole prompt as well.

Per-token rewards r_t are the KL-penalised rewards of ``rlhf.kl_penalized_rewards``
(the penalty at every token, the reward model's score at the last one).

GAE(gamma, lambda), over the response tokens of each row, backwards from its last token:

    delta_t = r_t + gamma V_{t+1} - V_t,           V_{t+1} = 0 after the last token (the episode ends)
    A_t     = delta_t + gamma lambda A_{t+1},      A = 0 after the last token
    R_t     = A_t + V_t                             the value targets ("returns")

lambda = 1 gives A_t = (discounted reward-to-go) - V_t (unbiased, noisy); lambda = 0 gives the
one-step delta_t (biased by V, quiet). With gamma = lambda = 1, R_t is the plain reward-to-go.

Whitening: the advantages are shifted and scaled to mean 0 and std 1 over the response
tokens of the batch (population std). It is made safe for tiny batches: with a single
token there is no spread to measure and the advantage is returned as it is (centring it
would erase the only signal), and when the std is ~0 (all advantages equal) only the mean
is removed.

The clipped surrogate (rho_t = pi(y_t) / pi_old(y_t), pi_old the policy that sampled):

    L_clip = -mean_t min( rho_t A_t,  clip(rho_t, 1 - eps, 1 + eps) A_t )

The min takes the pessimistic side: once rho has moved past 1 + eps on a good token (or
1 - eps on a bad one) the clipped branch is chosen and its gradient is 0, so nothing pushes
the ratio further. Its gradient wrt log pi(y_t) is -A_t rho_t / N where the unclipped branch
is chosen, else 0.

The clipped value loss (values V, the rollout's values V_old, targets R):

    L_V = 1/2 mean_t max( (V_t - R_t)^2,  (V_old,t + clip(V_t - V_old,t, -eps_v, eps_v) - R_t)^2 )

Reported: the clip fraction, the share of tokens with |rho_t - 1| > eps, and the
approximate KL 1/2 mean_t (log pi(y_t) - log pi_old(y_t))^2 between the new and old policies.

Decisions:
- Every mean is over all response tokens of the batch (N of them), not per response.
- Advantages, returns and old quantities are constants: no gradient flows into them.
- The masks are response masks as in ``rlhf.py`` (response tokens first in a row).
- The value head shares the policy's trunk (one network, as trl's value-head models do;
  InstructGPT trained a separate value model initialised from the reward model), starts at
  w = 0, b = 0 (every V_t = 0 until it learns), and the value loss's gradient reaches the
  trunk too: the training loop weights it with a coefficient (``scratch/train/rlhf.py``).

Left out: the entropy bonus, early stopping on the approximate KL, value-function
initialisation from the reward model (a choice of the training loop), and PPO-ptx's mixing
(the gamma term is ``rlhf.mixed_loss_and_grads``).
"""

import numpy as np

from ._checks import check_clip, check_head_grads, check_number, check_policy_value, check_token_arrays
from .rlhf import masked_mean, response_hidden_backward, response_hidden_forward
from .transformer import add_gradients


# --------------------------------------------------------------------------- the value head


def value_head_init(model):
    """The value head of a GPT ``model``: {"w": zeros (C,), "b": zeros ()} in the model's dtype."""
    return {"w": np.zeros(model.width, dtype=model.dtype), "b": np.zeros((), dtype=model.dtype)}


def policy_value_forward(model, head, ids, left_pad, tokens):
    """Logits and values at the response positions, from one pass through the GPT ``model``.

    ``head``: the value head (:func:`value_head_init`); ``ids`` (B, P) and ``left_pad`` (B,)
    as ``batched.pad_left`` gives them; ``tokens`` (B, T) the responses. The trunk's pass is
    given (``rlhf.response_hidden_forward``: h (B, T, C), h_t predicts tokens[:, t]); the two
    heads on h are yours. Returns (logits (B, T, V), values (B, T), cache).
    """
    check_policy_value(model, head, ids, tokens)
    h, trunk_cache = response_hidden_forward(model, ids, left_pad, tokens)  # (B, T, C)
    # TODO: the token head is model.head_weight(); the value head is h . w + b
    raise NotImplementedError("policy_value_forward: not implemented yet")
    return logits, values, {"trunk": trunk_cache, "h": h}


def policy_value_backward(model, head, dlogits, dvalues, cache):
    """Gradients of policy_value_forward for dlogits (B, T, V) and dvalues (B, T):
    (the model's gradient dict, keyed like ``model.params``; the head's {"w", "b"}), in the
    model's dtype."""
    dlogits, dvalues = check_head_grads(model, head, dlogits, dvalues)
    h = cache["h"]
    # TODO: the token head's backward is model.head_backward(dlogits, h): dh and the head's gradients
    # TODO: both heads read h, so dh = (the token head's) + dvalues w; set dh, head_grads and value_grads
    raise NotImplementedError("policy_value_backward: not implemented yet")
    grads = response_hidden_backward(model, dh, cache["trunk"])  # the trunk, below h
    return add_gradients(grads, head_grads), value_grads


# --------------------------------------------------------------------------- advantages


def gae_advantages(rewards, values, mask, gamma, lam):
    """GAE(gamma, lambda) over each row's response tokens: (advantages (B, T), returns (B, T)),
    both 0 at masked positions; returns = advantages + values."""
    rewards, values, mask = check_token_arrays(mask, "rewards", rewards, values=values)
    gamma, lam = check_number(gamma, "gamma", 0, 1), check_number(lam, "lam", 0, 1)
    # TODO: one loop over t from T - 1 down to 0, vectorised over rows; "next is real" = mask[:, t + 1]
    raise NotImplementedError("gae_advantages: not implemented yet")


def whiten(advantages, mask, eps=1e-8):
    """(A - mean) / std over the response tokens (module docstring: one token, or std ~0); 0 elsewhere."""
    advantages, mask = check_token_arrays(mask, "advantages", advantages)
    eps = check_number(eps, "eps", 0, low_open=True, why="the smallest std that is divided by")
    # TODO: masked_mean for the mean and the variance; mind a single token and a std below eps
    raise NotImplementedError("whiten: not implemented yet")


# --------------------------------------------------------------------------- the clipped losses


def ppo_policy_loss_forward(logprobs, old_logprobs, advantages, mask, clip_eps=0.2):
    """L_clip = -mean over response tokens of min(rho A, clip(rho, 1 - eps, 1 + eps) A): (loss, cache)."""
    clip_eps = check_clip(clip_eps)
    logprobs, old_logprobs, advantages, mask = check_token_arrays(
        mask, "logprobs", logprobs, old_logprobs=old_logprobs, advantages=advantages)
    # TODO: rho = exp(logprobs - old_logprobs); remember which branch the min chose for backward
    raise NotImplementedError("ppo_policy_loss_forward: not implemented yet")


def ppo_policy_loss_backward(dloss, cache):
    """Gradient of ppo_policy_loss_forward w.r.t. the new log-probabilities: (B, T)."""
    # TODO: d rho / d logp = rho; the clipped branch, where the min chose it, has no gradient
    raise NotImplementedError("ppo_policy_loss_backward: not implemented yet")


def ppo_value_loss_forward(values, old_values, returns, mask, clip_eps=0.2):
    """L_V = 1/2 mean over response tokens of max((V - R)^2, (V_old + clip(V - V_old) - R)^2): (loss, cache)."""
    clip_eps = check_clip(clip_eps, "clip_eps (values)")
    values, old_values, returns, mask = check_token_arrays(
        mask, "values", values, old_values=old_values, returns=returns)
    # TODO: implement ppo_value_loss_forward (see the docstring)
    raise NotImplementedError("ppo_value_loss_forward: not implemented yet")


def ppo_value_loss_backward(dloss, cache):
    """Gradient of ppo_value_loss_forward w.r.t. the values: (B, T)."""
    # TODO: the max picks the clipped branch only when V has left the clip range, where it is constant in V
    raise NotImplementedError("ppo_value_loss_backward: not implemented yet")


def ppo_stats(logprobs, old_logprobs, mask, clip_eps=0.2):
    """{"clip_fraction": share of tokens with |rho - 1| > eps, "approx_kl": 1/2 mean (log rho)^2}."""
    clip_eps = check_clip(clip_eps)
    logprobs, old_logprobs, mask = check_token_arrays(mask, "logprobs", logprobs, zero_masked=True,
                                                      old_logprobs=old_logprobs)
    # TODO: implement ppo_stats (see the docstring)
    raise NotImplementedError("ppo_stats: not implemented yet")
