"""Batched decoding: many prompts at once, one forward pass per new position for all of them.

Lecture chapter "prompting" (and the rollouts of RLHF later): a model is asked the same
kind of question many times, with prompts of different lengths, and every answer is sampled.
Decoding one prompt at a time with a KV cache costs one forward pass per new token, and a
pass over a single position is almost all Python and call overhead: the matrices are
(1, C) x (C, 3C). Decoding B prompts together costs the same number of passes, each over B
positions, so the overhead is paid once per step instead of B times and the products grow
into something BLAS is good at.

    ids (B, P)          the prompts, left-padded to the longest length P
    step 0:             logits, cache = forward(ids)                     one pass, B x P slots
    step i >= 1:        logits, cache = forward(x_{i-1} (B, 1), past = cache)    one slot per row
    x_i[b] ~ softmax(logits[b, -1] / tau)         one uniform per row (inverse CDF), or argmax

Shape glossary: B rows (prompts), P longest prompt, T slots in a forward pass, T_past slots
already in the KV cache, V vocabulary, n = max_new_tokens.

Why LEFT padding: every row's next token is read off the last slot, and every row's new
token is written into the same next slot, so the rows' ends must line up. Pads go in front.
A row b with left_pad[b] pads then looks like

    slot s:      0 .. left_pad[b] - 1        left_pad[b] ..
    content:     pad_id (masked keys)        the prompt, then the generated tokens
    position:    0                           s - left_pad[b]

Two things make a padded row compute exactly what it would alone:
- position offsets: the token in slot s sits at position s - left_pad[b], so it gets the same
  position embedding as without padding (pad slots use position 0; nothing reads them);
- a key mask: no query may attend to a pad slot (the causal mask alone would let it).
With both, a row's real tokens see the same keys, values and embeddings as alone, and its
logits agree to round-off (the tests check 1e-12 in float64). ALiBi's distances |i - j| are
differences of slots, which equal differences of positions within a row.
``padded_positions`` derives both from ``left_pad``, for the new slots of every call (the
whole prompt, then one slot per step of a cached decode); the GPT takes them as plain
``positions`` and ``key_mask`` arguments (``GPT.forward(ids, past_kvs, positions, key_mask)``)
and knows nothing about padding. This chapter is the one home of the left-padding rule:
everything that pads (this decoder, RLHF's response passes, PPO) calls ``padded_positions``.

Sampling is the full softmax at a temperature (or greedy argmax), by
``generate.sample_from_logits`` on the (B, V) logits of a step (one uniform per row): for
one row and the same seed, ``generate_batch`` and ``generate.generate`` give the same
tokens. The log-probability of every chosen token under softmax(logits / tau) is returned
too (RLHF's policy gradient needs exactly that number for each sampled token).

Stopping: a row stops after producing any of its stop ids; it still advances with the
others (fed ``pad_id``; the batch stays rectangular) but nothing more of it is recorded, and
the loop ends as soon as every row has stopped.

Decisions:
- What is graded: ``padded_positions`` (the per-row offsets and the key mask are this
  chapter's idea) and the decoding loop of ``generate_batch``. The model's side is plain
  pass-through in the transformer chapter (positions pick rows of the position embedding;
  the key mask is and-ed with the causal mask by given code). ``pad_left`` and the argument
  checks are given plumbing, run before any graded code, so a bad ``left_pad`` or prompt is
  named even while the stubs are empty.
- The KV cache is the GPT's: every step concatenates the new keys and values into new
  arrays (a state is never modified, see ``GPT.step``), so a step copies the
  whole cache, 2 L B t C numbers at step t. At B = 64 that copy, not the arithmetic, is the
  largest cost of a step; benchmarks/generate.py measures the speed-up over one sequence at
  a time and where the time goes.

Left out on purpose: top-k and top-p (RL rollouts sample from the full softmax, so the
log-probabilities are those of the policy being trained; the single-sequence decoder
``generate.generate`` has them), beam search, and refilling a finished row with a new
prompt (continuous batching).
"""

from collections import namedtuple

import numpy as np

from ._checks import (check_batch_decoding, check_decoding_model, check_padded_slots, check_prompt_list,
                      check_stop_ids, check_token_id)
from .generate import log_probabilities, sample_from_logits

