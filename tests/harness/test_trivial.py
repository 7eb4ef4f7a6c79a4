"""No graded test passes for a trivial implementation (zeros, ones, 0.5, NaN, random numbers,
its own input, objects that say they equal anything, fully masked arrays, inputs zeroed in
place, a zero forward that keeps its cache).

Every graded test of every chapter in ``scratch.impl.CHAPTERS`` (public and hidden; a new
chapter is picked up with no edit here) is graded on packages made from ``solutions/`` by
``trivial_implementations``, one per variant of ``trivial_wrappers.VARIANTS``: each graded
function returns the right structure, shapes and dtypes, filled trivially. A test that passes
there gives points for work that was not done; strengthen that test (compare the forward with
numbers derived by hand or committed, compute expected values before the call or from fresh
inputs, compare through ``checks.py``), never this one.

The variants are graded as the grader grades (the package in a student process of its own,
``grade.run_questions``), except those whose attack works only inside the tests' process
(objects that the grader keeps as handles, inputs that it hands over as copies): they are
graded in-process, as plain ``pytest`` runs the tests (``run_questions(..., remote=False)``),
where they are strongest; a student running the tests must not see points for them either.

Cost: the runs start in the background at the session's first test (conftest's
``background``), with a short per-test limit. A test slower than that
limit on trivial code (a training loop that does not check its forward first) counts as
"timed out", a non-pass, so this meta-test cannot say whether it would have passed; such
tests must check something cheap and exact before they train, which is what keeps them
in reach of this test.

The trees differ only in the variant named in their ``exercises/`` footers; their
``tests/`` are copies of the same files, and collecting never calls a graded function (the
wrappers act when called), so the grader's collection is made once, in the first tree, and
each variant's tests then run in their own tree through ``grade.run_questions`` (the
grader's own run: subprocesses, per-test limit, budget, signed channel). A collection costs
a grading subprocess about 3 s of CPU (pytest, SciPy and every test module imported).
"""

import tempfile

import pytest

from scratch.grading import grade, run
from scratch.impl import PROJECT_ROOT
from trivial_implementations import VARIANTS, write_project

pytestmark = pytest.mark.instructor

PER_TEST_SECONDS = 5.0
BUDGET_SECONDS = 200.0

# Graded in-process instead: through the grader their attack is weaker, not stronger. The
# always-equal and masked answers come back to the tests as handles, which fail the same type
# check as the objects themselves (and tests/harness/test_grade_attacks.py grades both through the
# grader); the zeroed inputs are the grader's copies of the arguments, never the tests' own.
IN_PROCESS = ("always_equal", "masked", "zeroed_inputs")
RUNS = ([(variant, "grader") for variant in VARIANTS if variant not in IN_PROCESS]
        + [(variant, "in_process") for variant in IN_PROCESS])


def collect_graded_tests(root):
    """``(collected, errors)``: the grader's collection of the graded tests in ``root``."""
    with tempfile.TemporaryDirectory() as workdir:
        return run.collect("exercises", root, workdir)


def grade_trivial(root, collection, mode):
    """Grade the trivial tree ``root`` on the tests of ``collection`` (a future of
    :func:`collect_graded_tests`) in ``mode`` ("grader" or "in_process"): ``(questions,
    collection errors)``, as ``grade.grade`` returns them; no screen (the wrappers are not
    what a student may write)."""
    collected, errors = collection.result()
    questions = grade.number_questions(collected)
    with tempfile.TemporaryDirectory() as workdir:
        grade.run_questions("exercises", questions, root, workdir, PER_TEST_SECONDS, BUDGET_SECONDS,
                            remote=mode == "grader")
    return questions, errors


BACKGROUND_FOR = ("trivial_runs",)  # conftest's background: what start_background feeds


def start_background(pool, tmp_path_factory):
    roots = {v: write_project(tmp_path_factory.mktemp(v), PROJECT_ROOT, v) for v in VARIANTS}
    collection = pool.submit(collect_graded_tests, roots[VARIANTS[0]])
    return {(v, mode): pool.submit(grade_trivial, roots[v], collection, mode) for v, mode in RUNS}


@pytest.fixture(scope="module")
def trivial_runs(background):
    return {run: future.result() for run, future in background[__name__].items()}


@pytest.mark.parametrize("variant, mode", RUNS, ids=[f"{v}-{mode}" for v, mode in RUNS])
def test_no_graded_test_passes_on_trivial_code(trivial_runs, variant, mode):
    questions, errors = trivial_runs[variant, mode]
    assert errors == []
    assert len(questions) > 0
    passed = [f"{q.number} {t.nodeid}" for q in questions for t in q.tests if t.status == "passed"]
    assert passed == [], (f"these graded tests pass ({mode}) when every graded function returns {variant}:\n"
                          + "\n".join(passed))
