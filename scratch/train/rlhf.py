"""The RLHF loops: RLOO or PPO against a reward, the KL penalty to the SFT model, the
pretraining mix (:func:`train`), and DPO on comparisons (:func:`train_dpo`) (harness: never
graded; it runs the graded pieces of ``rlhf``, ``ppo`` and ``dpo``).

One iteration, for P prompts and K samples of each (B = P K rows, a prompt's K samples in
consecutive rows):

    1. rollouts   generate_batch(policy, each prompt K times, temperature tau)     tokens, lengths
    2. scoring    one pass of the policy (PPO: with its value head) and one of the frozen SFT
                  model over prompt + response: log pi, log pi_SFT at tau (and V); the
                  reward's score of each response; the judges' (reported only)
    3. rewards    kl_penalized_rewards: -beta (log pi - log pi_SFT) per token, the score at the last
    4. update     RLOO: per-response returns -> rloo_advantages -> one policy-gradient step.
                  PPO:  GAE(gamma_gae, lambda) with the rollout's values -> whitened advantages;
                        ``epochs`` passes over the batch in ``minibatches`` shuffled parts, each
                        a step on L_clip + vf_coef L_V.
                  Both: + gamma x the LM loss of a pretraining batch in the same step (the
                  objective's gamma term), global-norm clipping, AdamW
    5. beta       adaptive_kl_update when a KL target is given

Decisions:
- Rollouts sample from the full softmax at tau (``rlhf``'s module docstring says why), and
  the scoring pass recomputes log pi from logits rather than reusing the sampler's (they agree
  to 1e-12, a graded test; the pass is needed anyway for PPO's values and the entropy).
- The value head shares the policy's trunk (``ppo``'s module docstring); it has its own AdamW
  state, learning rate ``value_lr`` (default 10 x lr: from w = 0 a head moving ~lr per step would
  take thousands of steps to reach values of order 1) and gradient clipping. The trunk gets
  the policy loss's and vf_coef times the value loss's gradient, clipped together.
- The KL metrics are per response: the per-token means of k1 and k3 times the mean response
  length (what the adaptive controller compares with its target). The entropy is per token.
- Bad input (NaN log-probabilities from a policy gone NaN, a NaN reward, a bad setting) raises
  ValueError naming it, from the checks of the graded functions and :class:`Settings`; a
  loss or a gradient norm that is not finite all the same raises FloatingPointError
  (:func:`scratch.train.loop.apply_step`). Either way before the update is applied.
- Prompts: a fixed list, or a callable ``prompts(rng)`` that draws each iteration's.
- No weight decay (the KL term already holds the policy near SFT).

Each iteration records, under these keys of the returned history (lists, one value per
iteration): ``score`` (the reward's mean), one key per judge (its mean), ``kl_k1``, ``kl_k3``,
``entropy``, ``length``, ``beta``, ``loss`` (the policy loss: RLOO's one step; PPO's L_clip, the
mean over its steps), ``lm_loss`` (the pretraining batches', NaN when gamma = 0), for PPO
``clip_fraction``, ``approx_kl`` and ``value_loss`` (means over its steps), and ``seconds_sampling``, ``seconds_scoring``,
``seconds_update``.

Left out: an entropy bonus, early stopping on the approximate KL, value-head warm-up, and
reward whitening (the reward model is normalised once, in the reward chapter).
"""

import math
import numbers
import time
from dataclasses import dataclass, replace

import numpy as np

from ..data.instructions import right_pad
from ..data.world import ARROW
from .loop import apply_step, check_count, check_real, resident

METHODS = ("rloo", "ppo")


