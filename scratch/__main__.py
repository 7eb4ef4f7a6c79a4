"""Command line: ``python -m scratch {lecture,grade,build,release,gradescope} --help``."""

import os

# The lecture multiplies small matrices, where BLAS threads cost more than they give (the
# transformer chapter: 21 s on one thread, minutes on a loaded two-core machine with more).
# Set before NumPy is first imported, as the tests and the grader do; the user's own
# environment wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402  (after the BLAS setting on purpose)
import importlib  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from .grading import build, grade, gradescope, release, report  # noqa: E402
from .impl import CHAPTERS, IMPLEMENTATIONS, PROJECT_ROOT, Impl, default_impl_name  # noqa: E402


def lecture_chapters():
    """Chapters that have a lecture demo (``scratch/lectures/<chapter>.py``), in lecture order."""
    return [c for c in CHAPTERS if (PROJECT_ROOT / "scratch" / "lectures" / f"{c}.py").is_file()]


def run_lecture(args):
    available = lecture_chapters()
    unknown = [c for c in args.chapters if c not in available]
    if unknown:
        print(f"no lecture demo for {', '.join(unknown)}; choose from: {', '.join(available)}", file=sys.stderr)
        return 2
    impl = Impl(args.impl)
    from . import lectures
    from .train.checkpoint import default_cache_dir

    if args.cache_dir is not None and not args.cache_dir.strip():
        print("error: --cache-dir must name a folder; got an empty string", file=sys.stderr)
        return 2
    cache_dir = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    try:  # every path is checked before a minute of training, not at the first save
        check_writable_folder(cache_dir)
    except (OSError, ValueError) as err:
        flag = "--cache-dir" if args.cache_dir else "the cache folder ($SCRATCH_CACHE, $XDG_CACHE_HOME or ~/.cache)"
        print(f"error: {flag} {cache_dir}: {err}", file=sys.stderr)
        return 2
    folder = Path(args.figures) if args.figures else cache_dir / "figures"
    results = lectures.Results(folder)
    try:
        check_writable_folder(folder)
        results.earlier()  # a results.json there that is not ours stops the run before it starts
    except (OSError, ValueError) as err:
        print(f"error: --figures {folder}: {err}", file=sys.stderr)
        return 2
    lectures.cache.reset(args.cache_dir, args.retrain)  # the chapters hold this one object
    lectures.results = results
    chapters, finished, status = args.chapters or available, [], 0
    for chapter in chapters:
        banner = f" Lecture: {chapter} ({impl.name}/) "
        print(f"\n{banner:=^78}\n")
        started = time.perf_counter()
        demo = importlib.import_module(f"scratch.lectures.{chapter}")
        try:
            demo.run(impl)
        except NotImplementedError as err:
            # A student's handout: the demo needs a stub that is not written yet.
            print(f"[{chapter}] stopped here: {err}. Implement it in {impl.name}/ and run again.")
            continue
        except Exception:
            traceback.print_exc()
            print(f"[{chapter}] the demo failed (traceback above).")
            status = 1
            break
        seconds = results.record(chapter, "seconds", time.perf_counter() - started)
        print(f"\n[{chapter}: {seconds:.1f} s]")
        finished.append(chapter)
        results.write(impl.name, chapters, finished)  # after every chapter: a later failure keeps it
    print_lecture_outputs(results, finished)
    return status


STALE_SECONDS = 600  # a checkpoint's temporary file older than this belongs to no running save


