"""The pytest plugin the autograder loads into its pytest subprocess (``-p scratch.grading_plugin``).

It records, as one JSON object per line in the file named by ``--scratch-results``:

- ``{"event": "collected", "nodeid", "name", "chapter", "question", "title", "points"}`` for every
  selected test, in run order;
- ``{"event": "collection_error", "nodeid", "message"}`` for a test file that fails to import;
- ``{"event": "start", "nodeid"}`` when a test begins;
- ``{"event": "result", "nodeid", "status", "message"}`` when it ends, with status one of
  ``passed``, ``not_implemented`` (a stub raised NotImplementedError) or ``failed`` (a
  skipped or expected-to-fail test counts as failed: only a pass earns points).

Each line is flushed as it is written, so when a student's code kills the process
(``os._exit``, a segfault) or hangs, the parent knows exactly which test was running; it
marks that one and starts a new process on the tests that remain (see ``scratch.grade``).

A question is a test class (its docstring's first line is the title) or, for a test outside
any class, the test function itself; points come from ``@pytest.mark.points(n)``.
"""

import json

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("scratch grading")
    group.addoption("--scratch-results", default=None, help="JSON-lines file the grader reads")
    group.addoption(
        "--scratch-only",
        default=None,
        help="file of node ids, one a line: run only these (the grader's selection and restarts)",
    )


class Recorder:
    def __init__(self, path, only):
        self.file = open(path, "a", encoding="utf-8")
        self.only = None
        if only:
            with open(only, encoding="utf-8") as lines:
                self.only = {line.rstrip("\n") for line in lines if line.strip()}
        self.outcomes = {}

    def write(self, **record):
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

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
            message = first_line(str(report.longrepr).strip().splitlines()[-1] if report.longrepr else "")
            self.write(event="collection_error", nodeid=report.nodeid, message=message)

    def pytest_runtest_logstart(self, nodeid, location):
        self.write(event="start", nodeid=nodeid)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.passed or item.nodeid in self.outcomes:
            return  # keep the first failure: a teardown error after a failure adds nothing
        if report.skipped:
            # A graded test earns its points by passing: a skip (pytest.skip called from
            # student code, say) or an expected failure is not a pass.
            if hasattr(report, "wasxfail"):
                reason = f"expected to fail (xfail): {report.wasxfail}"
            else:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "Skipped"
            self.outcomes[item.nodeid] = ("failed", first_line(reason))
        elif call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
            self.outcomes[item.nodeid] = ("not_implemented", first_line(call.excinfo.exconly()))
        elif call.excinfo is not None:
            self.outcomes[item.nodeid] = ("failed", first_line(call.excinfo.exconly()))
        else:
            self.outcomes[item.nodeid] = ("failed", first_line(str(report.longrepr)))

    def pytest_runtest_logfinish(self, nodeid, location):
        status, message = self.outcomes.pop(nodeid, ("passed", ""))
        self.write(event="result", nodeid=nodeid, status=status, message=message)


def first_line(text, limit=200):
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def question_of(item):
    """Chapter, question key and title of a test item (see the module docstring)."""
    chapter = item.path.stem.removeprefix("test_")
    cls = getattr(item, "cls", None)
    if cls is not None:
        doc = (cls.__doc__ or "").strip()
        return {
            "chapter": chapter,
            "question": f"{chapter}::{cls.__name__}",
            "title": doc.splitlines()[0] if doc else cls.__name__,
        }
    name = item.originalname if hasattr(item, "originalname") else item.name
    return {"chapter": chapter, "question": f"{chapter}::{name}", "title": name}


def pytest_configure(config):
    path = config.getoption("--scratch-results")
    if path:
        config.pluginmanager.register(Recorder(path, config.getoption("--scratch-only")), "scratch-recorder")
