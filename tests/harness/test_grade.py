"""The autograder and the handout, end to end (the attacks on the grader: test_grade_attacks.py).

The expensive runs start in the background at the session's first test (see conftest's
``background``): grading the reference in production mode, exactly as Gradescope's
``run_autograder`` does (the autograder zip unpacked into a folder only root may read, the
reference's files submitted with ``--submission``, ``--gradescope`` results, and
``--run-as nobody`` when this machine can: root, and an interpreter that user may run,
``SCRATCH_NOBODY_PYTHON``, which ``.ci/run`` makes), every chapter through the student
process; listing every graded question; and in a freshly released handout the CLI grader
(with Gradescope output), ``grade --impl solutions`` and the ungraded tests.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from scratch.grading import grade, report, gradescope, release
from scratch.impl import PROJECT_ROOT

pytestmark = pytest.mark.instructor


def run_in_handout(outdir):
    """Release into ``outdir``; there, grade with the CLI and run the ungraded tests.

    All run as a newcomer would, in the handout folder with nothing else set up: no
    ``--impl`` (the handout has no ``solutions/``, so ``exercises`` is the default).
    """
    release.release(outdir)
    env = {k: v for k, v in os.environ.items() if k not in ("SCRATCH_IMPL", "PYTHONPATH")}
    env["OPENBLAS_NUM_THREADS"] = "1"

    def run(*command):
        return subprocess.run(command, cwd=outdir, env=env, capture_output=True, text=True, timeout=600)

    return {
        "graded": run(sys.executable, "-m", "scratch", "grade", "--gradescope", "results.json"),
        "ungraded": run(sys.executable, "-m", "pytest", "tests", "-m", "not points", "-q", "-rs",
                        "-p", "no:cacheprovider"),
        "solutions": run(sys.executable, "-m", "scratch", "grade", "--impl", "solutions"),
    }


def nobody_python():
    """``(interpreter, None)`` the user nobody may run with numpy, scipy and pytest, or
    ``(None, why not)``."""
    if os.geteuid() != 0:
        return None, "--run-as needs root"
    python = os.environ.get("SCRATCH_NOBODY_PYTHON")
    if not python:
        return None, "SCRATCH_NOBODY_PYTHON is not set (.ci/run makes one as root)"
    probe = subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c", f"{python} -c 'import numpy, scipy, pytest'"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"the user nobody cannot run {python}: {probe.stderr.strip()[-200:]}"
    return python, None


def grade_like_gradescope(base):
    """Write the autograder zip, unpack it into ``base`` (private to root), submit the
    reference's files, and grade as ``run_autograder`` does: ``(run, results, how)``."""
    os.chmod(base, 0o700)
    gradescope.write_autograder(base / "out")
    source = base / "source"
    with zipfile.ZipFile(base / "out" / "autograder.zip") as zipped:
        zipped.extractall(source)
    submitted = base / "submission"
    submitted.mkdir()
    for name in (base / "out" / "submission_files.txt").read_text().split():
        shutil.copyfile(PROJECT_ROOT / "solutions" / name, submitted / name)
    python, why_not = nobody_python()
    run_as = ["--run-as", "nobody"] if python else []
    env = {k: v for k, v in os.environ.items() if k not in ("SCRATCH_IMPL", "PYTHONPATH")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    results = base / "results.json"
    # A generous per-test limit: this run shares two cores with the rest of the suite.
    run = subprocess.run([python or sys.executable, "-m", "scratch", "grade", "--impl", "exercises",
                          "--submission", str(submitted), "--gradescope", str(results), "--timeout", "180",
                          *run_as], cwd=source, env=env, capture_output=True, text=True, timeout=900)
    return run, (json.loads(results.read_text()) if results.exists() else None), why_not


BACKGROUND_FOR = ("runs",)  # conftest's background: what start_background feeds


def start_background(pool, tmp_path_factory):
    outdir = tmp_path_factory.mktemp("handout") / "scratch-handout"
    return {"production": pool.submit(grade_like_gradescope, tmp_path_factory.mktemp("gradescope")),
            "all": pool.submit(grade.list_questions, "solutions", PROJECT_ROOT),
            "handout": pool.submit(run_in_handout, outdir), "outdir": outdir}


@pytest.fixture(scope="module")
def runs(background):
    started = background[__name__]
    return {name: started[name].result() for name in ("production", "all", "handout")} | {"outdir": started["outdir"]}


def test_the_reference_gets_full_points_in_production_mode(runs):
    run, results, _ = runs["production"]
    assert run.returncode == 0, run.stderr[-3000:]
    questions, errors = runs["all"]
    assert not errors
    failures = [(t["name"], t["output"][:300]) for t in results["tests"] if t["score"] != t["max_score"]]
    assert failures == []
    assert len(results["tests"]) == sum(len(q.tests) for q in questions)  # every chapter, hidden tests too
    assert results["score"] == sum(q.points for q in questions) > 0


def test_production_mode_ran_submitted_code_as_nobody(runs):
    run, results, why_not = runs["production"]
    if why_not:
        pytest.skip(f"graded as root, not as nobody: {why_not}")
    assert run.returncode == 0 and results["score"] > 0


def test_handout_grades_every_test_not_implemented(runs):
    outdir = runs["outdir"]
    assert not (outdir / "solutions").exists()
    assert (outdir / "exercises" / "mdp.py").is_file() and (outdir / "README.md").is_file()
    graded = runs["handout"]["graded"]
    assert graded.returncode == 0, graded.stderr
    assert "Grading exercises/" in graded.stdout and "Total: 0/" in graded.stdout
    results = json.loads((outdir / "results.json").read_text())
    questions, _ = runs["all"]
    assert len(results["tests"]) == sum(len(q.tests) for q in questions if not q.hidden) > 0
    assert results["score"] == 0
    wrong = [t["name"] for t in results["tests"] if not t["output"].startswith("not implemented yet: NotImplementedError")]
    assert wrong == [], "graded tests must fail with NotImplementedError on exercises/"


def test_ungraded_tests_pass_on_the_handout(runs):
    # Tests without points touch only the plumbing students are given; the instructor's
    # tooling tests skip there, saying why.
    ungraded = runs["handout"]["ungraded"]
    assert ungraded.returncode == 0, ungraded.stdout[-3000:]
    assert " passed" in ungraded.stdout and "failed" not in ungraded.stdout
    assert "instructor" in ungraded.stdout and "skipped" in ungraded.stdout


def test_handout_is_for_students(runs):
    outdir = runs["outdir"]
    assert not (outdir / ".ci").exists() and not (outdir / "tests" / "chapters" / "hidden").exists()
    readme = (outdir / "README.md").read_text()
    assert "student handout" in readme and "For instructors" not in readme and "$" not in readme
    assert "## What to submit" in readme and "- `exercises/mdp.py`" in readme
    assert "| 1.1 |" in readme  # the chapter tables, from the instructor's README
    introduction = readme[:readme.index("## ")]  # says what the whole handout holds, RLHF included
    assert all(topic in introduction for topic in ("MDP", "decoding", "pretraining", "SFT", "reward model", "RLHF"))
    assert "solutions" not in readme.replace("there is no solutions/", "")  # names no package students lack
    # grading solutions/ in a handout is a clear error, not a 0 score
    wrong = runs["handout"]["solutions"]
    assert wrong.returncode == 2 and "there is no solutions/ package" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_release_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "something").write_text("x")
    with pytest.raises(release.ReleaseError, match="not empty"):
        release.release(tmp_path)


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
    assert [q.key for q in grade.select(questions, "1.2, ngram")] == ["mdp::TestB", "ngram::TestC"]
    with pytest.raises(grade.GradingError, match="matches no question"):
        grade.select(questions, "9.9")
    # the choices come in lecture order, 12.2 before 12.10 (not as strings sort)
    many = grade.number_questions([dict(records[0], question=f"rlhf::Test{i}", chapter="rlhf") for i in range(11)])
    with pytest.raises(grade.GradingError, match=r"choose one of: rlhf, 12\.1, 12\.2, .*, 12\.9, 12\.10, 12\.11$"):
        grade.select(many, "13")