BatchGeneration = namedtuple("BatchGeneration", ["tokens", "lengths", "logprobs"])
BatchGeneration.__doc__ = """The result of generate_batch: ``tokens`` (B, n) int64 (``pad_id``
after a row's stop token), ``lengths`` (B,) tokens generated per row (the stop token
included), ``logprobs`` (B, n) float64 log p of each chosen token (0.0 after the stop)."""


# --------------------------------------------------------------------------- left padding

def padded_positions(left_pad, n_past, n_new):
    """Positions and key mask of left-padded rows (module docstring).

    ``left_pad`` (B,) pads in front of each row; the new slots are n_past .. n_past + n_new - 1
    of the whole sequence. Returns ``positions`` (B, n_new) int: slot s of row b sits at
    position max(s - left_pad[b], 0) (pads at 0), and ``key_mask`` (B, n_past + n_new) bool:
    True where the slot holds a real token (s >= left_pad[b]). Pass both to the GPT:
    ``model.forward(ids, past_kvs, positions, key_mask)``.
    """
    left_pad = check_padded_slots(left_pad, n_past, n_new)
    # TODO: implement padded_positions (see the docstring)
    raise NotImplementedError("padded_positions: not implemented yet")


def pad_left(prompts, pad_id, vocab_size=None):
    """Left-pad B prompts to one length: (ids (B, P) int64, left_pad (B,) int64).

    ``prompts``: a non-empty list of non-empty 1-D int sequences (ids in [0, vocab_size) when
    it is given); P is the longest length, and row b is ``[pad_id] * left_pad[b] + prompts[b]``.
    Errors name the bad prompt's row.
    """
    rows = check_prompt_list(prompts, "prompts", vocab_size)
    check_token_id(pad_id, np.inf if vocab_size is None else vocab_size, "pad_id")
    lengths = np.array([len(row) for row in rows])
    ids = np.full((len(rows), lengths.max()), pad_id, dtype=np.int64)
    for b, row in enumerate(rows):  # plumbing, once per call: the decoding loop has no row loop
        ids[b, ids.shape[1] - len(row):] = row
    return ids, ids.shape[1] - lengths


# --------------------------------------------------------------------------- decoding

def generate_batch(model, prompts, max_new_tokens, *, temperature=1.0, greedy=False, stop_id=None,
                   pad_id=0, rng=None):
    """Decode up to ``max_new_tokens`` tokens after each of B prompts, all rows together.

    ``model``: a causal GPT; ``model.forward(ids, past_kvs, positions, key_mask)`` runs once on
    the left-padded prompts, then once per new position on the (B, 1) tokens of the last step,
    with ``cache["kvs"]`` of the previous call as ``past_kvs``, and each call's positions and
    key mask from :func:`padded_positions`.
    ``greedy``: argmax (ties: lowest id), temperature must stay 1. Otherwise sample from
    softmax(logits / temperature) by inverse CDF with ``rng.random(B)``, one uniform per row
    per step, row b's uniform scaled exactly as in ``generate.sample_from_logits``.
    ``stop_id``: None, an int, or a collection of ints; a row stops after producing one.
    Returns ``BatchGeneration(tokens, lengths, logprobs)``: tokens (B, n) int64, ``pad_id``
    after a row's stop; lengths (B,); logprobs (B, n) float64, log p of each chosen token
    under softmax(logits / temperature) (greedy: temperature 1), 0.0 after the stop.
    """
    ids, left_pad = pad_left(prompts, pad_id, model.vocab_size)
    stop_ids = check_stop_ids(stop_id, model.vocab_size)
    check_batch_decoding(model, ids.shape[1], max_new_tokens, temperature, greedy, rng)
    model = check_decoding_model(model, temperature, greedy)  # NaN, inf or overflowing logits raise
    B = ids.shape[0]
    tokens = np.full((B, max_new_tokens), pad_id, dtype=np.int64)
    logprobs = np.zeros((B, max_new_tokens))
    lengths = np.zeros(B, dtype=np.int64)
    if max_new_tokens == 0:
        return BatchGeneration(tokens, lengths, logprobs)
    # TODO: one forward over the padded prompts, then one per step over the (B, 1) new tokens with the KV cache
    # TODO: every call gets padded_positions(left_pad, slots already cached, new slots) as positions and key_mask
    # TODO: generate.sample_from_logits takes (B, V) logits: one uniform per row
    # TODO: record the live rows' tokens and log-probabilities (float64, from logits / temperature)
    raise NotImplementedError("generate_batch: not implemented yet")
