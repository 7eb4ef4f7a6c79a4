"""The LLM chapters' world (scratch.data.world, scratch.train.pretraining): harness tests, not graded.

The exact entropy of the pretraining source is checked against a Monte Carlo estimate: the
mean of -log p(page) (computed by parsing each page) over 2,000 sampled pages must lie
within four standard errors of ``entropy_per_page()``, and the mean number of predicted
tokens likewise; the parser itself is checked on pages the source cannot write.
"""

import math

import numpy as np
import pytest

from scratch.train import pretraining

from scratch.data import world


@pytest.fixture(scope="module")
def small():
    return pretraining.build_world(pretraining.SMALL)


def test_tokenizer_keeps_pad_and_eos_apart(small):
    task_world, _ = small
    tokenizer = task_world.tokenizer
    assert (tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id) == (0, 1, 2)
    words = ["<bos>", "elvish", ":", "cat", "dog", "=>", ";", "<eos>"]
    assert tokenizer.decode(tokenizer.encode(words)) == words
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tokenizer.encode(["cat", "unicorn"])
    with pytest.raises(TypeError, match="sequence of word strings"):
        tokenizer.encode("cat dog")


def test_tasks_never_agree_and_the_split_is_clean():
    task_world = world.TaskWorld(seed=3)
    assert len(task_world.train_pairs) + len(task_world.heldout_pairs) == 144
    assert not set(task_world.train_pairs) & set(task_world.heldout_pairs)
    for pair in task_world.train_pairs + task_world.heldout_pairs:
        outputs = [task_world.answer(task, pair) for task in task_world.tasks]
        assert len(set(outputs)) == len(outputs)
        assert task_world.answer(task_world.unseen_task, pair) == task_world.answer("elvish", pair[::-1])
    assert task_world.answer("reverse", ("cat", "dog")) == ("dog", "cat")
    lexicon = task_world.lexicons["elvish"]
    assert task_world.answer("elvish", ("cat", "dog")) == (lexicon["cat"], lexicon["dog"])
    assert len(set(lexicon.values())) == 12  # a bijection onto its own words
    with pytest.raises(ValueError, match="task"):
        task_world.answer("klingon", ("cat", "dog"))


def test_exact_entropy_matches_monte_carlo():
    task_world = world.TaskWorld(seed=0)
    source = world.PretrainingSource(task_world)
    pages = source.sample_pages(2_000, np.random.default_rng(7))
    nats = np.array([-source.page_logprob(page.words) for page in pages])
    tokens = np.array([len(page.words) - 1 for page in pages])
    assert np.all(np.isfinite(nats))
    assert abs(nats.mean() - source.entropy_per_page()) < 4 * nats.std() / math.sqrt(len(nats))
    assert abs(tokens.mean() - source.predicted_tokens_per_page()) < 4 * tokens.std() / math.sqrt(len(tokens))
    assert source.entropy_per_token() == pytest.approx(source.entropy_per_page() / source.predicted_tokens_per_page())


def test_pages_use_training_pairs_only_and_parse(small):
    task_world, source = small
    heldout = set(task_world.heldout_pairs)
    for page in source.sample_pages(500, np.random.default_rng(1)):
        assert page.words[0] == "<bos>" and page.words[-1] == "<eos>"
        if page.kind == "task":
            body = page.words[1:-1]
            body = body[2:] if body[1] == ":" else body
            assert not {tuple(body[i:i + 2]) for i in range(0, len(body), 6)} & heldout
    pair = next(p for p in task_world.train_pairs if p[0] != p[1])
    good = ["<bos>", *task_world.demonstration("reverse", pair), "<eos>"]
    assert source.page_logprob(good) > -math.inf
    wrong = good[:4] + [good[5], good[4]] + good[6:]  # a demonstration no task writes
    assert source.page_logprob(wrong) == -math.inf
    unseen = ["<bos>", *task_world.demonstration("reverse", task_world.heldout_pairs[0]), "<eos>"]
    assert source.page_logprob(unseen) == -math.inf


def test_one_page_per_row(small):
    task_world, source = small
    pages = source.encode(source.sample_pages(200, np.random.default_rng(2)))
    inputs, targets, mask = world.page_rows(pages, 40)
    assert inputs.shape == targets.shape == mask.shape == (200, max(map(len, pages)) - 1)
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])
    for page, row_inputs, row_targets, row_mask in zip(pages, inputs, targets, mask):
        n = len(page) - 1  # every token after <bos> is a target exactly once; padding never is
        np.testing.assert_array_equal(row_targets[row_mask], page[1:])
        assert row_mask.sum() == n and row_inputs[0] == 1 and np.all(row_targets[n:] == 0)
    with pytest.raises(ValueError, match="does not fit"):
        world.page_rows([np.arange(50)], 40)


