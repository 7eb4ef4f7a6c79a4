"""Tiny projects for the grader's own tests: a few lines of tests and "student" code each.

A project has ``tests/chapters/`` (and in ``tests/``, a conftest that accepts ``--impl`` and gives the tests an
``impl`` fixture, as the real one does), an ``exercises/`` package
and a copy of this checkout's ``scratch/`` (a copy, not a link: the grader finds the project
from where ``scratch`` lies). Grading one takes about a second, so each attack on the grader
gets its own project.
"""

import os
import signal
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from scratch.impl import PROJECT_ROOT

CONFTEST = """
import pytest

def pytest_addoption(parser):
    parser.addoption("--impl", default="exercises")

@pytest.fixture(scope="session")
def impl(request):
    # as the real conftest: the student process in a grading run, the package otherwise
    from scratch.grading.plugin import remote_impl
    from scratch.impl import Impl

    return remote_impl(request.config) or Impl(request.config.getoption("--impl"))
"""


def make_project(root, tests, exercises=None):
    """Write a project under ``root``: ``tests`` and ``exercises`` map file names to source."""
    root = Path(root)
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "conftest.py").write_text(CONFTEST)
    for name, source in tests.items():  # where the grader collects graded tests
        (root / "tests" / "chapters" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "tests" / "chapters" / name).write_text(textwrap.dedent(source))
    (root / "exercises").mkdir()
    (root / "exercises" / "__init__.py").write_text("")
    for name, source in (exercises or {}).items():
        (root / "exercises" / name).write_text(textwrap.dedent(source))
    shutil.copytree(PROJECT_ROOT / "scratch", root / "scratch", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def interactive_sigint():
    """In the child before it starts: SIGINT as a terminal user's (Ctrl-C raises
    KeyboardInterrupt). A suite started in the background by a non-interactive shell has
    SIGINT ignored, Python keeps an ignored SIGINT ignored, and the Ctrl-C test would then
    test nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_grade_cli(root, *args, extra_env=None):
    """Start ``python -m scratch grade --impl exercises ARGS`` in project ``root`` (a Popen)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SCRATCH_IMPL", "PYTHONPATH")}
    env.update(extra_env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "scratch", "grade", "--impl", "exercises", *args],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=interactive_sigint,
    )


def grade_cli(root, *args, extra_env=None, timeout=60):
    """Run ``python -m scratch grade --impl exercises ARGS`` in ``root``: (status, stdout, stderr)."""
    grader = start_grade_cli(root, *args, extra_env=extra_env)
    out, err = grader.communicate(timeout=timeout)
    return grader.returncode, out, err


def statuses(questions):
    """``{test name: (status, message)}`` of a graded project."""
    return {t.name: (t.status, t.message) for q in questions for t in q.tests}
