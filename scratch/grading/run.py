"""The pytest subprocesses of a grading run, watched from the outside (see ``scratch.grading.grade``).

A :class:`PytestRun` is one judge: a pytest subprocess with the grading plugin, in its own
process group, talking to the grader over the signed channel of ``scratch.grading.channel``.
It starts the student process (``scratch.grading.remote``), optionally as another,
unprivileged user. The student process starts in the judge's process group, so the group
kill stops both, but submitted code can leave the group: with ``--run-as``, every process of
that user is killed after each judge stops (``sandbox.kill_every_process_of``).
:func:`collect` lists the graded tests;
:func:`run_tests` runs them under three clocks:

- a per-test limit: a test still running after it is killed with its process and marked
  "timed out", and the tests left in its question are marked timed out without running
  (one infinite loop costs its question one time limit, not one per test);
- an overall budget for the whole run: when it is spent, the running test is killed and
  every test not yet run is marked timed out;
- a process that dies mid-test gets that test marked "crashed" (a judge whose student
  process died reports the test as crashed itself, says "restart" and exits).

After a kill or a crash, a fresh subprocess takes up the tests that remain.
"""

import ctypes
import json
import os
import pwd
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from .channel import Reader, TamperedError, new_key
from .sandbox import kill_every_process_of

COLLECT_TIMEOUT = 120.0
GRADED_TESTS = Path("tests") / "chapters"  # where graded tests live (tests/harness/ is the harness's own)
POLL_SECONDS = 0.05
PR_SET_PDEATHSIG = 1

try:  # Linux: a grading subprocess is killed when the grader dies (killed, or its thread ends)
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None


def die_with_the_grader():
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class GradingError(RuntimeError):
    """Grading could not run at all (no tests found, pytest missing, collection broke)."""


def pytest_command(root, impl, channel, extra):
    # Options that take a path use the "--name=value" form and the rootdir is explicit:
    # pytest would otherwise count a separate path value among the paths that decide the
    # rootdir, and the test ids would change between the collecting and the running process.
    return [
        sys.executable, "-m", "pytest", str(Path(root) / GRADED_TESTS), f"--rootdir={root}",
        "-p", "scratch.grading.plugin", f"--scratch-channel={channel}",
        f"--impl={impl}", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
        "--continue-on-collection-errors",  # one broken test file must not cost the others
        # Python's own tracebacks: they hold the assertion's message like pytest's, and cost
        # a twentieth (pytest parses each test file again for every failure it shows).
        "--tb=native",
        *extra,
    ]


def child_environment(root, home=None):
    env = dict(os.environ)
    if home is not None:
        env["HOME"] = home
    # Import the harness and the implementation from the graded tree, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    env.pop("PYTEST_ADDOPTS", None)  # e.g. -x would stop the run at the first failing test
    # Only the grading plugin and the tests' conftest: an installed plugin (hypothesis takes
    # 2 s to import) slows every subprocess and has no business in a grading run.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a submission's bytecode must not outlive its run
    # Graded tests multiply small matrices, where BLAS threads cost more than they give, and
    # a grading run may share the machine with other runs: one thread unless told otherwise.
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def child_user(run_as):
    """``(Popen arguments, home folder)`` that start the child as user ``run_as`` (None: as we are)."""
    if run_as is None:
        return {}, None
    if os.geteuid() != 0:
        raise GradingError(f"--run-as {run_as}: only root can run the tests as another user")
    try:
        entry = pwd.getpwnam(run_as)
    except KeyError:
        raise GradingError(f"--run-as {run_as}: no such user") from None
    if entry.pw_uid == 0:
        raise GradingError(f"--run-as {run_as}: give an unprivileged user, not root")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}, entry.pw_dir


# Run as the user of --run-as, before any submitted code: can that user start the student
# process, and can it read what it must not (the tests, the solutions)?
RUN_AS_PROBE = """
import os, sys
sys.path.insert(0, sys.argv[1])
import numpy, scratch.grading.student
readable = [path for path in sys.argv[2:] if os.path.exists(path) and os.access(path, os.R_OK)]
import importlib.util
spec = importlib.util.find_spec("solutions")  # an installed reference, importable as is
if spec is not None:
    readable.append(f"the package solutions ({spec.origin or list(spec.submodule_search_locations or [])})")
print("READABLE:" + "|".join(readable))
"""


