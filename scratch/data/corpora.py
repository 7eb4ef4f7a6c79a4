"""Embedded corpora whose true distribution is known exactly (nothing is downloaded).

A language model's held-out loss is only meaningful next to the loss of the source itself.
Both corpora here are generated from a seed by a process whose probabilities we know, so
their entropy is computed exactly, not estimated:

* :class:`ToyEnglish` — a small probabilistic context-free grammar in the lecture's world
  (mice, cats, cheese). ``sentence_logprob`` is exact (the inside algorithm, which sums over
  derivations), and so are ``entropy_per_sentence``, ``entropy_per_token`` and
  ``entropy_per_char``, computed by dynamic programming over the grammar.
* :class:`MarkovLanguage` — a random order-k Markov chain over V symbols; its entropy rate
  H = sum_c pi(c) H(p(. | c)) uses the exact stationary distribution pi of the contexts.

All entropies are in nats.

Word and character views
------------------------
A sentence is a list of word tokens ending with ``"."``. The word-level convention matches
the n-gram chapter: a model predicts every word and one end-of-sentence per sentence, so
``entropy_per_token = H(sentence) / (E[#words] + 1)``. The character view is
:func:`to_text`: words joined by one space, each sentence followed by ``"\\n"`` (the
character-level end of sentence), so a sentence of words w_1..w_m has
sum |w_i| + (m - 1) + 1 characters and ``entropy_per_char = H(sentence) / E[#chars]``.
Both views are one-to-one with the sentence, so the sentence entropy is shared by both.

Design decisions
----------------
* The default grammar is **unambiguous** (every sentence has exactly one derivation), so
  the entropy of the derivations, which dynamic programming gives directly, is the entropy
  of the sentences. ``sentence_logprob`` still sums over derivations, so a user grammar may
  be ambiguous; its ``entropy_*`` would then be the derivation entropy, an upper bound, and
  :meth:`ToyEnglish.check_unambiguous` tells you on samples.
* The grammar is built to separate model orders: the verb chooses its object class two
  tokens later ("eats the cheese", "chases the cat"), which a bigram cannot see through
  "the" but a trigram can; subject-verb agreement reaches across an optional relative
  clause ("the mouse that chases the cats sleeps"), which no trigram sees. So unigram >
  bigram > trigram > true entropy, with visible gaps.
* The grammar is finite (no recursion): 4 to 13 words a sentence, the "." included.
* Splits are contiguous slices (:func:`train_val_test_split`): the sentences are i.i.d. and
  a Markov stream is stationary, so contiguous pieces are fair samples and keep the order.
* Every sampler takes an explicit ``np.random.Generator``; no global state.
"""

import bisect
import math

import numpy as np

# -- the default toy-English grammar -------------------------------------------------------

ANIMALS = {"mouse": "mice", "cat": "cats", "dog": "dogs", "bird": "birds"}
ANIMAL_WEIGHTS = (0.4, 0.3, 0.2, 0.1)
ADJECTIVES = {"small": 0.3, "big": 0.3, "hungry": 0.25, "grey": 0.15}
FOODS = {"cheese": 0.5, "bread": 0.2, "corn": 0.15, "seeds": 0.15}
# (singular form, plural form, probability, object nonterminal or None)
VERBS = (
    ("sleeps", "sleep", 0.15, None),
    ("runs", "run", 0.15, None),
    ("eats", "eat", 0.30, "FOOD"),
    ("chases", "chase", 0.25, "ANIMAL"),
    ("sees", "see", 0.15, "THING"),
)


