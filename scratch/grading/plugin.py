"""The pytest plugin the autograder loads into its pytest subprocess (``-p scratch.grading.plugin``).

The grader passes ``--scratch-channel=IN:OUT``, two inherited pipe descriptors. At start-up,
before any test module (and so any student code) is imported, the plugin reads the grader's
message from IN (the run's key and the node ids to run) and closes it; from then on it sends
signed records on OUT (``scratch.grading.channel``):

- ``{"event": "collected", "nodeid", "name", "chapter", "question", "title", "hidden", "points"}``
  for every selected test, in run order;
- ``{"event": "collection_error", "nodeid", "message"}`` for a test file that fails to import;
- ``{"event": "start", "nodeid"}`` when a test begins;
- ``{"event": "result", "nodeid", "status", "message", "detail"}`` when it ends, with status
  ``passed``, ``not_implemented`` (a stub raised NotImplementedError), ``not_submitted`` (a
  stub of a file the submission lacks), ``crashed`` (the student process died) or ``failed``
  (a skipped or expected-to-fail test counts as failed: only a pass earns points). ``message`` is the
  first informative lines of the error, ``detail`` pytest's full report (``grade -v``). When
  the submission's results in a failing test's body are those of one of its question's named
  mutants, ``message`` ends with ``| this is what the code returns when <the mutant's name>``
  (``scratch.grading.mistakes``: recorded per test through the remote ``impl``, looked up here).

Each record is written as it happens, so when a student's code kills the process or hangs,
the grader knows which test was running (see ``scratch.grading.grade``).

A question is a test class (its docstring's first line is the title) or, for a test outside
any class, the test function itself; points come from ``@pytest.mark.points(n)``. Tests in
``tests/chapters/hidden/test_<chapter>_hidden.py`` are hidden: left out of the student handout, shown on
Gradescope after the due date.
"""

import inspect
import os
import re
import textwrap
import traceback
from pathlib import Path

import pytest

from .channel import encode, read_handshake, signer
from .remote import RemoteImpl, StudentProcessDied

try:
    from . import mistakes
except ImportError:  # a copy of the harness from before named mistakes: nothing is named
    mistakes = None

GRADING_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep  # the judge's frames, left out of tracebacks

DETAIL_LIMIT = 20000


def pytest_addoption(parser):
    group = parser.getgroup("scratch grading")
    group.addoption("--scratch-channel", default=None, help="IN:OUT pipe descriptors of the grader's channel")


