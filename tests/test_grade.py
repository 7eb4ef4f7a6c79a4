"""The autograder and the handout, end to end.

The expensive runs start together in threads at the first test that needs them: grading
``solutions/`` in full, and in a freshly released handout the CLI grader (with Gradescope
output) and the ungraded tests. Each is a subprocess, so the two cores share them.
"""

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from scratch import grade, release
from scratch.impl import PROJECT_ROOT

HARNESS_TESTS = ("test_build.py", "test_grade.py")


def run_in_handout(outdir):
    """Release into ``outdir``; there, grade with the CLI and run the ungraded chapter tests.

    Both run as a newcomer would, in the handout folder with nothing else set up: no
    ``--impl`` (the handout has no ``solutions/``, so ``exercises`` is the default).
    """
    release.release(outdir)
    env = {k: v for k, v in os.environ.items() if k not in ("SCRATCH_IMPL", "PYTHONPATH")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    graded = subprocess.run(
        [sys.executable, "-m", "scratch", "grade", "--gradescope", "results.json"],
        cwd=outdir, env=env, capture_output=True, text=True, timeout=600,
    )
    ignore = [f"--ignore=tests/{name}" for name in HARNESS_TESTS]
    ungraded = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-m", "not points", "-q", "-p", "no:cacheprovider", *ignore],
        cwd=outdir, env=env, capture_output=True, text=True, timeout=600,
    )
    return graded, ungraded


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("handout") / "scratch-handout"
    student = tmp_path_factory.mktemp("student")
    with ThreadPoolExecutor(max_workers=3) as pool:
        solutions = pool.submit(grade.grade, "solutions", PROJECT_ROOT)
        handout = pool.submit(run_in_handout, outdir)
        misbehaving = pool.submit(grade_misbehaving_project, student)
        return {
            "solutions": solutions.result(),
            "handout": handout.result(),
            "outdir": outdir,
            "misbehaving": misbehaving.result(),
        }


def test_solutions_get_full_points(runs):
    questions, errors = runs["solutions"]
    assert not errors
    failures = [(t.nodeid, t.status, t.message) for q in questions for t in q.tests if t.status != "passed"]
    assert failures == []
    assert sum(q.score for q in questions) == sum(q.points for q in questions) > 0


def test_handout_grades_every_test_not_implemented(runs):
    outdir = runs["outdir"]
    assert not (outdir / "solutions").exists()
    assert (outdir / "exercises" / "mdp.py").is_file() and (outdir / "README.md").is_file()
    graded, _ = runs["handout"]
    assert graded.returncode == 0, graded.stderr
    assert "Grading exercises/" in graded.stdout and "Total: 0/" in graded.stdout
    results = json.loads((outdir / "results.json").read_text())
    questions, _ = runs["solutions"]
    assert len(results["tests"]) == sum(len(q.tests) for q in questions) > 0
    assert results["score"] == 0
    wrong = [t["name"] for t in results["tests"] if not t["output"].startswith("not implemented yet: NotImplementedError")]
    assert wrong == [], "graded tests must fail with NotImplementedError on exercises/"


def test_ungraded_tests_pass_on_the_handout(runs):
    # Tests without points touch only the plumbing students are given.
    _, ungraded = runs["handout"]
    assert ungraded.returncode == 0, ungraded.stdout[-3000:]
    assert " passed" in ungraded.stdout and "failed" not in ungraded.stdout


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

@pytest.mark.points(1)
def test_skips_itself():
    pytest.skip("student code called pytest.skip")

@pytest.mark.points(1)
@pytest.mark.xfail(reason="marked as expected to fail")
def test_expected_failure():
    assert False

@pytest.mark.points(1)
@pytest.mark.parametrize("case", ["a::b"])
def test_odd_id(case):
    assert case == "a::b"
"""

BROKEN_TESTS = "def test_cannot_import(:\n"


def grade_misbehaving_project(root):
    (root / "tests").mkdir()
    (root / "tests" / "conftest.py").write_text(CONFTEST)
    (root / "tests" / "test_misbehaviour.py").write_text(textwrap.dedent(STUDENT_TESTS))
    (root / "tests" / "test_zz_broken.py").write_text(BROKEN_TESTS)
    # The grader's plugin is imported from the graded project: lend it this checkout's.
    (root / "scratch").symlink_to(PROJECT_ROOT / "scratch", target_is_directory=True)
    return grade.grade("exercises", root, timeout=2.0)


@pytest.fixture
def misbehaving(runs):
    return runs["misbehaving"]


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
    assert status["test_skips_itself"] == ("failed", "Skipped: student code called pytest.skip")
    assert status["test_expected_failure"][0] == "failed" and "xfail" in status["test_expected_failure"][1]
    assert status["test_odd_id[a::b]"][0] == "passed"
    # a test file that cannot be imported is reported, and costs nothing else
    assert [e["nodeid"] for e in errors] == ["tests/test_zz_broken.py"]
    assert [q.title for q in questions][0] == "Question A"
    assert sum(q.score for q in questions) == 4 and sum(q.points for q in questions) == 12


def test_gradescope_results(misbehaving, tmp_path):
    questions, errors = misbehaving
    results = json.loads(json.dumps(grade.gradescope_results(questions, errors)))
    assert results["score"] == 4
    assert len(results["tests"]) == 10
    assert "collection error in tests/test_zz_broken.py" in results["output"]
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed") and 0 <= test["score"] <= test["max_score"]
    hung = next(t for t in results["tests"] if t["name"].endswith("test_hangs"))
    assert hung["output"].startswith("timed out")


def test_question_selection():
    records = [
        {"question": q, "title": q, "chapter": q.split("::")[0], "nodeid": f"{q}::t", "name": "t", "points": 1}
        for q in ("mdp::TestA", "mdp::TestB", "ngram::TestC")
    ]
    questions = grade.number_questions(records)
    assert [q.number for q in questions] == ["1.1", "1.2", "2.1"]
    assert [q.key for q in grade.select(questions, "mdp")] == ["mdp::TestA", "mdp::TestB"]
    assert [q.key for q in grade.select(questions, "1.2")] == ["mdp::TestB"]
    assert [q.key for q in grade.select(questions, "2")] == ["ngram::TestC"]
    assert [q.key for q in grade.select(questions, "TestC")] == ["ngram::TestC"]
    with pytest.raises(grade.GradingError, match="matches no question"):
        grade.select(questions, "9.9")


def test_readme_tables_match_the_graded_questions(runs):
    # README.md promises students a question number, a test class and its points per row.
    import re

    rows = re.findall(r"^\| (\d+\.\d+) \|.*\| `(\w+)` \| (\d+(?:\.\d+)?) \|$", (PROJECT_ROOT / "README.md").read_text(), re.M)
    in_readme = {number: (cls, float(points)) for number, cls, points in rows}
    questions, _ = runs["solutions"]
    graded = {q.number: (q.key.split("::")[-1], float(q.points)) for q in questions}
    assert in_readme == graded, "update the chapter tables in README.md"
    total = sum(points for _, points in graded.values())
    assert f"({total:g} in all)" in (PROJECT_ROOT / "README.md").read_text()
