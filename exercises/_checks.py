"""Every argument check of the course, in one place, so that a chapter reads math first.

A chapter imports what it needs by name, ``from ._checks import check_int, check_rng``, and
calls it in one line at the top of a function; the function returns what the check
returns (an array or a Python number) and goes on with the math. Given code, never graded:
nothing here imports a chapter (only NumPy and the standard library).

What lives here, by kind:
- numbers and counts: ``check_int``, ``check_size``, ``check_number``, ``check_bool``,
  ``check_choice``;
- randomness: ``check_rng``;
- arrays: ``check_float_array``, ``check_int_array``, ``check_ndarray``, ``check_finite``,
  ``check_same_shape``, ``check_positive_array``, ``check_index_range``;
- token ids, prompts and masks: ``check_token_id``, ``check_prompt_ids``,
  ``check_prompt_list``, ``check_id_array``, ``check_padded_slots``, ``check_left_pad``,
  ``check_stop_ids``, ``check_logits``, ``check_response_mask``, ``check_response_tokens``;
- then one section per chapter, in lecture order (MDP values and policies, sentences,
  layers, optimizer steps, RNN shapes, decoding, heads and past keys/values, the GPT,
  scaling fits, decoding a batch (:class:`CheckedDecoder`: the logits of every step are
  checked as they come, so a NaN policy or an overflowing temperature raises naming
  ``generate_batch`` before it turns into tokens), word pairs and answers, SFT pairs,
  rankings, RLHF and PPO arrays).

Conventions:
- NumPy scalars pass wherever Python ones do (``np.int64(3)`` is an int, ``np.float32(0.5)``
  a number); ``bool`` (and ``np.bool_``) is never a number.
- A value of the wrong type is a ``TypeError``, a value out of range a ``ValueError``;
  ``check_size`` (model dimensions and iteration counts) and the MDP's gamma make both a
  ``ValueError`` (``type_error=ValueError``), as the tests of those chapters expect.
- Every message names the argument, says what it got and what it needs:
  ``"top_k must be in [1, 4]; got 5"``.
"""

import math
import numbers
from itertools import chain

import numpy as np


# --------------------------------------------------------------------------- numbers and counts

def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def _interval(low, high, low_open, high_open):
    """The needed range in words: ``in [0, 1)``, ``>= 0``, ``<= 1``, or '' for any finite number."""
    if low > -math.inf and high < math.inf:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low > -math.inf:
        return f"{'>' if low_open else '>='} {low}"
    if high < math.inf:
        return f"{'<' if high_open else '<='} {high}"
    return ""


def check_int(value, name, minimum=None, maximum=None, *, type_error=TypeError):
    """``value`` as a Python int in [minimum, maximum] (None: unbounded); ``type_error`` unless an int."""
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise type_error(f"{name} must be an int; got {value!r} ({type(value).__name__})")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        needed = _interval(-math.inf if minimum is None else minimum, math.inf if maximum is None else maximum,
                           False, False)
        raise ValueError(f"{name} must be an int {needed}; got {value}")
    return int(value)


def check_size(value, name, minimum=1, maximum=None):
    """A model dimension or an iteration count: ``check_int``, every bad value a ValueError."""
    return check_int(value, name, minimum, maximum, type_error=ValueError)


def check_number(value, name, low=-math.inf, high=math.inf, *, low_open=False, high_open=False, why="",
                 type_error=TypeError):
    """``value`` as a float, finite and in the interval from ``low`` to ``high``; ``why`` ends the message."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise type_error(f"{name} must be a number; got {value!r} ({type(value).__name__})")
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (math.isfinite(value) and above and below):
        needed = _interval(low, high, low_open, high_open)
        if low > -math.inf and high < math.inf:
            rule = f"must lie {needed}"
        else:
            rule = f"must be finite and {needed}" if needed else "must be a finite number"
        raise ValueError(f"{name} {rule}{f' ({why})' if why else ''}; got {value!r}")
    return float(value)


def check_bool(value, name):
    """``value`` if it is True or False (TypeError otherwise: 0 and 1 are not flags here)."""
    if not _is_bool(value):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_choice(value, name, choices):
    """``value`` if it is one of ``choices`` (ValueError listing them otherwise)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; got {value!r}")
    return value


# --------------------------------------------------------------------------- randomness

def check_rng(rng):
    """``rng`` if it is a ``np.random.Generator`` (TypeError otherwise: no global random state)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)); got {type(rng).__name__}")
    return rng


# --------------------------------------------------------------------------- arrays

def _kind(value):
    return value.dtype if isinstance(value, np.ndarray) else type(value).__name__


def check_float_array(x, name):
    """``x`` if it is a float ndarray (TypeError otherwise; layers never convert their inputs)."""
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must be a float numpy array; got {_kind(x)}")
    return x


def check_int_array(ids, name):
    """``ids`` if it is an integer ndarray (TypeError otherwise)."""
    if not isinstance(ids, np.ndarray) or not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{name} must be an integer numpy array; got {_kind(ids)}")
    return ids


def check_ndarray(value, name, what="a numpy array"):
    """``value`` if it is an ndarray (TypeError naming ``what`` it should be otherwise)."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be {what}; got {type(value).__name__}")
    return value


def check_finite(x, name):
    """``x`` as a float64 array if every entry is finite (ValueError naming ``name``)."""
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must hold numbers; got {np.asarray(x).dtype if hasattr(x, '__len__') else x!r}") \
            from None
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf: every entry must be a finite number")
    return array


def check_same_shape(reference_name, reference, **arrays):
    """Each of ``arrays`` as a finite float64 array with the shape of ``reference`` (a list)."""
    checked = []
    for name, value in arrays.items():
        array = check_finite(value, name)
        if array.shape != np.shape(reference):
            raise ValueError(f"{name} must have the shape {np.shape(reference)} of {reference_name}; got {array.shape}")
        checked.append(array)
    return checked


