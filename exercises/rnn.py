"""The vanilla RNN and the RNN language model, with backpropagation through time by hand.

Lecture slide: "RNN Language Models" — read the tokens left to right, keep a hidden state
that summarises the prefix, and predict the next token from it:

    e_t = E[x_t]                                   (embedding of token x_t)
    h_t = tanh(e_t Wx + h_{t-1} Wh + b)            (the recurrence; h_0 given, zeros by default)
    logits_t = h_t W_out + b_out,   p(x_{t+1} | x_<=t) = softmax(logits_t)
    L = -1/N sum_t log p(x_{t+1} | x_<=t)          (cross-entropy at every position)

Shape glossary
    B batch, T time steps, D embedding width (the RNN's input), H hidden width, V vocabulary.

Backpropagation through time (BPTT). Unrolled over T steps the RNN is a deep network whose
layers share Wx, Wh and b, so their gradients are SUMS over time steps (accumulation is the
math here). Going backwards, the gradient reaching h_t has two parts: from the output at t
(dL/dlogits_t W_out^T) and from the future through h_{t+1}; ``rnn_step_backward`` returns the
latter as dh_prev. Only the recurrence loops over time; the batch is never looped over, and
the embedding and output layers act on all (B, T) positions at once.

Truncated BPTT and the carried hidden state (a design decision). A long stream is cut into
windows of T tokens; the last hidden state of one window is the h_0 of the next (so the
model still sees context across windows), but no gradient flows back across the cut (dh_0
is dropped). The state is exposed without touching the shared LM contract
``loss_and_grads(ids, targets, loss_mask=None) -> (loss, grads)``: pass ``h0=`` to start from a
state, and ``return_hidden=True`` to get ``(loss, grads, h_last)`` with h_last (B, H) a fresh
array (no reference into the model). The model object itself keeps no state between calls.
``scratch.train.loop.sequential_batches`` yields windows laid out for this.

Decoding protocol (used by ``generate``): ``start(prompt_ids) -> (logits (V,), state)`` runs
the prompt through the network; ``step(state, token_id) -> (logits, new_state)`` feeds one
token. The state is the hidden vector h (H,); ``step`` returns a new array and never mutates
the one it was given, so beam search can branch from it. The prompt must hold at least one
token: for a fresh character-level sentence, start from the end-of-sentence "\\n".

Input checks (plumbing, not graded) live in ``_checks.py``: the dtype check shared with the
GPT (``check_lm_dtype``) and the decoding protocol's checks of ``prompt_ids`` and ``token_id``.

Initialisation: embedding ~ N(0, 1); Wx ~ N(0, 1/D) and Wh ~ N(0, 1/H) so the
pre-activation starts with unit scale; W_out ~ N(0, 1/H) * 0.1 so the first predictions are
near uniform (loss ~ log V); biases zero.

Left out on purpose: LSTM/GRU gates (the lecture's point is the plain recurrence and why its
gradients vanish or explode — clipping in ``optim`` is the remedy used here), stacked
layers, dropout, and weight tying.
"""

import numpy as np

from . import nn
from ._checks import (check_hidden, check_id_array, check_lm_dtype, check_prompt_ids, check_rng, check_rnn, check_size,
                      check_token_id)


# ----------------------------------------------------------------------------- one step


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    """One time step: h = tanh(x Wx + h_prev Wh + b).

    x (B, D), h_prev (B, H), Wx (D, H), Wh (H, H), b (H,)  ->  h (B, H), cache.
    """
    check_rnn(x, h_prev, Wx, Wh, b, time_axis=False)
    # TODO: cache the inputs and h itself: tanh'(a) = 1 - h^2
    raise NotImplementedError("rnn_step_forward: not implemented yet")


def rnn_step_backward(dh, cache):
    """Gradients of one step: dh (B, H)  ->  dx (B, D), dh_prev (B, H), dWx, dWh, db."""
    # TODO: first da = dh * (1 - h^2), the gradient at the pre-activation a
    raise NotImplementedError("rnn_step_backward: not implemented yet")


# ----------------------------------------------------------------------------- a sequence


def rnn_forward(x, h0, Wx, Wh, b):
    """Run the recurrence over T steps: hs[:, t] = tanh(x[:, t] Wx + hs[:, t-1] Wh + b).

    x (B, T, D), h0 (B, H)  ->  hs (B, T, H) (every hidden state; the last is hs[:, -1]),
    cache (the list of per-step caches).
    """
    check_rnn(x, h0, Wx, Wh, b, time_axis=True)
    # TODO: loop over t calling rnn_step_forward; keep each step's cache in a list
    raise NotImplementedError("rnn_forward: not implemented yet")


def rnn_backward(dhs, cache):
    """BPTT: dhs (B, T, H) = dL/dhs from the layers above  ->  dx (B, T, D), dh0 (B, H), dWx, dWh, db.

    Walk t = T-1 .. 0 carrying dh_next = dL/dh_t through the recurrence; the weights'
    gradients are the sums of the per-step ones, since every step uses the same weights.
    """
    # TODO: the gradient into step t is dhs[:, t] + the dh_prev returned by step t+1
    raise NotImplementedError("rnn_backward: not implemented yet")