def lecture_grammar():
    """The default grammar: ``{nonterminal: [(probability, (symbol, ...)), ...]}``.

    Symbols that are not keys are words. ``S`` is the start symbol. Number (SG/PL) is a
    feature spelled into the nonterminal names, so agreement needs no special machinery.
    """
    g = {"S": [(0.55, ("SUBJ_SG", "VP_SG", ".")), (0.45, ("SUBJ_PL", "VP_PL", "."))]}
    for num, det in (("SG", {"the": 0.6, "a": 0.4}), ("PL", {"the": 0.6, "some": 0.4})):
        form = 0 if num == "SG" else 1
        g[f"SUBJ_{num}"] = [(0.75, (f"NP_{num}",)), (0.25, (f"NP_{num}", "that", f"TVP_{num}"))]
        g[f"NP_{num}"] = [(0.6, (f"DET_{num}", f"N_{num}")), (0.4, (f"DET_{num}", "ADJ", f"N_{num}"))]
        g[f"DET_{num}"] = [(p, (w,)) for w, p in det.items()]
        g[f"N_{num}"] = [(p, ((sg, pl)[form],)) for (sg, pl), p in zip(ANIMALS.items(), ANIMAL_WEIGHTS)]
        transitive = [v for v in VERBS if v[3] is not None]
        total = sum(v[2] for v in transitive)
        g[f"TVP_{num}"] = [(v[2] / total, (v[form], v[3])) for v in transitive]
        g[f"VP_{num}"] = [(v[2], (v[form],) if v[3] is None else (v[form], v[3])) for v in VERBS]
    g["ADJ"] = [(p, (w,)) for w, p in ADJECTIVES.items()]
    g["ANIMAL"] = [(0.55, ("NP_SG",)), (0.45, ("NP_PL",))]
    g["FOOD"] = [(0.7, ("the", "FOOD_N")), (0.3, ("some", "FOOD_N"))]
    g["FOOD_N"] = [(p, (w,)) for w, p in FOODS.items()]
    g["THING"] = [(0.5, ("ANIMAL",)), (0.5, ("FOOD",))]
    return g


def _logsumexp(values):
    values = [v for v in values if v > -math.inf]
    if not values:
        return -math.inf
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


