"""How the grader reports misbehaving code, on tiny synthetic projects: exits, crashes, hangs
(the per-test limit, the question that stops at its first timeout, the whole run's budget),
failure messages, ``-v``, and a bad ``--gradescope`` path. The projects grade in a second or
two each, in the background from the session's first test (conftest's ``background``)."""

import json
import time

import pytest

from scratch.grading import grade, report
from synthetic_project import grade_cli, make_project, statuses

pytestmark = pytest.mark.instructor

MISBEHAVIOUR = """
import os, sys, time
import numpy as np
import pytest

class TestMisbehaviour:
    '''Question A'''
    @pytest.mark.points(1)
    def test_passes(self):
        assert 1 + 1 == 2

    @pytest.mark.points(2)
    def test_stub(self):
        raise NotImplementedError("double: not implemented yet")

    @pytest.mark.points(1)
    def test_wrong(self):
        assert 2 + 2 == 5, "arithmetic is off"

    @pytest.mark.points(1)
    def test_sys_exit(self):
        sys.exit(3)

@pytest.mark.points(1)
def test_hard_exit():
    os._exit(7)

@pytest.mark.points(1)
def test_hangs():
    while True:
        time.sleep(0.01)

@pytest.mark.points(2)
def test_after_the_trouble():
    assert True

def test_ungraded_is_ignored():
    assert False

@pytest.mark.points(1)
def test_skips_itself():
    pytest.skip("student code called pytest.skip")

@pytest.mark.points(1)
@pytest.mark.xfail(reason="marked as expected to fail")
def test_expected_failure():
    assert False

@pytest.mark.points(1)
@pytest.mark.parametrize("case", ["a::b"])
def test_odd_id(case):
    assert case == "a::b"

@pytest.mark.points(1)
def test_numpy_message():
    np.testing.assert_allclose(np.zeros(3), np.ones(3))

@pytest.mark.points(1)
def test_syntax_error_in_student_code():
    import exercises.broken
"""

# One infinite loop in a function that three tests of question A call, and in question B.
HANGING_QUESTIONS = """
import time
import pytest

def stuck():
    while True:
        time.sleep(0.01)

class TestA:
    '''question A calls a function that hangs'''
    @pytest.mark.points(1)
    def test_first(self):
        stuck()

    @pytest.mark.points(1)
    def test_second(self):
        stuck()

    @pytest.mark.points(1)
    def test_third(self):
        stuck()

class TestB:
    '''question B is fine'''
    @pytest.mark.points(1)
    def test_fine(self):
        assert True
"""


def timed_grade(root, **limits):
    started = time.monotonic()
    result = grade.grade("exercises", root, **limits)
    return result, time.monotonic() - started


BACKGROUND_FOR = ("runs",)  # conftest's background: what start_background feeds


def start_background(pool, tmp_path_factory):
    misbehaving = make_project(
        tmp_path_factory.mktemp("misbehaving"),
        {"test_misbehaviour.py": MISBEHAVIOUR, "test_zz_broken.py": "def test_cannot_import(:\n"},
        {"broken.py": "def f(:\n    pass\n"},
    )
    hanging = make_project(tmp_path_factory.mktemp("hanging"), {"test_hangs.py": HANGING_QUESTIONS})
    return {
        "misbehaving": pool.submit(timed_grade, misbehaving, timeout=2.0),
        "per_question": pool.submit(timed_grade, hanging, timeout=1.0, budget=60.0),
        "budget": pool.submit(timed_grade, hanging, timeout=60.0, budget=1.5),
    }


@pytest.fixture(scope="module")
def runs(background):
    return {name: future.result() for name, future in background[__name__].items()}


def test_grader_survives_exits_crashes_and_hangs(runs):
    (questions, errors), _ = runs["misbehaving"]
    status = statuses(questions)
    assert status["test_passes"][0] == "passed"
    assert status["test_stub"] == ("not_implemented", "NotImplementedError: double: not implemented yet")
    assert status["test_wrong"][0] == "failed" and "arithmetic is off" in status["test_wrong"][1]
    assert status["test_sys_exit"][0] == "failed" and "SystemExit" in status["test_sys_exit"][1]
    assert status["test_hard_exit"] == ("crashed", "the test process exited with code 7 during this test")
    assert status["test_hangs"][0] == "timed_out"
    assert status["test_after_the_trouble"][0] == "passed"
    assert "test_ungraded_is_ignored" not in status
    assert status["test_skips_itself"] == ("failed", "Skipped: student code called pytest.skip")
    assert status["test_expected_failure"][0] == "failed" and "xfail" in status["test_expected_failure"][1]
    assert status["test_odd_id[a::b]"][0] == "passed"
    # a test file that cannot be imported is reported, and costs nothing else
    assert [e["nodeid"] for e in errors] == ["tests/chapters/test_zz_broken.py"]
    assert "SyntaxError" in errors[0]["message"]
    assert [q.title for q in questions][0] == "Question A"
    assert sum(q.score for q in questions) == 4 and sum(q.points for q in questions) == 14