# ----------------------------------------------------------------------------- the language model


class RNNLM:
    """Embedding -> RNN -> linear -> softmax over the next token, at every position.

    ``RNNLM(vocab_size, d_embed, d_hidden, rng=rng, dtype=np.float32)``. ``params`` holds
    ``embed`` (V, D), ``Wx`` (D, H), ``Wh`` (H, H), ``b`` (H,), ``W_out`` (H, V), ``b_out`` (V,).
    ``dtype`` must be np.float32 (speed) or np.float64 (gradient checks); anything else is a
    TypeError (float16 overflows in the loss's sums).
    """

    def __init__(self, vocab_size, d_embed, d_hidden, *, rng, dtype=np.float32):
        V, D, H = (check_size(v, name) for v, name in ((vocab_size, "vocab_size"), (d_embed, "d_embed"),
                                                       (d_hidden, "d_hidden")))
        dtype, rng = check_lm_dtype(dtype), check_rng(rng)
        self.params = {
            "embed": rng.standard_normal((V, D)),
            "Wx": rng.standard_normal((D, H)) / np.sqrt(D),
            "Wh": rng.standard_normal((H, H)) / np.sqrt(H),
            "b": np.zeros(H),
            "W_out": 0.1 * rng.standard_normal((H, V)) / np.sqrt(H),
            "b_out": np.zeros(V),
        }
        self.params = {name: p.astype(dtype) for name, p in self.params.items()}
        self.vocab_size, self.d_embed, self.d_hidden = V, D, H

    def _initial_hidden(self, h0, batch_size):
        dtype = self.params["Wh"].dtype
        if h0 is None:
            return np.zeros((batch_size, self.d_hidden), dtype=dtype)
        h0 = check_hidden(h0, (batch_size, self.d_hidden), "h0", "a numpy array (B, H) or None")
        return h0.astype(dtype, copy=False)

    def forward(self, ids, h0=None):
        """ids int (B, T), h0 (B, H) or None (zeros)  ->  logits (B, T, V), h_last (B, H), cache.

        logits[:, t] scores the token that follows ids[:, t].
        """
        ids = check_id_array(ids)
        h0 = self._initial_hidden(h0, ids.shape[0])
        # TODO: nn.embedding_forward -> rnn_forward -> nn.linear_forward; h_last = a copy of hs[:, -1]
        raise NotImplementedError("RNNLM.forward: not implemented yet")

    def backward(self, dlogits, cache):
        """dlogits (B, T, V)  ->  grads, a dict with one array per entry of ``params``.

        The gradient into h0 is dropped: truncated BPTT stops at the window's start.
        """
        # TODO: run the three backward functions in the reverse order of forward
        raise NotImplementedError("RNNLM.backward: not implemented yet")

    def loss_and_grads(self, ids, targets, loss_mask=None, h0=None, return_hidden=False):
        """Mean cross-entropy of ``targets`` (B, T) given ``ids`` (B, T), and its gradients.

        Returns ``(loss, grads)``, or ``(loss, grads, h_last)`` with ``return_hidden=True``
        (h_last (B, H) is the state to pass as ``h0`` for the next window).
        """
        check_id_array(targets, "targets")
        logits, h_last, cache = self.forward(ids, h0)
        loss, loss_cache = nn.cross_entropy_forward(logits, targets, loss_mask)
        grads = self.backward(nn.cross_entropy_backward(1.0, loss_cache), cache)
        return (loss, grads, h_last) if return_hidden else (loss, grads)

    def loss(self, ids, targets, loss_mask=None, h0=None, return_hidden=False):
        """The loss alone (no backward), for evaluation; ``(loss, h_last)`` with return_hidden."""
        check_id_array(targets, "targets")
        logits, h_last, _ = self.forward(ids, h0)
        loss, _ = nn.cross_entropy_forward(logits, targets, loss_mask)
        return (loss, h_last) if return_hidden else loss

    # -- decoding protocol -------------------------------------------------------------------

    def start(self, prompt_ids):
        """Run the prompt: -> (logits (V,) for the next token, state = hidden vector (H,))."""
        prompt = check_prompt_ids(prompt_ids, self.vocab_size, allow_empty=False)
        logits, h_last, _ = self.forward(prompt[None, :])
        return logits[0, -1], h_last[0]

    def step(self, state, token_id):
        """Feed one token from hidden state ``state`` (H,)  ->  (logits (V,), new state (H,)).

        Never mutates ``state``.
        """
        token_id = check_token_id(token_id, self.vocab_size)
        state = check_hidden(state, (self.d_hidden,), "state", "the hidden vector (H,) from start/step, a numpy array")
        # TODO: one embedding row, one rnn_step_forward on a batch of 1, one linear layer
        raise NotImplementedError("RNNLM.step: not implemented yet")