class ToyEnglish:
    """A probabilistic grammar with exact sentence probabilities and exact entropies.

    ``ToyEnglish()`` uses :func:`lecture_grammar`; pass ``grammar`` (same format) for
    another one. The grammar must be acyclic, rules must have a non-empty right-hand side,
    and each nonterminal's rule probabilities must sum to 1.
    """

    def __init__(self, grammar=None, start="S"):
        grammar = lecture_grammar() if grammar is None else grammar
        if not isinstance(grammar, dict) or start not in grammar:
            raise ValueError(f"grammar must be a dict with the start symbol {start!r} as a key")
        self.grammar = {}
        for lhs, rules in grammar.items():
            probs = [p for p, _ in rules]
            if any(p <= 0 for p in probs) or abs(sum(probs) - 1) > 1e-9:
                raise ValueError(f"grammar[{lhs!r}]: rule probabilities must be > 0 and sum to 1; got {probs}")
            if any(len(rhs) == 0 for _, rhs in rules):
                raise ValueError(f"grammar[{lhs!r}]: empty right-hand sides are not supported")
            self.grammar[lhs] = [(float(p), tuple(rhs)) for p, rhs in rules]
        self.start = start
        # Expected statistics of each symbol, bottom-up (raises on a cycle).
        self._stats, self._lengths = {}, {}
        self._symbol_stats(start, ())
        # For sampling: cumulative rule probabilities (the last set above any uniform draw),
        # and each rule's log-probability with its right-hand side reversed for a stack.
        self._choices = {}
        for lhs, rules in self.grammar.items():
            cumulative = np.cumsum([p for p, _ in rules]).tolist()
            cumulative[-1] = 2.0
            self._choices[lhs] = (cumulative, [(math.log(p), rhs[::-1]) for p, rhs in rules])

    # -- exact statistics by dynamic programming over the grammar ---------------------------

    def _symbol_stats(self, symbol, path):
        """(entropy, expected words, expected letters) of what ``symbol`` derives.

        H(X) = sum_r p_r (-log p_r + sum_{Y in rhs_r} H(Y)), since the children of a rule are
        derived independently; a word has H = 0, one word, len(word) letters.
        """
        if symbol not in self.grammar:
            return (0.0, 1.0, float(len(symbol)))
        if symbol in self._stats:
            return self._stats[symbol]
        if symbol in path:
            raise ValueError(f"grammar is recursive through {symbol!r}; only finite grammars are supported")
        entropy = words = letters = 0.0
        lengths = []
        for p, rhs in self.grammar[symbol]:
            children = [self._symbol_stats(child, path + (symbol,)) for child in rhs]
            entropy += p * (-math.log(p) + sum(c[0] for c in children))
            words += p * sum(c[1] for c in children)
            letters += p * sum(c[2] for c in children)
            lengths.append(self._rhs_lengths(rhs))
        self._stats[symbol] = (entropy, words, letters)
        self._lengths[symbol] = (min(lo for lo, _ in lengths), max(hi for _, hi in lengths))
        return self._stats[symbol]

    def _rhs_lengths(self, rhs):
        """(fewest, most) words a sequence of symbols can derive; used to prune the parser."""
        spans = [self._lengths.get(s, (1, 1)) for s in rhs]
        return sum(lo for lo, _ in spans), sum(hi for _, hi in spans)

    @property
    def entropy_per_sentence(self):
        """H(sentence) in nats (exact; equals the derivation entropy for an unambiguous grammar)."""
        return self._stats[self.start][0]

    @property
    def mean_words_per_sentence(self):
        """E[number of word tokens], the final "." included, end-of-sentence not."""
        return self._stats[self.start][1]

    @property
    def mean_chars_per_sentence(self):
        """E[characters in the text view]: letters + (words - 1) spaces + one newline."""
        _, words, letters = self._stats[self.start]
        return letters + words

    @property
    def entropy_per_token(self):
        """Nats per predicted token: every word plus one end-of-sentence per sentence."""
        return self.entropy_per_sentence / (self.mean_words_per_sentence + 1)

    @property
    def entropy_per_char(self):
        """Nats per character of :func:`to_text` (the newline included)."""
        return self.entropy_per_sentence / self.mean_chars_per_sentence

    @property
    def words(self):
        """Sorted list of every word the grammar can produce."""
        rhs_symbols = {s for rules in self.grammar.values() for _, rhs in rules for s in rhs}
        return sorted(rhs_symbols - set(self.grammar))

    def char_vocab(self):
        """The :class:`CharVocab` of every character the text view can contain."""
        return CharVocab("".join(self.words) + " \n")

    # -- sampling ----------------------------------------------------------------------------

    def sample_with_logprob(self, n_sentences, rng):
        """``n_sentences`` sentences and the log-probability of the derivation of each."""
        n_sentences = _check_count(n_sentences, "n_sentences")
        _check_rng(rng)
        sentences, logprobs = [], []
        uniforms = _uniform_stream(rng)
        choices = self._choices
        for _ in range(n_sentences):
            tokens, logprob = [], 0.0
            stack = [self.start]
            while stack:  # leftmost derivation: expand the top symbol, emit words in order
                symbol = stack.pop()
                entry = choices.get(symbol)
                if entry is None:
                    tokens.append(symbol)
                    continue
                cumulative, options = entry
                rule_logprob, reversed_rhs = options[bisect.bisect_right(cumulative, next(uniforms))]
                logprob += rule_logprob
                stack.extend(reversed_rhs)
            sentences.append(tokens)
            logprobs.append(logprob)
        return sentences, np.array(logprobs)

    def sample(self, n_sentences, rng):
        """``n_sentences`` i.i.d. sentences, each a list of word strings ending with "."."""
        return self.sample_with_logprob(n_sentences, rng)[0]

    def corpus(self, n_sentences, seed=0):
        """Deterministic corpus: ``sample(n_sentences, np.random.default_rng(seed))``."""
        return self.sample(n_sentences, np.random.default_rng(seed))

    # -- exact sentence probability (inside algorithm) ---------------------------------------

    def sentence_logprob(self, tokens):
        """log p(sentence), summed over all derivations; -inf if the grammar cannot produce it.

        The inside algorithm on spans: inside(X, i, j) = log p(X =>* tokens[i:j]), a sum over
        rules and over the ways to cut the span between the rule's children.
        """
        if isinstance(tokens, str) or not all(isinstance(t, str) for t in tokens):
            raise TypeError("tokens must be a list of word strings, e.g. ['the', 'mouse', 'sleeps', '.']")
        tokens = tuple(tokens)
        memo = {}

        def inside(symbol, i, j):
            if symbol not in self.grammar:
                return 0.0 if j == i + 1 and tokens[i] == symbol else -math.inf
            key = (symbol, i, j)
            if key not in memo:
                memo[key] = _logsumexp(math.log(p) + sequence(rhs, i, j) for p, rhs in self.grammar[symbol])
            return memo[key]

        def sequence(rhs, i, j):
            # Every symbol derives at least one word, so each child needs a non-empty span.
            lo, hi = self._rhs_lengths(rhs)
            if not lo <= j - i <= hi:
                return -math.inf
            if len(rhs) == 1:
                return inside(rhs[0], i, j)
            key = (rhs, i, j)
            if key not in memo:
                first_lo, first_hi = self._lengths.get(rhs[0], (1, 1))
                cuts = range(i + first_lo, min(i + first_hi, j - 1) + 1)
                memo[key] = _logsumexp(inside(rhs[0], i, m) + sequence(rhs[1:], m, j) for m in cuts)
            return memo[key]

        return inside(self.start, 0, len(tokens)) if tokens else -math.inf

    def check_unambiguous(self, n_sentences=200, rng=None):
        """True if, on sampled sentences, the sentence probability equals the derivation's."""
        rng = np.random.default_rng(0) if rng is None else rng
        sentences, logprobs = self.sample_with_logprob(n_sentences, rng)
        exact = np.array([self.sentence_logprob(s) for s in sentences])
        return bool(np.allclose(exact, logprobs, rtol=0, atol=1e-9))


