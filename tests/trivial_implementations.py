"""Trivial implementations of every graded function, for the meta-test in test_trivial.py.

A trivial implementation returns what the real one returns *in structure* — the same
tuple of arrays with the same shapes and dtypes, the same dict of caches — but with nothing
computed: all zeros, all ones, or the function's own input handed back (identity). Such an
implementation is what a dishonest or lost student writes first, and it is where weak tests
give points away: a backward pass checked only against finite differences of the student's
own forward agrees with it when both return zeros.

:func:`write_project` builds a project whose ``exercises/`` is ``solutions/`` with every
graded function (one holding a solution region) wrapped by :func:`wrap`; the wrapper runs the
reference on deep copies of the arguments, only to learn the structure of the answer, and
returns that structure filled trivially. Inputs are never changed (an in-place update
becomes a no-op), and where the reference raises, the trivial one returns None (a check
inside a graded region is part of what the student writes).

The reference runs again on every call, on purpose. Measured on one variant's run of all
graded tests: about 3 s of the run's 7 s of CPU is spent inside these wrappers (the rest is
pytest importing the tests and reporting 214 failures), and half of those 3 s is
``q_learning`` called once per test with arguments seen nowhere else. A cache keyed by the
arguments' shapes would be wrong (what some graded functions return depends on values: the
n-grams counted, where sampling meets a stop token); one keyed by the exact arguments was
tried, saved no measurable time, and would change what a repeated call does (the
reference's warnings, which a ``pytest.warns`` test sees, would be raised once, not per call).
"""

import ast
import copy
import numbers
import shutil
from pathlib import Path

import numpy as np

from scratch import build
from scratch.impl import CHAPTERS

VARIANTS = ("zeros", "ones", "identity")


def fill(value, variant, inputs):
    """``value`` with every number and array replaced by the ``variant``'s trivial one."""
    if isinstance(value, np.ndarray):
        if variant == "identity":
            same = next((x for x in inputs if isinstance(x, np.ndarray) and x.shape == value.shape), None)
            if same is not None:
                return same.astype(value.dtype, copy=True)
        return (np.ones_like if variant == "ones" else np.zeros_like)(value)
    if isinstance(value, (bool, np.bool_)):
        return variant == "ones"
    if isinstance(value, (numbers.Number, np.generic)):
        if variant == "identity":
            same = next((x for x in inputs if isinstance(x, numbers.Number) and not isinstance(x, bool)), 0)
            return type(value)(same)
        return type(value)(1 if variant == "ones" else 0)
    if isinstance(value, (tuple, list)):
        return type(value)(fill(item, variant, inputs) for item in value)
    if isinstance(value, dict):
        return {key: fill(item, variant, inputs) for key, item in value.items()}
    if isinstance(value, str):  # a word: nothing, or the first word given (identity)
        same = next((x for x in inputs if isinstance(x, str)), "") if variant == "identity" else ""
        return same
    if value is None:
        return value
    return None  # an object the real code built (a fitted model): the trivial code has none


_learning_the_structure = False  # True while a wrapper runs the reference


def wrap(function, variant):
    """``function`` made trivial (see the module docstring)."""

    def trivial(*args, **kwargs):
        global _learning_the_structure
        if _learning_the_structure:  # called by the reference itself: run it as it is
            return function(*args, **kwargs)
        inputs = list(args) + list(kwargs.values())
        _learning_the_structure = True
        try:
            answer = function(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        except Exception:
            return None
        finally:
            _learning_the_structure = False
        return fill(answer, variant, [x for x in inputs if not callable(x)])

    trivial.__name__, trivial.__qualname__, trivial.__doc__ = function.__name__, function.__qualname__, function.__doc__
    return trivial


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
    footer = ["", "", "import trivial_implementations as _trivial_implementations  # the meta-test's", ""]
    for name in names:
        owner, _, attribute = name.rpartition(".")
        if owner:
            footer.append(f"{owner}.{attribute} = _trivial_implementations.wrap({name}, {variant!r})")
        else:
            footer.append(f"{name} = _trivial_implementations.wrap({name}, {variant!r})")
    return source + "\n".join(footer) + "\n"


def chapter_test_files(tests):
    """The test files that grade chapters (public and hidden), the conftest and helper modules."""
    tests = Path(tests)
    chapter_files = {f"test_{chapter}.py" for chapter in CHAPTERS}
    keep = [p for p in tests.glob("*.py") if not p.name.startswith("test_") or p.name in chapter_files]
    hidden_files = {f"test_{chapter}_hidden.py" for chapter in CHAPTERS}
    return keep + [p for p in (tests / "hidden").glob("*.py") if p.name in hidden_files]


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
    return root