def check_positive_array(values, name):
    """``values`` as a float64 array if every entry is a finite positive real (ValueError)."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold positive real numbers; got {values!r}") from None
    if not np.all(np.isfinite(array)) or not np.all(array > 0):
        raise ValueError(f"{name} must be finite and positive; got {values!r}")
    return array


def check_index_range(array, name, high, high_name=None, what=""):
    """ValueError unless every entry of the int ``array`` is in [0, high) (``high_name=high`` in the message)."""
    if array.size and (array.min() < 0 or array.max() >= high):
        bound = high if high_name is None else f"{high_name}={high}"
        raise ValueError(f"{name} must lie in [0, {bound}){what}; got values from {array.min()} to {array.max()}")
    return array


# --------------------------------------------------------------------------- token ids, prompts, masks

def check_token_id(token_id, vocab_size, name="token_id"):
    """``token_id`` as a Python int in [0, vocab_size) (TypeError/ValueError naming ``name``)."""
    if _is_bool(token_id) or not isinstance(token_id, numbers.Integral):
        raise TypeError(f"{name} must be an int; got {token_id!r} ({type(token_id).__name__})")
    if not 0 <= token_id < vocab_size:
        raise ValueError(f"{name} must be in [0, {vocab_size}); got {token_id}")
    return int(token_id)


def check_prompt_ids(prompt_ids, vocab_size=None, allow_empty=True, name="prompt_ids"):
    """``prompt_ids`` as int64 (T,): a 1-D sequence of ints, in [0, vocab_size) when given.

    The decoding protocol's prompt check, shared by every LM, so a float or 2-D prompt is
    refused with one message everywhere, never silently truncated. ``allow_empty=False`` for
    models that need a first token to read (the neural LMs)."""
    prompt = np.asarray(prompt_ids)
    if prompt.ndim != 1 or (prompt.size == 0 and not allow_empty):
        raise ValueError(
            f"{name} must be a non-empty 1-D sequence of token ids (a model needs a first "
            f"token to read; start a fresh sentence with the end-of-sentence id); got {prompt_ids!r}"
            if not allow_empty else f"{name} must be a 1-D sequence of token ids; got {prompt_ids!r}"
        )
    if prompt.size == 0:
        return prompt.astype(np.int64)
    if not np.issubdtype(prompt.dtype, np.integer):
        raise TypeError(f"{name} must hold ints (never silently truncated); got dtype {prompt.dtype}")
    check_index_range(prompt, name, math.inf if vocab_size is None else vocab_size)  # never a negative id
    return prompt.astype(np.int64)


def check_prompt_list(prompts, name="prompts", vocab_size=None, allow_empty=False):
    """A non-empty list (or 2-D array) of prompts as a list of int64 arrays; errors name the row."""
    if isinstance(prompts, np.ndarray) and prompts.ndim == 2:
        prompts = list(prompts)  # a rectangular array: one prompt per row
    if not isinstance(prompts, (list, tuple)) or len(prompts) == 0:
        raise ValueError(f"{name} must be a non-empty list of token-id sequences; got {prompts!r}")
    return [check_prompt_ids(prompt, vocab_size, allow_empty, f"{name}[{b}]") for b, prompt in enumerate(prompts)]


def check_id_array(ids, name="ids", vocab_size=None, vocab_name=None):
    """``ids`` as an int array (B, T) with T >= 1, and values in [0, vocab_size) when given."""
    ids = np.asarray(ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{name} must be an int array of shape (B, T); got {ids.dtype} {ids.shape}")
    if ids.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one position per sequence (T >= 1); got shape {ids.shape}")
    if vocab_size is not None:
        check_index_range(ids, name, vocab_size, vocab_name)
    return ids


def check_padded_slots(left_pad, n_past, n_new):
    """``left_pad`` as int64 (B,) for n_past + n_new slots; n_past an int >= 0, n_new >= 1."""
    n_past, n_new = check_int(n_past, "n_past", 0), check_int(n_new, "n_new", 1)
    return check_left_pad(left_pad, None, n_past + n_new)


def check_left_pad(left_pad, batch_size, n_slots):
    """``left_pad`` as int64 (B,): one count per row, each in [0, n_slots) (a row keeps a real token);
    ``batch_size`` None takes B from ``left_pad``."""
    array = np.asarray(left_pad)
    if array.ndim != 1 or (batch_size is not None and array.shape != (batch_size,)):
        raise ValueError(f"left_pad must have shape (B,) = ({'B' if batch_size is None else batch_size},), "
                         f"one count per row; got shape {array.shape}")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"left_pad must hold ints (pad slots per row); got dtype {array.dtype}")
    check_index_range(array, "left_pad", n_slots, what=f" for {n_slots} slots (every row needs a real token)")
    return array.astype(np.int64)


def check_stop_ids(stop_id, vocab_size):
    """``stop_id`` (None, an int, or a collection of ints in [0, V)) as an int64 array."""
    if stop_id is None:
        return np.zeros(0, dtype=np.int64)
    candidates = [stop_id] if isinstance(stop_id, (int, np.integer)) else stop_id
    try:
        candidates = list(candidates)
    except TypeError:
        raise TypeError(f"stop_id must be None, an int or a collection of ints; got {stop_id!r}") from None
    return np.array([check_token_id(s, vocab_size, "stop_id") for s in candidates], dtype=np.int64)


def check_logits(logits, name="logits", one_row=False, rows=False):
    """Next-token logits as a float array (..., V) ((V,) if ``one_row``, (V,) or (B, V) if
    ``rows``), V >= 1, no NaN or +inf, and a finite entry per row."""
    logits = np.asarray(logits)
    if logits.ndim < 1 or logits.shape[-1] == 0:
        raise ValueError(f"{name} must have shape (..., V) with V >= 1; got shape {logits.shape}")
    if one_row and logits.ndim != 1:
        raise ValueError(f"{name} must have shape (V,); got {logits.shape}")
    if rows and logits.ndim > 2:
        raise ValueError(f"{name} must have shape (V,) or (B, V); got {logits.shape}")
    if not np.issubdtype(logits.dtype, np.floating):
        raise TypeError(f"{name} must be a float array; got dtype {logits.dtype}")
    if np.isnan(logits).any() or np.isposinf(logits).any():
        raise ValueError(f"{name} must not contain NaN or +inf")
    if np.isneginf(logits).all(axis=-1).any():
        raise ValueError(f"{name} gives every token probability zero (all entries are -inf)")
    return logits


def check_response_mask(mask, shape, name="mask", of="the log-probabilities"):
    """``mask`` as bool ``shape`` (B, T) (that ``of``): each row a run of response tokens from
    position 0, at least one."""
    array = np.asarray(mask)
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have the shape {tuple(shape)} of {of}; got {array.shape}")
    if array.dtype != bool:
        if not np.issubdtype(array.dtype, np.number) or not np.isin(array, (0, 1)).all():
            raise TypeError(f"{name} must hold only 0/1 or False/True; got dtype {array.dtype}")
        array = array.astype(bool)
    empty = np.flatnonzero(~array.any(axis=-1)) if array.ndim else []
    if len(empty):
        raise ValueError(f"{name}: row {empty[0]} has no response token (every row needs at least one)")
    if array.ndim == 2 and (np.diff(array.astype(np.int8), axis=1) > 0).any():
        raise ValueError(f"{name}: response tokens must fill the first positions of a row (right padding)")
    return array


def check_response_tokens(tokens):
    """``tokens`` as an int array (B, T), T >= 1: sampled responses."""
    array = np.asarray(tokens)
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"tokens must be (B, T) with T >= 1 response positions; got shape {array.shape}")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"tokens must hold token ids (ints); got dtype {array.dtype}")
    return array


# --------------------------------------------------------------------------- MDPs (mdp_model, mdp)

def check_mdp_arrays(P, R, gamma):
    """(P (S, A, S) of probabilities whose rows sum to 1, R (S, A) finite, gamma in [0, 1]) as floats."""
    P = np.asarray(P, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    if P.ndim != 3 or P.shape[0] != P.shape[2] or P.shape[0] == 0 or P.shape[1] == 0:
        raise ValueError(f"P must have shape (S, A, S) with S, A >= 1; got shape {P.shape}")
    if not np.all(np.isfinite(P)) or P.min() < 0 or P.max() > 1:
        raise ValueError("P must hold probabilities in [0, 1]; got entries outside that range")
    row_sums = P.sum(axis=2)
    if not np.allclose(row_sums, 1.0, atol=1e-8):
        s, a = np.unravel_index(np.argmax(np.abs(row_sums - 1)), row_sums.shape)
        raise ValueError(f"P[s, a, :] must sum to 1 for every s, a; P[{s}, {a}, :] sums to {row_sums[s, a]:.6g}")
    if R.shape != P.shape[:2]:
        raise ValueError(f"R must have shape (S, A) = {P.shape[:2]} to match P; got {R.shape}")
    if not np.all(np.isfinite(R)):
        raise ValueError("R must be finite; got inf or nan entries")
    return P, R, check_number(gamma, "gamma", 0, 1, type_error=ValueError)


def check_terminal(terminal, P, R):
    """``terminal`` (a bool mask (S,) or state indices) as a mask; its states absorbing with zero reward."""
    S = P.shape[0]
    terminal = np.asarray(terminal)
    if terminal.dtype == bool:
        if terminal.shape != (S,):
            raise ValueError(f"terminal as a mask must have shape ({S},); got {terminal.shape}")
        mask = terminal.copy()
    else:
        if terminal.size and (not np.issubdtype(terminal.dtype, np.integer) or terminal.min() < 0
                              or terminal.max() >= S):
            raise ValueError(f"terminal must be a boolean mask or state indices in [0, {S}); got {terminal!r}")
        mask = np.zeros(S, dtype=bool)
        mask[terminal.astype(int).ravel()] = True
    for t in np.flatnonzero(mask):
        if not np.allclose(P[t, :, t], 1.0) or np.any(R[t] != 0):
            raise ValueError(f"terminal state {t} must be absorbing with zero reward (P[{t}, :, {t}] = 1, R[{t}] = 0)")
    return mask


def check_layout(layout, living_reward, noise):
    """The layout's rows of cell tokens (equal lengths); living_reward finite, noise in [0, 1]."""
    if not isinstance(layout, str):
        raise TypeError(f"layout must be a string of rows; got {type(layout).__name__}")
    rows = [line.split() for line in layout.strip().splitlines() if line.strip()]
    if not rows or any(len(row) != len(rows[0]) for row in rows):
        raise ValueError(f"layout must have rows of equal length; got row lengths {[len(r) for r in rows]}")
    check_number(noise, "noise", 0, 1)
    check_number(living_reward, "living_reward")
    return rows


