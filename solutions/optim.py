"""Optimizers: SGD with momentum, AdamW, global-norm clipping, warmup + cosine schedule.

Lecture slide: language models are trained by maximum likelihood, i.e. by gradient descent
on the cross-entropy theta <- theta - lr * grad L(theta). This module is the update rule.

Parameters and gradients are dicts ``name -> array`` (the models' ``params`` and the grads
returned by ``loss_and_grads``). Optimizer state is an explicit dict returned by
``*_init`` and passed to every ``*_step``; nothing is hidden in a class. Steps update the
parameter arrays IN PLACE (so a model that holds them sees the new values) and the state
in place, and return nothing.

Equations (g = gradient, t = 1, 2, ... the step count)

    SGD + momentum (PyTorch's form, weight decay coupled as an L2 term in the gradient):
        g <- g + wd * theta;   v <- mu * v + g;   theta <- theta - lr * v

    AdamW (Loshchilov & Hutter; weight decay DECOUPLED from the adaptive step):
        m <- b1 m + (1 - b1) g            v <- b2 v + (1 - b2) g^2
        m_hat = m / (1 - b1^t)            v_hat = v / (1 - b2^t)        (bias correction)
        theta <- theta - lr * (m_hat / (sqrt(v_hat) + eps) + wd * theta)

      The decay is multiplied by lr (PyTorch's convention), so a schedule scales it too.
      It applies to every array in ``params``: a caller that wants no decay on biases or
      layernorm gains passes those in a second dict with ``weight_decay=0``.

    Global-norm clipping:  n = sqrt(sum_i ||g_i||^2);  if n > max_norm: g_i <- g_i * max_norm / n
      (one scale for all arrays, so the update keeps its direction).

    Warmup + cosine schedule (step counted from 0):
        step < warmup:            lr = max_lr * (step + 1) / warmup     (never 0 at step 0)
        warmup <= step < total:   p = (step - warmup) / (total - warmup)
                                  lr = min_lr + (max_lr - min_lr) * (1 + cos(pi p)) / 2
        step >= total:            lr = min_lr

Left out: Nesterov momentum, AMSGrad, per-parameter learning rates, LR-range finders.
"""

import math
import numbers

import numpy as np


def _check_params_and_grads(params, grads):
    if set(params) != set(grads):
        raise ValueError(
            f"params and grads must have the same names; params only: "
            f"{sorted(set(params) - set(grads))}, grads only: {sorted(set(grads) - set(params))}"
        )
    for name, p in params.items():
        if grads[name].shape != p.shape:
            raise ValueError(f"grads[{name!r}] has shape {grads[name].shape} but params[{name!r}] has {p.shape}")


def _check_number(value, name, low, high=math.inf, *, low_open=False, high_open=False):
    """A real ``value`` in the interval from ``low`` to ``high``; NaN and inf never pass."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r} ({type(value).__name__})")
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (math.isfinite(value) and above and below):
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a finite number in {interval}; got {value!r}")


def sgd_init(params):
    """State for :func:`sgd_step`: a zero velocity per parameter."""
    return {"velocity": {name: np.zeros_like(p) for name, p in params.items()}}


def sgd_step(params, grads, state, lr, momentum=0.9, weight_decay=0.0):
    """One SGD-with-momentum step, in place:  v <- mu v + (g + wd theta);  theta <- theta - lr v."""
    _check_params_and_grads(params, grads)
    _check_number(lr, "lr", 0)
    _check_number(momentum, "momentum", 0, 1, high_open=True)
    _check_number(weight_decay, "weight_decay", 0)
    ### BEGIN SOLUTION
    ### HINT: update state["velocity"][name] and params[name] in place (use [...] = or -=)
    for name, theta in params.items():
        g = grads[name] + weight_decay * theta
        velocity = state["velocity"][name]
        velocity *= momentum
        velocity += g
        theta -= lr * velocity
    ### END SOLUTION


def adamw_init(params):
    """State for :func:`adamw_step`: step count 0 and zero first/second moments."""
    return {
        "step": 0,
        "m": {name: np.zeros_like(p) for name, p in params.items()},
        "v": {name: np.zeros_like(p) for name, p in params.items()},
    }


def adamw_step(params, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    """One AdamW step, in place (see the module docstring for the equations)."""
    _check_params_and_grads(params, grads)
    _check_number(lr, "lr", 0)
    _check_number(beta1, "beta1", 0, 1, high_open=True)
    _check_number(beta2, "beta2", 0, 1, high_open=True)
    # eps > 0 keeps m_hat / (sqrt(v_hat) + eps) finite when a gradient entry has always been 0.
    _check_number(eps, "eps", 0, low_open=True)
    _check_number(weight_decay, "weight_decay", 0)
    ### BEGIN SOLUTION
    ### HINT: increment state["step"] first; bias-correct with 1 - beta**t; decay uses the old theta
    state["step"] += 1
    t = state["step"]
    for name, theta in params.items():
        g = grads[name]
        m, v = state["m"][name], state["v"][name]
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta -= lr * (m_hat / (np.sqrt(v_hat) + eps) + weight_decay * theta)
    ### END SOLUTION


def clip_grad_norm(grads, max_norm):
    """Scale all gradients by one factor so their global L2 norm is at most ``max_norm``.

    Returns ``(clipped, total_norm)``: a NEW dict of new arrays (the input is untouched) and
    the norm before clipping (a float). The training loop logs the norm, and raises
    ``FloatingPointError`` before the update when it is not finite (an inf or NaN gradient
    cannot be clipped into a useful step: max_norm / inf scales everything to 0 or NaN).
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0; got {max_norm}")
    ### BEGIN SOLUTION
    ### HINT: total = sqrt of the sum over arrays of sum(g**2); scale only when total > max_norm
    total_norm = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values()))
    scale = max_norm / total_norm if total_norm > max_norm else 1.0
    clipped = {name: g * np.asarray(scale, dtype=g.dtype) for name, g in grads.items()}
    return clipped, total_norm
    ### END SOLUTION


def cosine_lr(step, max_lr, warmup_steps, total_steps, min_lr=0.0):
    """Learning rate at ``step`` (from 0): linear warmup, then cosine decay to ``min_lr``."""
    if not (warmup_steps >= 0 and total_steps >= warmup_steps):
        raise ValueError(
            f"need 0 <= warmup_steps <= total_steps; got warmup_steps={warmup_steps}, total_steps={total_steps}"
        )
    if not 0 <= min_lr <= max_lr:
        raise ValueError(f"need 0 <= min_lr <= max_lr; got min_lr={min_lr}, max_lr={max_lr}")
    if step < 0:
        raise ValueError(f"step must be >= 0; got {step}")
    ### BEGIN SOLUTION
    ### HINT: three cases: step < warmup, step >= total, else the cosine of the progress
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return float(min_lr)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (max_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
    ### END SOLUTION
