"""The LLM chapters' world: a word tokenizer, latent tasks, and a pretraining source whose
entropy is known exactly (harness, never graded).

Chapters 8 and 9 need text in which a *task* hides: a page of demonstrations
``a b => c d ;`` where only the examples tell which rule maps the input to the output. A model
pretrained on many such pages (mixed with ordinary toy-English text) can then be prompted
with k demonstrations and a new query, and must infer the task in context, with no gradient
step: GPT-2's and GPT-3's zero/one/few-shot prompting, in miniature.

The tasks (:class:`TaskWorld`)
------------------------------
Inputs are pairs of words (a, b) from twelve content words of the toy-English world
(``DOMAIN_WORDS``: four animals, four foods, four adjectives). The tasks:

* three made-up word-for-word languages, ``elvish``, ``dwarvish`` and ``goblin``: each a
  bijective lexicon of the twelve words onto themselves, applied word by word,
  (a, b) -> (L(a), L(b)). Language k is row k of a Latin square: the words are put in a
  random order (from the seed) and language k maps the word at place i to the word at place
  (i + k) mod 12, k = 1, 2, 3. So no language leaves a word unchanged and two languages never
  agree on any word.
* ``reverse``: (a, b) -> (b, a).

The four tasks give four *different* outputs for every input (checked on construction):
one demonstration identifies the task, and a page determines its task. That is what keeps
the source's entropy exact (below), and what makes 0-shot prompting without the task's
name a guess among four (chance: 25%).

One more task is never shown in pretraining: ``reverse-elvish``, (a, b) -> (L(b), L(a)) with
L elvish, the transfer experiment's task B (:mod:`solutions.transfer`): new as a task, made
of two skills that pretraining teaches.

Queries are split *by instance*: a fixed fifth of the 144 input pairs (from the seed) is
held out and never appears in the pretraining source, so prompting accuracy is measured on
pairs the model has never seen, and only word-by-word knowledge of the lexicon helps.

Pages and the pretraining source (:class:`PretrainingSource`)
-------------------------------------------------------------
A page is a token sequence ``<bos> ... <eos>``:

* a text page (probability ``p_text``): 1 to ``max_sentences`` toy-English sentences
  (number uniform), each ending with ".";
* a task page: a task drawn uniformly, with probability ``p_named`` its name first
  (``elvish :``, as GPT-2's pages sometimes named what followed, "TL;DR:"), then 1 to
  ``max_demos`` demonstrations (number uniform) ``a b => c d ;`` on training pairs drawn
  uniformly with replacement.

Because a page determines every choice made to write it (the task is identified by its
first demonstration; "=>" never occurs in a sentence), the entropy of a page is the sum of
the entropies of those choices:

    H(page) = H(kind) + p_text [H(#sentences) + E[#sentences] H(sentence)]
              + (1 - p_text) [log 4 + H(named) + H(#demos) + E[#demos] log |training pairs|]

and the entropy per predicted token is H(page) / E[tokens of a page after <bos>] (every
token after ``<bos>`` is predicted, ``<eos>`` included). Pages are i.i.d., so nothing in
earlier pages helps predict a page: scored one page a row (:func:`page_rows`), this number
is the exact floor of a model's mean loss. The tests check
it against the mean of -log p(page) (:meth:`PretrainingSource.page_logprob`) over samples.

Tokens: ``<pad>`` (0) is distinct from ``<eos>`` (2), so that a model learns to stop: the
loss never covers padding, and always covers the end of a page. All sampling takes an explicit
``np.random.Generator``.
"""

import math
import numbers
from collections import namedtuple

import numpy as np

from .corpora import ToyEnglish, _check_count, _check_rng, _check_size

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
ARROW, SEP, COLON = "=>", ";", ":"
SPECIALS = (PAD, BOS, EOS)
DOMAIN_WORDS = ("mouse", "cat", "dog", "bird", "cheese", "bread", "corn", "seeds",
                "small", "big", "hungry", "grey")
# Each made-up language spells its words from its own syllables (first, last), so that its
# words are recognisably its own, and no two languages share a word.
LANGUAGES = {
    "elvish": (("li", "ae", "el", "ni", "ra", "sil"), ("rin", "wen", "thil", "las")),
    "dwarvish": (("kha", "dur", "gor", "bar", "thra", "mok"), ("zad", "dum", "rak", "gund")),
    "goblin": (("zig", "grub", "snik", "gob", "nag", "rot"), ("ik", "uk", "az", "ug")),
}
# The transfer experiment's new task B, which pretraining never shows: reverse the pair and
# translate it into elvish, (a, b) -> (elvish(b), elvish(a)): two known skills combined.
UNSEEN_TASK = "reverse-elvish"


