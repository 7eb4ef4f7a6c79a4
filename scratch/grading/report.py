"""What ``python -m scratch grade`` prints and writes: the table, ``-v``, Gradescope's results.json.

Only this process (the grader) writes ``results.json``, and always atomically (a temporary
file in the same folder, then a rename): the path is checked before grading starts, a
"grading did not finish, 0 points" file is put there first, and the real results replace it
at the end. A grader killed mid-run therefore leaves 0 points, never a passing file.
"""

import json
import os
import re
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from . import grade, submission
from .run import GradingError

HIDDEN_VISIBILITY = "after_due_date"
GRADESCOPE_DETAIL = 6000  # characters of a failure's full text in a test's output


def format_points(value):
    return f"{value:g}"


def terminal_columns():
    """The terminal's width (80 when the output is not a terminal), at least 60."""
    return max(60, shutil.get_terminal_size((80, 24)).columns)


def format_report(questions, errors, impl, timeout, verbose=False, columns=None):
    """The table: a row per question (number, title, points), under it a row per test with
    its status and the first lines of what went wrong. Rows wrap to ``columns`` (default: the
    terminal's width), a long title or message continuing on indented lines, so nothing is cut
    and nothing runs past the edge but a test's name or a word longer than a line (a path),
    which are never split."""
    columns = terminal_columns() if columns is None else columns
    lines = [f"Grading {impl}/ (per-test time limit {timeout:g} s)", ""]
    for error in errors:
        lines += textwrap.wrap(f"collection error in {error['nodeid']}: {error['message']}", columns,
                               initial_indent="  ", subsequent_indent="    ")
    title_width = min(max(len(q.title) for q in questions), columns - 16)  # 5 + 2 + title + 2 + 7
    first_seen = {}  # message -> the test that showed it: one broken file fails every test the same way
    for q in questions:
        score = f"{format_points(q.score)}/{format_points(q.points)}"
        title = textwrap.wrap(q.title, title_width) or [""]
        lines.append(f"{q.number:>5}  {title[0]:<{title_width}}  {score:>7}")
        lines += [f"{'':7}{more}" for more in title[1:]]
        for test in q.tests:
            status = grade.STATUS_TEXT[test.status]
            quiet = ("passed", "not_implemented", "not_submitted")  # the status says it all
            detail = f"  {test.message}" if test.status not in quiet and test.message else ""
            if detail and test.message in first_seen:
                detail = f"  (the same error as {first_seen[test.message]})"
            elif detail and len(test.message) > 40:
                first_seen[test.message] = f"{q.number} {test.name}"
            head = f"{'':7}{status:<20} {test.name}"  # never split: a test's name is one word
            if len(head) + len(detail) <= columns:
                lines.append(head + detail)
            else:
                lines.append(head)
                lines += textwrap.wrap(detail.strip(), columns, initial_indent=" " * 28, subsequent_indent=" " * 28,
                                       break_on_hyphens=False, break_long_words=False)  # a path stays whole
            if verbose and test.detail:
                lines += [f"{'':9}{line}" for line in test.detail.splitlines()] + [""]
    total = sum(q.score for q in questions)
    possible = sum(q.points for q in questions)
    counts = {status: 0 for status in grade.STATUS_TEXT}
    for test in (t for q in questions for t in q.tests):
        counts[test.status] += 1
    ran = sum(counts.values())
    summary = ", ".join(f"{n} {grade.STATUS_TEXT[s]}" for s, n in counts.items() if n)
    lines += [""] + textwrap.wrap(f"Total: {format_points(total)}/{format_points(possible)} points "
                                  f"({ran} graded tests: {summary})", columns)
    if not verbose and any(t.detail for q in questions for t in q.tests):
        lines.append("(grade -v shows each failure in full)")
    return "\n".join(lines)


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # every control character but tab and newline