def check_values(mdp, V, name="V"):
    """``V`` as a float array of shape (S,), or a ValueError naming ``name``."""
    V = np.asarray(V, dtype=np.float64)
    if V.shape != (mdp.n_states,):
        raise ValueError(f"{name} must have shape (S,) = ({mdp.n_states},); got {V.shape}")
    return V


def check_policy(mdp, policy):
    """``policy`` as an array: (S,) action indices in [0, A), or (S, A) rows pi(.|s) >= 0 summing to 1."""
    policy = np.asarray(policy)
    S, A = mdp.n_states, mdp.n_actions
    if policy.shape == (S,):
        if not np.issubdtype(policy.dtype, np.integer) or policy.min() < 0 or policy.max() >= A:
            raise ValueError(f"a deterministic policy must hold action indices in [0, {A}); got {policy!r}")
        return policy
    if policy.shape == (S, A):
        if policy.min() < 0 or not np.allclose(policy.sum(axis=1), 1.0, atol=1e-8):
            raise ValueError("a stochastic policy must have non-negative rows pi(.|s) summing to 1")
        return policy
    raise ValueError(f"policy must have shape (S,) = ({S},) or (S, A) = ({S}, {A}); got {policy.shape}")


def check_proper(mdp, P_pi):
    """With gamma = 1, ValueError naming the states from which the chain P_pi never reaches a terminal."""
    reaches = mdp.terminal.copy()
    while True:  # states with a positive-probability step into the set that reaches
        grown = reaches | (P_pi[:, reaches].sum(axis=1) > 0)
        if np.array_equal(grown, reaches):
            break
        reaches = grown
    if not reaches.all():
        raise ValueError(
            f"with gamma = 1 the policy must reach a terminal state from every state; from states "
            f"{np.flatnonzero(~reaches).tolist()} it never does, so their values are not finite "
            f"(if every step costs nothing, staying put ties with moving on: use a negative "
            f"living reward or gamma < 1)"
        )


def check_solver(tol, max_iter):
    """An iterative solver's tolerance (> 0) and sweep budget (an int >= 1)."""
    check_number(tol, "tol", 0, low_open=True)
    check_size(max_iter, "max_iter")


def check_q_learning(episodes, alpha, epsilon, rng, max_steps):
    """q_learning's counts (ints >= 1), step size alpha in (0, 1], epsilon in [0, 1] and rng."""
    check_size(episodes, "episodes")
    check_size(max_steps, "max_steps")
    check_number(alpha, "alpha", 0, 1, low_open=True, why="the step size")
    check_number(epsilon, "epsilon", 0, 1)
    check_rng(rng)


# --------------------------------------------------------------------------- sentences and n-gram models (ngram)

def check_sentences(sentences, name="sentences", reserved=()):
    """A non-empty list of sentences (lists of word strings) with none of the ``reserved`` tokens.

    Returns the set of distinct tokens; the type check runs on that set, not on every token."""
    if isinstance(sentences, str) or not hasattr(sentences, "__len__") or len(sentences) == 0:
        raise ValueError(f"{name} must be a non-empty list of sentences (lists of word strings); got {sentences!r:.60}")
    for sentence in sentences:
        if not isinstance(sentence, (list, tuple)):
            raise TypeError(f"{name}: every sentence must be a list of strings (tokens); got {sentence!r:.60}")
    try:
        tokens = set(chain.from_iterable(sentences))
    except TypeError:  # an unhashable token, e.g. a nested list
        bad = next(t for t in chain.from_iterable(sentences) if not isinstance(t, str))
        raise TypeError(f"{name}: tokens must be strings; got {bad!r:.60} ({type(bad).__name__})") from None
    not_strings = [t for t in tokens if not isinstance(t, str)]
    if not_strings:
        raise TypeError(f"{name}: tokens must be strings; got {not_strings[0]!r} ({type(not_strings[0]).__name__})")
    if tokens & set(reserved):
        raise ValueError(f"{name}: the padding tokens {' and '.join(reserved)} are added by the model, not the data")
    return tokens


def check_ngram_options(n, smoothing, smoothings, k, weights, discount):
    """NGramLM's order n (>= 1), smoothing, add-k k (> 0), discount (0, 1) and weights (n+1,) or None."""
    check_size(n, "n")
    check_choice(smoothing, "smoothing", smoothings)
    if _is_bool(k) or not (isinstance(k, numbers.Real) and math.isfinite(k) and k > 0):
        raise ValueError(f"k must be a finite number > 0 for add-k smoothing; got {k!r}")
    if _is_bool(discount) or not (isinstance(discount, numbers.Real) and 0 < discount < 1):
        raise ValueError(f"discount must be in (0, 1) for Kneser-Ney; got {discount!r}")
    if weights is None:
        return None
    weights = np.asarray(weights, dtype=np.float64)
    valid = weights.shape == (n + 1,) and np.isfinite(weights).all() and (weights >= 0).all()
    if not (valid and abs(weights.sum() - 1) <= 1e-9):  # written so that NaN fails
        raise ValueError(f"weights must be n+1 = {n + 1} finite non-negative numbers summing to 1 "
                         f"(uniform, unigram, ..., {n}-gram); got {weights.tolist()}")
    return weights


def check_ngram_fit(vocab, vocab_class, needs_heldout, heldout):
    """A given vocabulary is a ``vocab_class``; interpolation without weights needs held-out data."""
    if needs_heldout and heldout is None:
        raise ValueError("interpolation needs weights=... or fit(..., heldout=sentences) to fit them")
    if vocab is not None and not isinstance(vocab, vocab_class):
        raise TypeError(f"vocab must be a {vocab_class.__name__}; got {type(vocab).__name__}")


def check_order_probs(q):
    """``q`` as float64 (N, n+1), N >= 1, with a positive entry in every row (EM's input)."""
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2 or len(q) == 0 or (q.sum(axis=1) <= 0).any():
        raise ValueError(f"q must be (N, n+1) with N >= 1 and a positive entry in every row; got shape {q.shape}")
    return q


def check_words(words, name="context", what="a list of words"):
    """``words`` if it is a sequence (of words or ids, as ``what`` says), not one string."""
    if isinstance(words, str):
        raise TypeError(f"{name} must be {what}, not a string; got {words!r}")
    return words


def check_word(word):
    """``word`` if it is a string."""
    if not isinstance(word, str):
        raise TypeError(f"word must be a string; got {word!r}")
    return word


# --------------------------------------------------------------------------- layers (nn)

