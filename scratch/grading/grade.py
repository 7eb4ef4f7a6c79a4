"""The autograder: ``python -m scratch grade [--impl exercises] [--question Q] [--gradescope PATH]``.

A submission is untrusted code, and the judge never shares a process with it:

1. **The grader** (this process) collects the graded tests, runs them in judges, keeps the
   clocks, and alone writes ``results.json``.
2. **A judge** (``scratch.grading.run``, ``scratch.grading.plugin``) is a pytest subprocess in
   its own process group: the tests, their expected values, every assertion, the training
   and RLHF loops and the result recorder run there, on a fresh copy of the instructor's
   tests and stubs (``--submission``). It reports outcomes to the grader over a signed pipe
   (``scratch.grading.channel``). A per-test limit, a budget for the whole run and a
   question whose test timed out skipping its other tests keep a hang from eating the
   Gradescope time limit; a crash costs one test, and a fresh judge takes the rest.
3. **The student process** (``scratch.grading.student``), started by the judge, is the only
   place submitted modules are imported: another user with ``--run-as`` (root only; the
   Gradescope script uses ``nobody``), resource limits (address space, CPU time, no file
   writes, no new processes), and a tree holding the graded package and the public harness
   only, no tests, no solutions, no descriptor that leads to results. Tests reach it through
   the remote ``impl`` of ``scratch.grading.remote``, whose docstring says what crosses: plain
   data only, decoded strictly; everything else stays behind as a handle; arguments are copies.
4. **The screen** (``scratch.grading.screen``) runs first as early, friendly feedback
   ("imports torch", "uses open"), naming each line; it is not the boundary.

Each test ends as passed, not implemented yet (a stub raised NotImplementedError), failed
(with the first informative lines of the error; ``-v`` for the whole report), timed out, or
crashed; only a pass scores its points. The exit status is 0 whenever grading ran, whatever
the score (a rejected submission included), so a script or Gradescope can tell "graded, 0
points" from "the grader broke" (status 2, with the reason on stderr); Ctrl-C stops the
subprocesses and exits with 130.

What this defends: with ``--run-as``, code in the student process, whatever powers it finds
in its own interpreter, can change only what it sends back, and what it sends back is data
that the judge's own assertions compare; it cannot read the tests or the solutions (the
grader refuses to run when that user can), write results, or signal the grader or the
judge. What it does not: without ``--run-as`` (a student grading their own work) the
student process is the grader's user and could read or write what that user can; the
student process may use its CPU budget in full (each test's time limit still applies); and
a test is only as strong as its comparison (``tests/harness/test_trivial.py`` and the mutation
meta-test measure that). README.md, "Threat model", says the same for instructors.
"""

import contextlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import submission
from .screen import screen_package
from .channel import TamperedError
from .run import GradingError, check_run_as, collect, run_tests
from ..impl import CHAPTERS, PROJECT_ROOT

DEFAULT_TIMEOUT = 40.0  # the slowest reference test (training a GPT) takes about 8 s
DEFAULT_BUDGET = 300.0  # Gradescope's default limit is 10 minutes, setup included

STATUS_TEXT = {
    "passed": "passed",
    "not_implemented": "not implemented yet",
    "not_submitted": "not submitted",  # a stub of a file the submission lacks
    "failed": "failed",
    "timed_out": "timed out",
    "crashed": "crashed",
}


class Rejected(GradingError):
    """The submission failed the screen or tampered with the grader: 0 points, with the reason."""


@dataclass
class TestResult:
    nodeid: str
    name: str  # the test function's name with its parameters, as pytest shows it
    points: float
    status: str = "crashed"
    message: str = ""
    detail: str = ""

    @property
    def score(self):
        return self.points if self.status == "passed" else 0


@dataclass
class Question:
    number: str
    key: str
    title: str
    chapter: str
    hidden: bool = False
    tests: list = field(default_factory=list)

    @property
    def points(self):
        return sum(test.points for test in self.tests)

    @property
    def score(self):
        return sum(test.score for test in self.tests)


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
                title=record["title"], chapter=chapter, hidden=record.get("hidden", False),
            )
        questions[key].tests.append(TestResult(record["nodeid"], record["name"], record["points"]))
    return list(questions.values())


def select(questions, wanted):
    """Questions matching ``wanted``: a chapter name, a number ("1.2") or a question's class
    name, or several of them separated by commas ("mdp,ngram,7.1")."""
    if wanted is None:
        return questions
    names = {name.strip() for name in wanted.split(",")}
    chosen = [
        q for q in questions
        if names & {q.chapter, q.number, q.key, q.key.split("::")[-1], q.number.split(".")[0]}
    ]
    if not chosen:
        chapters = list(dict.fromkeys(q.chapter for q in questions))  # lecture order, then 1.2 before 1.10
        numbers = sorted({q.number for q in questions}, key=lambda n: tuple(int(part) for part in n.split(".")))
        names = ", ".join(chapters + numbers)
        raise GradingError(f"--question {wanted!r} matches no question; choose one of: {names}")
    return chosen


