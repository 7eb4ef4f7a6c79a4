"""Decoding: turning next-token logits into text, for any language model.

At inference time a language model generates left to right: it reads the prompt, gives a
distribution p(x_t | x_<t) over the next token, one token is chosen and fed back in, and so
on until an end-of-sequence token or a length limit. Every model of the course (n-gram,
RNN, Transformer) decodes through the same protocol, so one decoder serves them all.

Shapes: V vocabulary size; logits are float arrays (V,) (the warpers accept (..., V)).

The decoding protocol (an LM is any object with these two methods)::

    lm.start(prompt_ids) -> (logits, state)    # logits (V,) for the token after the prompt
    lm.step(state, token_id) -> (logits, new_state)

``step`` must not mutate ``state``: beam search continues one state along several branches.
Logits may be ``-inf`` (a token of probability zero, e.g. an unseen n-gram); such a token is
never produced by any strategy below.

Strategies
----------
- greedy: x_t = argmax_v logits[v]. Ties go to the lowest token id (``np.argmax``).
- sampling: x_t ~ softmax(warp(logits)), where the warpers apply in this fixed order
  (the order most libraries use):

  1. temperature tau > 0:  logits / tau. tau < 1 sharpens, tau > 1 flattens. tau = 0 is
     *not* greedy here; it is an error, and greedy is its own strategy, so that a division
     by zero never hides behind a special case.
  2. top-k: keep the k largest logits, set the others to -inf. Ties at the k-th place are
     broken by token id (the lower id is kept), so exactly k tokens survive, always.
  3. top-p (nucleus): sort the probabilities p_(1) >= p_(2) >= ..., keep the smallest prefix
     whose mass reaches p, i.e. the first m tokens with m = min{m : sum_{i<=m} p_(i) >= p}.
     The top token is always kept; p = 1 keeps every token of non-zero probability, however
     small (it is no filter at all). Mass comparisons for p < 1 allow a round-off slack of
     1e-12 (so mass 0.5 "reaches" p = 0.5).

- beam search: keep the ``beam_width`` best partial sequences by total log-probability
  log p(y_1..y_L | prompt) = sum_t log p(y_t | prompt, y_<t). Each round, every live beam is
  extended by every token; candidates are ranked by total log-probability (ties: earlier
  beam, then lower token id). Going down that ranking, a candidate ending in ``eos_id``
  among the top ``beam_width`` becomes a finished hypothesis; any other candidate becomes a
  live beam until there are ``beam_width`` live beams. Search stops when ``beam_width``
  hypotheses have finished (early stopping: only those compete), when no live beam is
  left, or after ``max_new_tokens`` rounds (the finished hypotheses and the unfinished live
  beams compete). The winner has the highest length-normalised score

      score(y) = log p(y | prompt) / L ** alpha,

  where L is the number of new tokens (end-of-sequence included) and alpha is
  ``length_penalty``. alpha = 0 ranks by raw log-probability (which favours short outputs,
  every token costing log-probability); alpha = 1 ranks by mean log-probability per token.
  Beam width 1 is exactly greedy decoding.

Left out on purpose: repetition penalties, min-length constraints, typical/min-p sampling.
Decoding several prompts at once (left padding, one forward pass per new position for all
of them, the same tokens as ``generate`` for one row and the same seed) is in ``batched.py``.
"""

import numpy as np

from ._checks import (check_int, check_logits, check_number, check_overflow, check_prompt_ids, check_rng,
                      check_sampling, check_temperature, check_top_k, check_top_p)

STRATEGIES = ("sample", "greedy")
TOP_P_SLACK = 1e-12  # round-off allowance when a cumulative mass is compared with p


# --------------------------------------------------------------------------- plumbing

# softmax and log-softmax are written again here instead of calling ``nn.softmax`` and
# ``nn.log_softmax`` on purpose: decoding must not depend on another chapter's stubs. On
# exercises/, a student who has not done the nn chapter can still decode the n-gram models
# (whose decoding protocol needs no nn), and a bug in their softmax cannot fail this chapter.


def probabilities(logits):
    """softmax over the last axis, stable: p_v = exp(l_v - max l) / sum_u exp(l_u - max l).

    Plumbing for the decoders (``-inf`` entries get probability exactly 0); a copy of
    ``nn.softmax`` kept here so that decoding does not depend on the nn chapter's stubs."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def log_probabilities(logits):
    """log softmax over the last axis, stable; ``-inf`` entries stay ``-inf`` (see above)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# --------------------------------------------------------------------------- warpers

