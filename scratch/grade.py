"""The autograder: ``python -m scratch grade [--impl exercises] [--question Q] [--gradescope PATH]``.

Grading runs the graded tests (those marked ``@pytest.mark.points(n)``) in a pytest
*subprocess*, so nothing a student's code does — ``sys.exit``, ``os._exit``, a crash of the
interpreter, an infinite loop — can stop the grader itself:

1. A first subprocess only collects: it lists every graded test in lecture order, with its
   question and points (``scratch.grading_plugin`` writes them to a JSON-lines file).
2. A second one runs them, writing a line when each test starts and ends. The parent watches
   that file: a test still running after the time limit (default 60 s) is killed with its
   process and marked "timed out"; a process that dies mid-test gets that test marked
   "crashed". Either way a new subprocess takes up the tests that had not run yet.

Each test ends as passed, not implemented yet (a stub raised NotImplementedError), failed
(with the first line of the error), timed out, or crashed; only a pass scores its points.
The exit status is 0 whenever grading ran, whatever the score, so a script or Gradescope can
tell "graded, 0 points" from "the grader broke" (status 2, with the reason on stderr).
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .impl import CHAPTERS, PROJECT_ROOT

DEFAULT_TIMEOUT = 60.0
COLLECT_TIMEOUT = 120.0

STATUS_TEXT = {
    "passed": "passed",
    "not_implemented": "not implemented yet",
    "failed": "failed",
    "timed_out": "timed out",
    "crashed": "crashed",
}


class GradingError(RuntimeError):
    """Grading could not run at all (no tests found, pytest missing, collection broke)."""


@dataclass
class TestResult:
    nodeid: str
    name: str  # the test function's name with its parameters, as pytest shows it
    points: float
    status: str = "crashed"
    message: str = ""

    @property
    def score(self):
        return self.points if self.status == "passed" else 0


@dataclass
class Question:
    number: str
    key: str
    title: str
    chapter: str
    tests: list = field(default_factory=list)

    @property
    def points(self):
        return sum(test.points for test in self.tests)

    @property
    def score(self):
        return sum(test.score for test in self.tests)


def read_records(path):
    try:
        with open(path, encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.endswith("\n")]
    except FileNotFoundError:
        return []


def pytest_command(root, impl, results, extra):
    # Options that take a path use the "--name=value" form and the rootdir is explicit:
    # pytest would otherwise count a separate path value among the paths that decide the
    # rootdir, and the test ids would change between the collecting and the running process.
    return [
        sys.executable, "-m", "pytest", str(Path(root) / "tests"), f"--rootdir={root}",
        "-p", "scratch.grading_plugin", f"--scratch-results={results}",
        f"--impl={impl}", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
        "--continue-on-collection-errors",  # one broken test file must not cost the others
        *extra,
    ]


def start_pytest(command, root, log):
    env = dict(os.environ)
    # Import the harness and the implementation from the graded tree, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    env.pop("PYTEST_ADDOPTS", None)  # e.g. -x would stop the run at the first failing test
    # Graded tests multiply small matrices, where BLAS threads cost more than they give, and
    # a grading run may share the machine with other runs: one thread unless told otherwise.
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return subprocess.Popen(
        command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )


def kill(process):
    """Stop a pytest subprocess and anything it started."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        process.kill()
    process.wait()


def collect(impl, root=PROJECT_ROOT, graded_only=True, workdir=None):
    """Collected test records, in run order (``graded_only``: only tests with points)."""
    with tempfile.TemporaryDirectory() as own_dir:
        workdir = Path(workdir or own_dir)
        results, log_path = workdir / "collect.jsonl", workdir / "collect.log"
        extra = ["--collect-only"] + (["-m", "points"] if graded_only else [])
        with open(log_path, "w") as log:
            process = start_pytest(pytest_command(root, impl, results, extra), root, log)
            try:
                process.wait(timeout=COLLECT_TIMEOUT)
            except subprocess.TimeoutExpired:
                kill(process)
                raise GradingError(f"collecting the tests took over {COLLECT_TIMEOUT:.0f} s") from None
        records = read_records(results)
        errors = [r for r in records if r["event"] == "collection_error"]
        collected = [r for r in records if r["event"] == "collected"]
        if not collected and (errors or process.returncode not in (0, 5)):
            tail = "\n".join(log_path.read_text().splitlines()[-15:])
            raise GradingError(f"pytest could not collect the tests:\n{tail}")
        return collected, errors


def run_tests(impl, nodeids, root=PROJECT_ROOT, timeout=DEFAULT_TIMEOUT, extra=()):
    """Run ``nodeids`` and return ``{nodeid: (status, message)}`` for every one of them.

    A test that outlives ``timeout`` seconds, or during which the process dies, is recorded
    and the remaining tests go on in a fresh subprocess.
    """
    outcomes = {}
    remaining = list(nodeids)
    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        for attempt in range(len(nodeids) + 1):
            if not remaining:
                break
            results = workdir / f"run{attempt}.jsonl"
            only = workdir / f"only{attempt}.txt"
            only.write_text("".join(f"{nodeid}\n" for nodeid in remaining), encoding="utf-8")
            command = pytest_command(root, impl, results, [f"--scratch-only={only}", *extra])
            with open(workdir / f"run{attempt}.log", "w") as log:
                process = start_pytest(command, root, log)
                running, started_at, seen, timed_out = None, None, 0, False
                while process.poll() is None:
                    time.sleep(0.05)
                    records = read_records(results)
                    for record in records[seen:]:
                        if record["event"] == "start":
                            running, started_at = record["nodeid"], time.monotonic()
                        elif record["event"] == "result":
                            outcomes[record["nodeid"]] = (record["status"], record["message"])
                            running = None
                    seen = len(records)
                    if running is not None and time.monotonic() - started_at > timeout:
                        kill(process)
                        timed_out = True
            for record in read_records(results)[seen:]:
                if record["event"] == "result":
                    outcomes[record["nodeid"]] = (record["status"], record["message"])
                elif record["event"] == "start":
                    running = record["nodeid"]
            if running is not None and running not in outcomes:
                if timed_out:
                    outcomes[running] = ("timed_out", f"still running after the {timeout:g} s limit")
                else:
                    outcomes[running] = (
                        "crashed", f"the test process exited with code {process.returncode} during this test"
                    )
            elif running is None and not timed_out:
                # The process ended between tests (or before the first): nothing left to retry.
                for nodeid in remaining:
                    outcomes.setdefault(
                        nodeid, ("crashed", f"the test process exited with code {process.returncode} before this test")
                    )
            remaining = [nodeid for nodeid in remaining if nodeid not in outcomes]
    return outcomes