def check_linear(x, W, b):
    """x (..., D), W (D, M) and b (M,) or None: float arrays that agree on D and M."""
    check_float_array(x, "x")
    check_float_array(W, "W")
    if W.ndim != 2 or x.shape[-1:] != W.shape[:1]:
        raise ValueError(f"x (..., D) and W (D, M) must agree on D; got x {x.shape}, W {W.shape}")
    if b is not None and check_float_array(b, "b").shape != W.shape[1:]:
        raise ValueError(f"b must have shape ({W.shape[1]},) to match W; got {b.shape}")


def check_embedding(ids, W):
    """ids an int array with values in [0, V), W a float table (V, D)."""
    check_int_array(ids, "ids")
    check_float_array(W, "W")
    if W.ndim != 2:
        raise ValueError(f"W must have shape (V, D); got {W.shape}")
    check_index_range(ids, "ids", W.shape[0], what=f" for a table of {W.shape[0]} rows")


def check_layernorm(x, gamma, beta, eps):
    """x (..., D), gamma (D,), beta (D,) float arrays; eps > 0."""
    for name, value in (("x", x), ("gamma", gamma), ("beta", beta)):
        check_float_array(value, name)
    if gamma.shape != x.shape[-1:] or beta.shape != x.shape[-1:]:
        raise ValueError(f"gamma and beta must have shape ({x.shape[-1]},) to match x {x.shape}; "
                         f"got {gamma.shape} and {beta.shape}")
    check_number(eps, "eps", 0, low_open=True)


def check_cross_entropy(logits, targets, loss_mask):
    """The loss weights (...) in the logits' dtype, after checking logits (..., V), targets and loss_mask."""
    check_float_array(logits, "logits")
    check_int_array(targets, "targets")
    if logits.ndim < 1 or targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have the shape of logits without its last axis; "
                         f"got logits {logits.shape} and targets {targets.shape}")
    if not np.all(logits < np.inf):  # one pass catches both NaN and +inf
        raise ValueError("logits must not contain NaN or +inf (-inf, probability 0, is allowed)")
    check_index_range(targets, "targets", logits.shape[-1], what=f" for {logits.shape[-1]} logits")
    if loss_mask is None:
        weights = np.ones(targets.shape, dtype=logits.dtype)
    else:
        loss_mask = np.asarray(loss_mask)
        if loss_mask.shape != targets.shape:
            raise ValueError(f"loss_mask must have the shape of targets {targets.shape}; got {loss_mask.shape}")
        if not np.isin(loss_mask, (0, 1)).all():
            raise ValueError("loss_mask must hold only 0/1 or False/True")
        weights = loss_mask.astype(logits.dtype)
    if weights.sum() == 0:
        raise ValueError("loss_mask masks every position: the mean loss over no tokens is undefined")
    return weights


# --------------------------------------------------------------------------- optimizer steps (optim)

def check_params_and_grads(params, grads):
    """params and grads: dicts with the same names and, name by name, the same shapes."""
    if set(params) != set(grads):
        raise ValueError(f"params and grads must have the same names; params only: "
                         f"{sorted(set(params) - set(grads))}, grads only: {sorted(set(grads) - set(params))}")
    for name, p in params.items():
        if grads[name].shape != p.shape:
            raise ValueError(f"grads[{name!r}] has shape {grads[name].shape} but params[{name!r}] has {p.shape}")


def check_step(params, grads, lr, weight_decay, **fractions):
    """An optimizer step's params/grads, lr >= 0, weight_decay >= 0 and each of ``fractions`` in [0, 1)."""
    check_params_and_grads(params, grads)
    check_number(lr, "lr", 0)
    check_number(weight_decay, "weight_decay", 0)
    for name, value in fractions.items():
        check_number(value, name, 0, 1, high_open=True)


def check_schedule(step, max_lr, warmup_steps, total_steps, min_lr):
    """0 <= warmup_steps <= total_steps, 0 <= min_lr <= max_lr and step >= 0."""
    if not (warmup_steps >= 0 and total_steps >= warmup_steps):
        raise ValueError(f"need 0 <= warmup_steps <= total_steps; got warmup_steps={warmup_steps}, "
                         f"total_steps={total_steps}")
    if not 0 <= min_lr <= max_lr:
        raise ValueError(f"need 0 <= min_lr <= max_lr; got min_lr={min_lr}, max_lr={max_lr}")
    if step < 0:
        raise ValueError(f"step must be >= 0; got {step}")


# --------------------------------------------------------------------------- recurrent LMs (rnn)

def check_lm_dtype(dtype):
    """The np.dtype of ``dtype`` if it is float32 or float64, else TypeError (float16 overflows the loss)."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be np.float32 or np.float64; got {dtype!r}") from None
    if resolved not in (np.float32, np.float64):
        raise TypeError(f"dtype must be np.float32 or np.float64 (float16 overflows in the loss's "
                        f"sums); got {resolved}")
    return resolved


def check_rnn(x, h_prev, Wx, Wh, b, time_axis):
    """x (B, D) or (B, T, D) with T >= 1, h_prev (B, H), Wx (D, H), Wh (H, H), b (H,): ndarrays."""
    for name, value in (("x", x), ("h_prev", h_prev), ("Wx", Wx), ("Wh", Wh), ("b", b)):
        check_ndarray(value, name)
    if Wx.ndim != 2:
        raise ValueError(f"Wx must have shape (D, H); got {Wx.shape}")
    D, H = Wx.shape
    expected_x = "(B, T, D)" if time_axis else "(B, D)"
    if x.ndim != (3 if time_axis else 2) or x.shape[-1] != D:
        raise ValueError(f"x must have shape {expected_x} with D = {D} (from Wx); got {x.shape}")
    if time_axis and x.shape[1] == 0:
        raise ValueError(f"x must hold at least one time step (T >= 1); got shape {x.shape}")
    if h_prev.shape != (x.shape[0], H):
        raise ValueError(f"the hidden state must have shape (B, H) = {(x.shape[0], H)}; got {h_prev.shape}")
    if Wh.shape != (H, H) or b.shape != (H,):
        raise ValueError(f"Wh must be (H, H) and b (H,) with H = {H}; got Wh {Wh.shape}, b {b.shape}")


def check_hidden(h, shape, name, what):
    """``h`` if it is an ndarray of ``shape`` (TypeError: not an array, described by ``what``)."""
    check_ndarray(h, name, what)
    if h.shape != shape:
        raise ValueError(f"{name} must have shape {'(B, H)' if len(shape) == 2 else '(H,)'} = {shape}; got {h.shape}")
    return h


# --------------------------------------------------------------------------- decoding (generate)

def check_top_k(top_k, vocab_size=None):
    """top_k an int in 1..V (only >= 1 when ``vocab_size`` is None, before V is known)."""
    return check_int(top_k, "top_k", 1, vocab_size)


def check_top_p(top_p):
    """top_p a number in (0, 1]."""
    return check_number(top_p, "top_p", 0, 1, low_open=True)


def check_temperature(temperature):
    """temperature a finite number > 0 (0 is not greedy: greedy is its own strategy)."""
    return check_number(temperature, "temperature", 0, low_open=True, why="use strategy='greedy' for argmax")


def check_sampling(strategy, strategies, temperature, top_k, top_p, rng):
    """A decoding strategy and its warpers: sampling needs rng and takes top_k/top_p; greedy takes none."""
    check_choice(strategy, "strategy", strategies)
    if strategy == "sample":
        check_temperature(temperature)
        check_rng(rng)
        if top_k is not None:
            check_top_k(top_k)  # against V too, once the first logits are known
        if top_p is not None:
            check_top_p(top_p)
    elif top_k is not None or top_p is not None or temperature != 1.0:
        raise ValueError("strategy='greedy' takes no temperature, top_k or top_p")


def check_overflow(logits, temperature, hint="use strategy='greedy' for argmax"):
    """ValueError naming the temperature when some finite logit divided by it overflows to +-inf."""
    finite = logits[np.isfinite(logits)]
    largest = np.abs(finite).max() if finite.size else logits.dtype.type(0)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        overflows = not np.isfinite(largest / logits.dtype.type(temperature))
    if overflows:
        raise ValueError(f"temperature={temperature} is too small for these logits: the largest |logit| "
                         f"{largest:.3g} divided by it overflows ({hint})")


# --------------------------------------------------------------------------- attention (attention, bert)

def check_key_count(n_queries, n_keys):
    """n_keys >= n_queries: the queries are the last of the key positions."""
    if n_keys < n_queries:
        raise ValueError(f"n_keys must be >= n_queries; got {n_keys} < {n_queries}")


def check_slopes(slopes, n_heads=None):
    """``slopes`` as a float array (H,) of finite numbers (one ALiBi slope per head; H = n_heads if given)."""
    if n_heads is not None and np.shape(slopes) != (n_heads,):
        raise ValueError(f"slopes must hold one ALiBi slope per head, shape ({n_heads},); got shape {np.shape(slopes)}")
    try:
        array = np.asarray(slopes, dtype=float)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim != 1 or not np.all(np.isfinite(array)):
        raise ValueError("slopes must be a 1-D sequence of finite numbers, one per head")
    return array


def check_broadcasts_to_scores(array, name, q, k):
    """ValueError unless ``array`` broadcasts to the scores' shape (..., T, T_k)."""
    scores_shape = np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (q.shape[-2], k.shape[-2])
    try:
        fits = np.broadcast_shapes(np.shape(array), scores_shape) == scores_shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name} must broadcast to the scores' shape (..., T, T_k) = {scores_shape}; "
                         f"got shape {np.shape(array)}")


