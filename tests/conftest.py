"""Shared test set-up: the implementation under test and the lecture order.

Tests never import ``solutions`` or ``exercises`` by name: they take the ``impl`` fixture
and read modules off it (``impl.mdp``), so the same tests grade either package.
Select with ``pytest --impl=solutions|exercises`` or the ``SCRATCH_IMPL`` variable.
"""

import os

# As in the grader (scratch/grade.py): the tests multiply small matrices, where BLAS threads
# cost more than they give (the GPT training test takes ~10 s on two threads, ~6 s on one).
# Set before NumPy is first imported, so it takes effect; export the variable to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402  (after the BLAS setting on purpose)

from scratch.impl import CHAPTERS, Impl, default_impl_name  # noqa: E402


def pytest_addoption(parser):
    parser.addoption(
        "--impl",
        choices=("solutions", "exercises"),
        default=None,
        help="implementation under test (default: $SCRATCH_IMPL, else solutions if present, else exercises)",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): points this graded test is worth")


@pytest.fixture(scope="session")
def impl(request):
    """The implementation under test; ``impl.mdp`` is its ``mdp`` module."""
    return Impl(request.config.getoption("--impl") or default_impl_name())


def chapter_rank(item):
    """Position of a test's file in the lecture (harness tests last)."""
    stem = item.path.stem.removeprefix("test_")
    return CHAPTERS.index(stem) if stem in CHAPTERS else len(CHAPTERS)


def pytest_collection_modifyitems(session, config, items):
    # Stable sort: files in lecture order, tests inside a file in source order.
    items.sort(key=chapter_rank)


@pytest.fixture(scope="session")
def pretrained_small(impl, tmp_path_factory):
    """The LLM chapters' small pretrained GPT (``scratch.pretraining.SMALL``), trained once
    per test session with the implementation under test, in a pytest temporary folder (never
    the user's cache). Returns (model, world, source)."""
    from scratch import pretraining

    model = pretraining.pretrained_gpt(impl, pretraining.SMALL, cache_dir=tmp_path_factory.mktemp("checkpoints"))
    return (model, *pretraining.build_world(pretraining.SMALL))