def made_up_words(syllables, n, rng):
    """``n`` distinct words, each a first syllable and a last one, chosen with ``rng``."""
    firsts, lasts = syllables
    combos = [f + l for f in firsts for l in lasts]
    return [combos[i] for i in rng.choice(len(combos), size=n, replace=False)]


class Tokenizer:
    """Words <-> ids: the three specials first (``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2),
    then the given words in order. ``encode`` raises ValueError naming an unknown word."""

    def __init__(self, words):
        words = list(words)
        vocabulary = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("words must not repeat")
        self.words = vocabulary
        self.index = {w: i for i, w in enumerate(vocabulary)}
        self.pad_id, self.bos_id, self.eos_id = (self.index[s] for s in SPECIALS)

    def __len__(self):
        return len(self.words)

    def encode(self, words):
        """int64 ids (T,) of a sequence of words."""
        if isinstance(words, str):
            raise TypeError("words must be a sequence of word strings (use text.split()), not one string")
        missing = [w for w in words if w not in self.index]
        if missing:
            raise ValueError(f"words not in the vocabulary: {sorted(set(missing))}")
        return np.array([self.index[w] for w in words], dtype=np.int64)

    def decode(self, ids):
        """The words of ``ids`` (any int sequence)."""
        ids = np.asarray(ids)
        if ids.size and (ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer)):
            raise TypeError(f"ids must be token ids (ints), never silently truncated; got dtype {ids.dtype}")
        ids = ids.astype(np.int64).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.words)):
            raise ValueError(f"ids must lie in [0, {len(self.words)}); got values from {ids.min()} to {ids.max()}")
        return [self.words[i] for i in ids]

    def id(self, word):
        """The id of one word."""
        return int(self.encode([word])[0])


class TaskWorld:
    """The latent tasks, their held-out split, and the tokenizer (module docstring).

    ``TaskWorld(seed=0, heldout_fraction=0.2)``. ``tasks`` names the tasks; ``answer(task,
    pair)`` gives the output pair; ``train_pairs`` / ``heldout_pairs`` split the 144 inputs.
    """

    def __init__(self, seed=0, n_words=len(DOMAIN_WORDS), n_languages=len(LANGUAGES),
                 heldout_fraction=0.2, grammar=None):
        if isinstance(n_words, bool) or not isinstance(n_words, (int, np.integer)) or not 2 <= n_words <= len(DOMAIN_WORDS):
            raise ValueError(f"n_words must be an int from 2 to {len(DOMAIN_WORDS)}; got {n_words!r}")
        if isinstance(n_languages, bool) or not isinstance(n_languages, (int, np.integer)) or not 1 <= n_languages <= len(LANGUAGES):
            raise ValueError(f"n_languages must be an int from 1 to {len(LANGUAGES)}; got {n_languages!r}")
        heldout_fraction = _check_fraction(heldout_fraction, "heldout_fraction")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an int >= 0; got {seed!r}")
        rng = np.random.default_rng(seed)
        self.seed = seed
        self.grammar = ToyEnglish() if grammar is None else grammar
        self.words = DOMAIN_WORDS[:n_words]
        languages = list(LANGUAGES)[:n_languages]
        self.lexicons = {name: dict(zip(self.words, made_up_words(LANGUAGES[name], n_words, rng)))
                         for name in languages}
        self.unseen_task = UNSEEN_TASK
        self.tasks = tuple(languages) + ("reverse",)
        pairs = [(a, b) for a in self.words for b in self.words]
        self._check_tasks_disagree(pairs)
        shuffled = [pairs[i] for i in rng.permutation(len(pairs))]
        n_heldout = int(round(heldout_fraction * len(pairs)))
        if not 1 <= n_heldout <= len(pairs) - 2:  # a query and a demonstration besides it to train on
            raise ValueError(f"heldout_fraction={heldout_fraction!r} of {len(pairs)} pairs leaves {n_heldout} held out "
                             f"and {len(pairs) - n_heldout} to train on; both splits need pairs (at least 1 held "
                             f"out, 2 for training)")
        self.heldout_pairs = sorted(shuffled[:n_heldout])
        self.train_pairs = sorted(shuffled[n_heldout:])
        foreign = [w for lexicon in self.lexicons.values() for w in lexicon.values()]
        structure = [ARROW, SEP, COLON, *self.tasks, self.unseen_task]
        self.tokenizer = Tokenizer(structure + [w for w in self.grammar.words if w not in structure] + foreign)

    def answer(self, task, pair):
        """The output pair of ``task`` on the input ``pair`` (a, b)."""
        self.check_task(task)
        if len(pair) != 2 or any(w not in self.words for w in pair):
            raise ValueError(f"pair must be two words of {self.words}; got {pair!r}")
        a, b = pair
        if task == "reverse":
            return (b, a)
        if task == UNSEEN_TASK:
            return self.answer("elvish", (b, a))
        lexicon = self.lexicons[task]
        return (lexicon[a], lexicon[b])

    def check_task(self, task):
        if task not in self.tasks and task != self.unseen_task:
            raise ValueError(f"task must be one of {self.tasks} or {self.unseen_task!r}; got {task!r}")
        return task

    def _check_tasks_disagree(self, pairs):
        for pair in pairs:
            outputs = {self.answer(task, pair) for task in self.tasks}
            if len(outputs) != len(self.tasks):
                raise ValueError(f"tasks agree on {pair}: a page would not determine its task")

    def demonstration(self, task, pair):
        """The words of one demonstration: ``a b => c d ;``."""
        return [*pair, ARROW, *self.answer(task, pair), SEP]