def check_attention(q, k, v, mask, bias):
    """q (..., T, d), k (..., T_k, d), v (..., T_k, d_v) agree; mask and bias broadcast to the scores."""
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"q (..., T, d), k (..., T_k, d), v (..., T_k, d_v) must agree; "
                         f"got {q.shape}, {k.shape}, {v.shape}")
    for name, value in (("mask", mask), ("bias", bias)):
        if value is not None:
            check_broadcasts_to_scores(value, name, q, k)


def check_heads(width, n_heads):
    """n_heads an int >= 1 that divides the width C (each head gets C / H columns)."""
    check_size(n_heads, "n_heads")
    if width % n_heads:
        raise ValueError(f"width C={width} must be divisible by n_heads={n_heads} (each head gets C/H columns)")


def check_past_kv(past_kv, batch_size, n_heads, head_size):
    """past_kv a pair (K_past, V_past) of arrays of one shape (B, H, T_past, d), B = batch_size (None: any)."""
    if not (isinstance(past_kv, (tuple, list)) and len(past_kv) == 2
            and all(isinstance(a, np.ndarray) for a in past_kv)):
        raise ValueError(f"past_kv must be a pair (K_past, V_past) of arrays; got {type(past_kv).__name__}")
    K_past, V_past = past_kv
    fits = (K_past.ndim == 4 and V_past.shape == K_past.shape
            and K_past.shape[1:2] + K_past.shape[3:] == (n_heads, head_size)
            and batch_size in (None, K_past.shape[0]))
    if not fits:
        B = "B" if batch_size is None else batch_size
        raise ValueError(f"past_kv must hold K_past and V_past of one shape (B, H, T_past, d) = "
                         f"({B}, {n_heads}, T_past, {head_size}); got {K_past.shape} and {V_past.shape}")


def check_self_attention(x, n_heads, causal, past_kv, slopes, key_mask):
    """x (B, T, C), heads dividing C, a causal-only past_kv, one slope per head, key_mask bool (B, T_past + T)."""
    if x.ndim != 3:
        raise ValueError(f"x must have shape (B, T, C); got {x.shape}")
    B, T, C = x.shape
    check_heads(C, n_heads)
    if past_kv is not None:
        if not causal:
            raise ValueError("past_kv (a KV cache) needs causal=True: bidirectional attention "
                             "would change the past positions' outputs")
        check_past_kv(past_kv, B, n_heads, C // n_heads)
    if slopes is not None:
        check_slopes(slopes, n_heads)
    n_keys = T + (0 if past_kv is None else past_kv[0].shape[2])
    if key_mask is not None and (np.shape(key_mask) != (B, n_keys) or np.asarray(key_mask).dtype != bool):
        raise ValueError(f"key_mask must be a bool array (B, T_past + T) = ({B}, {n_keys}); "
                         f"got {np.asarray(key_mask).dtype} {np.shape(key_mask)}")


def check_mask_tokens(ids, mask_id, vocab_size, rng, mask_prob):
    """BERT's corruption arguments: ids int (B, T) in [0, V), V >= 2, mask_id in [0, V), mask_prob in (0, 1]."""
    ids = check_id_array(ids)
    check_size(vocab_size, "vocab_size", 2)  # the mask token and at least one other
    check_index_range(ids, "ids", vocab_size, "vocab_size")
    if not 0 <= mask_id < vocab_size:
        raise ValueError(f"mask_id must lie in [0, vocab_size={vocab_size}); got {mask_id}")
    check_number(mask_prob, "mask_prob", 0, 1, low_open=True)
    check_rng(rng)
    return ids


# --------------------------------------------------------------------------- the GPT (transformer)

def check_past_kvs(past_kvs, n_layers, n_heads, head_size):
    """The number of cached positions T_past in ``past_kvs`` (0 for None): L pairs (K, V) with one T_past."""
    if past_kvs is None:
        return 0
    if not isinstance(past_kvs, (list, tuple)) or len(past_kvs) != n_layers:
        got = f"{len(past_kvs)} entries" if isinstance(past_kvs, (list, tuple)) else type(past_kvs).__name__
        raise ValueError(f"past_kvs must be a list of one (K, V) per block, {n_layers} entries; got {got}")
    for past_kv in past_kvs:
        check_past_kv(past_kv, None, n_heads, head_size)
    shapes = {past_kv[0].shape[:3] for past_kv in past_kvs}
    if len(shapes) != 1:
        raise ValueError(f"every block's (K, V) in past_kvs must have one (B, H, T_past); got {sorted(shapes)}")
    return shapes.pop()[2]


def check_positions(positions, shape, n_past, context_length):
    """A GPT's per-slot ``positions`` as an int array (B, T) in [0, context_length); None gives
    every row the positions n_past .. n_past + T - 1 (a read-only broadcast view)."""
    if positions is None:
        return np.broadcast_to(np.arange(n_past, n_past + shape[1]), shape)
    array = np.asarray(positions)
    if array.shape != tuple(shape):
        raise ValueError(f"positions must have the shape of ids (B, T) = {tuple(shape)}; got {array.shape}")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"positions must hold ints; got dtype {array.dtype}")
    check_index_range(array, "positions", context_length, "context_length")
    return array


def check_key_mask(key_mask, batch_size, n_keys):
    """``key_mask`` None, or a bool array (B, T_past + T) that leaves every row a visible key."""
    if key_mask is None:
        return None
    array = np.asarray(key_mask)
    if array.shape != (batch_size, n_keys) or array.dtype != bool:
        raise ValueError(f"key_mask must be a bool array (B, T_past + T) = ({batch_size}, {n_keys}); "
                         f"got {array.dtype} {array.shape}")
    empty = np.flatnonzero(~array.any(axis=1))
    if empty.size:
        raise ValueError(f"key_mask must leave every row a real key; rows {empty.tolist()} have none")
    return array


def check_context(n_positions, context_length, what="a sequence", hint=""):
    """ValueError unless ``n_positions`` (those of ``what``) fit in the context length."""
    if n_positions > context_length:
        raise ValueError(f"{what} needs {n_positions} positions, more than the context length {context_length}{hint}")


