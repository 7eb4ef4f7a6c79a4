"""The grader against misbehaving and dishonest submissions, each on a tiny synthetic project.

Every attack found on the grader (issue 9) is reproduced here and must earn nothing: code
that reaches the result recorder, forged result lines followed by ``os._exit(0)``, a fake
``results.json`` with the grader killed, hangs, Ctrl-C. The projects grade in about a second
each; they start in the background at the session's first test (conftest's ``background``).
"""

import json
import os
import signal
import tempfile
import time
import pytest

from scratch import grade
from synthetic_project import grade_cli, make_project, start_grade_cli, statuses

pytestmark = pytest.mark.instructor

STUB = """
def double(x):
    raise NotImplementedError("double: not implemented yet")
"""

TESTS_OF_STUB = """
import pytest
from exercises.mdp import double

class TestDouble:
    '''double: twice x'''
    @pytest.mark.points(100)
    def test_two(self):
        assert double(2) == 4

    @pytest.mark.points(100)
    def test_three(self):
        assert double(3) == 6
"""

# Attack 1 of issue 9: lines at the top of an untouched exercise that reach the recorder.
REACH_THE_RECORDER = """
import gc
for thing in gc.get_objects():
    if type(thing).__name__ == "Recorder":
        thing.outcomes = type("AlwaysPassed", (dict,), {"pop": lambda self, *a: ("passed", "", "")})()
""" + STUB

# The same reach without the forbidden tools (the screen turned off): raw lines on its pipe.
RECORDER_WRITES_LINES = """
def double(x):
    import gc, json, os
    recorder = next(t for t in gc.get_objects() if type(t).__name__ == "Recorder")
    for nodeid in ("tests/test_mdp.py::TestDouble::test_two", "tests/test_mdp.py::TestDouble::test_three"):
        line = json.dumps({"event": "result", "nodeid": nodeid, "status": "passed", "message": ""})
        os.write(recorder.out_fd, line.encode() + b"\\n")
    os._exit(0)
"""

# Attack 2: forged "passed" lines appended to the results file named in sys.argv, then exit.
FORGE_FROM_ARGV = """
def double(x):
    import json, os, sys
    for argument in sys.argv:
        if argument.startswith("--scratch-"):
            value = argument.split("=", 1)[1]
            for nodeid in ("tests/test_mdp.py::TestDouble::test_two", "tests/test_mdp.py::TestDouble::test_three"):
                record = json.dumps({"event": "result", "nodeid": nodeid, "status": "passed", "message": ""})
                if ":" in value:  # the channel's descriptors
                    os.write(int(value.split(":")[1]), record.encode() + b"\\n")
                else:  # the results file of the old grader
                    open(value, "a").write(record + "\\n")
    os._exit(0)
"""

# Attack 3: a fake results.json, then the grader (the test process's parent) killed. It runs
# in the test file, standing for student code that got past the screen.
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

TESTS_THAT_HANG = """
import os, time
import pytest

@pytest.mark.points(1)
def test_hangs():
    with open(os.environ["STARTED_MARK"], "w") as mark:
        mark.write(str(os.getpid()))
    while True:
        time.sleep(0.01)
"""


def project(root, exercise=STUB, tests=TESTS_OF_STUB):
    return make_project(root, {"test_mdp.py": tests}, {"mdp.py": exercise})


def outcome(root, screen=True):
    """``(score, questions)`` or the :class:`grade.Rejected` raised."""
    try:
        questions, _ = grade.grade("exercises", root, timeout=20.0, screen=screen)
    except grade.Rejected as rejected:
        return rejected
    return sum(q.score for q in questions), questions


BACKGROUND_FOR = ("attacks",)  # conftest's background: what start_background feeds