class Recorder:
    def __init__(self, channel):
        in_fd, out_fd = (int(fd) for fd in channel.split(":"))
        key, message = read_handshake(in_fd)
        self.keyed = signer(key)
        del key
        self.out_fd = out_fd
        self.seq = 0
        only = message.get("only")
        self.only = set(only) if only is not None else None
        self.outcomes = {}
        self.student = message.get("student")  # where and how to start the student process
        self.impl = None
        self.restart = False
        self.mistakes = False  # the named mistakes' data (scratch.grading.mistakes), read at the first test
        self.recording = None  # what the submission's functions returned in this test's body

    def remote_impl(self):
        """The tests' ``impl``: the submitted package in its own process, started on first use."""
        if self.student is None:
            return None
        if self.impl is None:
            spec = self.student
            self.impl = RemoteImpl(spec["root"], spec["package"], spec["submitted"], spec.get("run_as"),
                                   spec.get("cpu_seconds", 3600))
        return self.impl

    def write(self, **record):
        line = encode(self.keyed, self.seq, record)
        self.seq += 1
        while line:
            line = line[os.write(self.out_fd, line):]

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        if self.only is not None:
            kept = [item for item in items if item.nodeid in self.only]
            config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in self.only])
            items[:] = kept
        for item in items:
            marker = item.get_closest_marker("points")
            points = marker.args[0] if marker and marker.args else 0
            self.write(event="collected", nodeid=item.nodeid, name=item.name, points=points, **question_of(item))

    def pytest_collectreport(self, report):
        if report.failed:
            text = str(report.longrepr) if report.longrepr else ""
            self.write(event="collection_error", nodeid=report.nodeid, message=collection_message(text))

    def pytest_runtest_logstart(self, nodeid, location):
        self.write(event="start", nodeid=nodeid)
        self.recording = None
        if self.impl is not None:
            self.impl.remote.take_printed()  # what an earlier test printed is not this one's

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        """Record what the submission's functions return in the test's body (never its
        fixtures'), for the keys the named mistakes' file knows for this test."""
        if self.mistakes is False:
            self.mistakes = mistakes.load(item.config.rootpath) if mistakes is not None else None
        keys = mistakes.test_keys(self.mistakes, item.nodeid) if self.mistakes and self.impl is not None else None
        if keys:
            self.recording = mistakes.Recording(keys)
            self.impl.remote.on_result = self.recording.call
        try:
            yield
        finally:
            if self.impl is not None:
                self.impl.remote.on_result = None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.passed or item.nodeid in self.outcomes:
            return  # keep the first failure: a teardown error after a failure adds nothing
        detail = ""
        if call.excinfo is not None and not call.excinfo.errisinstance(NotImplementedError):
            printed = self.impl.remote.take_printed() if self.impl is not None else ""
            detail = with_context(traceback_from(call.excinfo.value, item.path),
                                  explanation(item, call.excinfo.tb), printed)
        if call.excinfo is not None and call.excinfo.errisinstance(StudentProcessDied):
            # Every handle the tests hold is gone with that process: this judge stops after
            # this test, and the grader starts a fresh one for the tests that remain.
            self.outcomes[item.nodeid] = ("crashed", summary(str(call.excinfo.value)), detail)
            self.restart = True
        elif report.skipped:
            # A graded test earns its points by passing: a skip (pytest.skip called from
            # student code, say) or an expected failure is not a pass.
            if hasattr(report, "wasxfail"):
                reason = f"expected to fail (xfail): {report.wasxfail}"
            else:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "Skipped"
            self.outcomes[item.nodeid] = ("failed", summary(reason), detail)
        elif call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
            # the stubs of a file the submission lacks say "not submitted" (grading.submission)
            status = "not_submitted" if str(call.excinfo.value).endswith("not submitted") else "not_implemented"
            self.outcomes[item.nodeid] = (status, summary(call.excinfo.exconly()), "")
        elif call.excinfo is not None:
            message = exception_summary(call.excinfo.value)
            named = mistakes.name_mistake(self.mistakes, item.nodeid, self.recording) \
                if self.mistakes and call.when == "call" else ""
            self.outcomes[item.nodeid] = ("failed", f"{message} | {named}" if named else message, detail)
        else:
            self.outcomes[item.nodeid] = ("failed", summary(str(report.longrepr)), detail)

    def pytest_runtest_logfinish(self, nodeid, location):
        status, message, detail = self.outcomes.pop(nodeid, ("passed", "", ""))
        self.write(event="result", nodeid=nodeid, status=status, message=message, detail=detail)
        if self.restart:
            self.write(event="restart")
            if self.impl is not None:
                remote = self.impl.remote
                self.write(event="channel", round_trips=remote.round_trips, bytes=remote.bytes_moved)
            os._exit(0)

    def pytest_unconfigure(self, config):
        if self.impl is not None:
            remote = self.impl.remote
            self.write(event="channel", round_trips=remote.round_trips, bytes=remote.bytes_moved)
            self.impl.close()


def explanation(item, tb):
    """Why the test expects what it expects, in its own words: the test's docstring, then the
    comment lines just above the failing line of the test and the comment on it."""
    parts = [inspect.cleandoc(item.function.__doc__)] if getattr(item, "function", None) and item.function.__doc__ else []
    frames = [frame for frame in traceback.extract_tb(tb) if frame.filename == str(item.path)] if tb else []
    if frames:
        try:
            lines = Path(item.path).read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        number = frames[-1].lineno - 1
        above = []
        for line in reversed(lines[max(0, number - 6):number]):
            if not line.strip().startswith("#"):
                break
            above.insert(0, line.strip().lstrip("#").strip())
        comment = lines[number].split("  # ", 1)[1].strip() if number < len(lines) and "  # " in lines[number] else ""
        parts += [" ".join(above)] if above else []
        parts += [comment] if comment else []
    return "\n".join(part for part in parts if part)