def check_decoding_state(state, n_layers, n_heads, head_size, context_length):
    """A GPT decoding state (n_seen, kvs) of one sequence, with room for one more position."""
    if not (isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], (int, np.integer))):
        raise TypeError(f"state must be the (n_seen, kvs) pair returned by start/step; got {type(state).__name__}")
    n_seen, kvs = state
    if check_past_kvs(kvs, n_layers, n_heads, head_size) != n_seen or kvs[0][0].shape[0] != 1:
        raise ValueError(f"state's KV cache must hold n_seen = {n_seen} positions of one sequence")
    if n_seen >= context_length:
        raise ValueError(f"cannot decode past the context length {context_length}")
    return state


def check_causal(causal, needed=True, why="a bidirectional model (causal=False) cannot decode left to right"):
    """ValueError (saying ``why``) unless a model's ``causal`` flag is the ``needed`` one."""
    if bool(causal) != needed:
        raise ValueError(why)


# --------------------------------------------------------------------------- scaling laws, fine-tuning (scaling, transfer)

def check_fit_data(n_params, losses):
    """(N, L) as 1-D float arrays of one length, positive and finite, with at least 3 distinct N."""
    N = check_positive_array(n_params, "n_params")
    L = check_positive_array(losses, "losses")
    if N.ndim != 1 or L.ndim != 1 or N.shape != L.shape:
        raise ValueError(f"n_params and losses must be 1-D of one length; got shapes {N.shape} and {L.shape}")
    if len(np.unique(N)) < 3:
        raise ValueError(f"n_params must hold at least 3 distinct sizes to determine the 3 parameters "
                         f"E, A, alpha; got {len(np.unique(N))} distinct in {N.tolist()}")
    return N, L


def check_power_law(E, A, alpha):
    """The law's E >= 0, A > 0 and alpha > 0, as floats (alpha <= 0 would not fall with N)."""
    return (check_number(E, "E", 0, why="the irreducible loss"), check_number(A, "A", 0, low_open=True),
            check_number(alpha, "alpha", 0, low_open=True, why="the loss must fall with N"))


def check_param_names(names, params):
    """``names``: a non-empty list of keys of ``params``."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise TypeError(f"names must be a list of parameter names; got {names!r:.60}")
    unknown = [name for name in names if name not in params]
    if unknown or not names:
        raise ValueError(f"names must be a non-empty list of the model's parameter names; unknown: {unknown}")
    return names


# --------------------------------------------------------------------------- batched decoding, prompting (batched, prompting)

def check_batch_decoding(model, n_prompt, max_new_tokens, temperature, greedy, rng):
    """generate_batch's model (causal), the positions it needs, and greedy or temperature and rng."""
    check_causal(model.causal, why="generate_batch needs a causal model; a bidirectional one (causal=False) "
                                   "cannot decode left to right")
    check_int(max_new_tokens, "max_new_tokens", 0)
    n_slots = n_prompt + max(max_new_tokens - 1, 0)  # the last new token is never fed back
    N = model.context_length
    if n_slots > N:
        raise ValueError(f"the longest prompt ({n_prompt} tokens) + max_new_tokens ({max_new_tokens}) "
                         f"- 1 needs {n_slots} positions, over the context length {N} by {n_slots - N}")
    if greedy:
        if temperature != 1.0:
            raise ValueError(f"greedy=True takes no temperature (argmax); got temperature={temperature}")
    else:
        check_temperature(temperature)
        check_rng(rng)


class CheckedDecoder:
    """What a decoding loop sees of a GPT: its ``forward``, which refuses the logits a decoder
    would turn into junk tokens (NaN, +inf, a row all -inf, or an overflow when divided by the
    temperature), naming ``where``; and the model's sizes (``vocab_size``, ``context_length``,
    ``n_layers``, ``width``, ``dtype``, ``causal``, ``params``, ``config``, where it has them)."""

    def __init__(self, model, temperature, where):
        self.model, self.temperature, self.where = model, temperature, where
        self.vocab_size, self.context_length = model.vocab_size, model.context_length
        self.causal = model.causal if hasattr(model, "causal") else True
        self.dtype = model.dtype if hasattr(model, "dtype") else np.float64
        self.n_layers = model.n_layers if hasattr(model, "n_layers") else None
        self.width = model.width if hasattr(model, "width") else None
        self.params = model.params if hasattr(model, "params") else None
        self.config = model.config if hasattr(model, "config") else None

    def forward(self, *args, **kwargs):
        logits, cache = self.model.forward(*args, **kwargs)
        last = np.asarray(logits)[:, -1]
        try:
            check_logits(last, "the model's logits", rows=True)
            check_overflow(last, self.temperature, hint="use greedy=True for argmax")
        except (TypeError, ValueError) as err:
            raise type(err)(f"{self.where}: {err}") from None
        return logits, cache


def check_decoding_model(model, temperature, greedy, where="generate_batch"):
    """ValueError, before any step, when the model's parameters hold NaN or inf (every logit
    would be NaN: a policy gone wrong), or when sampling at ``temperature`` would overflow the
    model's float type (1 / temperature not finite, as np.float32(1e-40) is in float32)."""
    params = model.params if hasattr(model, "params") and isinstance(model.params, dict) else {}
    for name, value in params.items():
        if not np.isfinite(value).all():
            raise ValueError(f"{where}: the model's parameters hold NaN or inf (params[{name!r}]), so its logits "
                             f"would be NaN; a policy gone wrong is not sampled from")
    if not greedy:
        dtype = np.dtype(model.dtype) if hasattr(model, "dtype") else np.dtype(np.float64)
        with np.errstate(over="ignore", divide="ignore", under="ignore"):
            overflows = not np.isfinite(dtype.type(1) / dtype.type(temperature))
        if overflows:
            raise ValueError(f"temperature={temperature!r} is too small for the model's {dtype} logits: "
                             f"1 / temperature overflows (use greedy=True for argmax)")
    return CheckedDecoder(model, temperature, where)


def check_same_length(first, second, first_name, second_name):
    """ValueError unless ``first`` and ``second`` are two non-empty lists of one length."""
    if len(first) != len(second) or not second:
        raise ValueError(f"{first_name} and {second_name} must be two non-empty lists of one length; "
                         f"got {len(first)} and {len(second)}")


def check_word_pair(pair, name):
    """``pair`` as a tuple of two word strings (a string is not a pair: "ab" is one word)."""
    if isinstance(pair, str) or not isinstance(pair, (list, tuple, np.ndarray)) or len(pair) != 2 \
            or not all(isinstance(word, str) for word in pair):
        raise TypeError(f"{name} must be a pair of two word strings, e.g. ('cat', 'dog'); got {pair!r:.60}")
    return tuple(pair)


def check_prompt_parts(demos, query, task_name):
    """build_prompt's demos (a list of (input pair, output pair)), query (a pair) and task_name (None or a word)."""
    if isinstance(demos, str) or not isinstance(demos, (list, tuple)):
        raise TypeError(f"demos must be a list of (input pair, output pair) examples; got {demos!r:.60}")
    for i, demo in enumerate(demos):
        if not isinstance(demo, (list, tuple)) or len(demo) != 2:
            raise TypeError(f"demos[{i}] must be an (input pair, output pair) example; got {demo!r:.60}")
        check_word_pair(demo[0], f"demos[{i}][0]")
        check_word_pair(demo[1], f"demos[{i}][1]")
    check_word_pair(query, "query")
    if task_name is not None and (not isinstance(task_name, str) or not task_name or task_name.split() != [task_name]):
        raise TypeError(f"task_name must be None or one word (a string without spaces); got {task_name!r}")