Page = namedtuple("Page", "words kind task")


def uniform_entropy(n):
    """H of a uniform choice among n options, in nats."""
    return math.log(n)


def binary_entropy(p):
    """H of a yes/no choice made with probability p, in nats."""
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


class PretrainingSource:
    """Pages of toy-English text and of task demonstrations, with an exact entropy.

    PretrainingSource(world, p_text=0.3, p_named=0.25, max_demos=9, max_sentences=3)
    """

    def __init__(self, world, p_text=0.3, p_named=0.25, max_demos=9, max_sentences=3):
        for name, p in (("p_text", p_text), ("p_named", p_named)):
            _check_fraction(p, name)
        for name, count in (("max_demos", max_demos), ("max_sentences", max_sentences)):
            if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
                raise ValueError(f"{name} must be a positive int; got {count!r}")
        self.world, self.p_text, self.p_named = world, float(p_text), float(p_named)
        self.max_demos, self.max_sentences = int(max_demos), int(max_sentences)
        self.tokenizer = world.tokenizer

    # -- sampling ------------------------------------------------------------------------------

    def sample_pages(self, n_pages, rng):
        """``n_pages`` i.i.d. pages, each a ``Page(words, kind, task)`` with words from
        ``<bos>`` to ``<eos>``. (All the pages' sentences are drawn in one call of the
        grammar's sampler, which draws its uniforms in large chunks.)"""
        _check_rng(rng)
        n_pages = _check_count(n_pages, "n_pages")
        world = self.world
        is_text = rng.random(n_pages) < self.p_text
        n_sentences = rng.integers(1, self.max_sentences + 1, size=n_pages) * is_text
        sentences = iter(world.grammar.sample(int(n_sentences.sum()), rng))
        pages = []
        for text, n in zip(is_text, n_sentences):
            if text:
                words = [w for _ in range(n) for w in next(sentences)]
                pages.append(Page([BOS, *words, EOS], "text", None))
                continue
            task = world.tasks[int(rng.integers(len(world.tasks)))]
            named = rng.random() < self.p_named
            words = [BOS] + ([task, COLON] if named else [])
            for index in rng.integers(len(world.train_pairs), size=int(rng.integers(1, self.max_demos + 1))):
                words += world.demonstration(task, world.train_pairs[index])
            pages.append(Page(words + [EOS], "task", task))
        return pages

    def encode(self, pages):
        """Each page's words as int64 ids: a list of 1-D arrays."""
        return [self.tokenizer.encode(page.words) for page in pages]

    # -- exact entropy ---------------------------------------------------------------------------

    def entropy_per_page(self):
        """H(page) in nats (module docstring)."""
        grammar, world = self.world.grammar, self.world
        text = (uniform_entropy(self.max_sentences)
                + (self.max_sentences + 1) / 2 * grammar.entropy_per_sentence)
        named = binary_entropy(self.p_named)
        task = (uniform_entropy(len(world.tasks)) + named + uniform_entropy(self.max_demos)
                + (self.max_demos + 1) / 2 * uniform_entropy(len(world.train_pairs)))
        kind = binary_entropy(self.p_text)
        return kind + self.p_text * text + (1 - self.p_text) * task

    def predicted_tokens_per_page(self):
        """E[tokens after ``<bos>``], ``<eos>`` included: what a model predicts per page."""
        text = (self.max_sentences + 1) / 2 * self.world.grammar.mean_words_per_sentence + 1
        task = 2 * self.p_named + (self.max_demos + 1) / 2 * 6 + 1  # a demonstration is 6 words
        return self.p_text * text + (1 - self.p_text) * task

    def entropy_per_token(self):
        """The exact floor of the mean loss per predicted token, in nats."""
        return self.entropy_per_page() / self.predicted_tokens_per_page()

    def page_logprob(self, words):
        """log p(page) under the source (-inf for a page it cannot write), by parsing it."""
        world = self.world
        if len(words) < 3 or words[0] != BOS or words[-1] != EOS:
            return -math.inf
        body = list(words[1:-1])
        if ARROW not in body:  # a text page: sentences end with "."
            sentences, start = [], 0
            for i, w in enumerate(body):
                if w == ".":
                    sentences.append(body[start:i + 1])
                    start = i + 1
            if start != len(body) or not 1 <= len(sentences) <= self.max_sentences:
                return -math.inf
            return (math.log(self.p_text) - math.log(self.max_sentences)
                    + sum(map(world.grammar.sentence_logprob, sentences)))
        logprob = math.log(1 - self.p_text) - math.log(len(world.tasks))
        named = len(body) >= 2 and body[1] == COLON
        logprob += math.log(self.p_named if named else 1 - self.p_named)
        if named:
            task, body = body[0], body[2:]
            if task not in world.tasks:
                return -math.inf
            candidates = [task]
        else:
            candidates = list(world.tasks)
        if len(body) % 6 or not 1 <= len(body) // 6 <= self.max_demos:
            return -math.inf
        demos = [body[i:i + 6] for i in range(0, len(body), 6)]
        train = set(world.train_pairs)
        if any(tuple(d[:2]) not in train for d in demos):
            return -math.inf
        fitting = [t for t in candidates if all(d == world.demonstration(t, tuple(d[:2])) for d in demos)]
        if len(fitting) != 1:  # no task wrote this page (the tasks never agree on a pair)
            return -math.inf
        return logprob - math.log(self.max_demos) - len(demos) * math.log(len(train))


