"""No graded test passes for a trivial implementation (all zeros, all ones, identity).

Every graded test of every chapter in ``scratch.impl.CHAPTERS`` (public and hidden; a new
chapter is picked up with no edit here) is graded on three packages made from
``solutions/`` by ``trivial_implementations``: each graded function returns the right
structure, shapes and dtypes, filled with zeros, with ones, or with its own input. A test that
passes there gives points for work that was not done; strengthen that test (compare the
forward with numbers derived by hand, not only the backward with the forward), never this one.

Cost: the three runs start in the background at the session's first test (conftest's
``background``), with a short per-test limit. A test slower than that
limit on trivial code (a training loop that does not check its forward first) counts as
"timed out", a non-pass, so this meta-test cannot say whether it would have passed; such
tests must check something cheap and exact before they train, which is what keeps them
in reach of this test.

The three trees differ only in the variant named in their ``exercises/`` footers; their
``tests/`` are copies of the same files, and collecting never calls a graded function (the
wrappers act when called), so the grader's collection is made once, in the first tree, and
each variant's tests then run in their own tree through ``grade.run_questions`` (the
grader's own run: subprocesses, per-test limit, budget, signed channel). A collection costs
a grading subprocess about 3 s of CPU (pytest, SciPy and every test module imported); the
two saved are a tenth of the suite's background work.
"""

import tempfile

import pytest

from scratch import grade, grading_run
from scratch.impl import PROJECT_ROOT
from trivial_implementations import VARIANTS, write_project

pytestmark = pytest.mark.instructor

PER_TEST_SECONDS = 5.0
BUDGET_SECONDS = 200.0


def collect_graded_tests(root):
    """``(collected, errors)``: the grader's collection of the graded tests in ``root``."""
    with tempfile.TemporaryDirectory() as workdir:
        return grading_run.collect("exercises", root, workdir)


def grade_trivial(root, collection):
    """Grade the trivial tree ``root`` on the tests of ``collection`` (a future of
    :func:`collect_graded_tests`): ``(questions, collection errors)``, as ``grade.grade``
    returns them; no screen (the wrappers import this folder's helper module)."""
    collected, errors = collection.result()
    questions = grade.number_questions(collected)
    with tempfile.TemporaryDirectory() as workdir:
        grade.run_questions("exercises", questions, root, workdir, PER_TEST_SECONDS, BUDGET_SECONDS)
    return questions, errors


BACKGROUND_FOR = ("trivial_runs",)  # conftest's background: what start_background feeds


def start_background(pool, tmp_path_factory):
    roots = {v: write_project(tmp_path_factory.mktemp(v), PROJECT_ROOT, v) for v in VARIANTS}
    collection = pool.submit(collect_graded_tests, roots[VARIANTS[0]])
    return {v: pool.submit(grade_trivial, roots[v], collection) for v in VARIANTS}


@pytest.fixture(scope="module")
def trivial_runs(background):
    return {variant: future.result() for variant, future in background[__name__].items()}


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_graded_test_passes_on_trivial_code(trivial_runs, variant):
    questions, errors = trivial_runs[variant]
    assert errors == []
    assert len(questions) > 0
    passed = [f"{q.number} {t.nodeid}" for q in questions for t in q.tests if t.status == "passed"]
    assert passed == [], f"these graded tests pass when every graded function returns {variant}"
