"""The mirror: ``exercises/`` is exactly what ``python -m scratch build`` makes of ``solutions/``."""

import ast
import re
import shutil
from pathlib import Path

import pytest

from scratch import __main__ as cli
from scratch.grading import build
from scratch.impl import PROJECT_ROOT

pytestmark = pytest.mark.instructor

SOLUTIONS, EXERCISES = PROJECT_ROOT / "solutions", PROJECT_ROOT / "exercises"

SAMPLE = '''\
def double(x):
    """Twice x."""
    if x is None:
        raise ValueError("x must be a number")
    ### BEGIN SOLUTION
    ### HINT: one multiplication
    return 2 * x
    ### END SOLUTION


class Model:
    def forward(self, x):
        ### BEGIN SOLUTION
        return x
        ### END SOLUTION
'''


def test_regions_become_stubs_and_the_rest_is_kept():
    out = build.strip_solutions(SAMPLE)
    assert "return 2 * x" not in out and "return x\n" not in out
    assert '    # TODO: one multiplication\n    raise NotImplementedError("double: not implemented yet")\n' in out
    assert '        # TODO: implement Model.forward (see the docstring)\n' in out
    assert 'raise NotImplementedError("Model.forward: not implemented yet")' in out
    assert 'raise ValueError("x must be a number")' in out  # validation outside markers stays
    assert '"""Twice x."""' in out
    namespace = {}
    exec(compile(out, "<stub>", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="double"):
        namespace["double"](1)


@pytest.mark.parametrize(
    "source, message",
    [
        ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n", r"x.py:3: .*nest"),
        ("def f():\n    return 1\n    ### END SOLUTION\n", r"x.py:3: .*without a matching"),
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", r"x.py:2: .*never closed"),
    ],
)
def test_unbalanced_markers_name_file_and_line(source, message):
    with pytest.raises(build.MarkerError, match=message):
        build.strip_solutions(source, "x.py")


def test_exercises_match_a_fresh_build():
    assert build.differences(SOLUTIONS, EXERCISES) == [], "run `python -m scratch build`"


def graded_functions(source):
    """Names of the functions whose body (directly) holds a solution region."""
    tree = ast.parse(source)
    lines = source.splitlines()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = lines[node.lineno - 1 : node.end_lineno]
            if any(line.strip() == build.BEGIN for line in body):
                names.add(node.name)
    return names


@pytest.mark.parametrize("module", sorted(p.name for p in SOLUTIONS.glob("*.py")))
def test_every_graded_function_raises_in_exercises(module):
    solution = (SOLUTIONS / module).read_text()
    exercise = (EXERCISES / module).read_text()
    markers = [line for line in exercise.splitlines() if line.strip().startswith((build.BEGIN, build.END))]
    assert markers == []
    for name in graded_functions(solution):
        stub = re.compile(rf'raise NotImplementedError\("(\w+\.)?{name}: not implemented yet"\)')
        assert stub.search(exercise), name


def test_check_names_each_stale_file(tmp_path, monkeypatch, capsys):
    shutil.copytree(SOLUTIONS, tmp_path / "solutions", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(EXERCISES, tmp_path / "exercises", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cli, "PROJECT_ROOT", tmp_path)
    assert cli.main(["build", "--check"]) == 0
    with open(tmp_path / "exercises" / "mdp.py", "a") as f:
        f.write("# edited by hand\n")
    (tmp_path / "exercises" / "stale.py").write_text("x = 1\n")
    before = (tmp_path / "exercises" / "mdp.py").read_text()
    assert cli.main(["build", "--check"]) == 1
    out = capsys.readouterr().out
    assert "exercises/mdp.py differs" in out and "exercises/stale.py differs" in out
    assert (tmp_path / "exercises" / "mdp.py").read_text() == before  # --check changes nothing
    assert cli.main(["build"]) == 0
    assert cli.main(["build", "--check"]) == 0
    assert not (tmp_path / "exercises" / "stale.py").exists()


def test_build_reports_marker_errors(tmp_path, monkeypatch, capsys):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "bad.py").write_text("def f():\n    ### BEGIN SOLUTION\n    return 1\n")
    monkeypatch.setattr(cli, "PROJECT_ROOT", tmp_path)
    assert cli.main(["build"]) == 2
    assert "bad.py:2" in capsys.readouterr().err


def test_a_misindented_region_is_a_build_error(tmp_path):
    (tmp_path / "bad.py").write_text("def f(x):\n### BEGIN SOLUTION\n    return x\n### END SOLUTION\n")
    with pytest.raises(build.MarkerError, match="does not compile"):
        build.expected_exercises(tmp_path)


@pytest.mark.parametrize("line", ['"""Derived in solutions/rlhf.py."""', "from solutions import nn"])
def test_the_handout_never_names_the_reference_package(tmp_path, line):
    (tmp_path / "ok.py").write_text("# the solution is below\nx = 1\n")  # the word, not the package: fine
    (tmp_path / "bad.py").write_text(f"x = 1\n{line}\n")
    with pytest.raises(build.MarkerError, match=r"bad.py, line 2, names `solutions`"):
        build.expected_exercises(tmp_path)
    (tmp_path / "bad.py").unlink()
    assert set(build.expected_exercises(tmp_path)) == {Path("ok.py")}


def test_release_copies_only_tracked_files(tmp_path):
    import subprocess

    from scratch.grading import release

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "mdp.py").write_text("answer = 42\n")
    (tmp_path / "README.md").write_text("hello\n")
    git("init", "-q")
    git("add", "README.md", "solutions/mdp.py")
    (tmp_path / "solutions_backup.py").write_text("answer = 42\n")  # untracked
    assert release.project_files(tmp_path, for_students=False) == [Path("README.md")]
