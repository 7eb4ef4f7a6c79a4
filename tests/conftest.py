"""Shared test set-up: the implementation under test and the lecture order.

``tests/chapters/`` holds the graded tests, one file per chapter (``checks.py``: their
helpers); ``tests/harness/`` the harness's own tests (the builder, the grader and its
attacks, the meta-tests, the loops, bad input).

Tests never import ``solutions`` or ``exercises`` by name: they take the ``impl`` fixture
and read modules off it (``impl.mdp``), so the same tests grade either package.
Select with ``pytest --impl=solutions|exercises`` or the ``SCRATCH_IMPL`` variable.
"""

import os
import sys
from pathlib import Path

# As in the grader (scratch/grading/grade.py): the tests multiply small matrices, where BLAS threads
# cost more than they give (the GPT training test takes ~10 s on two threads, ~6 s on one).
# Set before NumPy is first imported, so it takes effect; export the variable to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# The grading runs of the suite share two cores with the chapter tests: their judges and
# student processes poll their pipes 100 us before they sleep, not the 1 ms a grader with
# the machine to itself uses (scratch/grading/wire.py, SPIN_SECONDS).
os.environ.setdefault("SCRATCH_SPIN_SECONDS", "1e-4")

import pytest  # noqa: E402  (after the BLAS setting on purpose)

# The test files of both rooms import their helpers as ``checks`` (tests/chapters/checks.py),
# and this conftest imports its background runs as ``harness.background``.
sys.path[:0] = [str(Path(__file__).parent / "chapters"), str(Path(__file__).parent)]

from harness.background import background  # noqa: E402,F401  (the harness tests' runs, started with the session)
from scratch.impl import CHAPTERS, PROJECT_ROOT, Impl, default_impl_name  # noqa: E402

NO_SOLUTIONS = "for instructors (the builder's and the grader's own tests): the handout has no solutions/"


def pytest_addoption(parser):
    parser.addoption(
        "--impl",
        choices=("solutions", "exercises"),
        default=None,
        help="implementation under test (default: $SCRATCH_IMPL, else solutions if present, else exercises)",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): points this graded test is worth")
    config.addinivalue_line("markers", "instructor: needs solutions/ (skipped in the student handout)")


@pytest.fixture(scope="session")
def impl(request):
    """The implementation under test; ``impl.mdp`` is its ``mdp`` module. In ``scratch grade``
    it is the submitted package in a process of its own, reached by round trips
    (``scratch/grading/remote.py``); in plain ``pytest``, the package itself."""
    from scratch.grading.plugin import remote_impl

    return remote_impl(request.config) or Impl(request.config.getoption("--impl") or default_impl_name())


def chapter_rank(item):
    """Position of a test's file: the public chapter tests in lecture order, then every hidden
    test (``tests/chapters/hidden/``, in lecture order too), then the harness's. Hidden tests
    come after ALL public ones, not after their own chapter's: a submission that records the
    inputs a hidden test gives it could otherwise show them in a later public test's feedback,
    which students see before the due date."""
    stem = item.path.stem.removeprefix("test_").removesuffix("_hidden")
    chapter = CHAPTERS.index(stem) if stem in CHAPTERS else len(CHAPTERS)
    return (chapter == len(CHAPTERS), item.path.parent.name == "hidden", chapter)


def pytest_collection_modifyitems(session, config, items):
    # Stable sort: files in lecture order, tests inside a file in source order.
    items.sort(key=chapter_rank)
    if not (PROJECT_ROOT / "solutions" / "__init__.py").is_file():
        for item in items:
            if item.get_closest_marker("instructor"):
                item.add_marker(pytest.mark.skip(reason=NO_SOLUTIONS))