def to_text(sentences):
    """Character view: each sentence's words joined by " ", each followed by "\\n"."""
    return "".join(" ".join(sentence) + "\n" for sentence in sentences)


def from_text(text):
    """Inverse of :func:`to_text` (a trailing partial line is kept as a sentence)."""
    return [line.split(" ") for line in text.split("\n") if line]


# -- character ids ---------------------------------------------------------------------------


class CharVocab:
    """Characters <-> integer ids, ids in sorted character order.

    ``CharVocab(text)`` takes the set of characters of ``text``; ``len(vocab)`` is V.
    """

    def __init__(self, text):
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty string of the characters to index")
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        """int64 ids (T,) of ``text``; raises ValueError on a character not in the vocabulary."""
        missing = set(text) - set(self.index)
        if missing:
            raise ValueError(f"text contains characters not in the vocabulary: {sorted(missing)}")
        # Vectorized lookup through the code points: a table from ord(c) to id.
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        table = np.full(max(map(ord, self.chars)) + 1, -1, dtype=np.int64)
        table[[ord(c) for c in self.chars]] = np.arange(len(self.chars))
        return table[codes]

    def decode(self, ids):
        """The string of the ids ``ids`` (any int sequence or array)."""
        return "".join(self.chars[i] for i in np.asarray(ids, dtype=np.int64).ravel())


def char_ids(text, vocab):
    """``vocab.encode(text)``: int64 array (T,) of character ids."""
    return vocab.encode(text)


