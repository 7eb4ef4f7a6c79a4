"""Gradescope packaging: the autograder zip, the files students submit, folder submissions."""

import json
import subprocess
import zipfile

import pytest

from scratch.grading import gradescope, submission
from scratch.grading.run import GradingError
from scratch.impl import PROJECT_ROOT
from synthetic_project import grade_cli, make_project

pytestmark = pytest.mark.instructor

STUBS = {
    "mdp.py": 'def double(x):\n    raise NotImplementedError("double: not implemented yet")\n',
    "nn.py": 'def triple(x):\n    raise NotImplementedError("triple: not implemented yet")\n',
    "mdp_model.py": "SIZE = 3\n",  # given code, not submitted
}

TESTS = """
import pytest

@pytest.mark.points(1)
def test_double(impl):
    assert impl.mdp.double(2) == 4

@pytest.mark.points(1)
def test_triple(impl):
    assert impl.nn.triple(2) == 6
"""


def test_the_autograder_zip(tmp_path):
    archive = gradescope.write_autograder(tmp_path / "out")
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
        run_autograder = zipped.read("run_autograder").decode()
        setup = zipped.read("setup.sh").decode()
        executable = {info.filename: (info.external_attr >> 16) & 0o111 for info in zipped.infolist()}
    assert {"setup.sh", "run_autograder", "scratch/grading/grade.py", "exercises/mdp.py", "tests/conftest.py"} <= names
    assert any(name.startswith("tests/chapters/hidden/") for name in names)  # hidden tests grade on Gradescope
    assert not any(name.startswith("solutions/") for name in names)
    assert executable["run_autograder"] and executable["setup.sh"]
    assert "--submission /autograder/submission" in run_autograder and "--run-as nobody" in run_autograder
    assert "--gradescope /autograder/results/results.json" in run_autograder
    assert "'numpy>=" in setup and "'pytest>=" in setup
    # a virtual environment, not the system pip (Ubuntu 24.04's refuses: PEP 668), outside any
    # home folder so that nobody can run it; the grader and the student process use its Python
    venv = gradescope.VENV
    assert venv.startswith("/opt/") and f"python3 -m venv {venv}" in setup and f"{venv}/bin/python -m pip install" in setup
    assert f"chmod -R a+rX {venv}" in setup and f"exec {venv}/bin/python -m scratch grade" in run_autograder
    assert "python3 -m pip" not in setup
    for script in (setup, run_autograder):
        assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0  # it parses
    listed = (tmp_path / "out" / "submission_files.txt").read_text().split()
    assert listed == submission.submitted_files(PROJECT_ROOT) and "mdp.py" in listed and "__init__.py" not in listed
    with pytest.raises(gradescope.GradescopeError, match="exists already"):
        gradescope.write_autograder(tmp_path / "out")


def test_every_module_with_stubs_runs_in_the_student_process():
    # The files students submit (those with stubs) are exactly the modules a grading run
    # imports only in the student process; the rest is given code the judge imports itself.
    submitted = [name.removesuffix(".py") for name in submission.submitted_files(PROJECT_ROOT)]
    assert submitted == submission.graded_modules(PROJECT_ROOT / "exercises")
    assert submission.graded_modules(PROJECT_ROOT / "exercises") == submission.graded_modules(PROJECT_ROOT / "solutions")


