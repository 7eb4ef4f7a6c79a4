"""Fixtures of the chapter tests: the small pretrained model, after the exact check of the GPT."""

import pytest

from checks import check_gpt_forward


@pytest.fixture(scope="session")
def pretrained_small(impl, tmp_path_factory):
    """The LLM chapters' small pretrained GPT (``scratch.train.pretraining.SMALL``), trained once
    per test session with the implementation under test, in a pytest temporary folder (never
    the user's cache), after :func:`check_gpt_forward`. Returns (model, world, source)."""
    from scratch.train import pretraining

    check_gpt_forward(impl)
    model = pretraining.pretrained_gpt(impl, pretraining.SMALL, cache_dir=tmp_path_factory.mktemp("checkpoints"))
    return (model, *pretraining.build_world(pretraining.SMALL))
