"""``python -m scratch gradescope OUTDIR``: Gradescope's autograder zip and the files students submit.

OUTDIR gets:

- ``autograder.zip``: ``setup.sh`` and ``run_autograder`` at its root, beside the project
  without ``solutions/`` (the harness, the tests with ``tests/chapters/hidden/``, the stubs). Upload it
  as the assignment's autograder ("Zip file upload"); Gradescope unpacks it into
  ``/autograder/source``.
- ``submission_files.txt``: the exercise files students submit, one a line (the same list
  is in the handout's README). They may submit them in any folder layout; other files are
  ignored; a missing one is 0 points with a message naming it.

``run_autograder`` makes ``/autograder/source`` readable by root alone, then grades
``/autograder/submission`` with ``grade --submission``: the judge (root) in a fresh, private
copy of the tree, the submitted code in a student process as the unprivileged user
``nobody`` (Gradescope runs the script as root); it writes ``/autograder/results/results.json``.
"""

import configparser
import sys
import zipfile
from pathlib import Path

from . import build, release, submission
from ..impl import PROJECT_ROOT

# Gradescope's images differ in their Python: Ubuntu 24.04's system pip refuses to install
# (PEP 668, "externally managed"), older images accept it. A virtual environment works on
# every one, and in /opt, outside root's home, the user nobody can run it (--run-as nobody).
VENV = "/opt/scratch-venv"

SETUP_SH = f"""\
#!/usr/bin/env bash
# Written by `python3 -m scratch gradescope`: Gradescope runs this once, as root, to build the image.
set -euo pipefail
apt-get update -qq && apt-get install -y -qq python3 python3-venv > /dev/null
python3 -m venv {VENV}
{VENV}/bin/python -m pip install --quiet {{requirements}}
chmod -R a+rX {VENV}
"""

RUN_AUTOGRADER = f"""\
#!/usr/bin/env bash
# Written by `python3 -m scratch gradescope`: grade the submitted exercise files.
# The tests run as the unprivileged user nobody, so a submission cannot write results.json
# or signal the grader (see README.md, "Threat model").
cd /autograder/source
# The tests and their expected values are for the grader (root) alone: the submitted code
# runs as nobody, who must not read them (the grader refuses to run if nobody can).
chmod -R go-rwx /autograder/source
exec {VENV}/bin/python -m scratch grade --impl exercises --submission /autograder/submission \\
    --gradescope /autograder/results/results.json --run-as nobody
"""


class GradescopeError(RuntimeError):
    pass


def requirements(root=PROJECT_ROOT):
    """The runtime and test requirements of ``setup.cfg``, quoted for a shell."""
    config = configparser.ConfigParser()
    config.read(Path(root) / "setup.cfg")
    needed = config["options"]["install_requires"].split() + config["options.extras_require"]["test"].split()
    return " ".join(f"'{requirement}'" for requirement in needed)


def write_autograder(outdir, root=PROJECT_ROOT):
    """Write ``autograder.zip`` and ``submission_files.txt`` to ``outdir``; return the zip's path."""
    root, outdir = Path(root), Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise GradescopeError(f"OUTDIR {outdir} is a file; give a folder")
    if (outdir / "autograder.zip").exists():
        raise GradescopeError(f"{outdir / 'autograder.zip'} exists already; give a new or empty folder")
    release.check_exercises_fresh(root)
    files = release.project_files(root, for_students=False)  # before anything is written: it may refuse
    outdir.mkdir(parents=True, exist_ok=True)
    archive = outdir / "autograder.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for relative in files:
            zipped.write(root / relative, relative.as_posix())
        for name, text in (("setup.sh", SETUP_SH.format(requirements=requirements(root))),
                           ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16  # executable once unpacked
            zipped.writestr(info, text)
    names = submission.submitted_files(root)
    (outdir / "submission_files.txt").write_text("".join(f"{name}\n" for name in names))
    return archive


def main(args):
    try:
        archive = write_autograder(args.outdir)
    except (GradescopeError, release.ReleaseError, build.MarkerError) as err:
        print(f"gradescope error: {err}", file=sys.stderr)
        return 2
    names = submission.submitted_files(PROJECT_ROOT)
    print(f"wrote {archive}: upload it as the assignment's autograder (Zip file upload)")
    print(f"students submit {len(names)} files, listed in {Path(args.outdir) / 'submission_files.txt'}: {', '.join(names)}")
    return 0
