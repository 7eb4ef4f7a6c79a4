"""A student's submission: which files they hand in, and the two trees grading uses.

Students submit the exercise modules that hold stubs (:func:`submitted_files`), whatever
folder they put them in: ``grade --submission DIR`` finds each listed file anywhere under
DIR (the shallowest copy wins; hidden folders and ``__MACOSX`` are skipped), ignores every
other file, and grades them. A listed file the submission lacks is graded as the handout's
untouched stub, its tests "not submitted" (a student who hands in only a finished ``mdp.py``
gets that chapter's feedback); the grader says which files it graded, from where, which were
not submitted and what it ignored. A listed file that is a symbolic link, a device or
anything but a regular file is refused (0 points, named), never followed or read, and a
folder link is never entered: a link to ``solutions/`` or to a file only root may read
would otherwise be graded, or shown back in the feedback.

Grading uses two trees (see ``scratch.grading.remote``):

- the judge's: a fresh copy of the instructor's harness, tests and stubs
  (:func:`graded_root`), never the submission's files;
- the student process's (:func:`student_tree`): a copy of the graded package, with the
  submitted files in place of the stubs, and of the public harness ``scratch/``; no tests,
  no solutions, readable by the user the student process runs as.
"""

import contextlib
import os
import shutil
import stat
import tempfile
from collections import namedtuple
from pathlib import Path

from .run import GradingError
from ..impl import PROJECT_ROOT

STUB_MARK = 'not implemented yet")'
NOT_SUBMITTED = 'not submitted")'  # a missing file's stubs say so (the status "not submitted")
COPIED_FOR_GRADING = ("scratch", "tests", "exercises", "setup.cfg", "pyproject.toml")
MAX_SUBMITTED_BYTES = 2 << 20  # a graded module is a few hundred lines
# Given code, never submitted: in a grading run the judge imports its own copy of these, and
# every other module of the graded package runs in the student process, stubs or not (a
# finished exercise has none left). tests/harness/test_gradescope.py checks the list against the stubs.
GIVEN_MODULES = ("__init__", "_checks", "mdp_model")


class SubmissionError(RuntimeError):
    """The submission cannot be graded (a listed file is a link, or too large): 0 points, with the reason."""


# What a --submission folder holds: {name: path} of the listed files found (the copies
# graded), the listed names it lacks, and the files it holds that are not graded (other
# files, and deeper copies of a listed file), relative to the folder.
Found = namedtuple("Found", "files missing ignored")


def submitted_files(root=PROJECT_ROOT):
    """Names of the exercise modules a student writes and submits (those with stubs)."""
    exercises = Path(root) / "exercises"
    return sorted(p.name for p in exercises.glob("*.py") if STUB_MARK in p.read_text(encoding="utf-8"))


def graded_modules(package):
    """Names of the modules of the package folder ``package`` that run in the student process."""
    return sorted(p.stem for p in Path(package).glob("*.py") if p.stem not in GIVEN_MODULES)


def find_submitted(folder, names):
    """The listed files under ``folder`` (:data:`Found`); raise if one of them is a link."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"--submission {folder}: no such folder")
    candidates = {}
    every = sorted(listed_paths(folder, None), key=lambda p: (len(p.parts), str(p)))
    for path in every:
        if path.name in names:
            candidates.setdefault(path.name, path)
    refused = [f"{p.relative_to(folder)} ({kind})" for p in candidates.values() if (kind := not_regular(p))]
    if refused:
        raise SubmissionError(f"the submission's {', '.join(refused)}: submit the files themselves "
                              "(a link is never followed)")
    chosen = set(candidates.values())
    ignored = sorted(str(p.relative_to(folder)) for p in every if p not in chosen and not p.is_dir())
    return Found(candidates, [name for name in names if name not in candidates], ignored)


def shown(name):
    """A file name as the output shows it: as it is if printable, else escaped (a name with a
    newline forged report lines, one with ANSI codes drove the terminal)."""
    return name if name.isprintable() else ascii(name)


def describe(found, folder):
    """What the grader tells the student about their submission, in a few lines."""
    lines = ["Graded: " + (", ".join(f"{name} ({shown(str(path.relative_to(folder)))})"
                                     if path.parent != Path(folder) else name
                                     for name, path in sorted(found.files.items())) or "none of the listed files")]
    if found.missing:
        lines.append("Not submitted (graded as the handout's stubs): " + ", ".join(found.missing))
    if found.ignored:
        names = [shown(name) for name in found.ignored[:10]]
        names += [f"and {len(found.ignored) - 10} more"] if len(found.ignored) > 10 else []
        lines.append("Ignored (not a file to submit, or a deeper copy of one): " + ", ".join(names))
    return "\n".join(lines)


def listed_paths(folder, names):
    """Every path under ``folder`` named like a listed file (``names`` None: every file). A
    folder link is never entered (what lies behind it counts as not submitted); a file link
    is listed, to be refused. Hidden folders and ``__MACOSX`` are skipped."""
    for directory, subfolders, files in os.walk(folder, followlinks=False):
        relative = Path(directory).relative_to(folder).parts
        if any(part.startswith(".") or part == "__MACOSX" for part in relative):
            subfolders[:] = []
            continue
        for name in files + subfolders:
            if (names is None and name in files) or (names is not None and name in names):
                yield Path(directory) / name


def not_regular(path):
    """Why ``path`` cannot be graded ("a symbolic link", ...), or "" for a regular file."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return "a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size > MAX_SUBMITTED_BYTES:
        return f"over {MAX_SUBMITTED_BYTES >> 20} MB"
    return ""