def check_run_as(run_as, student_root, secrets):
    """Fail early, with the reason, when user ``run_as`` cannot run the student process on
    ``student_root``, or can read one of ``secrets`` (the judge's tests, the solutions): a
    submission could read the expected values there."""
    if run_as is None:
        return
    options, home = child_user(run_as)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/"}
    try:
        probe = subprocess.run(
            [sys.executable, "-I", "-c", RUN_AS_PROBE, str(student_root), *map(str, secrets)], cwd="/", env=env,
            capture_output=True, text=True, stdin=subprocess.DEVNULL, **options,
        )
        failed, reason = probe.returncode != 0, (probe.stderr.strip().splitlines() or ["no output"])[-1]
    except OSError as err:
        failed, reason, probe = True, str(err), None
    if failed:
        raise GradingError(f"--run-as {run_as}: that user cannot run {sys.executable} with numpy on "
                           f"{student_root} ({reason})")
    readable = [p for p in probe.stdout.strip().removeprefix("READABLE:").split("|") if p]
    if readable:
        raise GradingError(f"--run-as {run_as}: that user can read {', '.join(readable)}, so a submission "
                           f"could read the tests or the solutions; grade with --submission (a private copy), "
                           f"or make them unreadable (chmod -R o-rwx)")


class PytestRun:
    """One pytest subprocess and the verified records it sends."""

    def __init__(self, root, impl, extra, log, only=None, student=None):
        key = new_key()
        handshake_read, handshake_write = os.pipe()
        self.out_fd, out_write = os.pipe()
        env = child_environment(root)
        # pytest's temporary folders in the grader's private workdir, not /tmp/pytest-of-<user>,
        # which a student process (another user) could create first and so make pytest refuse
        basetemp = Path(log.name).parent / f"{Path(log.name).stem}-tmp"
        command = pytest_command(root, impl, f"{handshake_read}:{out_write}", extra + [f"--basetemp={basetemp}"])
        try:
            self.process = subprocess.Popen(
                command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
                pass_fds=(handshake_read, out_write), preexec_fn=die_with_the_grader,
            )
        finally:
            os.close(handshake_read)
            os.close(out_write)
        self.reader = Reader(key)
        self.student = student
        message = json.dumps({"key": key.hex(), "only": only, "student": student}).encode()
        try:
            with os.fdopen(handshake_write, "wb") as handshake:
                handshake.write(message)
        except BrokenPipeError:
            pass  # the child died before reading; its exit status tells the rest
        self.open = True

    def records(self, wait):
        """Verified records that arrive within ``wait`` seconds (raises TamperedError)."""
        found = []
        while self.open:
            ready, _, _ = select.select([self.out_fd], [], [], wait)
            if not ready:
                break
            data = os.read(self.out_fd, 65536)
            if not data:
                self.open = False
                self.reader.finish()
                break
            found += self.reader.feed(data)
            wait = 0
        return found

    def finished(self):
        return self.process.poll() is not None

    def stop(self):
        """Kill the subprocess and anything it started, the student process included even
        where it left the group (``kill_every_process_of`` the run-as user); close the channel."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.process.kill()
        self.process.wait()
        if self.student and self.student.get("run_as"):
            kill_every_process_of(self.student["run_as"])
        if self.out_fd is not None:
            os.close(self.out_fd)
            self.out_fd, self.open = None, False


def collect(impl, root, workdir, graded_only=True):
    """``(collected, errors)``: graded test records in run order, and collection errors.

    ``--assert=plain``: a collection runs no test, so pytest's rewriting of every test
    module's asserts (a third of a collection's CPU, as bytecode is never cached here) would
    change nothing that is collected; the running processes rewrite as usual.
    """
    extra = ["--collect-only", "--assert=plain"] + (["-m", "points"] if graded_only else [])
    log_path = Path(workdir) / "collect.log"
    records = []
    with open(log_path, "w") as log:
        run = PytestRun(root, impl, extra, log)
        deadline = time.monotonic() + COLLECT_TIMEOUT
        try:
            while run.open and time.monotonic() < deadline:
                records += run.records(POLL_SECONDS)
                if run.finished():
                    records += run.records(0)
                    break
            else:
                if run.open:
                    raise GradingError(f"collecting the tests took over {COLLECT_TIMEOUT:.0f} s")
        finally:
            run.stop()
    errors = [r for r in records if r["event"] == "collection_error"]
    collected = [r for r in records if r["event"] == "collected"]
    if not collected and (errors or run.process.returncode not in (0, 5)):
        tail = "\n".join(log_path.read_text().splitlines()[-15:])
        raise GradingError(f"pytest could not collect the tests:\n{tail}")
    return collected, errors


class Clock:
    """The per-test limit and the overall budget of a run."""

    def __init__(self, timeout, budget):
        self.timeout, self.budget = timeout, budget
        self.deadline = time.monotonic() + budget

    def over(self, started_at):
        """Why the test started at ``started_at`` must stop now, or None."""
        now = time.monotonic()
        if now > self.deadline:
            return f"still running when the {self.budget:g} s budget of the whole run ran out"
        if now - started_at > self.timeout:
            return f"still running after the {self.timeout:g} s limit"
        return None


def run_tests(impl, tests, root, workdir, timeout, budget, student=None, stats=None):
    """Run ``tests`` (``{nodeid: question key}``, in order); ``{nodeid: (status, message, detail)}``.

    ``student`` says where and how the judges start the student process (see ``scratch.grading.grade``);
    None runs the package inside the judge, as plain pytest does (the grader's own tests of
    synthetic projects whose tests need no student code). ``stats``, a dict, gets the round
    trips and bytes the judges' channels to their student processes carried."""
    outcomes = {}
    clock = Clock(timeout, budget)
    remaining = list(tests)
    if student and student.get("run_as"):
        kill_every_process_of(student["run_as"])  # what an earlier, killed grader may have left
    for attempt in range(len(tests) + 1):
        if not remaining:
            break
        if time.monotonic() > clock.deadline:
            for nodeid in remaining:
                outcomes[nodeid] = ("timed_out", f"not run: the {budget:g} s budget of the whole run ran out", "")
            break
        with open(Path(workdir) / f"run{attempt}.log", "w") as log:
            run = PytestRun(root, impl, [], log, only=remaining, student=student)
            try:
                watch(run, outcomes, clock, stats)
            finally:
                run.stop()
        stopped = run.stopped_test
        if stopped is not None:
            nodeid, status, message = stopped
            outcomes[nodeid] = (status, message, "")
            if status == "timed_out":
                for other in remaining:
                    if tests[other] == tests[nodeid] and other not in outcomes:
                        outcomes[other] = ("timed_out", "not run: an earlier test of this question timed out", "")
        elif run.restarting:
            pass  # the judge's student process died: a fresh judge takes the tests that remain
        else:
            # The process ended between tests (or before the first): nothing left to retry.
            for nodeid in remaining:
                outcomes.setdefault(
                    nodeid, ("crashed", f"the test process exited with code {run.process.returncode} before this test", "")
                )
        remaining = [nodeid for nodeid in remaining if nodeid not in outcomes]
    return outcomes


def watch(run, outcomes, clock, stats=None):
    """Follow ``run`` until it ends or a test must stop; set ``run.stopped_test``."""
    running, started_at = None, None
    run.stopped_test, run.restarting = None, False
    while True:
        exited = run.finished()
        for record in run.records(0 if exited else POLL_SECONDS):
            if record["event"] == "start":
                running, started_at = record["nodeid"], time.monotonic()
            elif record["event"] == "result":
                if record["nodeid"] != running:
                    raise TamperedError(f"a result for {record['nodeid']} arrived while {running} was running")
                outcomes[running] = (record["status"], record["message"], record.get("detail", ""))
                running = None
            elif record["event"] == "restart":
                run.restarting = True
            elif record["event"] == "channel" and stats is not None:
                for name in ("round_trips", "bytes"):
                    stats[name] = stats.get(name, 0) + int(record.get(name, 0))
        if exited:
            if running is not None:
                run.stopped_test = (running, "crashed",
                                    f"the test process exited with code {run.process.returncode} during this test")
            return
        if running is not None:
            reason = clock.over(started_at)
            if reason:
                run.stopped_test = (running, "timed_out", reason)
                return
