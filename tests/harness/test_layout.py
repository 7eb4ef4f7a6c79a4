"""The layout's rules, read from the source (never run): one room per reader.

- a chapter of ``solutions/`` imports NumPy, SciPy, the standard library, ``._checks`` and
  only earlier chapters (the lecture's order, ``scratch.impl.CHAPTERS``; inside a chapter,
  the order of :data:`MODULES`);
- the handout (``exercises/``) never names the package students do not have;
- nothing imports a lecture demo but the CLI, and no demo imports another;
- ``scratch.data`` holds known-truth sources, no model code; ``scratch.data`` and
  ``scratch.train`` never reach into the grader or the demos;
- ``tests/chapters/`` holds graded tests only, and no test file imports another.
"""

import ast
import re

import pytest

from scratch.impl import CHAPTERS, PROJECT_ROOT

# Each chapter's modules in reading order (a module may import the ones before it).
MODULES = {
    "mdp": ("_checks", "mdp_model", "mdp"), "ngram": ("ngram",), "nn": ("nn",), "optim": ("optim",),
    "rnn": ("rnn",), "generate": ("generate",), "transformer": ("attention", "bert", "transformer"),
    "pretraining": ("scaling", "transfer"), "prompting": ("batched", "prompting"), "sft": ("sft",),
    "reward": ("reward",), "rlhf": ("rlhf", "ppo", "dpo"),
}
ORDER = [module for chapter in CHAPTERS for module in MODULES[chapter]]
SOLUTIONS = PROJECT_ROOT / "solutions"


def imports(path):
    """(line, module) for every import in ``path``; relative ones as ``.name``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            if node.level and not node.module:  # from . import nn, attention
                found += [(node.lineno, "." + alias.name) for alias in node.names]
            else:
                found.append((node.lineno, base))
    return found


def python_files(*folders):
    return sorted(p for folder in folders for p in (PROJECT_ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def test_every_solutions_module_has_a_place_in_the_order():
    present = {p.stem for p in SOLUTIONS.glob("*.py")} - {"__init__"} if SOLUTIONS.is_dir() else set(ORDER)
    assert present == set(ORDER)


@pytest.mark.parametrize("module", ORDER)
def test_a_chapter_imports_only_earlier_chapters(module):
    package = SOLUTIONS if SOLUTIONS.is_dir() else PROJECT_ROOT / "exercises"
    later = []
    for line, name in imports(package / f"{module}.py"):
        root = name.split(".")[0] if not name.startswith(".") else None
        if root is not None:
            assert root in {"numpy", "scipy"} or root in __import__("sys").stdlib_module_names, (
                f"{module}.py:{line} imports {name} (a chapter imports NumPy, SciPy, the standard library and "
                f"its own package only)")
            continue
        target = name.lstrip(".").split(".")[0]
        if ORDER.index(target) >= ORDER.index(module):
            later.append(f"{module}.py:{line} imports {target}, which comes at or after it")
    assert later == []


def test_the_handout_names_no_solutions_package():
    named = [f"{path.relative_to(PROJECT_ROOT)}:{number}"
             for path in python_files("exercises")
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"\bsolutions\b", line)]
    assert named == []


def test_nothing_imports_a_lecture_but_the_cli():
    lectures = PROJECT_ROOT / "scratch" / "lectures"
    chapters = {p.stem for p in lectures.glob("*.py")} - {"__init__"}
    found = []
    for path in python_files("scratch", "tests", "benchmarks"):
        inside = path.parent == lectures
        for line, name in imports(path):
            if name.startswith("scratch.lectures.") or (name == "scratch.lectures" and path.name != "__main__.py"):
                found.append(f"{path.relative_to(PROJECT_ROOT)}:{line} imports {name}")
            elif inside and name.startswith(".") and name.lstrip(".") in chapters:
                found.append(f"{path.relative_to(PROJECT_ROOT)}:{line} imports the lecture {name.lstrip('.')}")
    assert found == []


@pytest.mark.parametrize("package, forbidden", [
    ("data", ("scratch.train", "scratch.grading", "scratch.lectures", "scratch.impl", "..train", "..grading",
              "..lectures", "..impl")),
    ("train", ("scratch.grading", "scratch.lectures", "..grading", "..lectures")),
])
def test_the_harness_packages_keep_to_their_room(package, forbidden):
    found = [f"{path.relative_to(PROJECT_ROOT)}:{line} imports {name}"
             for path in python_files(f"scratch/{package}")
             for line, name in imports(path) if name.startswith(forbidden)]
    assert found == []


def test_the_data_package_runs_no_model():
    """A known-truth source never calls an implementation: no ``impl`` argument, no model."""
    found = [f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {node.name}"
             for path in python_files("scratch/data")
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.FunctionDef) and {a.arg for a in node.args.args} & {"impl", "model"}]
    assert found == []


def test_chapter_tests_are_graded_and_stand_alone():
    ungraded, imported = [], []
    for path in sorted((PROJECT_ROOT / "tests" / "chapters").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                if not any("points" in ast.unparse(d) for d in node.decorator_list):
                    ungraded.append(f"{path.name}::{node.name}")
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                marked = any("points" in ast.unparse(d) for d in node.decorator_list)
                ungraded += [f"{path.name}::{node.name}::{m.name}" for m in node.body
                             if isinstance(m, ast.FunctionDef) and m.name.startswith("test_") and not marked
                             and not any("points" in ast.unparse(d) for d in m.decorator_list)]
        imported += [f"{path.name}:{line} imports {name}" for line, name in imports(path) if name.startswith("test_")]
    assert ungraded == [] and imported == []


def test_the_readme_quotes_no_measured_number():
    """Measured numbers live in what the demo writes (results.json) and what a benchmark prints;
    the README states stable facts: settings, versions, points. A decimal number in its prose
    (tables and code blocks aside) is a measurement copied in to drift, unless it is one of these."""
    stable = {"3.10", "24.04", "0.5"}  # the Python it needs, Gradescope's Ubuntu image, a trivial answer
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    prose = "\n".join(line for line in prose.splitlines() if not line.startswith("|"))
    assert set(re.findall(r"\b\d+\.\d+\b", prose)) - stable == set()