# -- pages as training rows ----------------------------------------------------------------------


def _check_fraction(p, name):
    """``p`` as a float strictly between 0 and 1 (ValueError naming ``name``)."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real) or not 0 < p < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1; got {p!r}")
    return float(p)


def _check_pages(pages_ids, context_length, ids, name="pad_id"):
    """The pages as a list of 1-D int arrays, each a fit for ``context_length + 1`` slots, and
    ``ids`` (name: value) ints >= 0; ValueError or TypeError naming the argument."""
    if isinstance(context_length, (bool, np.bool_)) or not isinstance(context_length, numbers.Integral) \
            or context_length < 1:
        raise ValueError(f"context_length must be an int >= 1; got {context_length!r}")
    for key, value in ids.items():
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"{key} must be a token id (an int >= 0); got {value!r}")
    if isinstance(pages_ids, (str, np.ndarray)) and np.ndim(pages_ids) != 2 or not hasattr(pages_ids, "__len__"):
        raise TypeError(f"pages_ids must be a list of 1-D token-id arrays; got {type(pages_ids).__name__}")
    pages = []
    for i, page in enumerate(pages_ids):
        array = np.asarray(page)
        if array.ndim != 1 or (array.size and (array.dtype == bool or not np.issubdtype(array.dtype, np.integer))):
            raise TypeError(f"pages_ids[{i}] must be a 1-D sequence of int token ids; got {array.dtype} {array.shape}")
        if array.size and array.min() < 0:
            raise ValueError(f"pages_ids[{i}] holds a negative token id {array.min()}")
        if len(array) > context_length + 1:
            raise ValueError(f"a page of {len(array)} tokens does not fit in context_length + 1 = {context_length + 1}")
        pages.append(array.astype(np.int64))
    return pages


def page_rows(pages_ids, context_length, pad_id=0):
    """One page per row: ``(inputs, targets, loss_mask)``, each (R, T), T the longest page's
    length - 1; inputs are a page's tokens but its last, targets all but its ``<bos>``, the
    rest ``pad_id``; the loss mask covers every target that is a page token (``<eos>``
    included, padding not). A page longer than ``context_length + 1`` is a ValueError.

    Why held-out pages are scored one a row, not packed several to a row as in training
    (:func:`pack_pages`): a page that starts late in a packed row must be short enough to
    fit in what is left of it, so its place tells the model something about its length, and
    a loss measured on packed rows can go below the i.i.d. source's entropy (it did, by 0.006
    nats per token). Alone in its row, every page is predicted from its ``<bos>`` with
    nothing else to go on, and the source's entropy per token is the exact floor of the mean
    loss.
    """
    pages_ids = _check_pages(pages_ids, context_length, {"pad_id": pad_id})
    lengths = [len(ids) for ids in pages_ids]
    if not lengths:
        raise ValueError("pages_ids must hold at least one page")
    if min(lengths) < 2:
        raise ValueError("every page needs at least two tokens (<bos> and one to predict)")
    table = np.full((len(pages_ids), max(lengths)), pad_id, dtype=np.int64)
    for r, ids in enumerate(pages_ids):
        table[r, :len(ids)] = ids
    inputs, targets = table[:, :-1], table[:, 1:]
    mask = np.arange(targets.shape[1]) < np.array(lengths)[:, None] - 1  # by position, not by token
    return inputs, targets, mask


def length_buckets(pages_ids, batch_size):
    """The pages' indices cut into groups of ``batch_size`` pages of similar length (sorted by
    length), so that an evaluation batch's rows need little padding."""
    order = sorted(range(len(pages_ids)), key=lambda i: len(pages_ids[i]))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