def check_queries(queries):
    """``queries``: a list of input pairs (not one string)."""
    if isinstance(queries, str) or not isinstance(queries, (list, tuple)):
        raise TypeError(f"queries must be a list of input pairs, e.g. [('cat', 'dog')]; got {queries!r:.60}")
    return queries


def check_word_prompts(prompts):
    """``prompts``: a non-empty list of prompts, each a list of word strings (not one string)."""
    if isinstance(prompts, str) or not isinstance(prompts, (list, tuple)):
        raise TypeError(f"prompts must be a list of prompts (lists of words); got {prompts!r:.60}")
    if not prompts:
        raise ValueError("prompts must hold at least one prompt; got an empty list")
    for i, words in enumerate(prompts):
        if isinstance(words, str) or not isinstance(words, (list, tuple)):
            raise TypeError(f"prompts[{i}] must be a list of words, not one string (use text.split()); "
                            f"got {words!r:.60}")


def check_answers(answers, golds):
    """answers and golds: two non-empty lists of one length, each entry a sequence of word strings."""
    for name, values in (("answers", answers), ("golds", golds)):
        if isinstance(values, (str, np.ndarray)) or not isinstance(values, (list, tuple)):
            raise TypeError(f"{name} must be a list of word tuples; got {type(values).__name__}")
    check_same_length(answers, golds, "answers", "golds")
    for name, values in (("answers", answers), ("golds", golds)):
        for i, words in enumerate(values):
            if isinstance(words, str) or not isinstance(words, (list, tuple)) \
                    or not all(isinstance(word, str) for word in words):
                raise TypeError(f"{name}[{i}] must be a tuple of word strings, e.g. ('cat', 'dog'), not "
                                f"one string; got {words!r:.60}")


# --------------------------------------------------------------------------- SFT pairs (sft)

def check_sft_pairs(prompts_ids, responses_ids, pad_id, eos_id, context_length):
    """The pairs as two lists of int64 arrays: one non-empty response per non-empty prompt, each
    response ending with ``eos_id``, no ``pad_id`` inside, pad_id != eos_id, P + R - 1 <= context_length."""
    check_int(context_length, "context_length", 1)
    pad_id = check_token_id(pad_id, np.inf, "pad_id")
    eos_id = check_token_id(eos_id, np.inf, "eos_id")
    if pad_id == eos_id:
        raise ValueError(f"pad_id and eos_id must differ (the EOS is a target, padding never is); both are {pad_id}")
    prompts = check_prompt_list(prompts_ids, "prompts_ids")
    responses = check_prompt_list(responses_ids, "responses_ids", allow_empty=True)
    if len(prompts) != len(responses):
        raise ValueError(f"prompts_ids and responses_ids must hold one response per prompt; "
                         f"got {len(prompts)} prompts and {len(responses)} responses")
    for b, (prompt, response) in enumerate(zip(prompts, responses)):
        if response.size == 0:
            raise ValueError(f"responses_ids[{b}] is empty: a response needs at least its eos_id {eos_id}")
        if response[-1] != eos_id:
            raise ValueError(f"responses_ids[{b}] must end with eos_id {eos_id} (a demonstration shows "
                             f"where to stop); it ends with {response[-1]}")
        for name, seq in (("prompts_ids", prompt), ("responses_ids", response)):
            if np.any(seq == pad_id):
                raise ValueError(f"{name}[{b}] contains pad_id {pad_id}: padding only fills a batch")
        n_inputs = len(prompt) + len(response) - 1
        if n_inputs > context_length:
            raise ValueError(f"pair {b}: prompt ({len(prompt)}) + response ({len(response)}) - 1 = {n_inputs} "
                             f"positions is longer than context_length {context_length}")
    return prompts, responses


# --------------------------------------------------------------------------- rankings and rewards (reward)

def check_scores(scores, name="scores"):
    """``scores`` as float64 (P, K), K >= 2, all finite: K rewards per prompt."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (P, K), one row of K rewards per prompt; got shape {array.shape}")
    if array.shape[1] < 2:
        raise ValueError(f"{name}: a ranking needs K >= 2 responses per prompt; got K = {array.shape[1]}")
    if not np.isfinite(array).all():
        where = [tuple(int(j) for j in i) for i in np.argwhere(~np.isfinite(array))[:3]]
        raise ValueError(f"{name} contains NaN or inf at {where}: a reward must be a finite number")
    return array


def check_rankings(rankings, shape):
    """``rankings`` as int64 ``shape`` (P, K), each row a permutation of 0 .. K-1 (best first)."""
    array = np.asarray(rankings)
    if array.shape != shape:
        raise ValueError(f"rankings must have the shape of the scores (P, K) = {shape}; got {array.shape}")
    if array.size and (array.dtype == bool or not np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"rankings must hold int response indices; got dtype {array.dtype}")
    K = shape[1]
    bad = np.flatnonzero((np.sort(array, axis=1) != np.arange(K)).any(axis=1))
    if bad.size:
        raise ValueError(f"rankings[{bad[0]}] = {array[bad[0]].tolist()} is not a permutation of 0..{K - 1}")
    return array.astype(np.int64)


def check_scores_and_rankings(scores, rankings):
    """(scores float64 (P, K), rankings int64 (P, K)): ``check_scores`` then ``check_rankings``."""
    scores = check_scores(scores)
    return scores, check_rankings(rankings, scores.shape)


def check_backbone(base):
    """``base`` if it looks like a causal GPT (params and forward_hidden, causal=True)."""
    if not (hasattr(base, "params") and isinstance(base.params, dict) and hasattr(base, "forward_hidden")):
        raise TypeError(f"base must be a GPT (with params and forward_hidden); got {type(base).__name__}")
    check_causal(base.causal if hasattr(base, "causal") else True, why="base must be a causal GPT (causal=True): a bidirectional "
                                                    "one lets the last real token see the padding after it, so "
                                                    "right padding would change the scores")
    return base


def check_affine(gain, bias):
    """(gain, bias) as floats: gain finite and > 0 (a negative gain would flip the ranking), bias finite."""
    return (check_number(gain, "gain", 0, low_open=True, why="a scale of the rewards"),
            check_number(bias, "bias"))


def check_lengths(lengths, ids):
    """``lengths`` as int64 (B,), each in 1 .. T: the real tokens of each row of ``ids`` (B, T)."""
    ids = np.asarray(ids)
    array = np.asarray(lengths)
    if ids.ndim != 2 or array.shape != ids.shape[:1]:
        raise ValueError(f"lengths must have shape (B,) for ids (B, T); got lengths {array.shape}, ids {ids.shape}")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"lengths must hold ints; got dtype {array.dtype}")
    if array.min() < 1 or array.max() > ids.shape[1]:
        raise ValueError(f"lengths must lie in 1..T = 1..{ids.shape[1]}; got values from {array.min()} to {array.max()}")
    return array.astype(np.int64)


def check_groups(ids, lengths):
    """(ids (P, K, T), lengths (P, K)) as arrays: P ranked groups of K sequences."""
    ids, lengths = np.asarray(ids), np.asarray(lengths)
    if ids.ndim != 3 or lengths.shape != ids.shape[:2]:
        raise ValueError(f"ids must be (P, K, T) and lengths (P, K); got {ids.shape} and {lengths.shape}")
    return ids, lengths


def check_spread(scores):
    """``scores`` as a flat float64 array of at least two finite values that are not all equal."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size < 2 or not np.isfinite(scores).all():
        raise ValueError(f"scores must hold at least two rewards, all finite (no NaN or inf); got {scores.size} "
                         f"values, {int((~np.isfinite(scores)).sum())} not finite")
    if not np.ptp(scores) > 0:
        raise ValueError("scores are all equal (std 0): no scale can give them std 1")
    return scores