def read_submitted(path):
    """The bytes of a submitted file, opened without following a link (checked again here:
    the file may have been swapped for a link after it was listed)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise SubmissionError(f"{path} is not a regular file")
        data = stream.read(MAX_SUBMITTED_BYTES + 1)
    if len(data) > MAX_SUBMITTED_BYTES:  # it grew after it was listed: never grade a cut copy
        raise SubmissionError(f"{path} is over {MAX_SUBMITTED_BYTES >> 20} MB")
    return data


def copy_code(source, target):
    """Copy the regular files of the package folder ``source`` (no caches, no links) to ``target``."""
    for directory, subfolders, files in os.walk(source, followlinks=False):
        subfolders[:] = [d for d in subfolders if d != "__pycache__" and not os.path.islink(Path(directory) / d)]
        into = Path(target) / Path(directory).relative_to(source)
        into.mkdir(parents=True, exist_ok=True)
        for name in files:
            path = Path(directory) / name
            if not name.endswith(".pyc") and stat.S_ISREG(os.lstat(path).st_mode):
                shutil.copyfile(path, into / name)


def make_readable(folder):
    """Folders 755 and files 644 under ``folder``: the student process may run as another user."""
    os.chmod(folder, 0o755)
    for directory, subfolders, files in os.walk(folder):
        for name in subfolders:
            os.chmod(Path(directory) / name, 0o755)
        for name in files:
            os.chmod(Path(directory) / name, 0o644)


def student_tree(root, package, submitted=None):
    """A new folder (the caller removes it) with what the student process imports: a copy of
    ``root/package`` with ``submitted`` (``{file name: bytes}``) in place of the stubs, and
    of the harness ``root/scratch``. Nothing else: no tests, no solutions."""
    target = Path(tempfile.mkdtemp(prefix="scratch-student-"))
    copy_code(Path(root) / "scratch", target / "scratch")
    copy_code(Path(root) / package, target / package)
    for name, data in (submitted or {}).items():
        (target / package / name).write_bytes(data)
    make_readable(target)
    return target


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
    """``(root, impl, submitted, about)`` to grade: the project itself and its own package
    (``submitted`` None, ``about`` ""), or a fresh, private copy of the instructor's tree and
    the submitted files' bytes (``{name: bytes}``), which only the student process's tree will
    hold, with :func:`describe`'s account of the submission. A listed file the submission lacks
    is the handout's stub, whose stubs raise "not submitted" instead of "not implemented yet"."""
    if getattr(args, "submission", None) is None:
        yield root, args.impl, None, ""
        return
    names = submitted_files(root)
    found = find_submitted(args.submission, names)
    submitted = {name: read_submitted(path) for name, path in found.files.items()}
    for name in found.missing:
        stub = (Path(root) / "exercises" / name).read_text(encoding="utf-8")
        submitted[name] = stub.replace(STUB_MARK, NOT_SUBMITTED).encode("utf-8")
    with tempfile.TemporaryDirectory(prefix="scratch-grading-") as workdir:
        copy_for_grading(root, workdir)  # private to the grader (mode 700): holds the tests
        yield workdir, "exercises", submitted, describe(found, args.submission)