def char_level_splits(n_sentences, seed=0):
    """Toy English as character ids, split for training: ``(grammar, vocab, train_ids, val_ids)``.

    ``n_sentences`` are sampled with ``np.random.default_rng(seed)`` and split 80/10/10 by
    :func:`train_val_test_split` (the last tenth, the test split, is not returned). The RNN
    and Transformer chapters' tests and demos train on these.
    """
    grammar = ToyEnglish()
    vocab = grammar.char_vocab()
    train, val, _ = train_val_test_split(grammar.sample(n_sentences, np.random.default_rng(seed)))
    return grammar, vocab, vocab.encode(to_text(train)), vocab.encode(to_text(val))


def char_bigram_loss(train_ids, val_ids, vocab_size):
    """Held-out nats per character of an add-one character bigram fitted on ``train_ids``.

    The reference line every neural chapter compares with: a model that sees only the
    previous character. Computed from counts here, so it never depends on graded code.
    """
    counts = np.ones((vocab_size, vocab_size))
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1)  # a pair may repeat: accumulate
    probs = counts / counts.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(probs[val_ids[:-1], val_ids[1:]])))


def train_val_test_split(items, fractions=(0.8, 0.1, 0.1)):
    """Three contiguous slices of ``items`` (a list or an array) in the given proportions."""
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1; got {fractions}")
    n = len(items)
    a = int(round(fractions[0] * n))
    b = a + int(round(fractions[1] * n))
    return items[:a], items[a:b], items[b:]


# -- Markov-chain languages ------------------------------------------------------------------


MAX_TABLE_ENTRIES = 2**22  # the largest MarkovLanguage transition table, V ** (order + 1)