def test_packing_keeps_pages_whole(small):
    _, source = small
    pages = source.encode(source.sample_pages(200, np.random.default_rng(2)))
    inputs, targets, mask = world.pack_pages(pages, 40)
    assert inputs.shape == targets.shape == mask.shape and inputs.shape[1] == 40
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])
    assert mask.sum() == sum(len(p) - 1 for p in pages)  # every page token after <bos>, once
    assert not np.any(mask & ((targets == 0) | (targets == 1)))
    assert np.all(inputs[:, 0] == 1)  # every row starts with a page
    with pytest.raises(ValueError, match="does not fit"):
        world.pack_pages([np.arange(50)], 40)


def test_length_buckets_cover_every_page_once():
    pages = [np.zeros(n) for n in (5, 3, 9, 4, 7)]
    groups = world.length_buckets(pages, 2)
    assert groups == [[1, 3], [0, 4], [2]]


def test_page_batches_are_reproducible(small):
    _, source = small
    first = next(world.page_batches(source, 4, 40, np.random.default_rng(5)))
    again = next(world.page_batches(source, 4, 40, np.random.default_rng(5)))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert first[0].shape == (4, 40) and first[2].mean() > 0.8  # first-fit packing fills rows


def test_transfer_heldout_masks_the_answer(small):
    task_world, _ = small
    inputs, targets, mask = pretraining.transfer_heldout(task_world)
    corpus = pretraining.transfer_corpus(task_world, 10, seed=0)
    assert corpus[0].shape == (10, 9) and corpus[2].all()
    tokenizer = task_world.tokenizer
    for row_targets, row_mask, pair in zip(targets, mask, task_world.heldout_pairs):
        answer = task_world.answer(task_world.unseen_task, pair)
        assert tokenizer.decode(row_targets[row_mask]) == [*answer, ";"]


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="n_words"):
        world.TaskWorld(n_words=1)
    with pytest.raises(ValueError, match="p_text"):
        world.PretrainingSource(world.TaskWorld(), p_text=1.5)
    with pytest.raises(ValueError, match="model"):
        pretraining.with_changes(pretraining.SMALL, modle={"width": 8})


def test_prompting_writes_the_page_format(impl):
    prompting = impl.prompting
    assert (prompting.BOS, prompting.EOS, prompting.ARROW, prompting.SEP, prompting.COLON) == (
        world.BOS, world.EOS, world.ARROW, world.SEP, world.COLON)


# -- issue 19: bad input to the worlds ------------------------------------------------------------
def test_pack_pages_masks_by_position_not_by_token_value():
    # a real token equal to pad_id (0) or bos_id (1) inside a page is a target; a page's first
    # token and the padding are not
    pages = [np.array([1, 5, 0, 2]), np.array([1, 6, 1, 2])]
    inputs, targets, mask = world.pack_pages(pages, 9)
    np.testing.assert_array_equal(targets, [[5, 0, 2, 1, 6, 1, 2, 0, 0]])
    np.testing.assert_array_equal(mask, [[True, True, True, False, True, True, True, False, False]])
    np.testing.assert_array_equal(inputs, [[1, 5, 0, 2, 1, 6, 1, 2, 0]])


@pytest.mark.parametrize("kwargs, message", [
    ({"heldout_fraction": 0.999}, r"heldout_fraction=0.999 of 144 pairs leaves 144 held out and 0 to train on"),
    ({"heldout_fraction": 0.001}, r"leaves 0 held out"),
    ({"heldout_fraction": "0.2"}, r"heldout_fraction must be a number strictly between 0 and 1; got '0.2'"),
    ({"seed": -1}, "seed must be an int >= 0"),
])
def test_task_world_needs_both_splits(kwargs, message):
    with pytest.raises(ValueError, match=message):
        world.TaskWorld(**kwargs)


@pytest.mark.parametrize("args, error, message", [
    (([np.array([1, 2])], 0), ValueError, "context_length must be an int >= 1; got 0"),
    (([np.array([1.0, 2.0])], 8), TypeError, r"pages_ids\[0\] must be a 1-D sequence of int token ids"),
    (([np.array([1, -3, 2])], 8), ValueError, r"pages_ids\[0\] holds a negative token id -3"),
    (([np.array([1, 2])], 8, -1), ValueError, "pad_id must be a token id"),
])
def test_page_tables_check_their_arguments(args, error, message):
    for function in (world.pack_pages, world.page_rows):
        with pytest.raises(error, match=message):
            function(*args)


def test_pad_groups_needs_one_k_for_every_prompt():
    from scratch.data import instructions

    prompts = [np.array([1]), np.array([1])]
    two, three = [np.array([3]), np.array([4])], [np.array([3]), np.array([4]), np.array([5])]
    with pytest.raises(ValueError, match=r"the same K; got group sizes \[2, 3\]"):
        instructions.pad_groups(prompts, [two, three], 0)  # it dropped the third response
    with pytest.raises(ValueError, match="group sizes"):
        instructions.pad_groups(prompts, [three, two], 0)  # an IndexError
    ids, lengths = instructions.pad_groups(prompts, [two, two], 0)
    assert ids.shape == (2, 2, 2) and lengths.tolist() == [[2, 2], [2, 2]]