def test_failure_messages_say_what_went_wrong(runs):
    (questions, errors), _ = runs["misbehaving"]
    status = statuses(questions)
    # np.testing's message starts with an empty line: show the lines that hold the numbers
    numpy_message = status["test_numpy_message"][1]
    assert numpy_message.startswith("AssertionError: Not equal to tolerance") and "Mismatched elements" in numpy_message
    # a syntax error in student code is named as one, with its file and line
    syntax = status["test_syntax_error_in_student_code"][1]
    assert syntax.startswith("SyntaxError: ") and "broken.py, line 1" in syntax
    # -v shows the whole report under the test
    short = report.format_report(questions, errors, "exercises", 2.0)
    full = report.format_report(questions, errors, "exercises", 2.0, verbose=True)
    assert "grade -v" in short and "Max absolute difference" not in short
    assert "Max absolute difference" in full and "in test_numpy_message" in full and "pluggy" not in full
    # the table fits 80 columns, and wrapping loses no word of a title or a message
    narrow = report.format_report(questions, errors, "exercises", 2.0, columns=80)
    wide = report.format_report(questions, errors, "exercises", 2.0, columns=1000)
    too_wide = [line for line in narrow.splitlines()  # only a status and a test's name, or one long word
                if len(line) > 80 and len(line.split()) > 1 and line.split()[0] not in ("passed", "failed", "timed")]
    assert too_wide == [] and max(map(len, wide.splitlines())) > 80  # (it had long rows to wrap)
    assert narrow.split() == wide.split()


def test_gradescope_results(runs):
    (questions, errors), _ = runs["misbehaving"]
    results = json.loads(json.dumps(report.gradescope_results(questions, errors, seconds=12.34)))
    assert results["score"] == 4 and results["execution_time"] == 12.3
    assert results["output_format"] == results["test_output_format"] == "text"
    assert len(results["tests"]) == 12
    assert "collection error in tests/chapters/test_zz_broken.py" in results["output"]
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed") and 0 <= test["score"] <= test["max_score"]
    hung = next(t for t in results["tests"] if t["name"].endswith("test_hangs"))
    assert hung["output"].startswith("timed out")


def test_a_question_stops_at_its_first_timeout(runs):
    (questions, _), seconds = runs["per_question"]
    status = statuses(questions)
    assert status["test_first"] == ("timed_out", "still running after the 1 s limit")
    for name in ("test_second", "test_third"):
        assert status[name] == ("timed_out", "not run: an earlier test of this question timed out")
    assert status["test_fine"][0] == "passed"
    assert seconds < 20  # one time limit for the question, not three


def test_the_whole_run_has_a_budget(runs):
    (questions, _), seconds = runs["budget"]
    status = statuses(questions)
    assert status["test_first"] == ("timed_out", "still running when the 1.5 s budget of the whole run ran out")
    assert status["test_fine"] == ("timed_out", "not run: the 1.5 s budget of the whole run ran out")
    assert seconds < 20


def test_a_bad_gradescope_path_is_found_before_grading(tmp_path):
    root = make_project(tmp_path / "p", {"test_x.py": "def test_x():\n    pass\n"})
    (tmp_path / "a_file").write_text("")
    for path in (tmp_path / "a_file" / "results.json", tmp_path, tmp_path / "no" / "such" / "results.json"):
        started = time.monotonic()
        status, out, err = grade_cli(root, "--gradescope", str(path))
        assert status == 2 and f"--gradescope {path}" in err and "Traceback" not in err
        assert out == "" and time.monotonic() - started < 10
    assert not (tmp_path / "no").exists()  # a typo creates no folder


def test_one_broken_file_is_reported_once():
    """A SyntaxError in mdp.py fails every test of the chapter with one message: the table
    shows it at the first test and points back to it from the others."""
    broken = "SyntaxError: invalid syntax (exercises/mdp.py, line 12)"
    questions = [grade.Question(number=f"1.{q}", key=f"mdp::T{q}", title=f"question {q}", chapter="mdp",
                                tests=[grade.TestResult(f"t{q}{i}", f"test_{q}{i}", 1, "failed", broken) for i in "ab"])
                 for q in (1, 2)]
    questions[1].tests.append(grade.TestResult("other", "test_other", 1, "failed", "V: expected 1.0, obtained 2.0 at (3,)"))
    table = report.format_report(questions, [], "exercises", 2.0, columns=1000)
    assert table.count(broken) == 1 and table.count("(the same error as 1.1 test_1a)") == 3
    assert "V: expected 1.0, obtained 2.0 at (3,)" in table  # a different failure keeps its own message