class MarkovLanguage:
    """A random order-k Markov chain over V symbols, with its exact entropy rate.

    ``transitions`` has shape (V,) * order + (V,): transitions[c_1, ..., c_k, x] =
    p(x | c_1..c_k), c_k the most recent symbol. Each row is drawn from a symmetric
    Dirichlet(``concentration``) with ``np.random.default_rng(seed)``, so every transition
    has positive probability and the chain is ergodic. Symbols are named "a", "b", ... for
    V <= 26 (``symbols``), else "w0", "w1", ...
    """

    def __init__(self, order, vocab_size, seed=0, concentration=1.0):
        if not isinstance(order, (int, np.integer)) or order < 1:
            raise ValueError(f"order must be an integer >= 1; got {order!r}")
        if not isinstance(vocab_size, (int, np.integer)) or vocab_size < 2:
            raise ValueError(f"vocab_size must be an integer >= 2; got {vocab_size!r}")
        # The transition table holds V ** (k + 1) float64 numbers (V ** k contexts of V each);
        # 2**22 of them is 32 MiB. Checked before anything is allocated.
        if int(vocab_size) ** (int(order) + 1) > MAX_TABLE_ENTRIES:
            raise ValueError(
                f"vocab_size ** (order + 1) = {vocab_size}**{order + 1} transition probabilities exceed "
                f"{MAX_TABLE_ENTRIES} (2**22, 32 MiB); use a smaller vocab_size or order"
            )
        if not concentration > 0:
            raise ValueError(f"concentration must be > 0; got {concentration!r}")
        self.order, self.vocab_size = int(order), int(vocab_size)
        n_contexts = self.vocab_size**self.order
        rng = np.random.default_rng(seed)
        table = rng.dirichlet(np.full(self.vocab_size, float(concentration)), size=n_contexts)
        # A tiny floor keeps every transition positive even for small concentrations.
        table = np.maximum(table, 1e-12)
        self._table = table / table.sum(axis=1, keepdims=True)  # (V^k, V)
        self.transitions = self._table.reshape((self.vocab_size,) * (self.order + 1))
        self.stationary = self._stationary()  # (V^k,) over contexts
        row_entropy = -(self._table * np.log(self._table)).sum(axis=1)  # (V^k,)
        self.entropy_rate = float(self.stationary @ row_entropy)
        if self.vocab_size <= 26:
            self.symbols = [chr(ord("a") + i) for i in range(self.vocab_size)]
        else:
            self.symbols = [f"w{i}" for i in range(self.vocab_size)]

    def _stationary(self, tol=1e-14, max_iter=100_000):
        """Stationary distribution of the chain on contexts, by power iteration.

        A context (c_1..c_k) moves to (c_2..c_k, x) with probability p(x | c): summing over the
        dropped oldest symbol c_1 gives pi'[c_2..c_k, x] = sum_{c_1} pi[c] p(x | c).
        """
        V, rest = self.vocab_size, self.vocab_size ** (self.order - 1)
        table = self._table.reshape(V, rest, V)
        pi = np.full(V * rest, 1.0 / (V * rest))
        for _ in range(max_iter):
            new = np.einsum("fr,frx->rx", pi.reshape(V, rest), table).ravel()
            if np.abs(new - pi).sum() < tol:
                return new / new.sum()
            pi = new
        raise RuntimeError("power iteration for the stationary distribution did not converge")

    def logprob(self, ids):
        """Sum of log p(x_t | x_{t-k..t-1}) over t >= k (the first k symbols are not scored).

        ``ids`` is a 1-D sequence of at least order + 1 ids in 0..V-1 (ValueError otherwise).
        """
        ids = np.asarray(ids)
        k, V = self.order, self.vocab_size
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"ids must be a 1-D sequence of integer ids; got {ids.dtype} array of shape {ids.shape}")
        if len(ids) < k + 1:
            raise ValueError(f"ids must hold at least order + 1 = {k + 1} ids (k of context, one scored); got {len(ids)}")
        if ids.min() < 0 or ids.max() >= V:
            raise ValueError(f"ids must lie in 0..V-1 = 0..{V - 1}; got values from {ids.min()} to {ids.max()}")
        ids = ids.astype(np.int64)
        context = np.zeros(len(ids) - k, dtype=np.int64)
        for j in range(k):  # base-V index of each context, a loop over the order only
            context = context * V + ids[j : len(ids) - k + j]
        return float(np.log(self._table[context, ids[k:]]).sum())

    def sample(self, n_tokens, rng):
        """int64 ids (n_tokens,) from the stationary chain (first context drawn from pi)."""
        n_tokens = _check_count(n_tokens, "n_tokens")
        _check_rng(rng)
        k, V = self.order, self.vocab_size
        start = int(rng.choice(len(self.stationary), p=self.stationary))
        out = [int(d) for d in np.unravel_index(start, (V,) * k)]
        cumulative = np.cumsum(self._table, axis=1).tolist()
        uniforms = rng.random(max(n_tokens - k, 0)).tolist()
        context, drop = start, V ** (k - 1)
        # Token-by-token sampling is a recurrence; bisect on Python lists keeps it fast.
        for u in uniforms:
            row = cumulative[context]
            x = min(bisect.bisect_right(row, u * row[-1]), V - 1)
            out.append(x)
            context = (context % drop) * V + x
        return np.array(out[:n_tokens], dtype=np.int64)

    def to_words(self, ids):
        """The symbol names of ``ids``: a list of strings (the word view for n-gram models)."""
        return [self.symbols[i] for i in np.asarray(ids, dtype=np.int64).ravel()]


def _uniform_stream(rng, chunk=1 << 16):
    """Endless iterator of U(0, 1) floats drawn from ``rng`` in chunks (fast per-draw access)."""
    while True:
        yield from rng.random(chunk).tolist()


def _check_count(n, name):
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {n!r}")
    return int(n)


def _check_size(n, name, minimum=1):
    """``n`` as an int >= ``minimum`` (NumPy ints too, never a bool): ValueError naming ``name``."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {n!r}")
    return int(n)


def _check_probability(p, name):
    """``p`` as a float in [0, 1]: ValueError naming ``name``."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)) \
            or not 0 <= p <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1]; got {p!r}")
    return float(p)


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)); got {type(rng).__name__}")