def start_background(pool, tmp_path_factory):
    cases = {
        "recorder": (REACH_THE_RECORDER, True),
        "recorder_unscreened": (RECORDER_WRITES_LINES, False),
        "argv": (FORGE_FROM_ARGV, True),
        "argv_unscreened": (FORGE_FROM_ARGV, False),
        "honest": (STUB, True),
    }
    return {name: pool.submit(outcome, project(tmp_path_factory.mktemp(name), code), screen)
            for name, (code, screen) in cases.items()}


@pytest.fixture(scope="module")
def attacks(background):
    return {name: future.result() for name, future in background[__name__].items()}


def test_code_reaching_the_recorder_is_rejected_before_it_runs(attacks):
    rejected = attacks["recorder"]
    assert isinstance(rejected, grade.Rejected)
    assert "exercises/mdp.py:2: imports gc" in str(rejected) and "none of it was run" in str(rejected)


def test_raw_lines_on_the_results_pipe_are_caught(attacks):
    rejected = attacks["recorder_unscreened"]
    assert isinstance(rejected, grade.Rejected) and "no valid signature" in str(rejected)


def test_forged_lines_from_argv_then_exit_earn_nothing(attacks):
    assert isinstance(attacks["argv"], grade.Rejected)  # imports os and sys
    rejected = attacks["argv_unscreened"]
    assert isinstance(rejected, grade.Rejected) and "no valid signature" in str(rejected)


def test_an_honest_stub_still_grades_normally(attacks):
    score, questions = attacks["honest"]
    assert score == 0
    assert {status for status, _ in statuses(questions).values()} == {"not_implemented"}


def test_a_killed_grader_leaves_zero_points_not_a_stale_pass(tmp_path):
    root = project(tmp_path / "p", tests=TESTS_THAT_FAKE_RESULTS_AND_KILL)
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"score": 200}))  # a passing file from an earlier run
    status, _, _ = grade_cli(root, "--gradescope", str(results),
                             extra_env={"FAKE_RESULTS": str(tmp_path / "elsewhere.json")})
    assert status == -signal.SIGKILL  # the test did kill the grader
    written = json.loads(results.read_text())  # the placeholder written before grading
    assert written["score"] == 0 and "did not finish" in written["output"]


def world_readable_project(base, tests):
    os.chmod(base, 0o755)
    root = project(os.path.join(base, "p"), tests=tests)
    for folder, _, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return root


def test_with_run_as_a_submission_cannot_write_results_or_kill_the_grader(tmp_path):
    # Gradescope runs the grader as root, and run_autograder passes --run-as nobody.
    from scratch.grading_run import GradingError, check_run_as

    if os.geteuid() != 0:
        pytest.skip("--run-as needs root")
    with tempfile.TemporaryDirectory(prefix="scratch-run-as-") as base:
        root = world_readable_project(base, TESTS_THAT_FAKE_RESULTS_AND_KILL)
        try:
            check_run_as("nobody", root)
        except GradingError as err:
            pytest.skip(f"the user nobody cannot run the tests on this machine: {err}")
        results = tmp_path / "results.json"
        status, out, err = grade_cli(root, "--gradescope", str(results), "--run-as", "nobody",
                                     extra_env={"FAKE_RESULTS": str(results)})
    assert status == 0, err
    written = json.loads(results.read_text())
    assert written["score"] == 0 and "PermissionError" in written["tests"][0]["output"]


def test_ctrl_c_stops_the_test_processes_without_a_traceback(tmp_path):
    root = project(tmp_path / "p", tests=TESTS_THAT_HANG)
    mark = tmp_path / "started"
    grader = start_grade_cli(root, extra_env={"STARTED_MARK": str(mark)})
    deadline = time.monotonic() + 30
    while not (mark.exists() and mark.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(mark.read_text())
    grader.send_signal(signal.SIGINT)
    # Seconds alone; the generous limit is for a machine whose two cores the rest of the
    # suite keeps busy (10 s once ran out in CI).
    _, err = grader.communicate(timeout=45)
    assert grader.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # the runaway test process is gone
