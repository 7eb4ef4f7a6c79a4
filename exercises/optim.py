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

import numpy as np

from ._checks import check_number, check_schedule, check_step


def sgd_init(params):
    """State for :func:`sgd_step`: a zero velocity per parameter."""
    return {"velocity": {name: np.zeros_like(p) for name, p in params.items()}}


def sgd_step(params, grads, state, lr, momentum=0.9, weight_decay=0.0):
    """One SGD-with-momentum step, in place:  v <- mu v + (g + wd theta);  theta <- theta - lr v."""
    check_step(params, grads, lr, weight_decay, momentum=momentum)
    # TODO: update state["velocity"][name] and params[name] in place (use [...] = or -=)
    raise NotImplementedError("sgd_step: not implemented yet")


def adamw_init(params):
    """State for :func:`adamw_step`: step count 0 and zero first/second moments."""
    return {
        "step": 0,
        "m": {name: np.zeros_like(p) for name, p in params.items()},
        "v": {name: np.zeros_like(p) for name, p in params.items()},
    }


def adamw_step(params, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    """One AdamW step, in place (see the module docstring for the equations)."""
    check_step(params, grads, lr, weight_decay, beta1=beta1, beta2=beta2)
    check_number(eps, "eps", 0, low_open=True)  # keeps m_hat / (sqrt(v_hat) + eps) finite when g was always 0
    # TODO: increment state["step"] first; bias-correct with 1 - beta**t; decay uses the old theta
    raise NotImplementedError("adamw_step: not implemented yet")


def clip_grad_norm(grads, max_norm):
    """Scale all gradients by one factor so their global L2 norm is at most ``max_norm``.

    Returns ``(clipped, total_norm)``: a NEW dict of new arrays (the input is untouched) and
    the norm before clipping (a float). The training loop logs the norm, and raises
    ``FloatingPointError`` before the update when it is not finite (an inf or NaN gradient
    cannot be clipped into a useful step: max_norm / inf scales everything to 0 or NaN).
    """
    check_number(max_norm, "max_norm", 0, low_open=True)
    # TODO: total = sqrt of the sum over arrays of sum(g**2); scale only when total > max_norm
    raise NotImplementedError("clip_grad_norm: not implemented yet")


def cosine_lr(step, max_lr, warmup_steps, total_steps, min_lr=0.0):
    """Learning rate at ``step`` (from 0): linear warmup, then cosine decay to ``min_lr``."""
    check_schedule(step, max_lr, warmup_steps, total_steps, min_lr)
    # TODO: three cases: step < warmup, step >= total, else the cosine of the progress
    raise NotImplementedError("cosine_lr: not implemented yet")
