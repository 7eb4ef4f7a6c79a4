"""``python -m scratch release OUTDIR``: the student handout.

The handout is the project without ``solutions/`` and without what is for instructors
only: the hidden tests (``tests/chapters/hidden/``), the CI script (``.ci/``) and the instructor's
README, which is replaced by a student README (``scratch/grading/student_readme.md`` with the
chapter tables of README.md and the list of files to submit filled in). Since
``solutions/`` is absent there, ``scratch.impl`` defaults to ``exercises`` and
``pip install -e .``, ``pytest`` (whose instructor-only tests skip, saying why) and
``python -m scratch grade`` work in it with no other step.

Decisions:
- The files copied are the ones git tracks, as they are in the working tree: an untracked
  file (a backup of a solution, notes with answers) never reaches students. When git cannot
  say which files are tracked (git is missing, the folder is not a checkout, or git refuses
  it: "dubious ownership" under sudo), the release is refused with git's reason, never
  guessed from the folder's contents. ``solutions/`` is never copied, whatever git says.
- A handout is only written when ``exercises/`` matches a fresh build, so students never get
  stubs that drifted from the reference.
- OUTDIR must not exist yet or be empty, so a release never mixes with an older one.
"""

import re
import shutil
import string
import subprocess
from pathlib import Path

from . import build, submission
from ..impl import PROJECT_ROOT

NEVER_COPIED = {"solutions", ".git", "__pycache__", ".pytest_cache", "build", "dist", ".venv", "venv", "results.json"}
INSTRUCTOR_ONLY = (Path(".ci"), Path("tests") / "chapters" / "hidden", Path("README.md"))
STUDENT_README = Path("scratch") / "grading" / "student_readme.md"


class ReleaseError(RuntimeError):
    pass


def project_files(root, for_students=True):
    """Relative paths of the files that make up the project (``for_students``: the handout's)."""
    root = Path(root)
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "-z"],
            cwd=root, capture_output=True, check=True,
        ).stdout.decode().split("\0")
    except OSError as err:
        raise ReleaseError(f"cannot tell which files of {root} git tracks (git could not run: {err}); "
                           f"install git, or release from a git checkout") from None
    except subprocess.CalledProcessError as err:
        reason = err.stderr.decode(errors="replace").strip() or f"exit status {err.returncode}"
        raise ReleaseError(f"cannot tell which files of {root} git tracks (git ls-files failed: {reason}); "
                           f"only tracked files are released, so nothing was written") from None
    paths = [Path(p) for p in listed if p]
    return sorted(
        p for p in paths
        if not NEVER_COPIED.intersection(p.parts)
        and not any(part.endswith(".egg-info") for part in p.parts)
        and (root / p).is_file()
        and not (for_students and any(p == only or only in p.parents for only in INSTRUCTOR_ONLY))
    )


def check_exercises_fresh(root):
    stale = build.differences(Path(root) / "solutions", Path(root) / "exercises")
    if stale:
        raise ReleaseError(
            "exercises/ differs from a fresh build in " + ", ".join(map(str, stale))
            + "; run `python -m scratch build` first"
        )


def student_readme(root):
    """The handout's README: the template with README.md's chapter tables and the files to submit."""
    instructor = (Path(root) / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^## The chapters.*?(?=^## )", instructor, re.S | re.M)
    chapters = found.group(0).rstrip() if found else ""
    files = "\n".join(f"- `exercises/{name}`" for name in submission.submitted_files(root))
    template = string.Template((Path(root) / STUDENT_README).read_text(encoding="utf-8"))
    return template.substitute(chapters=chapters, submitted_files=files)


def release(outdir, root=PROJECT_ROOT):
    """Write the handout to ``outdir`` and return the number of files written."""
    root, outdir = Path(root), Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise ReleaseError(f"OUTDIR {outdir} is a file; give a new or empty folder")
    if outdir.exists() and any(outdir.iterdir()):
        raise ReleaseError(f"OUTDIR {outdir} is not empty; give a new or empty folder")
    check_exercises_fresh(root)
    files = project_files(root)
    for relative in files:
        target = outdir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target)
    (outdir / "README.md").write_text(student_readme(root), encoding="utf-8")
    return len(files) + 1