@dataclass(frozen=True)
class Settings:
    """The loop's hyperparameters; ``dataclasses.replace(settings, beta=0.0)`` makes a variant."""

    method: str = "ppo"
    k: int = 4  # samples per prompt (RLOO needs >= 2)
    max_new_tokens: int = 6
    temperature: float = 1.0
    beta: float = 0.05  # the KL penalty's weight (the lecture's beta)
    kl_target: float | None = None  # adapt beta towards this KL per response (None: beta fixed)
    horizon: int = 10000  # the adaptive controller's horizon, in samples
    gamma: float = 0.0  # the pretraining mix's weight (the lecture's gamma)
    lr: float = 1e-4
    max_grad_norm: float = 1.0
    epochs: int = 4  # PPO: passes over each batch of rollouts
    minibatches: int = 2  # PPO: steps per pass
    clip_eps: float = 0.2
    value_clip: float = 0.2
    vf_coef: float = 0.1
    value_lr: float | None = None  # None: 10 x lr
    gae_gamma: float = 1.0
    lam: float = 0.95

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}; got {self.method!r}")
        for name in ("k", "max_new_tokens", "epochs", "minibatches", "horizon"):
            object.__setattr__(self, name, check_count(getattr(self, name), name))  # np.int64(4) is an int
        if self.method == "rloo" and self.k < 2:
            raise ValueError(f"RLOO needs k >= 2 samples per prompt (the leave-one-out baseline); got k={self.k}")
        positive, at_least_0 = ("> 0", lambda x: x > 0), (">= 0", lambda x: x >= 0)
        inside, closed = ("in (0, 1)", lambda x: 0 < x < 1), ("in [0, 1]", lambda x: 0 <= x <= 1)
        limits = {"temperature": positive, "lr": positive, "max_grad_norm": positive, "beta": at_least_0,
                  "gamma": at_least_0, "vf_coef": at_least_0, "clip_eps": inside, "value_clip": inside,
                  "gae_gamma": closed, "lam": closed, "kl_target": positive, "value_lr": positive}
        for name, (limit, holds) in limits.items():
            value = getattr(self, name)
            if value is None and name in ("kl_target", "value_lr"):  # None: no target; 10 x lr
                continue
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(value) or not holds(value):
                raise ValueError(f"{name} must be a finite number {limit}; got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.kl_target is not None and self.beta == 0:
            raise ValueError("beta must be > 0 when kl_target is set: the adaptive controller multiplies beta, "
                             "so from 0 it would stay 0 forever; got beta=0")


class Rollouts:
    """One iteration's samples and what the scoring pass measured on them (step 2)."""

    def __init__(self, impl, policy, reference, head, rows, reward, judges, settings, rng):
        rlhf, s = impl.rlhf, settings
        start = time.perf_counter()
        out = impl.batched.generate_batch(policy, rows, s.max_new_tokens, temperature=s.temperature,
                                          stop_id=reward.stop_id, pad_id=reward.pad_id, rng=rng)
        self.seconds_sampling = time.perf_counter() - start
        start = time.perf_counter()
        self.rows, self.tokens, self.lengths = rows, out.tokens, out.lengths
        self.ids, self.left_pad = impl.batched.pad_left(rows, reward.pad_id)
        self.mask = np.arange(out.tokens.shape[1])[None, :] < out.lengths[:, None]  # (B, T)
        if head is None:
            logits, _ = rlhf.response_forward(policy, self.ids, self.left_pad, self.tokens)
            self.values = None
        else:
            logits, values, _ = impl.ppo.policy_value_forward(policy, head, self.ids, self.left_pad, self.tokens)
            self.values = values.astype(np.float64)  # (B, T)
        self.logprobs, _ = rlhf.token_logprobs_forward(logits, self.tokens, self.mask, s.temperature)
        ref_logits, _ = rlhf.response_forward(reference, self.ids, self.left_pad, self.tokens)
        self.ref_logprobs, _ = rlhf.token_logprobs_forward(ref_logits, self.tokens, self.mask, s.temperature)
        self.entropy = token_entropy(impl, logits, self.mask, s.temperature)
        self.scores = np.asarray(reward(rows, self.tokens, self.lengths), dtype=np.float64)  # (B,)
        self.judged = {name: float(np.mean(judge(rows, self.tokens, self.lengths))) for name, judge in judges.items()}
        self.seconds_scoring = time.perf_counter() - start

    def metrics(self, impl):
        """The batch's means: the reward's score, the judges', the KL to the reference per
        response (k1 and k3), the entropy per token and the response length."""
        k1, k3 = impl.rlhf.kl_estimators(self.logprobs, self.ref_logprobs, self.mask)
        mean_length = float(self.lengths.mean())
        return {"score": float(self.scores.mean()), **self.judged, "kl_k1": k1 * mean_length,
                "kl_k3": k3 * mean_length, "entropy": self.entropy, "length": mean_length}

    def subset(self, index):
        """ids, left_pad, tokens, mask of the rows ``index`` (a PPO minibatch)."""
        return self.ids[index], self.left_pad[index], self.tokens[index], self.mask[index]


def train(impl, policy, reference, prompts, reward, settings, *, iterations, rng, judges=None,
          pretrain_batches=None, log=None):
    """Train ``policy`` (a GPT, in place) against ``reward``; returns (history, value head or None).

    ``reference``: the frozen SFT GPT. ``prompts``: P token-id lists, or ``prompts(rng)`` giving
    each iteration's. ``reward(rows, tokens, lengths) -> (B,)`` scores the sampled responses
    (``rows``: the B prompts, each repeated K times); it may carry ``stop_id`` (the token that
    ends a response, e.g. ``<eos>``) and ``pad_id`` attributes (:class:`Reward` wraps a function
    with them). ``judges``: {name: the same signature}, only reported (the gold reward, ...).
    ``pretrain_batches``: an iterator of (ids, targets), needed when settings.gamma > 0.
    ``log(iteration, metrics)`` is called after each iteration (:class:`MetricsDisplay`).
    """
    s, judges = settings, dict(judges or {})
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be a Settings; got {type(settings).__name__}")
    iterations = check_count(iterations, "iterations")
    check_rng(rng)
    if not callable(prompts) and (isinstance(prompts, str) or not hasattr(prompts, "__len__") or len(prompts) == 0):
        raise ValueError(f"prompts must be a non-empty list of token-id lists, or a callable prompts(rng); "
                         f"got {prompts!r:.60}")
    if not callable(reward):
        raise TypeError(f"reward must be callable as reward(rows, tokens, lengths); got {type(reward).__name__}")
    check_distinct(policy, reference)
    if s.gamma > 0 and pretrain_batches is None:
        raise ValueError("settings.gamma > 0 needs pretrain_batches (an iterator of (ids, targets))")
    reward = Reward.of(reward)
    head = impl.ppo.value_head_init(policy) if s.method == "ppo" else None
    states = {"policy": resident(impl.optim.adamw_init)(policy.params)}
    if head is not None:
        states["head"] = resident(impl.optim.adamw_init)(head)
    history = {}
    beta = s.beta
    for iteration in range(iterations):
        drawn = prompts(rng) if callable(prompts) else prompts
        rows = [list(prompt) for prompt in drawn for _ in range(s.k)]
        batch = Rollouts(impl, policy, reference, head, rows, reward, judges, s, rng)
        start = time.perf_counter()
        rewards = impl.rlhf.kl_penalized_rewards(batch.logprobs, batch.ref_logprobs, batch.scores, batch.mask, beta)
        if s.method == "rloo":
            stats = rloo_update(impl, policy, batch, rewards, s, states, pretrain_batches, iteration)
        else:
            stats = ppo_update(impl, policy, head, batch, rewards, s, states, pretrain_batches, iteration, rng)
        metrics = {**batch.metrics(impl), "beta": beta, **stats, "seconds_sampling": batch.seconds_sampling,
                   "seconds_scoring": batch.seconds_scoring, "seconds_update": time.perf_counter() - start}
        for name, value in metrics.items():
            history.setdefault(name, []).append(value)
        if log is not None:
            log(iteration, metrics)
        if s.kl_target is not None:
            beta = impl.rlhf.adaptive_kl_update(beta, metrics["kl_k1"], s.kl_target, len(rows), s.horizon)
    return history, head


def evaluate(impl, policy, reference, prompts, reward, settings, *, rng, judges=None):
    """The metrics of :meth:`Rollouts.metrics` on ``settings.k`` samples of each of ``prompts``
    (a fixed evaluation set), with no update."""
    reward = Reward.of(reward)
    rows = [list(prompt) for prompt in prompts for _ in range(settings.k)]
    return Rollouts(impl, policy, reference, None, rows, reward, dict(judges or {}), settings, rng).metrics(impl)


class Reward:
    """A reward function ``fn(rows, tokens, lengths) -> (B,)`` with the ids the rollouts need:
    ``stop_id`` (None: responses run to max_new_tokens) and ``pad_id``."""

    def __init__(self, fn, stop_id=None, pad_id=0):
        self.fn, self.stop_id, self.pad_id = fn, stop_id, pad_id

    @classmethod
    def of(cls, reward):
        """``reward`` itself when it is a Reward, else a plain function wrapped (no stop id, pad 0)."""
        return reward if isinstance(reward, cls) else cls(reward)

    def __call__(self, rows, tokens, lengths):
        return self.fn(rows, tokens, lengths)


def rloo_update(impl, policy, batch, rewards, s, states, pretrain_batches, iteration):
    """One REINFORCE step with the leave-one-out baseline; returns its metrics."""
    rlhf = impl.rlhf
    returns = rlhf.masked_sum(rewards, batch.mask).reshape(-1, s.k)  # (P, K)
    advantages = rlhf.rloo_advantages(returns).ravel()  # (B,)
    logits, cache = rlhf.response_forward(policy, batch.ids, batch.left_pad, batch.tokens)
    logprobs, lp_cache = rlhf.token_logprobs_forward(logits, batch.tokens, batch.mask, s.temperature)
    loss, pg_cache = rlhf.policy_gradient_loss_forward(logprobs, advantages, batch.mask)
    dlogits = rlhf.token_logprobs_backward(rlhf.policy_gradient_loss_backward(1.0, pg_cache), lp_cache)
    grads = rlhf.response_backward(policy, dlogits.astype(policy.dtype), cache)
    total, grads, lm_loss = with_pretraining_mix(impl, policy, loss, grads, s.gamma, pretrain_batches)
    apply_step(impl.optim, policy.params, grads, states["policy"], loss=total, lr=s.lr,
               where=f"iteration {iteration}", max_grad_norm=s.max_grad_norm)
    return {"loss": loss, "lm_loss": lm_loss}


def ppo_loss_and_grads(impl, policy, head, batch, index, advantages, returns, s):
    """PPO's loss on the rows ``index`` of ``batch``, L = L_clip + vf_coef L_V, and its gradients.

    The rollout's log-probabilities and values (``batch``), ``advantages`` and ``returns``
    (B, T) are constants. Returns (loss, policy grads, head grads, metrics of the step)."""
    rlhf, ppo = impl.rlhf, impl.ppo
    ids, left_pad, tokens, mask = batch.subset(index)
    logits, values, cache = ppo.policy_value_forward(policy, head, ids, left_pad, tokens)
    logprobs, lp_cache = rlhf.token_logprobs_forward(logits, tokens, mask, s.temperature)
    old = batch.logprobs[index]
    policy_loss, p_cache = ppo.ppo_policy_loss_forward(logprobs, old, advantages[index], mask, s.clip_eps)
    value_loss, v_cache = ppo.ppo_value_loss_forward(values, batch.values[index], returns[index], mask, s.value_clip)
    # forward: L = L_clip + vf_coef L_V: the value loss's gradient is scaled by vf_coef here, once
    dlogits = rlhf.token_logprobs_backward(ppo.ppo_policy_loss_backward(1.0, p_cache), lp_cache)
    dvalues = ppo.ppo_value_loss_backward(s.vf_coef, v_cache)
    grads, head_grads = ppo.policy_value_backward(policy, head, dlogits, dvalues, cache)
    metrics = {"loss": policy_loss, "value_loss": value_loss, **ppo.ppo_stats(logprobs, old, mask, s.clip_eps)}
    return policy_loss + s.vf_coef * value_loss, grads, head_grads, metrics


def ppo_update(impl, policy, head, batch, rewards, s, states, pretrain_batches, iteration, rng):
    """``epochs`` x ``minibatches`` PPO steps on one batch of rollouts; returns their mean metrics."""
    advantages, returns = impl.ppo.gae_advantages(rewards, batch.values, batch.mask, s.gae_gamma, s.lam)
    advantages = impl.ppo.whiten(advantages, batch.mask)  # over the whole batch, once
    value_lr = 10 * s.lr if s.value_lr is None else s.value_lr
    B = len(batch.rows)
    steps = []
    for _ in range(s.epochs):
        for index in np.array_split(rng.permutation(B), min(s.minibatches, B)):
            loss, grads, head_grads, metrics = ppo_loss_and_grads(impl, policy, head, batch, index, advantages,
                                                                  returns, s)
            total, grads, metrics["lm_loss"] = with_pretraining_mix(impl, policy, loss, grads, s.gamma,
                                                                    pretrain_batches)
            where = f"iteration {iteration}"
            apply_step(impl.optim, policy.params, grads, states["policy"], loss=total, lr=s.lr, where=where,
                       max_grad_norm=s.max_grad_norm)
            apply_step(impl.optim, head, head_grads, states["head"], loss=loss, lr=value_lr, where=where,
                       max_grad_norm=s.max_grad_norm)
            steps.append(metrics)
    return {name: float(np.mean([step[name] for step in steps])) for name in steps[0]}


def with_pretraining_mix(impl, policy, loss, grads, gamma, pretrain_batches):
    """The objective's gamma term: (loss + gamma L_LM, the summed grads, L_LM) on the next
    pretraining batch; (loss, grads, NaN) when gamma = 0."""
    if gamma == 0:
        return loss, grads, float("nan")
    lm_loss, lm_grads = policy.loss_and_grads(*next(pretrain_batches))
    total, grads = impl.rlhf.mixed_loss_and_grads(loss, grads, lm_loss, lm_grads, gamma)
    return total, grads, lm_loss


def dpo_loss_and_grads(impl, policy, reference, prompts, winners, losers, beta, pad_id=0):
    """DPO's loss on n pairs (three lists of n id lists) and the policy's gradients.

    One pass of each model over 2n rows, the winners first: the sequence log-probability
    log pi(y|x) of a response is the masked sum of its tokens' (temperature 1: DPO has no
    rollouts), the reference's are constants. Returns (loss, grads, margins (n,) of the
    implicit rewards beta log(pi / pi_ref), winner minus loser, distinct (n,): whether the two
    responses of a pair differ)."""
    rlhf, dpo = impl.rlhf, impl.dpo
    check_real(beta, "beta")  # beta = 0: the loss stays ln 2 and nothing is learned
    if not len(prompts) == len(winners) == len(losers) > 0:
        raise ValueError(f"prompts, winners and losers must be three non-empty lists of one length; got "
                         f"{len(prompts)}, {len(winners)}, {len(losers)}")
    n = len(prompts)
    ids, left_pad = impl.batched.pad_left(list(prompts) * 2, pad_id)
    tokens, mask = right_pad(list(winners) + list(losers), pad_id)
    logits, cache = rlhf.response_forward(policy, ids, left_pad, tokens)
    logprobs, lp_cache = rlhf.token_logprobs_forward(logits, tokens, mask)
    ref_logprobs, _ = rlhf.token_logprobs_forward(rlhf.response_forward(reference, ids, left_pad, tokens)[0],
                                                  tokens, mask)
    sequence, ref_sequence = rlhf.masked_sum(logprobs, mask), rlhf.masked_sum(ref_logprobs, mask)  # (2n,)
    loss, dpo_cache = dpo.dpo_loss_forward(sequence[:n], sequence[n:], ref_sequence[:n], ref_sequence[n:], beta)
    dlogp_w, dlogp_l = dpo.dpo_loss_backward(1.0, dpo_cache)
    # forward: sequence_b = sum_t m_bt logprobs_bt, so every response token of row b gets dsequence_b
    dlogprobs = np.concatenate([dlogp_w, dlogp_l])[:, None] * mask
    grads = rlhf.response_backward(policy, rlhf.token_logprobs_backward(dlogprobs, lp_cache).astype(policy.dtype),
                                   cache)
    implicit = beta * (sequence - ref_sequence)
    distinct = np.any(tokens[:n] != tokens[n:], axis=1)
    return loss, grads, implicit[:n] - implicit[n:], distinct


def train_dpo(impl, policy, reference, pairs, *, beta, steps, lr, batch_pairs, rng, pad_id=0, max_grad_norm=1.0,
              log=None):
    """Train ``policy`` (in place) by DPO on comparisons; returns the history dict.

    ``pairs``: (prompts, winners, losers), three lists of id lists of one length, a response
    ``winners[i]`` preferred to ``losers[i]`` after ``prompts[i]``. Each step takes the next
    ``batch_pairs`` pairs of shuffled epochs (every pair once per epoch) and one AdamW step on
    :func:`dpo_loss_and_grads`. Records ``loss``, ``accuracy`` (the share of the batch's pairs
    of two different responses whose implicit reward ranks the winner first; two identical
    responses tie forever) and ``margin`` (the mean winner-minus-loser implicit reward).
    """
    prompts, winners, losers = pairs
    if not len(prompts) == len(winners) == len(losers) > 0:
        raise ValueError(f"pairs must be three non-empty lists of one length; got {len(prompts)}, {len(winners)}, "
                         f"{len(losers)}")
    steps, batch_pairs = check_count(steps, "steps"), check_count(batch_pairs, "batch_pairs")
    check_real(beta, "beta")  # beta = 0: the loss stays ln 2 and nothing is learned
    check_real(lr, "lr")
    check_real(max_grad_norm, "max_grad_norm", optional=True)
    check_rng(rng)
    check_distinct(policy, reference)
    state = resident(impl.optim.adamw_init)(policy.params)
    history = {"loss": [], "accuracy": [], "margin": []}
    queue = np.array([], dtype=np.int64)
    for step in range(steps):
        while len(queue) < batch_pairs:  # epochs: each pair once per pass, in a fresh order
            queue = np.concatenate([queue, rng.permutation(len(prompts))])
        pick, queue = queue[:batch_pairs], queue[batch_pairs:]
        loss, grads, margins, distinct = dpo_loss_and_grads(
            impl, policy, reference, [prompts[i] for i in pick], [winners[i] for i in pick],
            [losers[i] for i in pick], beta, pad_id)
        apply_step(impl.optim, policy.params, grads, state, loss=loss, lr=lr, where=f"DPO step {step}",
                   max_grad_norm=max_grad_norm)
        accuracy = float(np.mean(margins[distinct] > 0)) if distinct.any() else float("nan")
        metrics = {"loss": loss, "accuracy": accuracy, "margin": float(margins.mean())}
        for name, value in metrics.items():
            history[name].append(value)
        if log is not None:
            log(step, metrics)
    return history


def check_rng(rng):
    """TypeError unless ``rng`` is a numpy Generator."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)); got {type(rng).__name__}")


def check_distinct(policy, reference):
    """ValueError when the policy and the frozen reference are one object (the KL would be 0)."""
    if policy is reference:
        raise ValueError("policy and reference must be two models: the reference stays frozen while the policy "
                         "trains (pass a copy, e.g. copy.deepcopy(sft_model))")


def token_entropy(impl, logits, mask, temperature):
    """Mean entropy (nats) of softmax(logits / tau) over the response positions of ``mask``."""
    logp = impl.nn.log_softmax(np.asarray(logits, dtype=np.float64) / temperature)  # (B, T, V)
    return float(-(np.exp(logp) * logp).sum(axis=-1)[mask].mean())


# --------------------------------------------------------------------------- the lecture's recipes and fits
# Chapter 12's demo runs these (benchmarks/rlhf.py times them): PROMPTS instructions x k samples
# per iteration, PPO at beta 0.1, RLOO at PPO's beta with a 10x learning rate (one step per
# batch instead of PPO's 8), and the pretraining mix at gamma 0.3 with LM_ROWS rows per step.
PROMPTS = 16
PPO = Settings(method="ppo", k=4, max_new_tokens=6, beta=0.1, lr=1e-4)
RLOO = replace(PPO, method="rloo", lr=1e-3)
GAMMA, LM_ROWS = 0.3, 8


def fit_gao(kl, gain):
    """Least squares of gain = d (alpha - b log d), d = sqrt(KL), over the points with
    KL > 1e-3 (d log d is 0 at d = 0, and an iteration at the SFT model, KL 0, says nothing
    about the shape): (alpha, b, R^2), R^2 = 1 - SS_res / SS_tot about the gains' mean."""
    kl, gain = np.asarray(kl), np.asarray(gain)
    keep = kl > 1e-3
    d, y = np.sqrt(kl[keep]), gain[keep]
    features = np.stack([d, -d * np.log(d)], axis=1)  # gain = alpha d + b (-d log d): linear in (alpha, b)
    (alpha, b), *_ = np.linalg.lstsq(features, y, rcond=None)
    residual = y - features @ [alpha, b]
    return alpha, b, 1 - np.sum(residual ** 2) / np.sum((y - y.mean()) ** 2)


def gao_curve(d, alpha, b):
    return d * (alpha - b * np.log(d))


def dpo_pairs(groups, data):
    """Every ranked pair of the reward model's groups (ids (P, K, T), lengths (P, K), rankings
    (P, K)) as (prompts, winners, losers) id lists; the prompt ends at its ``=>``."""
    ids, lengths, rankings = groups[:3]
    arrow = data.tokenizer.id(ARROW)
    prompts, winners, losers = [], [], []
    for group, group_lengths, ranking in zip(ids, lengths, rankings):
        end = int(np.flatnonzero(group[0] == arrow)[0]) + 1
        responses = [list(row[end:n]) for row, n in zip(group, group_lengths)]
        for i, better in enumerate(ranking):
            for worse in ranking[i + 1:]:
                prompts.append(list(group[0, :end]))
                winners.append(responses[better])
                losers.append(responses[worse])
    return prompts, winners, losers