def list_questions(impl, root=PROJECT_ROOT):
    """``(questions, collection_errors)``: every graded question of ``impl``, numbered, with
    its tests, none of them run (a collection only)."""
    with tempfile.TemporaryDirectory() as workdir:
        collected, errors = collect(impl, root, workdir)
    return number_questions(collected), errors


def grade(impl, root=PROJECT_ROOT, question=None, timeout=DEFAULT_TIMEOUT, budget=DEFAULT_BUDGET,
          run_as=None, screen=True, submitted=None):
    """Grade ``impl`` and return ``(questions, collection_errors)`` with every test's outcome.

    ``submitted`` (``{file name: bytes}``, from ``--submission``) replaces those stubs in the
    student process's tree; the judge's tree ``root`` keeps the instructor's files. Raises
    :class:`Rejected` (0 points, with the reason) for a submission that fails the screen or
    tampers with the results channel; ``screen=False`` only for the grader's own tests of
    what the other defences catch.
    """
    package = Path(root) / impl
    if not (package / "__init__.py").is_file():
        raise GradingError(f"--impl {impl}: there is no {impl}/ package in {root}")
    with student_tree(root, impl, submitted) as student_root:
        if screen:
            problems = screen_package(student_root / impl)
            if problems:
                raise Rejected("the submission uses what graded code may not use, so none of it was run:\n"
                               + "\n".join(f"  {problem}" for problem in problems))
        check_run_as(run_as, student_root, secrets(root))
        with tempfile.TemporaryDirectory() as workdir:
            try:
                collected, errors = collect(impl, root, workdir)
                if not collected:
                    raise GradingError(f"no graded tests (marked @pytest.mark.points) under {Path(root) / 'tests'}")
                questions = select(number_questions(collected), question)
                run_questions(impl, questions, root, workdir, timeout, budget, run_as=run_as,
                              student_root=student_root)
            except TamperedError as err:
                raise Rejected(f"the submission interfered with the grader's results channel: {err}") from None
    return questions, errors


def secrets(root):
    """What the student process's user must not be able to read: the tests and the solutions."""
    return [Path(root) / "tests", Path(root) / "solutions", PROJECT_ROOT / "tests", PROJECT_ROOT / "solutions"]


@contextlib.contextmanager
def student_tree(root, impl, submitted=None):
    """The student process's tree for ``root/impl`` (``scratch.grading.submission.student_tree``), removed after."""
    folder = submission.student_tree(root, impl, submitted)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def student_spec(root, impl, student_root, run_as, budget):
    """What a judge needs to start the student process (sent in its handshake)."""
    modules = submission.graded_modules(Path(root) / impl)
    return {"root": str(student_root), "package": impl, "submitted": modules, "run_as": run_as,
            "cpu_seconds": budget + 60}


def run_questions(impl, questions, root, workdir, timeout, budget, run_as=None, student_root=None, remote=True):
    """Run the tests of ``questions`` (collected from ``root``, or from a tree with the same
    tests) and set each test's outcome; the second half of :func:`grade`, without its checks.
    The judges start the student process on ``student_root`` (a fresh copy of ``root/impl``
    when None).

    The trivial-implementation meta-test (tests/harness/test_trivial.py) calls it directly to grade
    several trees that differ only in their graded code after one collection.
    ``remote=False`` runs the package inside the judges, as plain pytest does: never for a
    submission; ``benchmarks/grading.py`` uses it to measure what the student process costs,
    and the meta-test to try the attacks that are strongest in-process (always-equal objects,
    masked arrays, inputs zeroed in place) on the tests themselves.
    """
    if not remote:
        tests = {test.nodeid: q.key for q in questions for test in q.tests}
        stats = {}
        outcomes = run_tests(impl, tests, root, workdir, timeout, budget, stats=stats)
        for test in (t for q in questions for t in q.tests):
            test.status, test.message, test.detail = outcomes[test.nodeid]
        return stats
    if student_root is None:
        with student_tree(root, impl) as made:
            return run_questions(impl, questions, root, workdir, timeout, budget, run_as, made)
    tests = {test.nodeid: q.key for q in questions for test in q.tests}
    spec = student_spec(root, impl, student_root, run_as, budget)
    stats = {}
    outcomes = run_tests(impl, tests, root, workdir, timeout, budget, student=spec, stats=stats)
    for test in (t for q in questions for t in q.tests):
        test.status, test.message, test.detail = outcomes[test.nodeid]
    return stats
