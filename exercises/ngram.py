"""Count-based n-gram language models: count, divide, smooth.

The lecture's autoregressive factorisation, p(x_1..x_I) = prod_i p(x_i | x_{1:i-1}), with
the n-gram (Markov) assumption that the next token depends only on the previous n-1:

    p(x_1..x_I) = prod_i p(x_i | x_{i-n+1:i-1})                          (unigram: p(x_i))

Maximum likelihood is "count the frequency and divide":

    p_MLE(x_i | x_{i-n+1:i-1}) = c(x_{i-n+1:i}) / c(x_{i-n+1:i-1})

Shapes: N scored positions (n-grams), n the model order, k an order 1..n, V the vocabulary
size (specials included). An n-gram is a row of n token ids, the last one predicted.

Conventions (the DESIGN document's, and choices where sources disagree)
----------------------------------------------------------------------
* A sentence is padded with n-1 ``<s>`` and one ``</s>``; every word and the ``</s>`` are
  predicted, ``<s>`` never is. Perplexity = exp(mean negative log-likelihood over those
  predicted tokens), ``</s>`` included. Logs are natural.
* The outcomes of a prediction are the V' = V - 1 ids other than ``<s>`` (``<unk>`` and
  ``</s>`` included), so add-k adds k to V' counts and every distribution gives ``<s>``
  probability 0 and sums to 1 over the V ids.
* c(context) is the number of times the context is *followed by a predicted token*, i.e.
  sum_w c(context, w) — the denominator that makes each conditional sum to 1.
* Lower orders are counted on the same padded stream, so the bigram level of a trigram
  model sees the context ``<s>`` at sentence starts (the windows never cross sentences).
* An unseen context has no MLE; every estimator then uses the next lower order (down to the
  unigram, whose empty context is always seen). Add-k on an unseen context is uniform.
* Interpolation mixes orders 0..n with weights lambda_0..lambda_n (order 0 = uniform over
  the V' outcomes, so an unseen word, e.g. ``<unk>``, never gets probability 0):
  p(w | h) = sum_k lambda_k q_k(w | h), q_k the MLE of order k (lower order if unseen).
  Weights are given, or fitted on held-out data by EM (mixture weights maximising the
  held-out likelihood).
* Interpolated Kneser-Ney with one discount D (0.75 by default), recursively from the
  uniform distribution up:
      p_k(w | h) = [max(c_k(h w) - D, 0) + D * N1+(h .) * p_{k-1}(w | h')] / sum_w c_k(h w)
  with c_n the raw counts and, for k < n, c_k(h w) = N1+(. h w) the continuation count (the
  number of distinct words seen before h w); p_0 uniform over V'; an unseen h gives
  p_k = p_{k-1}. Left out: modified KN (three discounts), per-order discounts, and the
  KenLM rule that keeps raw counts for grams starting with ``<s>``.
* n-grams are stored as int64 keys: the base-V number of their ids (first id most
  significant), sorted, so counting is np.unique and lookup is np.searchsorted.

Graded (in lecture order; later ones build on earlier ones):
``ngram_windows``, ``count_ngrams`` -> ``mle_probs_by_order`` -> ``add_k_probs`` ->
``interpolated_probs``, ``fit_interpolation_weights`` -> ``continuation_counts``,
``kneser_ney_probs`` -> ``NGramLM.token_logprobs``, ``NGramLM.perplexity`` ->
``NGramLM.sample``. Plumbing (not graded): ``Vocab``, ``encode_keys``, ``CountTable``,
``pad_corpus``, and the rest of ``NGramLM`` (fitting glue, ``prob``,
``next_token_probs``, and the decoding protocol ``start``/``step`` of ``generate``).
"""

import math
import warnings
from collections import Counter
from itertools import chain

import numpy as np

from ._checks import (check_int, check_ngram_fit, check_ngram_options, check_order_probs, check_rng, check_sentences,
                      check_size, check_token_id, check_word, check_words)

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
SMOOTHINGS = ("mle", "add_k", "interpolation", "kneser_ney")


class Vocab:
    """Words <-> ids. Ids 0, 1, 2 are ``<unk>``, ``<s>``, ``</s>``; then words by count.

    Words seen fewer than ``min_count`` times in ``sentences`` are left out and encode to
    ``<unk>``, like any unseen word. Words are ordered by decreasing count, ties
    alphabetically, so the ids are deterministic.
    """

    def __init__(self, sentences, min_count=1):
        check_sentences(sentences, reserved=(BOS, EOS))
        check_size(min_count, "min_count")
        counts = Counter(chain.from_iterable(sentences))
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        self.words = [UNK, BOS, EOS] + kept
        self.index = {w: i for i, w in enumerate(self.words)}
        self.unk_id, self.bos_id, self.eos_id = 0, 1, 2

    def __len__(self):
        return len(self.words)

    def encode(self, tokens):
        """int64 ids (T,) of a list of words; unknown words map to ``<unk>``."""
        get, unk = self.index.get, self.unk_id
        return np.array([get(token, unk) for token in tokens], dtype=np.int64)

    def decode(self, ids):
        """The words of a sequence of ids."""
        return [self.words[i] for i in np.asarray(ids, dtype=np.int64).ravel()]