def number_questions(collected):
    """Group collected tests into questions numbered ``chapter.question`` in lecture order."""
    questions = {}
    per_chapter = {}
    for record in collected:
        key = record["question"]
        if key not in questions:
            chapter = record["chapter"]
            chapter_number = CHAPTERS.index(chapter) + 1 if chapter in CHAPTERS else len(CHAPTERS) + 1
            per_chapter[chapter] = per_chapter.get(chapter, 0) + 1
            questions[key] = Question(
                number=f"{chapter_number}.{per_chapter[chapter]}", key=key,
                title=record["title"], chapter=chapter,
            )
        questions[key].tests.append(TestResult(record["nodeid"], record["name"], record["points"]))
    return list(questions.values())


def select(questions, wanted):
    """Questions matching ``wanted``: a chapter name, a number ("1.2") or a question's class name."""
    if wanted is None:
        return questions
    chosen = [
        q for q in questions
        if wanted in (q.chapter, q.number, q.key, q.key.split("::")[-1]) or q.number.split(".")[0] == wanted
    ]
    if not chosen:
        names = ", ".join(sorted({q.chapter for q in questions} | {q.number for q in questions}))
        raise GradingError(f"--question {wanted!r} matches no question; choose one of: {names}")
    return chosen


def grade(impl, root=PROJECT_ROOT, question=None, timeout=DEFAULT_TIMEOUT):
    """Grade ``impl`` and return ``(questions, collection_errors)`` with every test's outcome."""
    collected, errors = collect(impl, root)
    if not collected:
        raise GradingError(f"no graded tests (marked @pytest.mark.points) under {Path(root) / 'tests'}")
    questions = select(number_questions(collected), question)
    tests = [test for q in questions for test in q.tests]
    outcomes = run_tests(impl, [test.nodeid for test in tests], root, timeout)
    for test in tests:
        test.status, test.message = outcomes[test.nodeid]
    return questions, errors


def format_points(value):
    return f"{value:g}"


def format_report(questions, errors, impl, timeout):
    lines = [f"Grading {impl}/ (per-test time limit {timeout:g} s)", ""]
    for error in errors:
        lines.append(f"  collection error in {error['nodeid']}: {error['message']}")
    width = max(len(q.title) for q in questions)
    for q in questions:
        score = f"{format_points(q.score)}/{format_points(q.points)}"
        lines.append(f"{q.number:>5}  {q.title:<{width}}  {score:>7}")
        for test in q.tests:
            status = STATUS_TEXT[test.status]
            detail = f"  {test.message}" if test.status not in ("passed", "not_implemented") and test.message else ""
            lines.append(f"{'':7}{status:<20} {test.name}{detail}")
    total = sum(q.score for q in questions)
    possible = sum(q.points for q in questions)
    counts = {status: 0 for status in STATUS_TEXT}
    for test in (t for q in questions for t in q.tests):
        counts[test.status] += 1
    ran = sum(counts.values())
    summary = ", ".join(f"{n} {STATUS_TEXT[s]}" for s, n in counts.items() if n)
    lines += ["", f"Total: {format_points(total)}/{format_points(possible)} points ({ran} graded tests: {summary})"]
    return "\n".join(lines)


def gradescope_results(questions, errors):
    """The ``results.json`` Gradescope's autograder reads (score, tests[], visibility)."""
    tests = []
    for q in questions:
        for test in q.tests:
            output = STATUS_TEXT[test.status] + (f": {test.message}" if test.message else "")
            tests.append({
                "name": f"{q.number} {q.title}: {test.name}",
                "number": q.number,
                "score": test.score,
                "max_score": test.points,
                "status": "passed" if test.status == "passed" else "failed",
                "output": output,
                "visibility": "visible",
            })
    output = "".join(f"collection error in {e['nodeid']}: {e['message']}\n" for e in errors)
    return {
        "score": sum(q.score for q in questions),
        "output": output or "Graded every test marked with points.",
        "visibility": "visible",
        "tests": tests,
    }


def main(args):
    """Entry point for ``python -m scratch grade`` (``args`` parsed by ``scratch.__main__``)."""
    try:
        questions, errors = grade(args.impl, PROJECT_ROOT, args.question, args.timeout)
    except GradingError as err:
        print(f"grading could not run: {err}", file=sys.stderr)
        if args.gradescope:  # Gradescope then shows the reason instead of a missing file
            write_json(args.gradescope, {"score": 0, "output": f"grading could not run: {err}", "tests": []})
        return 2
    print(format_report(questions, errors, args.impl, args.timeout))
    if args.gradescope:
        write_json(args.gradescope, gradescope_results(questions, errors))
        print(f"wrote {args.gradescope}")
    return 0


def write_json(path, results):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