OPEN_ROWS = 16  # pack_pages: how many of the latest rows a page may still go into
REFILL_BATCHES = 16  # page_batches: pages are drawn for this many batches at a time


def pack_pages(pages_ids, context_length, pad_id=0, bos_id=1):
    """Whole pages packed into training rows: ``(inputs, targets, loss_mask)``, each (R, T)
    with T = ``context_length``; for TRAINING only (evaluation uses :func:`page_rows`).

    Each page goes into the first row whose T + 1 tokens still have room for it, among the
    ``OPEN_ROWS`` rows opened last (first fit, bounded so that packing stays linear in the
    number of pages; a page is never cut); inputs are a row's first T tokens, targets its last T. The loss
    mask covers every target that is a page token after its ``<bos>``: not padding, and not
    a ``<bos>`` that follows an ``<eos>``, found by POSITION (a page's first token is never a
    target; a real token equal to ``pad_id`` or ``bos_id`` inside a page is one). Packing wastes little compute on padding (rows are
    ~90% full, against ~60% with one page a row), which is why training uses it; the price is
    the small cue about a late page's length described in :func:`page_rows`, which is why the
    held-out loss is measured one page a row.
    """
    pages_ids = _check_pages(pages_ids, context_length, {"pad_id": pad_id, "bos_id": bos_id})
    rows, room, candidates = [], [], []  # candidates: the rows still open, oldest first
    for ids in pages_ids:
        if len(ids) == 0:
            continue
        r = next((r for r in candidates if room[r] >= len(ids)), None)
        if r is None:
            r = len(rows)
            rows.append([])
            room.append(context_length + 1)
            candidates.append(r)
            del candidates[:-OPEN_ROWS]  # first fit among the latest rows only: linear time
        rows[r].append(ids)
        room[r] -= len(ids)
    table = np.full((len(rows), context_length + 1), pad_id, dtype=np.int64)
    is_target = np.zeros(table.shape, dtype=bool)  # by position: every page token but the page's first
    for r, pages in enumerate(rows):
        start = 0
        for ids in pages:
            table[r, start:start + len(ids)] = ids
            is_target[r, start + 1:start + len(ids)] = True
            start += len(ids)
    return table[:, :-1], table[:, 1:], is_target[:, 1:]


def page_batches(source, batch_size, context_length, rng):
    """Endless iterator of packed training batches ``(inputs, targets, loss_mask)`` (B, T) of
    fresh pages from ``source`` (:func:`pack_pages`). The source is infinite: no page is
    trained on twice, on purpose, so the held-out loss can approach the exact floor without
    overfitting."""
    _check_rng(rng)
    batch_size = _check_size(batch_size, "batch_size")
    _check_pages([], context_length, {})
    return _page_batches(source, batch_size, context_length, rng)


def _page_batches(source, batch_size, context_length, rng):
    pending = [[], [], []]
    while True:
        while len(pending[0]) < batch_size:
            # Pages for about REFILL_BATCHES batches at a time: the grammar's sampler draws its
            # uniforms 65,536 at a time per call, so one call per batch would cost more than
            # the batch's training step at the tests' sizes.
            n_pages = max(1, int(REFILL_BATCHES * batch_size * context_length / source.predicted_tokens_per_page()))
            packed = pack_pages(source.encode(source.sample_pages(n_pages, rng)), context_length,
                                source.tokenizer.pad_id, source.tokenizer.bos_id)
            for store, part in zip(pending, packed):
                store.extend(part)
        yield tuple(np.array(store[:batch_size]) for store in pending)
        pending = [store[batch_size:] for store in pending]
