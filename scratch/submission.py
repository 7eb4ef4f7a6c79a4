"""A student's submission: which files they hand in, and a clean tree to grade them in.

Students submit the exercise modules that hold stubs (:func:`submitted_files`), whatever
folder they put them in: ``grade --submission DIR`` finds each listed file anywhere under
DIR (the shallowest copy wins; hidden folders and ``__MACOSX`` are skipped), ignores every
other file, and grades them in a fresh copy of the harness, the tests and the stubs, never
in the instructor's tree. A submission that lacks a listed file gets 0 points and a
message naming the missing files.
"""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from .grading_run import GradingError
from .impl import PROJECT_ROOT

STUB_MARK = 'not implemented yet")'
COPIED_FOR_GRADING = ("scratch", "tests", "exercises", "setup.cfg", "pyproject.toml")


class SubmissionError(RuntimeError):
    """The submission cannot be graded (files missing): 0 points, with the reason."""


def submitted_files(root=PROJECT_ROOT):
    """Names of the exercise modules a student writes and submits (those with stubs)."""
    exercises = Path(root) / "exercises"
    return sorted(p.name for p in exercises.glob("*.py") if STUB_MARK in p.read_text(encoding="utf-8"))


def find_submitted(folder, names):
    """``{name: path}`` of each listed file found under ``folder``; raise naming the missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"--submission {folder}: no such folder")
    candidates = {}
    for path in sorted(folder.rglob("*.py"), key=lambda p: (len(p.parts), str(p))):
        relative = path.relative_to(folder).parts
        if any(part.startswith(".") or part == "__MACOSX" for part in relative):
            continue
        if path.name in names and path.is_file():
            candidates.setdefault(path.name, path)
    missing = [name for name in names if name not in candidates]
    if missing:
        raise SubmissionError(
            f"the submission lacks {', '.join(missing)}; submit these files: {', '.join(names)}"
        )
    return candidates


def copy_for_grading(root, target):
    """Copy what grading needs (never ``solutions/``) from ``root`` into ``target``."""
    root, target = Path(root), Path(target)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in COPIED_FOR_GRADING:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, target / name)


@contextlib.contextmanager
def graded_root(args, root=PROJECT_ROOT):
    """``(root, impl)`` to grade: the project itself, or a fresh tree with the submission in it."""
    if getattr(args, "submission", None) is None:
        yield root, args.impl
        return
    names = submitted_files(root)
    found = find_submitted(args.submission, names)
    with tempfile.TemporaryDirectory(prefix="scratch-grading-") as workdir:
        copy_for_grading(root, workdir)
        for name, path in found.items():
            shutil.copyfile(path, Path(workdir) / "exercises" / name)
        # A grading subprocess run as another user (--run-as) must be able to read the tree.
        for folder, _, files in os.walk(workdir):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(Path(folder) / name, 0o644)
        yield workdir, "exercises"
