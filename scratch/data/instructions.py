"""Instruction data, a hidden gold reward and simulated labelers for the SFT and reward-model
chapters (harness: never graded).

The world is :mod:`scratch.data.world`'s: three made-up word-for-word languages and ``reverse``
over pairs of words. An instruction asks for one task on one pair, in one of a few phrasings,
and ends with ``=>``; the response is the answer and ``<eos>``::

    <bos> translate into elvish : mouse cat =>      liwen rarin <eos>
    <bos> elvish for mouse cat ? =>                  sure liwen rarin <eos>
    <bos> please say mouse cat in elvish =>          liwen rarin <eos>
    <bos> reverse : mouse cat =>                     cat mouse <eos>

Instances are split as the world splits its pairs: held-out instances ask about the world's
``heldout_pairs``, which pretraining never showed and SFT never trains on.

Demonstrations (:meth:`InstructionData.demonstration`): the correct answer, opened with the
polite word ``sure`` with probability ``p_polite`` (0.25): the demonstrators are right, and
only sometimes polite.

The gold reward g(x, y) (:meth:`InstructionData.gold_reward`), what a person means by
"better", computed exactly and never shown to the reward model:

    g = -1                                   if y is malformed (below)
    g = 0.5 * (words of the answer right, each in its place) + 0.5 * [y starts with "sure"]

so a well-formed response scores from 0 to 1.5. Its three parts play three roles:
- correctness, which SFT learns from the demonstrations;
- politeness, a preference SFT does NOT already satisfy (it copies the demonstrators' 25%),
  which the labelers reward and RLHF can push towards 100%;
- form: a response is well-formed only if it is ``[sure] w1 w2 <eos>``, w1 and w2 answer
  words (the twelve domain words or any language's words). Everything else scores -1: a
  response that does not stop, a repeated ``sure``, a third word, a structure word. SFT
  samples are almost always well-formed, so the labelers' rankings (and the reward model
  trained on them) carry almost no information about this part: it only matters for text
  outside what SFT samples, such as "sure sure sure liwen rarin", which a reward model that
  learned "sure is good" may well score highly. That gap is what the RLHF chapter needs to
  show over-optimisation of a learned reward against the gold one.

Labelers (:func:`plackett_luce_rankings`): for K responses to one prompt, a ranking drawn from
the Plackett-Luce model with weights exp(g / tau): the best is y_i with probability
exp(g_i / tau) / sum_j exp(g_j / tau), the second the same among the rest, and so on. It is
sampled exactly by sorting g / tau + Gumbel noise (the Gumbel-max trick, applied to every
place). tau is the labelers' noise: small tau, rankings by g; large tau, random rankings.

The tokenizer (:func:`instruction_tokenizer`) is the world's with ``INSTRUCTION_WORDS``
appended: every id of the world's tokenizer keeps its meaning, so a model pretrained on the
world gets new embedding rows only (:func:`widen_vocabulary`). scratch/data/world.py is unchanged.
"""

from collections import namedtuple

import numpy as np

from .corpora import _check_probability, _check_rng, _check_size
from .world import ARROW, BOS, COLON, EOS, Tokenizer

POLITE = "sure"
INSTRUCTION_WORDS = ("translate", "into", "for", "?", "please", "say", "in", "swap", POLITE)
LANGUAGE_PHRASINGS = (("translate", "into", "{task}", COLON, "{a}", "{b}"),
                      ("{task}", "for", "{a}", "{b}", "?"),
                      ("please", "say", "{a}", "{b}", "in", "{task}"))
REVERSE_PHRASINGS = (("reverse", COLON, "{a}", "{b}"),
                     ("swap", "{a}", "{b}", "?"),
                     ("please", "reverse", "{a}", "{b}"))
MALFORMED = -1.0
WORD_CREDIT = 0.5
POLITE_BONUS = 0.5

Instance = namedtuple("Instance", "task phrasing pair")


def instruction_tokenizer(world):
    """The world's tokenizer with ``INSTRUCTION_WORDS`` appended (old ids unchanged)."""
    return Tokenizer(list(world.tokenizer.words) + [w for w in INSTRUCTION_WORDS if w not in world.tokenizer.index])


