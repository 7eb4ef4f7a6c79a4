"""Training-loop glue for the language models (harness: never graded).

Works with any model that has ``model.params`` (dict of arrays, updated in place) and
``model.loss_and_grads(ids, targets, loss_mask=None) -> (loss, grads)`` — the RNNLM and the
GPT. The optimizer module is passed in (``optim=impl.optim``) so the loop runs on either
implementation.

Batching a 1-D id stream into (B, T) windows, targets = inputs shifted by one:

* :func:`random_batches` — B windows at uniformly random offsets (explicit ``rng``); each
  batch is a fresh sample, the usual choice for a Transformer.
* :func:`sequential_batches` — the stream cut into B contiguous rows, and batch k is the k-th
  window of T columns of every row, so row b of batch k continues row b of batch k-1. This
  is the layout for truncated BPTT: with ``train_lm(..., carry_hidden=True)`` the RNN's last
  hidden state of one batch is the h0 of the next. It cycles forever; at the wrap the end of
  a row is followed by its start (one mismatched context, harmless on sentence data).

A batch is ``(inputs, targets)`` or ``(inputs, targets, loss_mask)``.
The progress display is :class:`scratch.train.display.ProgressDisplay`.
"""

import math
import numbers
import time

import numpy as np

from .display import ProgressDisplay


def _check_stream(ids, seq_len):
    if not isinstance(ids, np.ndarray) or ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError("ids must be a 1-D integer numpy array (a stream of token ids)")
    if not (isinstance(seq_len, (int, np.integer)) and seq_len >= 1):
        raise ValueError(f"seq_len must be a positive integer; got {seq_len!r}")
    if len(ids) < seq_len + 1:
        raise ValueError(f"the stream has {len(ids)} ids; a window of seq_len={seq_len} needs at least {seq_len + 1}")


def _check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r} ({type(batch_size).__name__})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size}")