# --------------------------------------------------------------------------- RLHF, PPO, DPO (rlhf, ppo, dpo)

def check_beta(beta, positive=False):
    """The KL coefficient beta as a float, finite and >= 0 (> 0 if ``positive``: DPO and the
    adaptive controller, for which beta = 0 learns nothing or stays 0 forever)."""
    return check_number(beta, "beta", 0, low_open=positive, why="the KL penalty's weight")


def check_clip(eps, name="clip_eps"):
    """A clip range as a float in (0, 1)."""
    return check_number(eps, name, 0, 1, low_open=True, high_open=True)


def check_row_values(values, name, logprobs):
    """``values`` as finite float64 (B,), one per row of ``logprobs`` (B, T)."""
    values = check_finite(values, name)
    if np.ndim(logprobs) != 2 or values.shape != np.shape(logprobs)[:1]:
        raise ValueError(f"{name} must have shape (B,) for logprobs (B, T) {np.shape(logprobs)}; got {values.shape}")
    return values


def check_token_logits(logits, tokens, mask, temperature):
    """(logits (B, T, V) float, no NaN or +inf, tokens (B, T) ints in [0, V), response mask (B, T))
    as arrays; temperature > 0 and small enough that logits / temperature stays finite."""
    logits, tokens = np.asarray(logits), np.asarray(tokens)
    if logits.ndim != 3 or tokens.shape != logits.shape[:2]:
        raise ValueError(f"logits must be (B, T, V) and tokens (B, T); got {logits.shape} and {tokens.shape}")
    check_logits(logits)
    if tokens.dtype == bool or not np.issubdtype(tokens.dtype, np.integer):
        raise TypeError(f"tokens must hold token ids (ints); got dtype {tokens.dtype}")
    check_index_range(tokens, "tokens", logits.shape[2], "V")
    check_temperature(temperature)
    check_overflow(logits, temperature, hint="a smaller temperature needs larger-range logits")
    return logits, tokens, check_response_mask(mask, tokens.shape)


def check_logprob_array(logprobs, name="logprobs"):
    """``logprobs`` as a float array (B, T), all finite, in its own dtype."""
    array = np.asarray(logprobs)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be a float array (B, T); got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be (B, T); got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf: every entry must be a finite number")
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


def check_token_arrays(mask, first_name, first, zero_masked=False, **others):
    """(first, *others, mask): finite float64 arrays (B, T) of one shape, and the response mask;
    ``zero_masked``: the arrays are 0 at masked positions (whatever was there, never exp'ed)."""
    first = check_finite(first, first_name)
    if first.ndim != 2:
        raise ValueError(f"{first_name} must be (B, T); got shape {first.shape}")
    arrays = (first, *check_same_shape(first_name, first, **others))
    mask = check_response_mask(mask, first.shape, of=first_name)
    if zero_masked:
        arrays = tuple(np.where(mask, array, 0.0) for array in arrays)
    return (*arrays, mask)


def check_rloo_returns(returns):
    """``returns`` as finite float64 (P, K) with K >= 2 samples per prompt (a leave-one-out baseline)."""
    returns = check_finite(returns, "returns")
    if returns.ndim != 2 or returns.shape[1] < 2 or returns.shape[0] < 1:
        raise ValueError(f"returns must be (P, K) with K >= 2 samples per prompt (a leave-one-out "
                         f"baseline needs another sample); got shape {returns.shape}")
    return returns


def check_kl_control(beta, kl, target, n_samples, horizon):
    """(beta, kl) as floats for the adaptive KL controller: beta > 0 (from 0 it would stay 0),
    kl finite, target and horizon > 0, n_samples an int >= 0."""
    check_number(target, "target", 0, low_open=True, why="the KL per response to aim for")
    check_number(horizon, "horizon", 0, low_open=True, why="in samples")
    check_int(n_samples, "n_samples", 0)
    return check_beta(beta, positive=True), check_number(kl, "kl")


def check_grad_mix(policy_loss, policy_grads, lm_loss, lm_grads, gamma):
    """gamma finite and >= 0, the two losses finite numbers; the two gradient dicts name the
    same parameters, name by name of one shape."""
    check_number(gamma, "gamma", 0, why="the pretraining term's weight")
    check_number(policy_loss, "policy_loss")
    check_number(lm_loss, "lm_loss")
    for name, grads in (("policy_grads", policy_grads), ("lm_grads", lm_grads)):
        if not isinstance(grads, dict):
            raise TypeError(f"{name} must be a dict of gradient arrays; got {type(grads).__name__}")
    if set(policy_grads) != set(lm_grads):
        raise ValueError(f"policy_grads and lm_grads must name the same parameters; they differ in "
                         f"{sorted(set(policy_grads) ^ set(lm_grads))}")
    for name in policy_grads:
        if np.shape(policy_grads[name]) != np.shape(lm_grads[name]):
            raise ValueError(f"lm_grads[{name!r}] has shape {np.shape(lm_grads[name])} but policy_grads[{name!r}] "
                             f"has {np.shape(policy_grads[name])}")


def check_value_head(model, head):
    """ValueError unless ``head`` is {"w": (C,), "b": ()} for the GPT ``model``."""
    if not (isinstance(head, dict) and set(head) == {"w", "b"} and np.shape(head["w"]) == (model.width,)
            and np.shape(head["b"]) == ()):
        raise ValueError(f"head must be {{'w': (C,) = ({model.width},), 'b': ()}}, as value_head_init gives it")
    return head


def check_response_model(model, ids, tokens, where="response_forward"):
    """A causal GPT ``model`` and (ids (B, P), tokens (B, T)) int arrays with one B, ids in [0, V)."""
    check_causal(model.causal if hasattr(model, "causal") else True, why=f"{where} needs a causal model (causal=True): with a "
                                                      f"bidirectional one (causal=False) a response position sees "
                                                      f"the tokens after it, and padding changes the result")
    tokens = check_response_tokens(tokens)
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.shape[0] != tokens.shape[0]:
        raise ValueError(f"ids must be (B, P) with the B = {tokens.shape[0]} rows of tokens; got {ids.shape}")
    if ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"ids must hold token ids (ints); got dtype {ids.dtype}")
    vocab_size = model.vocab_size if hasattr(model, "vocab_size") else None
    if vocab_size is not None:
        check_index_range(ids, "ids", vocab_size, "vocab_size")
        check_index_range(tokens, "tokens", vocab_size, "vocab_size")
    return ids, tokens


def check_policy_value(model, head, ids, tokens):
    """(ids (B, P), tokens (B, T)) as arrays with one B, a causal model, and its value head."""
    ids, tokens = check_response_model(model, ids, tokens, "policy_value_forward")
    check_value_head(model, head)
    return ids, tokens


def check_head_grads(model, head, dlogits, dvalues):
    """(dlogits (B, T, V), dvalues (B, T)) in the model's dtype, and the value head of ``model``."""
    check_value_head(model, head)
    dlogits, dvalues = np.asarray(dlogits, dtype=model.dtype), np.asarray(dvalues, dtype=model.dtype)
    if dlogits.ndim != 3 or dlogits.shape[2] != model.vocab_size or dvalues.shape != dlogits.shape[:2]:
        raise ValueError(f"dlogits must be (B, T, V = {model.vocab_size}) and dvalues (B, T); got {dlogits.shape} "
                         f"and {dvalues.shape}")
    return dlogits, dvalues


def check_sequence_logprobs(first_name, first, **others):
    """``first`` and ``others`` as finite float64 (n,), n >= 1, of one shape (one per pair)."""
    first = check_finite(first, first_name)
    if first.ndim != 1 or first.size == 0:
        raise ValueError(f"{first_name} must be (n,), one sequence log-probability per pair; got shape {first.shape}")
    return (first, *check_same_shape(first_name, first, **others))