class InstructionData:
    """Instructions over a :class:`scratch.data.world.TaskWorld`, demonstrations and the gold reward.

    InstructionData(world, p_polite=0.25)
    """

    def __init__(self, world, p_polite=0.25):
        p_polite = _check_probability(p_polite, "p_polite")
        self.world, self.p_polite = world, float(p_polite)
        self.tokenizer = instruction_tokenizer(world)
        self.answer_words = set(world.words) | {w for lexicon in world.lexicons.values() for w in lexicon.values()}
        self.pad_id, self.eos_id = self.tokenizer.pad_id, self.tokenizer.eos_id

    def instances(self, split="train"):
        """Every (task, phrasing, pair) of the split: "train" or "heldout" pairs."""
        if split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train' or 'heldout'; got {split!r}")
        pairs = self.world.train_pairs if split == "train" else self.world.heldout_pairs
        return [Instance(task, phrasing, pair) for task in self.world.tasks
                for phrasing in range(len(self.phrasings(task))) for pair in pairs]

    @staticmethod
    def phrasings(task):
        return REVERSE_PHRASINGS if task == "reverse" else LANGUAGE_PHRASINGS

    def prompt(self, instance):
        """The prompt's words: ``<bos>``, the phrasing filled in, ``=>``."""
        task, phrasing, (a, b) = instance
        fill = {"{task}": task, "{a}": a, "{b}": b}
        return [BOS] + [fill.get(w, w) for w in self.phrasings(task)[phrasing]] + [ARROW]

    def demonstration(self, instance, rng):
        """A demonstrator's response: the answer and ``<eos>``, ``sure`` first with p_polite."""
        polite = rng.random() < self.p_polite
        return ([POLITE] if polite else []) + list(self.world.answer(instance.task, instance.pair)) + [EOS]

    def sample_demonstrations(self, n, rng, split="train"):
        """``n`` instances drawn uniformly from the split and a demonstration of each:
        (prompts_ids, responses_ids, instances), two lists of int64 arrays and the instances."""
        _check_rng(rng)
        n = _check_size(n, "n")
        pool = self.instances(split)
        chosen = [pool[i] for i in rng.integers(len(pool), size=n)]
        prompts = [self.tokenizer.encode(self.prompt(inst)) for inst in chosen]
        responses = [self.tokenizer.encode(self.demonstration(inst, rng)) for inst in chosen]
        return prompts, responses, chosen

    def gold_reward(self, instance, response):
        """g(x, y) of the module docstring; ``response``: the response's words or ids
        (``<pad>`` after the end is ignored)."""
        words = list(response) if len(response) and isinstance(response[0], str) else self.tokenizer.decode(response)
        while words and words[-1] == self.tokenizer.words[self.pad_id]:
            words.pop()
        polite = bool(words) and words[0] == POLITE
        body = words[1:] if polite else words
        if len(body) != 3 or body[-1] != EOS or not all(w in self.answer_words for w in body[:2]):
            return MALFORMED
        gold = self.world.answer(instance.task, instance.pair)
        return WORD_CREDIT * sum(w == g for w, g in zip(body[:2], gold)) + POLITE_BONUS * polite

    def noisy_response(self, instance, rng, p_wrong=0.3):
        """A synthetic response without a model: the demonstration (polite with p_polite),
        each answer word replaced by a random answer word with probability ``p_wrong``."""
        p_wrong = _check_probability(p_wrong, "p_wrong")
        words = self.demonstration(instance, rng)
        vocabulary = sorted(self.answer_words)
        start = 1 if words[0] == POLITE else 0
        for i in (start, start + 1):
            if rng.random() < p_wrong:
                words[i] = vocabulary[int(rng.integers(len(vocabulary)))]
        return words


def sft_batches(data, sft, batch_size, context_length, rng, split="train"):
    """Endless iterator of SFT batches (ids, targets, loss_mask) of fresh demonstrations,
    built by ``sft.sft_batch`` (``sft`` is the implementation's module, ``impl.sft``)."""
    _check_size(batch_size, "batch_size")
    _check_size(context_length, "context_length")
    _check_rng(rng)
    data.instances(split)  # the split's name is checked here, not at the first batch
    return _sft_batches(data, sft, batch_size, context_length, rng, split)


