"""Pretraining recipes for the LLM chapters (harness, never graded).

One function trains the GPT that chapters 8 to 12 start from, :func:`pretrain`, and one
serves it from the checkpoint cache, :func:`pretrained_gpt`. A recipe is a plain dict (so
it can be hashed into the cache key, see :mod:`scratch.train.checkpoint`):

    world    TaskWorld's arguments          source   PretrainingSource's arguments
    model    GPT's arguments (but the vocabulary, which the world's tokenizer fixes)
    train    steps, batch_size, lr, warmup_steps, data_seed

Two recipes (their sizes, steps and batches are the dicts below, stated nowhere else):

* ``LECTURE``: the demo's model — the whole world (twelve words, three languages and
  reverse), 2 blocks with ALiBi.
* ``SMALL``: the tests' model — a smaller world (fewer words and languages), mostly task
  pages (little plain text), a narrower model and fewer, smaller batches. It learns the
  same things less well; the tests state the margins they need from it.

The measured numbers are in the lecture demo's and the tests' docstrings. Training uses
fresh pages at every step (``page_batches``: the source is infinite), whole pages packed
into rows, the loss on every page token after ``<bos>``, AdamW with warmup and cosine decay,
clipping at 1; held-out losses are measured one page a row (``heldout_pages``: the exact floor
holds there, see ``world.page_rows``).
"""

import copy
import hashlib
import io

import numpy as np

from ..data import world
from . import checkpoint, loop

LECTURE = {
    "world": {"seed": 0},
    "source": {},
    "model": {"context_length": 64, "n_layers": 2, "n_heads": 4, "width": 64, "alibi": True, "seed": 0},
    "train": {"steps": 600, "batch_size": 32, "lr": 5e-3, "warmup_steps": 30, "data_seed": 0},
}

SMALL = {
    "world": {"seed": 0, "n_words": 6, "n_languages": 2},
    "source": {"p_text": 0.1, "max_demos": 5, "max_sentences": 1},
    "model": {"context_length": 40, "n_layers": 2, "n_heads": 4, "width": 32, "alibi": True, "seed": 0},
    "train": {"steps": 500, "batch_size": 16, "lr": 1.5e-2, "warmup_steps": 25, "data_seed": 0},
}


def with_changes(recipe, **parts):
    """A copy of ``recipe`` with some entries of its parts replaced:
    ``with_changes(SMALL, model={"width": 16})``."""
    changed = copy.deepcopy(recipe)
    for part, entries in parts.items():
        if part not in changed:
            raise ValueError(f"a recipe has the parts {sorted(changed)}; got {part!r}")
        changed[part].update(entries)
    return changed


def build_world(recipe):
    """``(world, source)`` of a recipe."""
    task_world = world.TaskWorld(**recipe["world"])
    return task_world, world.PretrainingSource(task_world, **recipe["source"])


def new_gpt(impl, recipe, task_world):
    """A freshly initialised GPT of the recipe's configuration (the tokenizer fixes V)."""
    return impl.transformer.GPT(len(task_world.tokenizer), **recipe["model"])


def heldout_pages(recipe, n_pages=400, seed=12345):
    """Held-out pages of the recipe's source (drawn with their own seed) as id arrays, and
    their exact mean -log p per predicted token: the loss a perfect model would get on these
    very pages (its expectation is ``source.entropy_per_token()``)."""
    _, source = build_world(recipe)
    pages = source.sample_pages(n_pages, np.random.default_rng(seed))
    nats = -sum(source.page_logprob(page.words) for page in pages)
    tokens = sum(len(page.words) - 1 for page in pages)
    return source.encode(pages), nats / tokens


def pages_loss(model, pages_ids, context_length, pad_id=0, batch_size=64):
    """Mean loss per predicted token of ``model`` over whole pages (every token after each
    ``<bos>``, ``<eos>`` included), evaluated in length-sorted batches."""
    total, count = 0.0, 0
    for group in world.length_buckets(pages_ids, batch_size):
        inputs, targets, mask = world.page_rows([pages_ids[i] for i in group], context_length, pad_id)
        n = int(mask.sum())
        total += float(model.loss(inputs, targets, mask)) * n
        count += n
    return total / count


def heldout_loss(model, recipe, pages_ids):
    """The model's mean loss per predicted token on held-out pages (``heldout_pages``)."""
    return pages_loss(model, pages_ids, recipe["model"]["context_length"])