def pad_corpus(sentences, vocab, n):
    """One int64 stream (L,): each sentence as n-1 ``<s>``, its word ids, one ``</s>``."""
    check_sentences(sentences, reserved=(BOS, EOS))
    padding = [BOS] * (n - 1)
    pieces = []
    for sentence in sentences:
        pieces += padding
        pieces += sentence
        pieces.append(EOS)
    return vocab.encode(pieces)


def encode_keys(grams, vocab_size):
    """int64 key (N,) of each row of ``grams`` (N, k): sum_j grams[:, j] * V**(k-1-j)."""
    grams = np.asarray(grams, dtype=np.int64)
    powers = vocab_size ** np.arange(grams.shape[-1] - 1, -1, -1, dtype=np.int64)  # (k,)
    return grams @ powers


def lookup(sorted_keys, query):
    """(position, found) of each ``query`` key in ``sorted_keys`` (non-empty), by binary search."""
    pos = np.minimum(np.searchsorted(sorted_keys, query), len(sorted_keys) - 1)
    return pos, sorted_keys[pos] == query


class CountTable:
    """Counts of k-grams (``keys`` sorted, ``counts``) grouped by their (k-1)-gram context.

    ``count(grams)`` gives c(h w) for rows (N, k); ``context(grams)`` gives, for the context h
    of each row, the total sum_w c(h w) and the number of distinct followers N1+(h .).
    """

    def __init__(self, order, keys, counts, vocab_size):
        self.order, self.vocab_size = order, vocab_size
        self.keys, self.counts = np.asarray(keys, np.int64), np.asarray(counts, np.int64)
        # keys are sorted, so keys // V (the context's key) is sorted too: groups are runs.
        context_keys, starts = np.unique(self.keys // vocab_size, return_index=True)
        self.context_keys = context_keys
        self.context_totals = np.add.reduceat(self.counts, starts)
        self.context_types = np.diff(np.append(starts, len(self.keys)))

    def count(self, grams):
        """c(h w) for each row of ``grams`` (N, k): 0 for an unseen k-gram."""
        pos, found = lookup(self.keys, encode_keys(grams, self.vocab_size))
        return np.where(found, self.counts[pos], 0)

    def context(self, grams):
        """(sum_w c(h w), N1+(h .)) for the context h = grams[:, :-1] of each row; 0 if unseen."""
        pos, found = lookup(self.context_keys, encode_keys(grams[:, :-1], self.vocab_size))
        return np.where(found, self.context_totals[pos], 0), np.where(found, self.context_types[pos], 0)


# -- counting -----------------------------------------------------------------------------


def ngram_windows(stream, order, bos_id):
    """The n-grams of a padded stream: rows (N, order), one per predicted position.

    Every position whose token is not ``<s>`` is predicted; its row is the ``order`` tokens
    ending there. Padding with at least order-1 ``<s>`` keeps every window in its sentence.
    No Python loop over tokens.
    """
    # TODO: np.flatnonzero(stream != bos_id) gives the targets; add np.arange(1 - order, 1)
    raise NotImplementedError("ngram_windows: not implemented yet")


def count_ngrams(stream, order, vocab_size, bos_id):
    """(keys, counts): the sorted distinct ``order``-gram keys of ``stream`` and their counts."""
    # TODO: encode_keys on the windows, then np.unique(..., return_counts=True)
    raise NotImplementedError("count_ngrams: not implemented yet")


# -- estimators: each maps n-grams (N, n) to probabilities (N,) ---------------------------


def mle_probs_by_order(tables, grams, n_outcomes):
    """q (N, n+1): q[:, 0] = 1/V' (uniform), q[:, k] = c(h_k w) / c(h_k) for k = 1..n.

    ``tables[k]`` is the :class:`CountTable` of order k (``tables[0]`` unused); h_k is the
    last k-1 ids before w. An unseen context h_k (c(h_k) = 0) takes the lower order:
    q[:, k] = q[:, k-1]. Column n is the MLE model.
    """
    # TODO: implement mle_probs_by_order (see the docstring)
    raise NotImplementedError("mle_probs_by_order: not implemented yet")


def add_k_probs(table, grams, k, n_outcomes):
    """(c(h w) + k) / (c(h) + k V'), for the order-n ``table`` and rows ``grams`` (N, n)."""
    # TODO: implement add_k_probs (see the docstring)
    raise NotImplementedError("add_k_probs: not implemented yet")


def interpolated_probs(tables, grams, weights, n_outcomes):
    """sum_k lambda_k q_k(w | h): ``mle_probs_by_order`` mixed with ``weights`` (n+1,)."""
    # TODO: implement interpolated_probs (see the docstring)
    raise NotImplementedError("interpolated_probs: not implemented yet")


def fit_interpolation_weights(q, tol=1e-7, max_iter=10_000):
    """Mixture weights (n+1,) maximising sum_t log sum_k lambda_k q[t, k], by EM.

    E-step: responsibility r[t, k] = lambda_k q[t, k] / sum_j lambda_j q[t, j]; M-step:
    lambda_k = mean_t r[t, k]. Starts uniform; each step cannot lower the likelihood.
    Stops when no weight moves more than ``tol``; raises RuntimeError after ``max_iter``.
    """
    q = check_order_probs(q)
    # TODO: implement fit_interpolation_weights (see the docstring)
    raise NotImplementedError("fit_interpolation_weights: not implemented yet")


def continuation_counts(higher, vocab_size):
    """Continuation counts of order k from the order-(k+1) :class:`CountTable` ``higher``.

    N1+(. g) = number of distinct words seen before the k-gram g = number of distinct
    (k+1)-grams whose last k ids are g. Returns a :class:`CountTable` of order k.
    """
    # TODO: the last k ids of a key are key % V**k; each (k+1)-gram key is distinct
    raise NotImplementedError("continuation_counts: not implemented yet")


def kneser_ney_probs(tables, grams, discount, n_outcomes):
    """Interpolated Kneser-Ney p_n(w | h) for rows ``grams`` (N, n) (module docstring).

    ``tables[k]`` holds the counts used at order k: continuation counts for k < n, raw
    counts for k = n. Recursion from p_0 = 1/V' upward; an unseen context keeps p_{k-1}.
    """
    # TODO: implement kneser_ney_probs (see the docstring)
    raise NotImplementedError("kneser_ney_probs: not implemented yet")


# -- the model ----------------------------------------------------------------------------


class NGramLM:
    """An order-n language model: ``NGramLM(n, smoothing).fit(sentences)``.

    smoothing: "mle"; "add_k" (``k`` > 0, Laplace when k = 1); "interpolation" (``weights``
    lambda_0..lambda_n, or fitted by EM on ``fit(..., heldout=...)``); "kneser_ney"
    (``discount`` in (0, 1)). Contexts given to ``prob``/``next_token_probs`` are the words
    so far in the sentence (any length; the last n-1 are used, ``<s>``-padded on the left).
    """

    def __init__(self, n, smoothing="kneser_ney", *, k=1.0, weights=None, discount=0.75):
        weights = check_ngram_options(n, smoothing, SMOOTHINGS, k, weights, discount)
        self.n, self.smoothing, self.k, self.discount = int(n), smoothing, float(k), float(discount)
        self.given_weights, self.weights, self.vocab = weights, weights, None

    def fit(self, sentences, vocab=None, min_count=1, heldout=None):
        """Count orders 1..n on ``sentences`` (building a :class:`Vocab` unless given)."""
        check_sentences(sentences, reserved=(BOS, EOS))
        check_ngram_fit(vocab, Vocab, self.smoothing == "interpolation" and self.given_weights is None, heldout)
        self.vocab = Vocab(sentences, min_count) if vocab is None else vocab
        V, bos = len(self.vocab), self.vocab.bos_id
        if V ** self.n >= 2**62:
            raise ValueError(f"V ** n = {V}**{self.n} overflows the int64 n-gram keys")
        self.n_outcomes = V - 1  # every id but <s>
        stream = pad_corpus(sentences, self.vocab, self.n)
        self.tables = [None] + [CountTable(k, *count_ngrams(stream, k, V, bos), V) for k in range(1, self.n + 1)]
        if self.smoothing == "kneser_ney":
            self.kn_tables = list(self.tables)
            for k in range(self.n - 1, 0, -1):  # continuation counts of the lower orders
                self.kn_tables[k] = continuation_counts(self.tables[k + 1], V)
        if self.smoothing == "interpolation" and self.given_weights is None:
            q = mle_probs_by_order(self.tables, self.grams_of(heldout), self.n_outcomes)
            self.weights = fit_interpolation_weights(q)
        return self

    def grams_of(self, sentences):
        """The n-grams (N, n) scored for ``sentences``: every word and one ``</s>`` each."""
        self._check_fitted()
        return ngram_windows(pad_corpus(sentences, self.vocab, self.n), self.n, self.vocab.bos_id)

    def probs(self, grams):
        """p(w | h) (N,) for rows ``grams`` (N, n) under this model's smoothing."""
        self._check_fitted()
        grams = np.asarray(grams, dtype=np.int64)
        if self.smoothing == "mle":
            p = mle_probs_by_order(self.tables, grams, self.n_outcomes)[:, -1]
        elif self.smoothing == "add_k":
            p = add_k_probs(self.tables[self.n], grams, self.k, self.n_outcomes)
        elif self.smoothing == "interpolation":
            p = interpolated_probs(self.tables, grams, self.weights, self.n_outcomes)
        else:
            p = kneser_ney_probs(self.kn_tables, grams, self.discount, self.n_outcomes)
        return np.where(grams[:, -1] == self.vocab.bos_id, 0.0, p)  # <s> is never predicted

    def check_id(self, token_id, name):
        """``token_id`` as an int, or TypeError/ValueError naming ``name`` unless 0 <= id < V."""
        self._check_fitted()
        return check_token_id(token_id, len(self.vocab), name)

    def context_ids(self, context, name="context"):
        """The last n-1 ids of a context of words (or ids), ``<s>``-padded on the left."""
        self._check_fitted()
        check_words(context, name)
        ids = [self.vocab.index.get(c, self.vocab.unk_id) if isinstance(c, str) else self.check_id(c, name)
               for c in context]
        padded = [self.vocab.bos_id] * (self.n - 1) + ids
        return padded[len(padded) - (self.n - 1):]

    def prob(self, word, context=()):
        """p(word | context) as a float."""
        check_word(word)
        gram = self.context_ids(context) + [self.vocab.index.get(word, self.vocab.unk_id)]
        return float(self.probs(np.array([gram]))[0])

    def next_token_probs(self, context=()):
        """p(. | context) (V,) over every id (``<s>`` gets 0); sums to 1."""
        context_ids = np.array(self.context_ids(context), dtype=np.int64)
        V = len(self.vocab)
        grams = np.column_stack([np.tile(context_ids, (V, 1)), np.arange(V)])  # (V, n)
        return self.probs(grams)

    def token_logprobs(self, sentences):
        """log p of every predicted token (N,) of ``sentences``, in order, ``</s>`` included."""
        # TODO: implement NGramLM.token_logprobs (see the docstring)
        raise NotImplementedError("NGramLM.token_logprobs: not implemented yet")

    def logprob(self, sentence):
        """log p(sentence) = sum of log p(x_i | x_{i-n+1:i-1}) over its words and ``</s>``."""
        return float(self.token_logprobs([sentence]).sum())

    def perplexity(self, sentences):
        """exp(-mean log p) over every predicted token of ``sentences`` (``</s>`` counted).

        Returns inf, with a RuntimeWarning, if some token has probability 0 (MLE).
        """
        # TODO: implement NGramLM.perplexity (see the docstring)
        raise NotImplementedError("NGramLM.perplexity: not implemented yet")

    def sample(self, rng, max_len=50, context=()):
        """One sentence (list of words, ``</s>`` not included) drawn token by token.

        Stops at ``</s>`` or after ``max_len`` words. ``context`` starts the sentence and is
        not returned.
        """
        check_rng(rng)
        check_int(max_len, "max_len", 0)
        # TODO: draw from next_token_probs(context + words) until </s>
        raise NotImplementedError("NGramLM.sample: not implemented yet")

    # -- the decoding protocol of ``generate``: the state is the last n-1 ids (a tuple) -----

    def _logits(self, state):
        with np.errstate(divide="ignore"):
            return np.log(self.next_token_probs(list(state)))

    def start(self, prompt_ids):
        """(log-probabilities (V,), state) for the token after ``prompt_ids`` (a sentence start)."""
        check_words(prompt_ids, "prompt_ids", "a sequence of token ids")
        state = tuple(self.context_ids([self.check_id(i, "prompt_ids") for i in prompt_ids], "prompt_ids"))
        return self._logits(state), state

    def step(self, state, token_id):
        """Feed ``token_id``; returns (log-probabilities (V,), new state). ``state`` is unchanged."""
        token_id = self.check_id(token_id, "token_id")
        new_state = (tuple(state) + (token_id,))[-(self.n - 1):] if self.n > 1 else ()
        return self._logits(new_state), new_state

    def _check_fitted(self):
        if self.vocab is None:
            raise ValueError("this NGramLM is not fitted yet: call .fit(sentences) first")