def check_count(value, name, minimum=1):
    """``value`` as an int >= ``minimum`` (NumPy ints too; never a bool): ValueError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


def check_real(value, name, low=0.0, *, low_open=True, high=math.inf, high_open=False, optional=False):
    """``value`` as a finite float in the range (``optional``: None passes): ValueError naming ``name``."""
    if value is None and optional:
        return None
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not (above and below):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        needed = f"in {left}{low:g}, {high:g}{right}" if high < math.inf else f"{'>' if low_open else '>='} {low:g}"
        raise ValueError(f"{name} must be a finite number {needed}; got {value!r}")
    return float(value)


def random_batches(ids, batch_size, seq_len, rng):
    """Endless iterator of ``(inputs, targets)``, both int (B, T), windows at random offsets."""
    _check_stream(ids, seq_len)
    _check_batch_size(batch_size)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator; got {type(rng).__name__}")
    offsets = np.arange(seq_len)
    while True:
        starts = rng.integers(0, len(ids) - seq_len, size=batch_size)
        window = starts[:, None] + offsets  # (B, T)
        yield ids[window], ids[window + 1]


def sequential_windows(ids, batch_size, seq_len):
    """One pass of contiguous windows: a list of ``(inputs, targets)`` (B, T) (see module doc)."""
    _check_stream(ids, seq_len)
    _check_batch_size(batch_size)
    row_len = (len(ids) - 1) // batch_size
    n_windows = row_len // seq_len
    if n_windows == 0:
        raise ValueError(
            f"the stream of {len(ids)} ids is too short for batch_size={batch_size} rows of seq_len={seq_len}"
        )
    used = batch_size * row_len
    inputs = ids[:used].reshape(batch_size, row_len)  # (B, row_len)
    targets = ids[1 : used + 1].reshape(batch_size, row_len)
    return [(inputs[:, k * seq_len : (k + 1) * seq_len], targets[:, k * seq_len : (k + 1) * seq_len])
            for k in range(n_windows)]


def sequential_batches(ids, batch_size, seq_len):
    """Endless iterator cycling over :func:`sequential_windows` (truncated BPTT layout)."""
    windows = sequential_windows(ids, batch_size, seq_len)
    while True:
        yield from windows


def evaluate_loss(model, ids, batch_size, seq_len, *, carry_hidden=False):
    """Mean loss per predicted token over one pass of the stream ``ids`` (no gradients).

    Uses ``model.loss`` when the model has one (forward only), else ``loss_and_grads``.
    With ``carry_hidden`` (an RNN) each window starts from the previous window's last
    hidden state, so every token but the first of each row is predicted with its full
    left context; that needs ``model.loss(inputs, targets, h0=..., return_hidden=True)``.
    """
    total, count, hidden = 0.0, 0, None
    loss_fn = getattr(model, "loss", None)
    if carry_hidden and not callable(loss_fn):
        raise TypeError(f"carry_hidden=True needs model.loss(inputs, targets, h0=, return_hidden=) "
                        f"(as RNNLM has); {type(model).__name__} has no loss method")
    for inputs, targets in sequential_windows(ids, batch_size, seq_len):
        if carry_hidden:
            loss, hidden = loss_fn(inputs, targets, h0=hidden, return_hidden=True)
        elif loss_fn is not None:
            loss = loss_fn(inputs, targets)
        else:
            loss = model.loss_and_grads(inputs, targets)[0]
        total += loss * inputs.size
        count += inputs.size
    return total / count


def strided_windows(n_ids, seq_len):
    """Window starts and the first scored column of each window for :func:`strided_loss`.

    Position p (the prediction of ids[p + 1] from ids[:p + 1]) is scored exactly once for
    every p from ``seq_len // 2`` to ``n_ids - 2``, always with at least ``seq_len // 2``
    positions of left context. Regular windows start every ``seq_len - seq_len // 2`` and
    score their columns ``seq_len // 2 ..`` (for odd seq_len the stride is the larger half, so
    the scored second halves tile the stream without overlap); a last window, flush with the
    end of the stream, scores only the positions the regular ones did not reach. Returns
    (starts, first_scored), int arrays of one length.
    """
    half = seq_len // 2
    stride = seq_len - half
    last_start = n_ids - 1 - seq_len  # a window needs seq_len inputs and the target after them
    starts = np.arange(0, last_start + 1, stride)
    first_scored = np.full(len(starts), half)
    covered_until = starts[-1] + seq_len  # positions < this are scored
    if covered_until < n_ids - 1:
        starts = np.append(starts, last_start)
        first_scored = np.append(first_scored, covered_until - last_start)
    return starts, first_scored


def strided_loss(model, ids, seq_len, batch_size=64):
    """Held-out loss of a fixed-context model (the GPT), comparable with a carried RNN state.

    Mean loss per scored position, where every position from ``seq_len // 2`` on is scored
    exactly once with at least ``seq_len // 2`` tokens of left context (see
    :func:`strided_windows`). Uses ``model.loss(ids, targets, loss_mask)`` on ``batch_size``
    windows at a time, so memory stays at one batch's activations whatever the stream length.
    """
    _check_stream(ids, seq_len)
    _check_batch_size(batch_size)
    if seq_len < 2 or len(ids) < seq_len + 2:
        raise ValueError(f"strided_loss needs seq_len >= 2 and at least seq_len + 2 ids; got {seq_len} and {len(ids)}")
    starts, first_scored = strided_windows(len(ids), seq_len)
    columns = np.arange(seq_len)
    total, count = 0.0, 0
    for chunk in range(0, len(starts), batch_size):
        windows = starts[chunk:chunk + batch_size, None] + columns  # (n_windows, T)
        scored = columns >= first_scored[chunk:chunk + batch_size, None]  # (n_windows, T)
        n_scored = int(scored.sum())
        total += float(model.loss(ids[windows], ids[windows + 1], scored)) * n_scored
        count += n_scored
    return total / count


def resident(function):
    """``function`` whose dict results (also inside a returned tuple) stay where it runs.

    In a grading run the model and the optimizer are the student's and run in the student
    process (``scratch/grading/remote.py``). A training step's gradients and the optimizer's
    state are only passed from one of the student's functions to the next, so they are kept
    there as handles instead of crossing the channel several times per step; the loop still
    reads the loss and the gradient norm, which are numbers. In-process this is
    ``function`` itself.
    """
    return getattr(function, "resident", function)


def apply_step(optim, params, grads, state, *, loss, lr, where, max_grad_norm=1.0, weight_decay=0.0, update=None):
    """One optimizer update, the same in every training loop (LM, reward model, RLHF).

    Global-norm clipping at ``max_grad_norm`` (None: no clipping; the norm is still measured,
    with ``optim.clip_grad_norm(grads, inf)``), then ``update`` (default ``optim.adamw_step``)
    on ``params`` in place with ``lr`` and ``weight_decay``. A loss or a gradient norm that is
    not finite raises FloatingPointError naming ``where`` (e.g. "step 7") before anything
    changes: clipping would scale an inf gradient into NaNs and apply them. Returns the
    gradient norm before clipping (a float).
    """
    if not math.isfinite(loss):
        raise FloatingPointError(f"{where}: the loss is {loss}; the update was not applied (lower lr)")
    with np.errstate(invalid="ignore"):  # an inf norm scales to NaNs, refused just below
        clipped, grad_norm = resident(optim.clip_grad_norm)(grads, math.inf if max_grad_norm is None else max_grad_norm)
    if not math.isfinite(grad_norm):
        raise FloatingPointError(f"{where}: the gradient norm is {grad_norm} (loss {loss}); the update was not "
                                 "applied (lower lr)")
    update = optim.adamw_step if update is None else update
    update(params=params, grads=grads if max_grad_norm is None else clipped, state=state, lr=lr,
           weight_decay=weight_decay)
    return grad_norm


def train_lm(model, batches, *, steps, lr, optim, optimizer="adamw", weight_decay=0.0,
             warmup_steps=0, min_lr=None, schedule="cosine", max_grad_norm=1.0,
             carry_hidden=False, log_every=None, eval_fn=None, eval_every=None, out=None):
    """Train ``model`` in place for ``steps`` updates; return the history.

    batches      iterator of (inputs, targets[, loss_mask]) (B, T) int arrays
    lr           the peak learning rate; ``schedule="cosine"`` warms up over ``warmup_steps``
                 and decays to ``min_lr`` (default lr / 10) with ``optim.cosine_lr``;
                 ``schedule="constant"`` keeps ``lr``
    optim        the optimizer module (``impl.optim``); ``optimizer`` is "adamw" or "sgd"
    weight_decay passed to the update; 0.0 here although ``adamw_step`` defaults to 0.01,
                 on purpose: the update decays EVERY parameter (no exclusions for biases,
                 layernorm gains and embeddings), and decaying gains towards 0 hurts; the
                 small models trained here on a few passes of toy data do not overfit enough
                 to need it. Pass it explicitly to experiment.
    max_grad_norm  global-norm clipping before each update (None: no clipping; the norm is
                 still computed, with ``optim.clip_grad_norm(grads, inf)``, and logged)
    carry_hidden pass the last hidden state on as the next batch's h0 (truncated BPTT; the
                 model's ``loss_and_grads`` must take ``h0=`` and ``return_hidden=``)
    eval_fn      optional ``eval_fn(model) -> float`` (e.g. a held-out loss), run every
                 ``eval_every`` steps and at the end; its time is not counted in tokens/s
    log_every    progress line interval (default: steps // 10); ``out`` the stream (stdout)

    Returns ``{"loss": [...], "lr": [...], "grad_norm": [...], "eval_step": [...],
    "eval_loss": [...], "seconds": float, "eval_seconds": float, "tokens_per_sec": float}``
    (seconds: the whole run; tokens_per_sec: over seconds - eval_seconds). Raises
    FloatingPointError as soon as a loss or the gradient norm is not finite, before that
    step's update, so the parameters are never written with inf or NaN (a diverged run
    never continues).
    """
    if optimizer not in ("adamw", "sgd"):
        raise ValueError(f"optimizer must be 'adamw' or 'sgd'; got {optimizer!r}")
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine' or 'constant'; got {schedule!r}")
    if isinstance(steps, (bool, np.bool_)) or not (isinstance(steps, (int, np.integer)) and steps >= 1):
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    lr = check_real(lr, "lr")
    check_real(weight_decay, "weight_decay", low_open=False)
    check_count(warmup_steps, "warmup_steps", 0)
    check_real(min_lr, "min_lr", low_open=False, optional=True)
    check_real(max_grad_norm, "max_grad_norm", optional=True)
    for name, value in (("log_every", log_every), ("eval_every", eval_every)):
        if value is not None:
            check_count(value, name)
    min_lr = lr / 10 if min_lr is None else min_lr
    state = resident(optim.adamw_init if optimizer == "adamw" else optim.sgd_init)(model.params)
    update = optim.adamw_step if optimizer == "adamw" else optim.sgd_step
    progress = ProgressDisplay(steps, log_every or max(1, steps // 10), out)
    history = {"loss": [], "lr": [], "grad_norm": [], "eval_step": [], "eval_loss": []}
    hidden = None
    start = time.perf_counter()
    tokens, eval_seconds = 0, 0.0
    for step in range(steps):
        inputs, targets, *rest = next(batches)
        loss_mask = rest[0] if rest else None
        if carry_hidden:
            loss, grads, hidden = resident(model.loss_and_grads)(inputs, targets, loss_mask, h0=hidden,
                                                                 return_hidden=True)
        else:
            loss, grads = resident(model.loss_and_grads)(inputs, targets, loss_mask)
        step_lr = optim.cosine_lr(step, lr, warmup_steps, steps, min_lr) if schedule == "cosine" else lr
        grad_norm = apply_step(optim, model.params, grads, state, loss=loss, lr=step_lr, where=f"step {step}",
                               max_grad_norm=max_grad_norm, weight_decay=weight_decay, update=update)
        tokens += inputs.size
        history["loss"].append(loss)
        history["lr"].append(step_lr)
        history["grad_norm"].append(grad_norm)
        progress.update(step, loss, step_lr, inputs.size)
        if eval_fn is not None and ((eval_every and (step + 1) % eval_every == 0) or step + 1 == steps):
            eval_start = time.perf_counter()
            history["eval_step"].append(step + 1)
            history["eval_loss"].append(float(eval_fn(model)))
            seconds = time.perf_counter() - eval_start
            eval_seconds += seconds
            progress.exclude(seconds)
    history["seconds"] = time.perf_counter() - start
    history["eval_seconds"] = eval_seconds
    history["tokens_per_sec"] = tokens / max(history["seconds"] - eval_seconds, 1e-9)
    return history