def check_writable_folder(folder):
    """Create ``folder`` if needed and prove it writable (a file there, removed at once);
    remove the temporary files of checkpoint saves that a killed run left there."""
    if folder.exists() and not folder.is_dir():
        raise ValueError("it is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass
    now = time.time()
    for leftover in folder.glob(".*.npz.*.tmp"):
        try:
            if now - leftover.stat().st_mtime > STALE_SECONDS:
                leftover.unlink()
        except OSError:
            pass  # another run removed it, or it is not ours to remove


def print_lecture_outputs(results, finished):
    """The end of a lecture run: where its numbers and figures are."""
    from .lectures import PLOT_EXTRA, RESERVED

    print(f"\n{' What this run wrote ':=^78}\n")
    if finished:
        others = [c for c in results.earlier() if c not in finished and c not in RESERVED]
        kept = f" (kept from earlier runs: {', '.join(others)})" if others else ""
        print(f"numbers of {', '.join(finished)}{kept}: {results.path}")
    else:
        print(f"numbers: no chapter finished, {results.path} is unchanged")
    if results.figures:
        print(f"figures ({len(results.figures)}):")
        for figure in results.figures:
            print(f"  {figure}")
    elif results.figures_skipped:
        print(f"figures: none, matplotlib is not installed ({PLOT_EXTRA} adds them to the next run)")
    else:
        print("figures: these chapters draw none")


def run_build(args):
    solutions, exercises = PROJECT_ROOT / "solutions", PROJECT_ROOT / "exercises"
    if not solutions.is_dir():
        print("there is no solutions/ here (a student handout cannot rebuild exercises/)", file=sys.stderr)
        return 2
    try:
        if args.check:
            stale = build.differences(solutions, exercises)
            for path in stale:
                print(f"exercises/{path} differs from a fresh build")
            if stale:
                print("run `python -m scratch build` to regenerate exercises/")
                return 1
            print("exercises/ matches a fresh build of solutions/")
            return 0
        changed = build.build(solutions, exercises)
    except build.MarkerError as err:
        print(f"build error: {err}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"wrote exercises/{path}")
    print(f"exercises/ is up to date ({len(changed)} file(s) changed)")
    return 0


def run_release(args):
    try:
        count = release.release(args.outdir)
    except (release.ReleaseError, build.MarkerError) as err:
        print(f"release error: {err}", file=sys.stderr)
        return 2
    print(f"wrote the student handout ({count} files) to {args.outdir}")
    print("in it: pip install -e '.[test]' && python -m scratch grade")
    return 0


def positive_seconds(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"the time limit must be > 0 seconds; got {text}")
    return value


def parser():
    top = argparse.ArgumentParser(
        prog="python -m scratch",
        description="Reinforcement learning and language models from scratch: lecture demo, autograder, exercise builder.",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    impl_help = f"implementation to use: {' or '.join(IMPLEMENTATIONS)} (default here: {default_impl_name()})"

    lecture = commands.add_parser("lecture", help="run the lecture demo, chapter by chapter")
    lecture.add_argument("chapters", nargs="*", metavar="CHAPTER", help=f"any of {', '.join(lecture_chapters())} (default: all, in lecture order)")
    lecture.add_argument("--impl", choices=IMPLEMENTATIONS, default=None, help=impl_help)
    lecture.add_argument("--cache-dir", default=None, metavar="DIR",
                         help="where the LLM chapters keep trained models (default: $SCRATCH_CACHE, "
                              "else $XDG_CACHE_HOME/scratch, else ~/.cache/scratch)")
    lecture.add_argument("--figures", default=None, metavar="DIR",
                         help="where the run writes its figures and results.json, the numbers it measured, "
                              "merged with earlier runs' chapters (default: a figures folder in the cache dir)")
    lecture.add_argument("--retrain", action="store_true", help="train the LLM chapters' models again instead of loading them")
    lecture.set_defaults(func=run_lecture)

    grader = commands.add_parser("grade", help="grade an implementation and print the points per question")
    grader.add_argument("--impl", choices=IMPLEMENTATIONS, default=default_impl_name(), help=impl_help)
    grader.add_argument("--question", "-q", default=None, help="grade one chapter (mdp), question number (1.2) or class name; several, separated by commas")
    grader.add_argument("--timeout", type=positive_seconds, default=grade.DEFAULT_TIMEOUT,
                        help=f"per-test time limit in seconds (default {grade.DEFAULT_TIMEOUT:g})")
    grader.add_argument("--budget", type=positive_seconds, default=grade.DEFAULT_BUDGET,
                        help=f"time limit of the whole run in seconds (default {grade.DEFAULT_BUDGET:g})")
    grader.add_argument("--verbose", "-v", action="store_true", help="show each failure in full")
    grader.add_argument("--gradescope", metavar="PATH", default=None, help="also write Gradescope's results.json to PATH")
    grader.add_argument("--submission", metavar="DIR", default=None,
                        help="grade the exercise files found anywhere under DIR (a student's submission), in a fresh copy")
    grader.add_argument("--run-as", metavar="USER", default=None,
                        help="run the submitted code as this unprivileged user, one dedicated to grading: its processes "
                             "are killed between judges (needs root; Gradescope's script uses nobody)")
    grader.add_argument("--hidden-visibility", default=report.HIDDEN_VISIBILITY,
                        choices=("hidden", "after_due_date", "after_published", "visible"),
                        help="Gradescope visibility of the tests in tests/chapters/hidden/ (default after_due_date)")
    grader.set_defaults(func=report.main)

    builder = commands.add_parser("build", help="regenerate exercises/ from solutions/")
    builder.add_argument("--check", action="store_true", help="change nothing; exit 1 and name each file that differs")
    builder.set_defaults(func=run_build)

    releaser = commands.add_parser("release", help="write the student handout (no solutions/) to OUTDIR")
    releaser.add_argument("outdir", metavar="OUTDIR")
    releaser.set_defaults(func=run_release)

    autograder = commands.add_parser("gradescope", help="write Gradescope's autograder zip and the list of files students submit")
    autograder.add_argument("outdir", metavar="OUTDIR")
    autograder.set_defaults(func=gradescope.main)
    return top


def main(argv=None):
    try:
        top = parser()
    except ValueError as err:  # SCRATCH_IMPL names no implementation
        print(f"error: {err}", file=sys.stderr)
        return 2
    args = top.parse_args(argv)
    return run_interruptible(args.func, args)


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that every ``finally`` runs (a checkpoint's
    temporary file is removed) before the exit. A BaseException: ``except Exception`` in a
    demo does not swallow it."""


def run_interruptible(func, args):
    """``func(args)``; Ctrl-C exits 130 and SIGTERM 143, each with one line and no traceback."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        def terminate(signum, frame):
            raise Terminated()

        previous = signal.signal(signal.SIGTERM, terminate)
    try:
        return func(args)
    except KeyboardInterrupt:
        print("\ninterrupted (Ctrl-C): stopped; what was saved before is kept", file=sys.stderr)
        return 130
    except Terminated:
        print("\nterminated (SIGTERM): stopped; what was saved before is kept", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