def pretrain(impl, recipe, out=None, eval_fn=None, eval_every=None):
    """Train the recipe's GPT from scratch; returns (model, history)."""
    task_world, source = build_world(recipe)
    model = new_gpt(impl, recipe, task_world)
    train = recipe["train"]
    batches = world.page_batches(source, train["batch_size"], recipe["model"]["context_length"],
                                 np.random.default_rng(train["data_seed"]))
    history = loop.train_lm(
        model, batches, steps=train["steps"], lr=train["lr"], warmup_steps=train["warmup_steps"],
        optim=impl.optim, out=io.StringIO() if out is None else out,
        log_every=max(1, train["steps"] // 10), eval_fn=eval_fn, eval_every=eval_every)
    return model, history


# The code a pretrained model depends on: an edit to any of these files makes a new cache key.
TRAINING_CODE = ("nn", "attention", "transformer", "optim")


def cache_key(impl, recipe):
    """The recipe plus what else makes the model: the implementation's name, a digest of its
    training code and of the harness's world and training loop (so that an edit, a student's
    bug fix for one, trains a new model instead of serving the old one), and a digest of the
    world itself (its vocabulary, lexicons and split)."""
    sources = [impl.module(name).__file__ for name in TRAINING_CODE] + [world.__file__, loop.__file__, __file__]
    task_world, _ = build_world(recipe)
    described = [task_world.tokenizer.words, task_world.train_pairs, sorted(task_world.lexicons.items())]
    data = hashlib.sha256(repr(described).encode()).hexdigest()
    return {**recipe, "implementation": impl.name, "code": checkpoint.code_digest(sources), "world_digest": data[:16]}


def pretrained_gpt(impl, recipe, *, cache_dir=None, retrain=False, out=None, name="pretrained"):
    """The recipe's pretrained GPT, from the checkpoint cache when it is there (else trained
    and saved). The cache entry is keyed by :func:`cache_key`."""
    return checkpoint.cached_gpt(name, cache_key(impl, recipe), lambda: pretrain(impl, recipe, out)[0],
                                 impl.transformer, cache_dir=cache_dir, retrain=retrain, out=out)


# -- corpus B of the transfer experiment ---------------------------------------------------------


def demonstration_pages(task_world, task, pairs):
    """One named page per pair: ``<bos> task : a b => c d ; <eos>`` as word lists."""
    return [[world.BOS, task, world.COLON, *task_world.demonstration(task, pair), world.EOS] for pair in pairs]


def transfer_corpus(task_world, n_examples, seed=0):
    """Corpus B: ``n_examples`` one-demonstration pages of the unseen task, named as a
    quarter of the pretraining pages are (``reverse-elvish : a b => c d ;``), on training
    pairs drawn uniformly (with ``np.random.default_rng(seed)``), packed into rows. Named,
    because a page of one unnamed demonstration would also ask the pretrained model to
    unlearn that such a page could be any of the tasks it knows."""
    n_examples = loop.check_count(n_examples, "n_examples")
    rng = np.random.default_rng(seed)
    pairs = [task_world.train_pairs[i] for i in rng.integers(len(task_world.train_pairs), size=n_examples)]
    pages = demonstration_pages(task_world, task_world.unseen_task, pairs)
    tokenizer = task_world.tokenizer
    return world.page_rows([tokenizer.encode(p) for p in pages], len(pages[0]) - 1, tokenizer.pad_id)


def transfer_heldout(task_world):
    """Held-out rows of corpus B's task: one page per held-out pair, the loss mask on the
    answer only (the two output words and ";"; the inputs are random, ``<eos>`` certain)."""
    tokenizer = task_world.tokenizer
    ids = np.array([tokenizer.encode(p) for p in
                    demonstration_pages(task_world, task_world.unseen_task, task_world.heldout_pairs)])
    inputs, targets = ids[:, :-1], ids[:, 1:]  # targets: task : a b => c d ; <eos>
    first = targets.shape[1] - 4  # the answer is the three targets before the last, <eos>
    mask = np.zeros(targets.shape, dtype=bool)
    mask[:, first:first + 3] = True
    return inputs, targets, mask


def row_batches(rows, batch_size, rng):
    """Endless iterator of ``batch_size`` rows drawn at random (with replacement) from a
    fixed corpus of rows ``(inputs, targets, loss_mask)``: epochs over a small corpus B."""
    batch_size = loop.check_count(batch_size, "batch_size")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator; got {type(rng).__name__}")
    return _row_batches(rows, batch_size, rng)


def _row_batches(rows, batch_size, rng):
    inputs, targets, mask = rows
    while True:
        pick = rng.integers(len(inputs), size=batch_size)
        yield inputs[pick], targets[pick], mask[pick]
