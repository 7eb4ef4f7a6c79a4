"""The autograder and the handout, end to end.

The expensive runs (grading ``solutions/``, and every test of a freshly released handout on
``exercises/``) start together in threads at the first test of this file: each is a pytest
subprocess, so the two cores share them.
"""

import json
import os
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from scratch import grade, release
from scratch.impl import PROJECT_ROOT

HARNESS_TESTS = ("test_build.py", "test_grade.py")


def handout_outcomes(outdir):
    """Release into ``outdir``, then run every chapter test there on ``exercises/``."""
    release.release(outdir)
    collected, errors = grade.collect("exercises", outdir, graded_only=False)
    chapter_tests = [r for r in collected if r["nodeid"].split("::")[0].rsplit("/", 1)[-1] not in HARNESS_TESTS]
    outcomes = grade.run_tests("exercises", [r["nodeid"] for r in chapter_tests], outdir)
    return chapter_tests, errors, outcomes


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("handout") / "scratch-handout"
    with ThreadPoolExecutor(max_workers=3) as pool:
        solutions = pool.submit(grade.grade, "solutions", PROJECT_ROOT)
        handout = pool.submit(handout_outcomes, outdir)
        handout_grade = pool.submit(lambda: (handout.result(), grade.grade("exercises", outdir))[1])
        return {
            "solutions": solutions.result(),
            "handout": handout.result(),
            "handout_grade": handout_grade.result(),
            "outdir": outdir,
        }


def test_solutions_get_full_points(runs):
    questions, errors = runs["solutions"]
    assert not errors
    failures = [(t.nodeid, t.status, t.message) for q in questions for t in q.tests if t.status != "passed"]
    assert failures == []
    assert sum(q.score for q in questions) == sum(q.points for q in questions) > 0


def test_every_graded_test_is_not_implemented_in_exercises(runs):
    tests, errors, outcomes = runs["handout"]
    assert not errors
    graded = [r["nodeid"] for r in tests if r["points"]]
    ungraded = [r["nodeid"] for r in tests if not r["points"]]
    assert graded, "no graded tests were collected"
    wrong = {n: outcomes[n] for n in graded if outcomes[n][0] != "not_implemented"}
    assert wrong == {}, "graded tests must fail with NotImplementedError on exercises/"
    broken = {n: outcomes[n] for n in ungraded if outcomes[n][0] != "passed"}
    assert broken == {}, "ungraded tests touch only plumbing and must pass on exercises/"


def test_handout_has_no_solutions_and_grades_zero(runs):
    outdir = runs["outdir"]
    assert not (outdir / "solutions").exists()
    assert (outdir / "exercises" / "mdp.py").is_file() and (outdir / "README.md").is_file()
    questions, errors = runs["handout_grade"]
    assert not errors
    assert sum(q.score for q in questions) == 0
    assert {t.status for q in questions for t in q.tests} == {"not_implemented"}
    report = grade.format_report(questions, errors, "exercises", 60)
    assert "Total: 0/" in report and "failed" not in report.split("Total")[0]


def test_release_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "something").write_text("x")
    with pytest.raises(release.ReleaseError, match="not empty"):
        release.release(tmp_path)


# --- misbehaving student code, on a synthetic project --------------------------------------------

CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--impl", default="exercises")
"""

STUDENT_TESTS = """
import os, sys, time
import pytest

class TestMisbehaviour:
    '''Question A'''
    @pytest.mark.points(1)
    def test_passes(self):
        assert 1 + 1 == 2

    @pytest.mark.points(2)
    def test_stub(self):
        raise NotImplementedError("double: not implemented yet")

    @pytest.mark.points(1)
    def test_wrong(self):
        assert 2 + 2 == 5, "arithmetic is off"

    @pytest.mark.points(1)
    def test_sys_exit(self):
        sys.exit(3)

@pytest.mark.points(1)
def test_hard_exit():
    os._exit(7)

@pytest.mark.points(1)
def test_hangs():
    while True:
        time.sleep(0.01)

@pytest.mark.points(2)
def test_after_the_trouble():
    assert True

def test_ungraded_is_ignored():
    assert False
"""


@pytest.fixture(scope="module")
def misbehaving(tmp_path_factory):
    root = tmp_path_factory.mktemp("student")
    (root / "tests").mkdir()
    (root / "tests" / "conftest.py").write_text(CONFTEST)
    (root / "tests" / "test_misbehaviour.py").write_text(textwrap.dedent(STUDENT_TESTS))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(PROJECT_ROOT)  # the synthetic project has no scratch/ of its own
    try:
        return grade.grade("exercises", root, timeout=2.0)
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


def test_grader_survives_exits_crashes_and_hangs(misbehaving):
    questions, errors = misbehaving
    status = {t.name: (t.status, t.message) for q in questions for t in q.tests}
    assert status["test_passes"][0] == "passed"
    assert status["test_stub"] == ("not_implemented", "NotImplementedError: double: not implemented yet")
    assert status["test_wrong"][0] == "failed" and "arithmetic is off" in status["test_wrong"][1]
    assert status["test_sys_exit"][0] == "failed" and "SystemExit" in status["test_sys_exit"][1]
    assert status["test_hard_exit"] == ("crashed", "the test process exited with code 7 during this test")
    assert status["test_hangs"][0] == "timed_out"
    assert status["test_after_the_trouble"][0] == "passed"
    assert "test_ungraded_is_ignored" not in status
    assert [q.title for q in questions][0] == "Question A"
    assert sum(q.score for q in questions) == 3 and sum(q.points for q in questions) == 9


def test_gradescope_results(misbehaving, tmp_path):
    questions, errors = misbehaving
    results = json.loads(json.dumps(grade.gradescope_results(questions, errors)))
    assert results["score"] == 3
    assert len(results["tests"]) == 7
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed") and 0 <= test["score"] <= test["max_score"]
    hung = next(t for t in results["tests"] if t["name"].endswith("test_hangs"))
    assert hung["output"].startswith("timed out")


def test_cli_grades_one_question_and_writes_gradescope(tmp_path, capsys):
    from scratch import __main__ as cli

    path = tmp_path / "out" / "results.json"
    assert cli.main(["grade", "--impl", "exercises", "--question", "1.4", "--gradescope", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1.4" in out and "not implemented yet" in out and "Total: 0/" in out
    results = json.loads(path.read_text())
    assert results["score"] == 0 and all(t["number"] == "1.4" for t in results["tests"])


def test_unknown_question_is_a_clear_error():
    with pytest.raises(grade.GradingError, match="matches no question"):
        grade.select(grade.number_questions([
            {"question": "mdp::TestA", "title": "A", "chapter": "mdp", "nodeid": "x", "points": 1}
        ]), "9.9")