def test_readme_tables_match_the_graded_questions(runs):
    # README.md promises students a question number, a test class and its points per row.
    import re

    rows = re.findall(r"^\| (\d+\.\d+) \|.*\| `(\w+)` \| (\d+(?:\.\d+)?) \|$", (PROJECT_ROOT / "README.md").read_text(), re.M)
    in_readme = {number: (cls, float(points)) for number, cls, points in rows}
    questions, _ = runs["all"]
    graded = {q.number: (q.key.split("::")[-1], float(q.points)) for q in questions if not q.hidden}
    assert in_readme == graded, "update the chapter tables in README.md"
    total = sum(points for _, points in graded.values())
    assert f"({total:g} in all)" in (PROJECT_ROOT / "README.md").read_text()


def test_hidden_questions_come_after_their_chapter_and_show_after_the_due_date():
    records = [
        {"question": q, "title": q, "chapter": "mdp", "nodeid": f"{q}::t", "name": "t", "points": 1,
         "hidden": q.startswith("hidden/")}
        for q in ("mdp::TestA", "mdp::TestB", "hidden/mdp::TestC")
    ]
    questions = grade.number_questions(records)
    assert [(q.number, q.hidden) for q in questions] == [("1.1", False), ("1.2", False), ("1.3", True)]
    for q in questions:
        q.tests[0].status = "passed"
    tests = report.gradescope_results(questions, [])["tests"]
    assert [t["visibility"] for t in tests] == ["visible", "visible", "after_due_date"]
    tests = report.gradescope_results(questions, [], hidden_visibility="hidden")["tests"]
    assert tests[-1]["visibility"] == "hidden"


def test_hidden_tests_run_after_every_public_test():
    """A submission could record what a hidden test feeds it and show it in a later public
    test's feedback, which students see before the due date: hidden tests run after all
    public ones (the grader's order is the suite's, conftest.chapter_rank)."""
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                "-m", "points", str(PROJECT_ROOT / "tests" / "chapters")],
                               cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.splitlines()
    ids = [line for line in collected if "::" in line]
    hidden = [i for i, nodeid in enumerate(ids) if "/hidden/" in nodeid]
    assert hidden and min(hidden) > max(i for i, nodeid in enumerate(ids) if "/hidden/" not in nodeid)