def _sft_batches(data, sft, batch_size, context_length, rng, split):
    while True:
        prompts, responses, _ = data.sample_demonstrations(batch_size, rng, split)
        yield sft.sft_batch(prompts, responses, data.pad_id, context_length, data.eos_id)


def plackett_luce_rankings(gold, tau, rng):
    """Rankings (P, K), best first, drawn by Plackett-Luce from exp(gold / tau) per row.

    ``gold`` (P, K) rewards; ``tau`` > 0 the noise. Sorting gold / tau + Gumbel(0, 1) noise
    draws every place of the ranking exactly by Plackett-Luce (module docstring)."""
    _check_rng(rng)
    gold = np.asarray(gold, dtype=np.float64)
    if gold.ndim != 2 or not np.isfinite(gold).all():
        raise ValueError(f"gold must be a (P, K) array of finite rewards (no NaN or inf); got shape {gold.shape}")
    if isinstance(tau, bool) or not isinstance(tau, (int, float, np.integer, np.floating)) or not 0 < tau < np.inf:
        raise ValueError(f"tau must be a finite number > 0 (the labelers' noise); got {tau!r}")
    return np.argsort(-(gold / tau + rng.gumbel(size=gold.shape)), axis=1, kind="stable")


def right_pad(sequences, pad_id):
    """Sequences (lists of ids, at least one, each at least one id long) as ids (B, T)
    right-padded with ``pad_id``, and their mask (B, T), True at the real ids."""
    lengths = np.array([len(r) for r in sequences])
    if len(lengths) == 0 or lengths.min() < 1:
        raise ValueError("every response needs at least one token")
    _check_size(pad_id, "pad_id", 0)
    for i, sequence in enumerate(sequences):
        array = np.asarray(sequence)
        if array.dtype == bool or not np.issubdtype(array.dtype, np.integer) or array.min() < 0:
            raise ValueError(f"sequences[{i}] must hold token ids (ints >= 0); got {array.dtype} {array.tolist()[:8]}")
    ids = np.full((len(sequences), lengths.max()), pad_id, dtype=np.int64)
    for i, sequence in enumerate(sequences):
        ids[i, :len(sequence)] = sequence
    return ids, np.arange(ids.shape[1])[None, :] < lengths[:, None]


def pad_groups(prompts, responses, pad_id):
    """Prompt + response sequences, right-padded: ids (P, K, T) and lengths (P, K).

    ``prompts``: P id arrays; ``responses``: P lists of K id arrays each."""
    if not isinstance(responses, (list, tuple)) or not responses or len(prompts) != len(responses):
        raise ValueError(f"prompts and responses must be two non-empty lists of one length (a group of "
                         f"responses per prompt); got {len(prompts)} prompts and {len(responses)} groups")
    P, K = len(responses), len(responses[0])
    sizes = [len(group) for group in responses]
    if min(sizes) != K or max(sizes) != K or K < 2:
        raise ValueError(f"responses must hold K >= 2 responses for every prompt, the same K; got group sizes {sizes}")
    ids, mask = right_pad([np.concatenate([prompts[p], responses[p][k]]) for p in range(P) for k in range(K)], pad_id)
    return ids.reshape(P, K, -1), mask.sum(axis=1).reshape(P, K)


def label_groups(data, instances, responses, tau, rng):
    """Ranked groups for the reward model: (ids (P, K, T), lengths (P, K), rankings (P, K),
    gold (P, K)). ``responses``: per instance, K responses (words or ids, ``<eos>`` where the
    response stopped); the labelers rank them by Plackett-Luce at noise ``tau``."""
    gold = np.array([[data.gold_reward(inst, r) for r in group] for inst, group in zip(instances, responses)])
    prompts = [data.tokenizer.encode(data.prompt(inst)) for inst in instances]
    encoded = [[data.tokenizer.encode(r) if isinstance(r[0], str) else np.asarray(r, dtype=np.int64) for r in group]
               for group in responses]
    ids, lengths = pad_groups(prompts, encoded, data.pad_id)
    return ids, lengths, plackett_luce_rankings(gold, tau, rng), gold
