"""Trivial implementations of every graded function, for the meta-test in test_trivial.py.

A trivial implementation returns what the real one returns *in structure* — the same
tuple of arrays with the same shapes and dtypes, the same dict of caches — but with nothing
computed: zeros, ones, 0.5, NaN, random numbers, the function's own input, objects that say
they equal anything, fully masked arrays, inputs zeroed in place, or a zero forward that
keeps its cache (the variants of ``trivial_wrappers.py``). Such an implementation is what a
dishonest or lost student writes first, and it is where weak tests give points away: a
backward pass checked only against finite differences of the student's own forward agrees
with it when both return zeros.

:func:`write_project` builds a project whose ``exercises/`` is ``solutions/`` with every
graded function (one holding a solution region) wrapped by ``trivial_wrappers.wrap``, which
runs the reference on deep copies of the arguments, only to learn the structure of the
answer, and returns that structure filled trivially. The wrappers travel with the package
(``exercises/_trivial.py``, a copy of ``trivial_wrappers.py``): graded code may run in a
student process that cannot import anything from ``tests/``.

The reference runs again on every call, on purpose. Measured on the zeros variant's run of
all graded tests (in-process, profiled): about 0.9 s of the run's 4 s of CPU is spent inside
these wrappers (the rest is pytest importing and rewriting the tests and reporting 219
failures). Tests that train or sample at length check something cheap and exact first, so
the reference seldom runs long for them (``q_learning``'s 3000 episodes cost a second per
run until its tests checked six greedy steps first). A cache keyed by the
arguments' shapes would be wrong (what some graded functions return depends on values: the
n-grams counted, where sampling meets a stop token); one keyed by the exact arguments was
tried, saved no measurable time, and would change what a repeated call does (the
reference's warnings, which a ``pytest.warns`` test sees, would be raised once, not per call).
"""

import ast
import shutil
from pathlib import Path

from scratch.grading import build
from trivial_wrappers import VARIANTS  # noqa: F401  (the variants, for test_trivial.py)

# Copied into the package under test as ``_trivial.py``: graded code may run in a student
# process that sees only that package and ``scratch``. Not one of ``submission.GIVEN_MODULES``,
# so the grader runs it there too, and the wrappers' classes (the always-equal arrays) stay in
# the student process, as a student's own classes would.
WRAPPERS = Path(__file__).with_name("trivial_wrappers.py")


def graded_functions(source):
    """Qualified names (``f`` or ``Class.f``) of the functions holding a solution region."""
    tree = ast.parse(source)
    lines = source.splitlines()
    names = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = lines[child.lineno - 1: child.end_lineno]
                if child.name != "__init__" and any(line.strip() == build.BEGIN for line in body):
                    names.append(prefix + child.name)

    visit(tree, "")
    return names


def trivial_module(source, variant):
    """``source`` (a solutions module) with a footer that makes its graded functions trivial."""
    names = graded_functions(source)
    if not names:
        return source
    footer = ["", "", "from . import _trivial  # the meta-test's wrappers (tests/harness/trivial_wrappers.py)", ""]
    for name in names:
        owner, _, attribute = name.rpartition(".")
        if owner:
            footer.append(f"{owner}.{attribute} = _trivial.wrap({name}, {variant!r})")
        else:
            footer.append(f"{name} = _trivial.wrap({name}, {variant!r})")
    return source + "\n".join(footer) + "\n"


def chapter_test_files(tests):
    """The files that grade chapters: the conftests, ``tests/chapters/`` (public and hidden tests
    and their helpers) and the harness module the root conftest imports."""
    tests = Path(tests)
    chapters = [p for p in (tests / "chapters").rglob("*.py") if "__pycache__" not in p.parts]
    return [tests / "conftest.py", tests / "harness" / "background.py", *chapters]


def write_project(root, project, variant):
    """A project under ``root`` grading ``variant`` trivial implementations of ``project``'s solutions."""
    root, project = Path(root), Path(project)
    shutil.copytree(project / "scratch", root / "scratch", ignore=shutil.ignore_patterns("__pycache__"))
    for path in chapter_test_files(project / "tests"):
        target = root / "tests" / path.relative_to(project / "tests")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    (root / "exercises").mkdir()
    for path in (project / "solutions").glob("*.py"):
        (root / "exercises" / path.name).write_text(trivial_module(path.read_text(), variant))
    shutil.copy2(WRAPPERS, root / "exercises" / "_trivial.py")
    return root
