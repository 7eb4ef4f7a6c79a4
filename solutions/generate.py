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
    ### BEGIN SOLUTION
    return logits / temperature
    ### END SOLUTION


def top_k_filter(logits, top_k):
    """Keep the ``top_k`` largest logits along the last axis, set the rest to -inf.

    Exactly ``top_k`` entries keep their value; ties at the boundary keep the lower token
    id. 1 <= top_k <= V, else ValueError. Returns a new array (..., V).
    """
    logits = check_logits(logits)
    check_top_k(top_k, logits.shape[-1])
    ### BEGIN SOLUTION
    ### HINT: a stable argsort of -logits ranks ties by token id
    ranked = np.argsort(-logits, axis=-1, kind="stable")  # (..., V) best first
    kept = ranked[..., :top_k]
    filtered = np.full_like(logits, -np.inf)
    np.put_along_axis(filtered, kept, np.take_along_axis(logits, kept, axis=-1), axis=-1)
    return filtered
    ### END SOLUTION


def top_p_filter(logits, top_p):
    """Nucleus filter: keep the smallest set of most likely tokens whose mass reaches top_p.

    With probabilities sorted p_(1) >= p_(2) >= ... (ties by token id), keep the first m,
    m = min{m : p_(1) + ... + p_(m) >= top_p - 1e-12}; the rest become -inf. top_p = 1 keeps
    every token (only the -inf ones stay -inf). 0 < top_p <= 1, else ValueError. Returns a new
    array (..., V).
    """
    logits = check_logits(logits)
    check_top_p(top_p)
    ### BEGIN SOLUTION
    if top_p >= 1:  # no filter: the slack below must not drop a tiny but non-zero tail
        return logits.copy()
    ranked = np.argsort(-logits, axis=-1, kind="stable")  # (..., V)
    sorted_probs = np.take_along_axis(probabilities(logits), ranked, axis=-1)
    mass_before = np.cumsum(sorted_probs, axis=-1) - sorted_probs  # mass of the better tokens
    ### HINT: a token is kept if the tokens ranked above it have not yet reached top_p
    keep_sorted = mass_before < top_p - TOP_P_SLACK  # the top token always (mass_before = 0)
    keep = np.zeros(logits.shape, dtype=bool)
    np.put_along_axis(keep, ranked, keep_sorted, axis=-1)
    return np.where(keep, logits, -np.inf)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    ### HINT: cumsum over the last axis; the first id whose cumulative mass exceeds u is how many entries are <= u
    cumulative = np.cumsum(probabilities(logits), axis=-1)  # (..., V)
    u = rng.random(logits.shape[:-1]).astype(cumulative.dtype) * cumulative[..., -1]  # (...,)
    chosen = np.minimum((cumulative <= u[..., None]).sum(axis=-1), logits.shape[-1] - 1)
    return int(chosen) if logits.ndim == 1 else chosen.astype(np.int64)
    ### END SOLUTION


def choose_next_token(logits, strategy, temperature, top_k, top_p, rng):
    """Greedy argmax, or a sample from the warped distribution (temperature, top-k, top-p)."""
    ### BEGIN SOLUTION
    if strategy == "greedy":
        return int(np.argmax(logits))
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return sample_from_logits(logits, rng)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    new_tokens = []
    if max_new_tokens == 0:
        return new_tokens
    logits, state = lm.start(prompt)
    while True:
        token = choose_next_token(check_logits(logits), strategy, temperature, top_k, top_p, rng)
        new_tokens.append(token)
        if token == eos_id or len(new_tokens) == max_new_tokens:
            return new_tokens
        logits, state = lm.step(state, token)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    if max_new_tokens == 0:
        return []
    logits, state = lm.start(prompt)
    # A live beam: (tokens, total log-probability, logits for its next token, state).
    live = [([], 0.0, check_logits(logits), state)]
    finished = []  # (tokens, total log-probability)
    for length in range(1, max_new_tokens + 1):
        ### HINT: total log-prob of every (beam, token) pair, ranked best first
        totals = np.stack([logprob + log_probabilities(beam_logits)
                           for _, logprob, beam_logits, _ in live])  # (beams, V)
        order = np.argsort(-totals, axis=None, kind="stable")  # beam-major, then token id
        extended = []
        for rank, flat in enumerate(order):
            beam, token = divmod(int(flat), totals.shape[1])
            total = float(totals[beam, token])
            if total == -np.inf or len(extended) == beam_width:
                break
            tokens = live[beam][0] + [token]
            if token == eos_id:
                if rank < beam_width:
                    finished.append((tokens, total))
            else:
                extended.append((tokens, total, live[beam][3]))
        if len(finished) >= beam_width or not extended or length == max_new_tokens:
            break
        live = []
        for tokens, total, parent_state in extended:
            next_logits, next_state = lm.step(parent_state, tokens[-1])
            live.append((tokens, total, check_logits(next_logits), next_state))
    if len(finished) >= beam_width:
        candidates = finished
    else:  # out of length (or of live beams): unfinished beams compete too
        candidates = finished + [(tokens, total) for tokens, total, _ in extended]

    def score(candidate):
        tokens, total = candidate
        return total / len(tokens) ** length_penalty

    return max(candidates, key=score)[0]  # max keeps the first of equal scores
    ### END SOLUTION
