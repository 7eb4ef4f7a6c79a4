"""``python -m scratch release OUTDIR``: the student handout.

The handout is the project without ``solutions/``: the harness, the generated
``exercises/``, the tests, the benchmarks and the README. Since ``solutions/`` is absent there,
``scratch.impl`` defaults to ``exercises`` and ``pip install -e .``, ``pytest`` and
``python -m scratch grade`` work in it with no other step.

Decisions:
- In a git checkout the files copied are the ones git tracks, as they are in the working
  tree: an untracked file (a backup of a solution, notes with answers) never reaches
  students. Outside git, every file but caches, virtual environments and build output.
  ``solutions/`` is never copied, whatever git says.
- A handout is only written when ``exercises/`` matches a fresh build, so students never get
  stubs that drifted from the reference.
- OUTDIR must not exist yet or be empty, so a release never mixes with an older one.
"""

import shutil
import subprocess
from pathlib import Path

from . import build
from .impl import PROJECT_ROOT

NEVER_COPIED = {"solutions", ".git", "__pycache__", ".pytest_cache", "build", "dist", ".venv", "venv", "results.json"}


class ReleaseError(RuntimeError):
    pass


def project_files(root):
    """Relative paths of the files that make up the project."""
    root = Path(root)
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "-z"],
            cwd=root, capture_output=True, check=True,
        ).stdout.decode().split("\0")
        paths = [Path(p) for p in listed if p]
    except (OSError, subprocess.CalledProcessError):
        paths = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    return sorted(
        p for p in paths
        if not NEVER_COPIED.intersection(p.parts)
        and not any(part.endswith(".egg-info") for part in p.parts)
        and (root / p).is_file()
    )


def release(outdir, root=PROJECT_ROOT):
    """Write the handout to ``outdir`` and return the number of files written."""
    root, outdir = Path(root), Path(outdir)
    if outdir.exists() and any(outdir.iterdir()):
        raise ReleaseError(f"OUTDIR {outdir} is not empty; give a new or empty folder")
    stale = build.differences(root / "solutions", root / "exercises")
    if stale:
        raise ReleaseError(
            "exercises/ differs from a fresh build in " + ", ".join(map(str, stale))
            + "; run `python -m scratch build` first"
        )
    files = project_files(root)
    for relative in files:
        target = outdir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target)
    return len(files)