def plain_text(text):
    """``text`` as valid UTF-8 without control characters: a submission controls its messages
    and what it prints; a lone surrogate ('\\ud800') crashed the grader's print and made
    results.json invalid JSON text for strict readers, and an escape sequence ('\\x1b[2J')
    drove the instructor's terminal. Each is written as its escape instead."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def gradescope_results(questions, errors, hidden_visibility=HIDDEN_VISIBILITY, seconds=None, about=""):
    """The ``results.json`` Gradescope's autograder reads (score, execution_time in seconds
    when ``seconds`` is given, tests[], visibility); ``about`` (which files were graded) opens
    its output."""
    tests = []
    for q in questions:
        for test in q.tests:
            output = grade.STATUS_TEXT[test.status] + (f": {test.message}" if test.message else "")
            if test.detail:  # what -v shows: the traceback, the test's explanation, what the code printed
                output += "\n\n" + test.detail[:GRADESCOPE_DETAIL]
            tests.append({
                "name": plain_text(f"{q.number} {q.title}: {test.name}"),
                "number": q.number,
                "score": test.score,
                "max_score": test.points,
                "status": "passed" if test.status == "passed" else "failed",
                "output": plain_text(output),
                "visibility": hidden_visibility if q.hidden else "visible",
            })
    output = "".join(f"collection error in {e['nodeid']}: {e['message']}\n" for e in errors)
    output = (about + "\n" if about else "") + (output or "Graded every test marked with points.")
    results = {
        "score": sum(q.score for q in questions),
        "output": plain_text(output),
        # plain text in a fixed-width block, as the terminal shows it: tracebacks and the
        # indented explanation keep their layout ("simple_format", the default, would not)
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "tests": tests,
    }
    if seconds is not None:
        results["execution_time"] = round(seconds, 1)
    return results


def zero_results(reason):
    return {"score": 0, "output": reason, "visibility": "visible", "tests": []}


def write_json(path, results):
    """Write ``results`` to ``path`` atomically: readers see the old file or the new one."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(json.dumps(results, indent=2) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def prepare_results_path(path):
    """Check ``--gradescope PATH`` before grading, and put a 0-point placeholder there."""
    path = Path(path)
    if path.is_dir():
        raise GradingError(f"--gradescope {path}: is a folder; give the path of the results.json to write")
    if not path.parent.is_dir():  # a typo must not create folders anywhere
        raise GradingError(f"--gradescope {path}: the folder {path.parent} does not exist")
    try:
        write_json(path, zero_results("grading did not finish (the grader was stopped or killed)"))
    except OSError as err:
        raise GradingError(f"--gradescope {path}: cannot write there ({err.strerror or err})") from None


def main(args):
    """Entry point for ``python -m scratch grade`` (``args`` parsed by ``scratch.__main__``)."""
    try:
        if args.gradescope:
            prepare_results_path(args.gradescope)
    except GradingError as err:
        print(f"grading could not run: {err}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        with submission.graded_root(args) as (root, impl, submitted, about):
            if about:
                print(plain_text("\n".join(textwrap.fill(line, terminal_columns(), subsequent_indent="  ", break_long_words=False)
                                for line in about.splitlines()) + "\n"))
            questions, errors = grade.grade(impl, root, args.question, args.timeout, args.budget, args.run_as,
                                            submitted=submitted)
    except KeyboardInterrupt:
        print("\ngrading interrupted (Ctrl-C); the test processes were stopped", file=sys.stderr)
        return 130
    except (grade.Rejected, submission.SubmissionError) as err:  # graded: 0 points, and why
        print(f"0 points: {err}")
        if args.gradescope:
            write_json(args.gradescope, zero_results(f"0 points: {err}"))
        return 0
    except GradingError as err:
        print(f"grading could not run: {err}", file=sys.stderr)
        if args.gradescope:  # Gradescope then shows the reason instead of a missing file
            write_json(args.gradescope, zero_results(f"grading could not run: {err}"))
        return 2
    print(plain_text(format_report(questions, errors, impl, args.timeout, args.verbose)))
    if args.gradescope:
        write_json(args.gradescope, gradescope_results(questions, errors, args.hidden_visibility,
                                                       time.monotonic() - started, about))
        print(f"wrote {args.gradescope}")
    return 0