def grade_project(tmp_path, tests, stubs, *args):
    """Grade a synthetic project of ``tests`` and ``stubs`` through the CLI, with results.json:
    (exit status, stdout, stderr, the results file's path)."""
    root = make_project(tmp_path / "p", tests, stubs)
    results = tmp_path / "results.json"
    return (*grade_cli(root, *args, "--gradescope", str(results)), results)


def test_a_failure_shows_why_and_what_the_code_printed(tmp_path):
    """-v (and Gradescope's output) adds to a failure the test's own explanation (its
    docstring, the comments at the failing line) and what the submission printed during it."""
    tests = {"test_explain.py": '''
        import pytest

        @pytest.mark.points(1)
        def test_double(impl):
            """double(x) is 2 x."""
            impl.mdp.double(1)  # an earlier call prints too
            # by hand: 2 * 3 = 6
            assert impl.mdp.double(3) == 6  # twice three

        @pytest.mark.points(1)
        def test_quiet_pass(impl):
            assert impl.mdp.double(0) == 1
        '''}
    stubs = {"mdp.py": 'def double(x):\n    print("doubling", x)\n    return 2 * x + 1\n'}
    status, out, err, results = grade_project(tmp_path, tests, stubs, "-v")
    assert status == 0, err
    failed = out[out.index("test_double"):out.index("test_quiet_pass")]
    assert "Why the test expects this:" in failed
    assert "double(x) is 2 x." in failed and "by hand: 2 * 3 = 6" in failed and "twice three" in failed
    assert "Printed by the submission during this test:" in failed
    assert "doubling 1" in failed and "doubling 3" in failed and "doubling 0" not in failed  # this test's only
    written = json.loads(results.read_text())["tests"]
    double = next(t for t in written if t["name"].endswith("test_double"))
    assert "twice three" in double["output"] and "doubling 3" in double["output"]


def test_the_short_message_keeps_the_values_compared():
    import numpy as np

    from scratch.grading.plugin import summary

    try:
        np.testing.assert_allclose([1.0, 2.0, 4.0, 5.0], [1.0, 2.0, 3.0, 5.5])
    except AssertionError as err:
        short = summary(f"AssertionError: {err}")
    assert "Not equal to tolerance" in short and "ACTUAL: array([1., 2., 4., 5.])" in short
    assert "DESIRED: array([1. , 2. , 3. , 5.5])" in short
    approx = "AssertionError: assert -3.0 == -1.0 ± 1.0e-06\n  \n  comparison failed\n  Obtained: -3.0\n  Expected: -1.0 ± 1.0e-06"
    assert summary(approx).endswith("Obtained: -3.0 | Expected: -1.0 ± 1.0e-06")


def test_a_runtime_error_names_the_students_file_and_line(tmp_path):
    tests = {"test_runtime.py": '''
        import pytest

        @pytest.mark.points(1)
        def test_double(impl):
            assert impl.mdp.double(3) == 6
        '''}
    stubs = {"mdp.py": "def double(x):\n    return gamma * x\n"}  # a name the student never defined
    status, out, err, _ = grade_project(tmp_path, tests, stubs)
    assert status == 0, err
    line = " ".join(out[out.index("test_double"):].split())  # the table may wrap it
    assert "NameError: name 'gamma' is not defined (at exercises/mdp.py:2, in double)" in line


def test_text_from_the_submission_cannot_break_the_report(tmp_path):
    """A lone surrogate in an exception message (or in what the code prints) crashed the
    grader's print, and results.json kept "grading did not finish"; now it is escaped."""
    tests = {"test_text.py": '''
        import pytest

        @pytest.mark.points(1)
        def test_double(impl):
            assert impl.mdp.double(3) == 6
        '''}
    stubs = {"mdp.py": 'def double(x):\n    print("odd \\ud800 text")\n    raise ValueError("MSG \\udcff \\ud800 end")\n'}
    status, out, err, results = grade_project(tmp_path, tests, stubs, "-v")
    assert status == 0 and "Traceback" not in err, err
    assert "MSG \\udcff \\ud800 end" in out and "odd \\ud800 text" in out  # escaped, not dropped
    text = results.read_bytes().decode("utf-8")  # valid UTF-8, and JSON without lone surrogates
    assert "\\\\ud800" in text and json.loads(text)["tests"][0]["score"] == 0


def test_control_characters_from_the_submission_are_escaped():
    from scratch.grading.report import plain_text

    assert plain_text("a\x1b[2Jb\tc\nd \ud800 e") == "a\\x1b[2Jb\tc\nd \\ud800 e"  # tab, newline kept