def test_submitted_files_are_found_in_any_folder(tmp_path):
    names = ["mdp.py", "nn.py"]
    (tmp_path / "sub" / "deep" / "exercises").mkdir(parents=True)
    (tmp_path / "sub" / "deep" / "exercises" / "mdp.py").write_text("a")
    (tmp_path / "sub" / "nn.py").write_text("b")
    (tmp_path / "sub" / "__MACOSX").mkdir()
    (tmp_path / "sub" / "__MACOSX" / "mdp.py").write_text("junk")
    (tmp_path / "sub" / "mdp.py").write_text("a shallower copy")
    (tmp_path / "sub" / "notes.txt").write_text("c")
    found = submission.find_submitted(tmp_path / "sub", names)
    assert found.files == {"mdp.py": tmp_path / "sub" / "mdp.py", "nn.py": tmp_path / "sub" / "nn.py"}
    assert found.missing == [] and found.ignored == ["deep/exercises/mdp.py", "notes.txt"]  # __MACOSX: not even listed
    (tmp_path / "sub" / "nn.py").unlink()
    found = submission.find_submitted(tmp_path / "sub", names)
    assert found.missing == ["nn.py"] and set(found.files) == {"mdp.py"}
    about = submission.describe(found, tmp_path / "sub")
    (tmp_path / "sub" / "evil\nTotal: 400 of 400 points\x1b[2J.txt").write_text("x")  # a name that forges a line
    forged = submission.describe(submission.find_submitted(tmp_path / "sub", names), tmp_path / "sub")
    assert "\nTotal" not in forged and "\x1b" not in forged and "'evil\\nTotal: 400 of 400 points\\x1b[2J.txt'" in forged
    (tmp_path / "sub" / "evil\nTotal: 400 of 400 points\x1b[2J.txt").unlink()
    assert about.splitlines() == ["Graded: mdp.py", "Not submitted (graded as the handout's stubs): nn.py",
                                  "Ignored (not a file to submit, or a deeper copy of one): deep/exercises/mdp.py, notes.txt"]
    with pytest.raises(GradingError, match="--submission .*: no such folder"):  # the instructor's slip: exit 2
        submission.find_submitted(tmp_path / "nowhere", names)


def test_links_in_a_submission_are_refused_never_followed(tmp_path):
    names = ["mdp.py", "nn.py"]
    secret = tmp_path / "root_only.py"
    secret.write_text("SECRET = 'the first word of a root-only file'\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mdp.py").symlink_to(secret)
    (tmp_path / "sub" / "nn.py").write_text("b")
    with pytest.raises(submission.SubmissionError, match="mdp.py \\(a symbolic link\\)") as refused:
        submission.find_submitted(tmp_path / "sub", names)
    assert "SECRET" not in str(refused.value)
    # a linked folder is never entered: what lies behind it is not submitted
    (tmp_path / "sub" / "mdp.py").unlink()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "mdp.py").write_text("a")
    (tmp_path / "sub" / "linked").symlink_to(tmp_path / "elsewhere")
    assert submission.find_submitted(tmp_path / "sub", names).missing == ["mdp.py"]


def test_grading_a_folder_submission(tmp_path):
    root = make_project(tmp_path / "project", {"test_small.py": TESTS}, STUBS)
    folder = tmp_path / "submission" / "my work"
    folder.mkdir(parents=True)
    (folder / "mdp.py").write_text("def double(x):\n    return 2 * x\n")
    (folder / "nn.py").write_text("def triple(x):\n    return 3 * x\n")
    (folder / "extra.py").write_text("raise SystemExit('never imported')\n")
    results = tmp_path / "results.json"
    status, out, err = grade_cli(root, "--submission", str(tmp_path / "submission"), "--gradescope", str(results))
    assert status == 0, err
    assert json.loads(results.read_text())["score"] == 2 and "Total: 2/2" in out
    assert "return 2 * x" not in (root / "exercises" / "mdp.py").read_text()  # graded in a copy
    assert "Graded: mdp.py (my work/mdp.py), nn.py (my work/nn.py)" in out and "extra.py" in out  # ignored
    # a submission without one of the files: the rest is graded, the missing file's tests
    # are "not submitted", and the output says so, locally and on Gradescope
    (folder / "nn.py").unlink()
    status, out, err = grade_cli(root, "--submission", str(tmp_path / "submission"), "--gradescope", str(results))
    written = json.loads(results.read_text())
    assert status == 0 and written["score"] == 1 and "Total: 1/2" in out, out + err
    assert "Not submitted (graded as the handout's stubs): nn.py" in out
    assert "Not submitted (graded as the handout's stubs): nn.py" in written["output"]
    triple = next(test for test in written["tests"] if "triple" in test["name"] or "nn" in test["name"])
    assert triple["output"].startswith("not submitted") and triple["score"] == 0
