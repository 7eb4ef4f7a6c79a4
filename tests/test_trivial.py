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
"""

import pytest

from scratch import grade
from scratch.impl import PROJECT_ROOT
from trivial_implementations import VARIANTS, write_project

pytestmark = pytest.mark.instructor

PER_TEST_SECONDS = 5.0


def grade_trivial(root, variant):
    write_project(root, PROJECT_ROOT, variant)
    questions, errors = grade.grade("exercises", root, timeout=PER_TEST_SECONDS, budget=200.0, screen=False)
    return questions, errors


BACKGROUND_FOR = ("trivial_runs",)  # conftest's background: what start_background feeds


def start_background(pool, tmp_path_factory):
    return {v: pool.submit(grade_trivial, tmp_path_factory.mktemp(v), v) for v in VARIANTS}


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