def apply_temperature(logits, temperature):
    """logits / temperature, for temperature > 0 (ValueError otherwise). Shape (..., V).

    Also a ValueError, naming the temperature, when it is so small that some finite logit
    divided by it overflows to +-inf (the later warpers would fail on that, far from the cause).
    """
    logits = check_logits(logits)
    check_overflow(logits, check_temperature(temperature))
    # TODO: implement apply_temperature (see the docstring)
    raise NotImplementedError("apply_temperature: not implemented yet")


def top_k_filter(logits, top_k):
    """Keep the ``top_k`` largest logits along the last axis, set the rest to -inf.

    Exactly ``top_k`` entries keep their value; ties at the boundary keep the lower token
    id. 1 <= top_k <= V, else ValueError. Returns a new array (..., V).
    """
    logits = check_logits(logits)
    check_top_k(top_k, logits.shape[-1])
    # TODO: a stable argsort of -logits ranks ties by token id
    raise NotImplementedError("top_k_filter: not implemented yet")


def top_p_filter(logits, top_p):
    """Nucleus filter: keep the smallest set of most likely tokens whose mass reaches top_p.

    With probabilities sorted p_(1) >= p_(2) >= ... (ties by token id), keep the first m,
    m = min{m : p_(1) + ... + p_(m) >= top_p - 1e-12}; the rest become -inf. top_p = 1 keeps
    every token (only the -inf ones stay -inf). 0 < top_p <= 1, else ValueError. Returns a new
    array (..., V).
    """
    logits = check_logits(logits)
    check_top_p(top_p)
    # TODO: a token is kept if the tokens ranked above it have not yet reached top_p
    raise NotImplementedError("top_p_filter: not implemented yet")


# --------------------------------------------------------------------------- one token

def sample_from_logits(logits, rng):
    """Draw a token id from softmax(logits) with the generator ``rng``: logits (V,) gives an
    int; logits (B, V) gives one id per row, (B,) int64 (the batched decoder's case).

    Inverse-CDF sampling with one uniform draw per row, ``rng.random(logits.shape[:-1])``
    (so row b of a batch draws what a lone row would after b draws): u = uniform times the
    row's total mass, in the CDF's dtype; the token is the first id whose cumulative
    probability exceeds u. A token of probability zero is never drawn.
    """
    logits, rng = check_logits(logits, rows=True), check_rng(rng)
    # TODO: cumsum over the last axis; the first id whose cumulative mass exceeds u is how many entries are <= u
    raise NotImplementedError("sample_from_logits: not implemented yet")


def choose_next_token(logits, strategy, temperature, top_k, top_p, rng):
    """Greedy argmax, or a sample from the warped distribution (temperature, top-k, top-p)."""
    # TODO: implement choose_next_token (see the docstring)
    raise NotImplementedError("choose_next_token: not implemented yet")


# --------------------------------------------------------------------------- decoders

def generate(lm, prompt_ids, max_new_tokens, *, strategy="sample", temperature=1.0,
             top_k=None, top_p=None, eos_id=None, rng=None):
    """Decode up to ``max_new_tokens`` tokens after ``prompt_ids`` from ``lm``.

    strategy "greedy" takes the argmax each step; "sample" draws from the warped
    distribution (temperature, then top-k, then top-p; see the module docstring) and needs
    ``rng`` (a np.random.Generator). Stops after ``eos_id`` is produced (it is included in
    the output) or after ``max_new_tokens`` tokens. Returns the new token ids as a list of
    ints (the prompt is not repeated). ``lm.step`` is not called after the last token.
    """
    check_sampling(strategy, STRATEGIES, temperature, top_k, top_p, rng)
    check_int(max_new_tokens, "max_new_tokens", 0)
    prompt = check_prompt_ids(prompt_ids).tolist()
    # TODO: implement generate (see the docstring)
    raise NotImplementedError("generate: not implemented yet")


def beam_search(lm, prompt_ids, beam_width, max_new_tokens, *, eos_id=None, length_penalty=1.0):
    """The most likely continuation found by beam search (module docstring for the rules).

    Returns the new token ids of the best hypothesis under
    score = log p(y | prompt) / len(y) ** length_penalty (end-of-sequence included in y and
    in its length). ``beam_width`` >= 1; width 1 is greedy decoding.
    """
    check_int(beam_width, "beam_width", 1)
    check_int(max_new_tokens, "max_new_tokens", 0)
    check_number(length_penalty, "length_penalty")
    prompt = check_prompt_ids(prompt_ids).tolist()
    # TODO: total log-prob of every (beam, token) pair, ranked best first
    raise NotImplementedError("beam_search: not implemented yet")