def with_context(detail, why, printed):
    """``-v``'s text of a failure: the traceback, the test's explanation, what the code printed."""
    sections = [detail.rstrip()]
    if why:
        sections.append("Why the test expects this:\n" + textwrap.indent(why, "  "))
    if printed.strip():
        sections.append("Printed by the submission during this test:\n" + textwrap.indent(printed.rstrip(), "  "))
    return "\n\n".join(sections)[:DETAIL_LIMIT]


def traceback_from(error, test_file):
    """Python's traceback of ``error`` from the test's own frame on (pytest's frames dropped).

    An error raised by submitted code in the student process shows the test's frames down to
    the call, then the submission's own frames (``student_frames``), never the channel's."""
    frames = getattr(error, "student_frames", None)
    if frames is not None:
        stack = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(GRADING_DIR)]
        lines = traceback.format_list(stack) + [
            f'  File "{file}", line {line}, in {function}\n    {text}\n' for file, line, function, text in frames]
        text = "".join(["Traceback (most recent call last):\n", *lines, *traceback.format_exception_only(error)])
    else:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    start = text.find(f'  File "{test_file}"')
    if start > 0:
        text = "Traceback (most recent call last):\n" + text[start:]
    return text[:DETAIL_LIMIT]


# The lines of NumPy's and pytest's comparison messages that hold the two values compared.
VALUE_LINES = re.compile(r"^(ACTUAL|DESIRED|Obtained|Expected|x|y)\s*:", re.IGNORECASE)


def summary(text, lines=3, limit=400):
    """The first informative lines of an error, joined on one line, and always the values.

    ``np.testing`` messages start with an empty line ("AssertionError: " then the numbers), so
    the first line alone says nothing: take the first ``lines`` lines that hold something, then
    the lines that give the obtained and the expected value (``ACTUAL:``/``DESIRED:``,
    ``Obtained:``/``Expected:``), which come last in those messages and would be cut.
    """
    every = [line.strip() for line in text.strip().splitlines() if line.strip()]
    kept = every[: lines + 1]
    if len(kept) > 1 and kept[0].endswith(":"):
        kept[:2] = [f"{kept[0]} {kept[1]}"]
    kept = kept[:lines]
    kept += [line for line in every[lines:] if VALUE_LINES.match(line) and line not in kept]
    joined = " | ".join(kept)
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."


def exception_summary(error):
    if isinstance(error, SyntaxError):
        # The traceback's first lines are the file and the code, without the word SyntaxError.
        where = f" ({error.filename}, line {error.lineno})" if error.filename else ""
        return f"{type(error).__name__}: {error.msg}{where}"
    text = str(error)
    frames = getattr(error, "student_frames", None)
    where = f" (at {frames[-1][0]}:{frames[-1][1]}, in {frames[-1][2]})" if frames else ""
    return summary((f"{type(error).__name__}: {text}" if text.strip() else type(error).__name__) + where)


def collection_message(text):
    """A test file that cannot be imported: its last line names the error (SyntaxError included)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E ")]
    return summary(errors[-1][2:] if errors else (lines[-1] if lines else ""), lines=1)


def question_of(item):
    """Chapter, question key, title and visibility of a test item (see the module docstring)."""
    hidden = item.path.parent.name == "hidden"
    chapter = item.path.stem.removeprefix("test_").removesuffix("_hidden")
    prefix = f"hidden/{chapter}" if hidden else chapter
    cls = getattr(item, "cls", None)
    if cls is not None:
        doc = (cls.__doc__ or "").strip()
        key, title = f"{prefix}::{cls.__name__}", doc.splitlines()[0] if doc else cls.__name__
    else:
        name = item.originalname if hasattr(item, "originalname") else item.name
        key, title = f"{prefix}::{name}", name
    return {"chapter": chapter, "question": key, "title": title + (" (hidden)" if hidden else ""), "hidden": hidden}


def pytest_configure(config):
    channel = config.getoption("--scratch-channel")
    if channel:
        config.pluginmanager.register(Recorder(channel), "scratch-recorder")


def remote_impl(config):
    """The remote ``impl`` of a grading run (``scratch.grading.remote``), or None outside one:
    the tests' ``impl`` fixture asks this first."""
    recorder = config.pluginmanager.get_plugin("scratch-recorder")
    return recorder.remote_impl() if recorder is not None else None
