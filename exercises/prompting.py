"""Prompting and in-context learning: zero-, one- and few-shot, with no gradient step.

Lecture slides: "GPT-2: language models are unsupervised multitask learners — the task is
specified by the prompt" and "GPT-3: in-context learning — zero-shot, one-shot, few-shot".
A pretrained LM is not fine-tuned for a task; it is *conditioned* on a prompt that shows
the task, and its continuation is the answer:

    zero-shot   [task name :]                              query =>
    one-shot    [task name :]  x_1 => y_1 ;                query =>
    few-shot    [task name :]  x_1 => y_1 ; ... x_k => y_k ; query =>

and the answer is read off the model's greedy continuation up to the separator ";" (or
``<eos>``). The weights never change: whatever improves from 0 to k shots was learned in
pretraining, as the ability to infer a task from examples.

Here the tasks are :mod:`scratch.data.world`'s: three made-up word-for-word languages and
reversing a pair of words, pretrained on pages of demonstrations in which the task is
latent (only a quarter of pages name it). Without demonstrations and without the task's
name, a prompt does not say which of the four tasks is meant: the best a model can do is
guess, so 0-shot accuracy sits near 1/4 (one task's answer is right for one task of four).
One demonstration identifies the task; more make the model surer of it. Naming the task
(``elvish :``) makes 0-shot work, as GPT-2's "TL;DR:" did.

Decisions:
- Demonstrations are drawn from the world's *training* pairs and never include the query;
  queries come from the *held-out* pairs, which pretraining never showed: an answer is right
  only if the model applies the task word by word, not if it recalls a page.
- Exact match: the answer's words, up to and without the stop token, equal the gold
  output's two words (a third word, or a missing one, is wrong).
- Greedy decoding (the argmax at each step): the model's single best answer, as evaluations
  of in-context learning usually score it; sampling would add noise to accuracy.
- All prompts are answered in one batch (``batched.generate_batch``), left padded, with
  one forward per new token.

Left out: prompt engineering beyond names and demonstrations (instructions in words,
chain of thought), calibration, and choosing demonstrations by similarity.
"""

import numpy as np

from ._checks import (check_answers, check_bool, check_context, check_int, check_prompt_parts, check_queries,
                      check_rng, check_word_pair, check_word_prompts)
from .batched import generate_batch

# The page format of the pretraining source (scratch.data.world writes the same strings; a test
# checks that the two agree). Written out here, not imported: graded code imports only
# numpy, the standard library and its own package.
BOS, EOS, ARROW, SEP, COLON = "<bos>", "<eos>", "=>", ";", ":"
ANSWER_TOKENS = 3  # two words and the separator


def build_prompt(demos, query, task_name=None):
    """The words of a k-shot prompt: ``<bos> [task_name :] a b => c d ; ... q1 q2 =>``.

    ``demos``: a list of k (input pair, output pair) examples (k = 0 is zero-shot);
    ``query``: the input pair to answer; ``task_name``: a word to put first, or None.
    """
    check_prompt_parts(demos, query, task_name)
    # TODO: implement build_prompt (see the docstring)
    raise NotImplementedError("build_prompt: not implemented yet")


def sample_prompts(world, task, n_shots, queries, rng, *, named=False):
    """One k-shot prompt per query: ``(prompts, golds)``, lists of word lists and pairs.

    Each prompt's ``n_shots`` demonstrations are distinct training pairs, drawn with ``rng``,
    none of them the query; ``named`` puts the task's name first. ValueError if ``n_shots``
    is more than the training pairs available, or the task is unknown.
    """
    world.check_task(task)
    check_rng(rng)
    check_int(n_shots, "n_shots", 0, len(world.train_pairs) - 1)  # the training pairs but the query
    named = check_bool(named, "named")
    prompts, golds = [], []
    for i, query in enumerate(check_queries(queries)):
        query = check_word_pair(query, f"queries[{i}]")
        # TODO: implement sample_prompts (see the docstring)
        raise NotImplementedError("sample_prompts: not implemented yet")
    return prompts, golds


def answer_prompts(model, tokenizer, prompts, max_answer_tokens=ANSWER_TOKENS):
    """The model's greedy answer to each prompt: a list of word tuples, the stop token
    (";" or ``<eos>``) left out. All prompts are decoded together, at most
    ``max_answer_tokens`` tokens each."""
    max_answer_tokens = check_int(max_answer_tokens, "max_answer_tokens", 1)
    check_word_prompts(prompts)
    ids = [tokenizer.encode(words) for words in prompts]
    check_context(max(map(len, ids), default=0) + max_answer_tokens - 1, model.context_length,
                  f"the longest prompt and an answer of {max_answer_tokens} tokens", ": use fewer shots")
    stop_ids = {tokenizer.id(SEP), tokenizer.id(EOS)}
    # TODO: generate_batch(..., greedy=True, stop_id=...); keep each row's tokens before its stop
    raise NotImplementedError("answer_prompts: not implemented yet")


def exact_match(answers, golds):
    """The fraction of answers equal to their gold output, word for word."""
    check_answers(answers, golds)
    # TODO: implement exact_match (see the docstring)
    raise NotImplementedError("exact_match: not implemented yet")


def shot_accuracy(model, world, n_shots, *, named=False, queries=None, seed=0):
    """Exact-match accuracy of ``model`` over every task, with ``n_shots`` demonstrations
    per prompt, on ``queries`` (default: every held-out pair) — one prompt per task and query.
    Demonstrations are drawn with ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    queries = world.heldout_pairs if queries is None else queries
    prompts, golds = [], []
    for task in world.tasks:
        task_prompts, task_golds = sample_prompts(world, task, n_shots, queries, rng, named=named)
        prompts += task_prompts
        golds += task_golds
    return exact_match(answer_prompts(model, world.tokenizer, prompts), golds)
