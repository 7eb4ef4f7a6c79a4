"""Grading every mutant in one pytest process: the plugin, the command that runs it, the report.

``run_subprocess`` starts ``pytest <the chapter test files> -p mutation_plugin``; the plugin
replaces pytest's run loop and writes the results as JSON. Decisions, most of them for speed
(most mutants are killed in milliseconds by a cheap test of their question; the run's cost is
in ``tests/harness/test_mutants.py``):

- **One process for every mutant.** Collecting the chapter tests (pytest, SciPy and every test
  module imported) costs about 2 s, once. Mutants are made live in that process, one at a
  time (``mutation.activated``), between tests.
- **A question's tests until the first failure**: one failing graded test costs the question
  points, so one is all a kill needs. They run cheapest first, by the durations measured so far
  in the run (a test not timed yet counts as ``UNTIMED_SECONDS``). The order never changes a
  verdict, because every test runs with fresh fixtures (``nextitem=None``: everything, session
  fixtures included, is torn down after it): a fixture built under one mutant must not serve
  the next.
- **The exception: the pretrained GPT** (``scratch.train.pretraining.pretrained_gpt``, 5 s of
  training), memoised across mutants. A mutant of a module outside ``pretraining.TRAINING_CODE``
  (the files that pretraining's own cache key digests, because they are all the code a
  pretrained model depends on) gets a deep copy of the model pretrained with the reference; a
  mutant inside them gets its own model.
- **Light reports.** pytest's report of a failure formats its traceback, parsing the source of
  every frame: 34 ms a failure, most of the run's overhead. The plugin's reports keep the
  outcome and the exception's first line, all a kill needs. No third-party plugin is loaded
  (the tests need none; hypothesis's took 1 s to import at the end of the run).
- **A time limit per mutant** (SIGALRM, 30 s): a mutant that hangs a test (an endless solver
  loop) is killed by it, as the grader's per-test limit costs the question its points.
- **Confirmation on the reference is optional** (``--mutants-confirm``, about 20 s): every test
  that killed a mutant runs once more with no mutant, and a kill by a test that fails there
  too is reported "unconfirmed". The suite does not need it (its chapter tests run every
  graded test on the reference); ``python3 tests/harness/test_mutants.py`` does it by default.
- **The recording run** (``--mutants-record PATH``, ``python3 tests/harness/test_mutants.py
  --record``) writes the named mistakes' file instead (``scratch.grading.mistakes``): every
  graded test of a question on the reference, then every test of the question (not only up to
  the first failure) with each mutant live, recording what the graded functions return in
  the test's body (``mutation.recording``); a test that would pretrain a GPT with the
  mutant's own code is left out (5 s each). About 40 s.
"""

import os

# As in conftest.py, before NumPy is first imported (a plugin is imported before conftest.py):
# one BLAS thread. With two, the GPT training test ran several times slower in this process.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import copy  # noqa: E402  (after the BLAS setting on purpose, as the rest)
from collections import Counter  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from _pytest.reports import TestReport  # noqa: E402
from _pytest.runner import runtestprotocol  # noqa: E402

from mutation import (activated, chapter_of, chapter_test_files, load_mutants, question_file,  # noqa: E402
                      recording, select_mutants)
from scratch.grading.plugin import question_of  # noqa: E402
from scratch.impl import CHAPTERS, PROJECT_ROOT  # noqa: E402

SECONDS_PER_MUTANT = 30.0
UNTIMED_SECONDS = 0.25  # the cost assumed for a test not timed yet (MutationPlugin.cheapest_first)


# -- running one test -------------------------------------------------------------------------


class MutantTimedOut(BaseException):
    """Raised by SIGALRM inside a test; a BaseException, so no ``pytest.raises(Exception)`` in a
    test can swallow it."""


@contextmanager
def time_limit(seconds):
    if not hasattr(signal, "setitimer"):  # no SIGALRM on this platform: no limit
        yield
        return

    def on_alarm(signum, frame):
        raise MutantTimedOut(f"over the mutant's limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def one_line(text, limit=300):
    return " ".join(str(text).split())[:limit]


def failed_phase(item):
    """Run one test with fresh fixtures: None if it passed, else the phase that failed first
    (``setup``, ``call`` or ``teardown``; a skip counts as a failure)."""
    for report in runtestprotocol(item, log=False, nextitem=None):
        if report.failed or report.skipped:
            return report.when
    return None


def run_one(item):
    """Run one test with fresh fixtures: None if it passed, else why not (a skip counts as a
    failure, as in the grader: only a pass earns points)."""
    for report in runtestprotocol(item, log=False, nextitem=None):
        if report.failed or report.skipped:
            message = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
            return one_line(message) if report.when == "call" else f"{report.when}: {one_line(message)}"
    return None


class NotRecorded(Exception):
    """A test the recording run leaves out (PretrainedMemo)."""


class PretrainedMemo:
    """``pretraining.pretrained_gpt`` memoised across mutants (the module docstring says when)."""

    def __init__(self, pretraining, plugin):
        self.pretraining, self.plugin = pretraining, plugin
        self.original, self.models = pretraining.pretrained_gpt, {}

    def __call__(self, impl, recipe, **kwargs):
        mutant = self.plugin.active
        own_model = mutant is not None and Path(mutant.file).stem in self.pretraining.TRAINING_CODE
        key = (repr(recipe), (mutant.question, mutant.name) if own_model else None)
        if key not in self.models:
            if own_model and self.plugin.record_to:
                raise NotRecorded("the recording run trains no model with a mutant (5 s each)")
            self.models[key] = self.original(impl, recipe, **kwargs)
        return copy.deepcopy(self.models[key])  # a test may change its model: never the memo's


# -- the plugin -------------------------------------------------------------------------------


class MutationPlugin:
    """Replaces pytest's run loop: every mutant against the graded tests of its question."""

    def __init__(self, config):
        self.out = config.getoption("--mutants-json")
        self.confirm = config.getoption("--mutants-confirm")
        self.mutants = select_mutants(config.getoption("--mutants-only"))
        self.active = None  # the mutant whose edit is live (PretrainedMemo reads it)
        self.seconds = {}  # node id -> the longest run of that test so far
        self.collection_errors = []
        self.record_to = config.getoption("--mutants-record")  # the named mistakes' file, in a recording run
        self.recording = None  # the Recording of the running test's body, in a recording run

    def pytest_configure(self, config):
        from scratch.train import pretraining

        pretraining.pretrained_gpt = PretrainedMemo(pretraining, self)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        """A light report (the module docstring says why): the outcome and ``Type: message``."""
        if call.excinfo is None:
            outcome, longrepr = "passed", None
        else:
            message = one_line(f"{call.excinfo.type.__name__}: {call.excinfo.value}")
            skipped = call.excinfo.errisinstance(pytest.skip.Exception)
            outcome, longrepr = ("skipped", (str(item.path), 0, message)) if skipped else ("failed", message)
        return TestReport(item.nodeid, item.location, {}, outcome, longrepr, call.when,
                          duration=call.duration, start=call.start, stop=call.stop)

    def pytest_collectreport(self, report):
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {one_line(report.longrepr)}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        graded = {}
        for item in session.items:
            if item.get_closest_marker("points"):
                graded.setdefault(question_of(item)["question"], []).append(item)
        if self.record_to:
            with open(self.out, "w", encoding="utf-8") as out:
                json.dump({"collection_errors": self.collection_errors, **self.record_run(graded)}, out, indent=1)
            return True
        started = time.perf_counter()
        results = [self.run_mutant(mutant, graded.get(mutant.question, [])) for mutant in self.mutants]
        seconds = {"mutants": round(time.perf_counter() - started, 3)}
        if self.confirm:
            started = time.perf_counter()
            self.confirm_on_the_reference(results, {item.nodeid: item for items in graded.values() for item in items})
            seconds["confirmation"] = round(time.perf_counter() - started, 3)
        with open(self.out, "w", encoding="utf-8") as out:
            json.dump({"collection_errors": self.collection_errors, "questions": sorted(graded),
                       "seconds": seconds, "mutants": results}, out, indent=1)
        return True

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        """In a recording run, record what the graded functions return in the test's body."""
        if self.recording is None:
            yield
            return
        with recording(self.recording.add):
            yield

    def recorded(self, item):
        """Run one test, recording its body: (the phase that failed, or None; its calls)."""
        from scratch.grading import mistakes

        self.recording = mistakes.Recording()
        try:
            with time_limit(SECONDS_PER_MUTANT):
                phase = failed_phase(item)
        except MutantTimedOut:
            phase = "timed out"
        finally:
            calls, self.recording = self.recording.calls, None
        return phase, calls

    def record_run(self, graded):
        """The named mistakes' file (``scratch.grading.mistakes``): every graded test of a
        question once on the reference, then once with each of its mutants live, recording
        what the graded functions return; a mutant's record of a test it fails in the test's
        body is kept where it differs from the reference. Written to ``--mutants-record``;
        returns the measurement: each mutant's records looked up in the file as written, as
        the judge would for a submission that makes that mistake."""
        from scratch.grading import mistakes

        started = time.perf_counter()
        digests = {"digest": mistakes.digest_files(PROJECT_ROOT),
                   "tests_digest": mistakes.digest_files(PROJECT_ROOT, tests_only=True)}
        every = load_mutants()
        index = {(m.question, m.name): i for i, m in enumerate(every)}
        questions = {}
        for mutant in self.mutants:
            questions.setdefault(mutant.question, []).append(mutant)
        references, raw, outcome, reference_failures = {}, [], {}, []
        for question, mutants in questions.items():
            items = graded.get(question, [])
            for item in items:
                phase, calls = self.recorded(item)
                if phase is None:
                    references[item.nodeid] = calls
                else:
                    reference_failures.append(f"{item.nodeid} ({phase})")
            for mutant in mutants:
                number = index[(mutant.question, mutant.name)]
                phases = Counter()
                try:
                    with activated(mutant):
                        self.active = mutant
                        for item in items:
                            if item.nodeid in references:
                                phase, calls = self.recorded(item)
                                phases[phase or "passed"] += 1
                                if phase == "call":
                                    raw.append((number, item.nodeid, calls))
                except Exception as error:  # a MutantError: broken
                    phases[f"broken: {type(error).__name__}: {error}"] += 1
                finally:
                    self.active = None
                outcome[number] = dict(phases)
        recorded_seconds = time.perf_counter() - started
        tests = {}
        for number, nodeid, calls in sorted(raw, key=lambda r: r[0]):
            kept = mistakes.compact(calls, references[nodeid])
            if any(mistakes.informative(fp) for _, fps in kept.values() for fp in fps):
                tests.setdefault(nodeid, {"ref": {}, "mutants": []})["mutants"].append([number, kept])
        for nodeid, entry in tests.items():
            needed = Counter()
            for _, kept in entry["mutants"]:
                for key, (_, fps) in kept.items():
                    needed[key] = max(needed[key], len(fps))
            entry["ref"] = {key: [count, fps[:needed[key]]] for key, (count, fps) in sorted(references[nodeid].items())}
        data = {"format": mistakes.FORMAT, **digests, "rtol": mistakes.RTOL, "command": mistakes.REGENERATE,
                "mutants": [[m.question, m.name] for m in every], "tests": dict(sorted(tests.items()))}
        mistakes.write(self.record_to, data)
        size = Path(self.record_to).stat().st_size
        data = json.loads(Path(self.record_to).read_text(encoding="utf-8"))  # measured as the judge reads it
        named = {}
        for number, nodeid, calls in raw:
            keys = mistakes.test_keys(data, nodeid)
            if keys is None:
                found = None
            else:
                student = mistakes.Recording(keys)
                student.calls = {k: v for k, v in calls.items() if k in keys}
                found = mistakes.lookup(data, nodeid, student.calls)
            named.setdefault(number, []).append([nodeid, found])
        measured = []
        for mutant in self.mutants:
            number = index[(mutant.question, mutant.name)]
            looked = named.get(number, [])
            others = sorted({every[found].name for _, found in looked if found not in (None, number)})
            status = ("named" if any(found == number for _, found in looked) and not others else
                      "named as another" if others else "not named" if looked else "no failure in a test's body")
            measured.append({"question": mutant.question, "name": mutant.name, "file": mutant.file, "status": status,
                             "tests": outcome.get(number, {}), "named_by": sum(found == number for _, found in looked),
                             "failing": len(looked), "others": others})
        return {"mode": "record", "mutants": measured, "bytes": size, "reference_failures": reference_failures,
                "seconds": {"recording": round(recorded_seconds, 3),
                            "total": round(time.perf_counter() - started, 3)}}

    def run_mutant(self, mutant, items):
        """One mutant's result: its ``status`` (killed, survived, broken or no tests), the test
        that killed it (``by``) and why (``message``), and the tests run (``runs``)."""
        result = {"question": mutant.question, "name": mutant.name, "file": mutant.file, "runs": []}
        started = time.perf_counter()
        try:
            with activated(mutant):
                self.active = mutant
                result.update(self.first_failure(self.cheapest_first(items)))
        except Exception as error:  # a MutantError, or a live function the edit cannot reach
            result.update(status="broken", message=f"{type(error).__name__}: {error}")
        finally:
            self.active = None
        result["seconds"] = round(time.perf_counter() - started, 3)
        return result

    def cheapest_first(self, items):
        """The question's tests, cheapest first by the runs so far. A test not run yet counts as
        UNTIMED_SECONDS: before the slow ones, after the quick ones (counted as free, a test
        whose fixture pretrains a GPT ran before every cheap check)."""
        return sorted(items, key=lambda item: self.seconds.get(item.nodeid, UNTIMED_SECONDS))

    def first_failure(self, items):
        """Run ``items`` until one fails (``runs``: [test name, seconds, passed] each)."""
        if not items:
            return {"status": "no tests", "message": "no graded test has this question key"}
        runs = []
        try:
            with time_limit(SECONDS_PER_MUTANT):
                for item in items:
                    runs.append([item.name, None, False])
                    started = time.perf_counter()
                    message = run_one(item)
                    runs[-1][1:] = [round(time.perf_counter() - started, 3), message is None]
                    self.seconds[item.nodeid] = max(runs[-1][1], self.seconds.get(item.nodeid, 0.0))
                    if message is not None:
                        return {"status": "killed", "by": item.nodeid, "message": message, "runs": runs}
        except MutantTimedOut as error:  # raised between two tests: the limit is the mutant's
            return {"status": "killed", "by": items[len(runs) - 1].nodeid, "message": str(error), "runs": runs}
        return {"status": "survived", "message": f"all {len(runs)} graded tests of the question pass", "runs": runs}

    def confirm_on_the_reference(self, results, items):
        """Each killing test once more with no mutant: a kill by a test that fails there too
        becomes "unconfirmed"."""
        verdicts = {}
        for result in results:
            if result["status"] != "killed":
                continue
            if result["by"] not in verdicts:
                try:
                    with time_limit(SECONDS_PER_MUTANT):
                        verdicts[result["by"]] = run_one(items[result["by"]])
                except MutantTimedOut as error:
                    verdicts[result["by"]] = str(error)
            if verdicts[result["by"]] is not None:
                result.update(status="unconfirmed",
                              message=f"{result['by']} fails on the reference too: {verdicts[result['by']]}")


def pytest_addoption(parser):
    group = parser.getgroup("mutation testing")
    group.addoption("--mutants-json", default=None, help="grade the mutants; write the results to this JSON file")
    group.addoption("--mutants-only", default="", help="comma-separated question keys or chapters to run")
    group.addoption("--mutants-confirm", action="store_true",
                    help="run every killing test again on the reference, to confirm the kills")
    group.addoption("--mutants-record", default=None,
                    help="write the named mistakes' file here (scratch.grading.mistakes) instead of the kill run")


def pytest_configure(config):
    if config.getoption("--mutants-json"):
        config.pluginmanager.register(MutationPlugin(config), "scratch-mutation")


# -- running it, and the report ---------------------------------------------------------------


def run_subprocess(out_json, only="", confirm=False, impl="solutions", record_to=None):
    """Grade the mutants (``only``: see ``mutation.select_mutants``) in one pytest subprocess;
    returns (the results, as the plugin wrote them, and pytest's output)."""
    files = chapter_test_files() if not only else list(dict.fromkeys(question_file(m.question)
                                                                    for m in select_mutants(only)))
    # PYTHONPATH: so that `-p mutation_plugin` finds this module. No third-party plugins.
    path = [str(PROJECT_ROOT / "tests" / "harness"), str(PROJECT_ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    command = [sys.executable, "-m", "pytest", *files, f"--impl={impl}", "-q", "-p", "no:cacheprovider",
               "-p", "mutation_plugin", f"--mutants-json={out_json}", f"--mutants-only={only}"]
    command += ["--mutants-confirm"] if confirm else []
    command += [f"--mutants-record={record_to}"] if record_to else []
    Path(out_json).unlink(missing_ok=True)  # never read an older run's results
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    output = done.stdout + done.stderr
    try:
        with open(out_json, encoding="utf-8") as results:
            return json.load(results), output
    except (OSError, ValueError):
        raise RuntimeError(f"the mutants' pytest run wrote no results (exit {done.returncode}):\n{output[-3000:]}")


def kill_rates(mutants):
    """``{chapter: (killed, total, seconds)}`` of the mutants' results, in lecture order."""
    rates = {}
    for result in mutants:
        chapter = chapter_of(result["question"])
        killed, total, seconds = rates.get(chapter, (0, 0, 0.0))
        rates[chapter] = (killed + (result["status"] == "killed"), total + 1, seconds + result["seconds"])
    return dict(sorted(rates.items(), key=lambda kv: CHAPTERS.index(kv[0])))


def report(results):
    """The run as text: the kill rate per chapter, every mutant not killed, and the cost."""
    mutants = results["mutants"]
    rows = list(kill_rates(mutants).items())
    rows.append(("all", (sum(r["status"] == "killed" for r in mutants), len(mutants),
                         sum(r["seconds"] for r in mutants))))
    lines = [f"{'chapter':<12} {'killed':>7} {'mutants':>8} {'rate':>7} {'seconds':>8}"]
    lines += [f"{chapter:<12} {killed:>7} {total:>8} {killed / max(total, 1):>7.0%} {seconds:>8.1f}"
              for chapter, (killed, total, seconds) in rows]
    lines += [f"  {r['status'].upper()}: {r['question']} / {r['name']!r} (solutions/{r['file']}): {r['message']}"
              for r in mutants if r["status"] != "killed"]
    lines += [f"  COLLECTION ERROR: {error}" for error in results["collection_errors"]]
    slowest = sorted(mutants, key=lambda r: -r["seconds"])[:3]
    lines.append("slowest: " + "; ".join(f"{r['question']} / {r['name']!r} {r['seconds']:.1f} s" for r in slowest))
    lines.append("run: " + ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in results["seconds"].items()))
    return "\n".join(lines)


def record_report(results, path, verbose=False):
    """A recording run as text: the file, its size and the run's time; and the named-back
    count per chapter (each mutant graded in-process as a submission: ``named`` when a failing
    test names it and none names another mistake), with ``verbose`` every mutant not named."""
    mutants = results["mutants"]
    lines = [f"wrote {path}: {results['bytes']:,} bytes, {results['seconds']['total']:.1f} s "
             f"(recording {results['seconds']['recording']:.1f} s)"]
    statuses = ("named", "named as another", "not named", "no failure in a test's body")
    rows = {}
    for result in mutants:
        rows.setdefault(chapter_of(result["question"]), Counter())[result["status"]] += 1
    rows = dict(sorted(rows.items(), key=lambda kv: CHAPTERS.index(kv[0])))
    rows["all"] = sum(rows.values(), Counter())
    lines.append(f"{'chapter':<12} {'mutants':>8} " + " ".join(f"{s:>{max(len(s), 6)}}" for s in statuses))
    for chapter, counts in rows.items():
        lines.append(f"{chapter:<12} {sum(counts.values()):>8} "
                     + " ".join(f"{counts[s]:>{max(len(s), 6)}}" for s in statuses))
    total = rows["all"]
    lines.append(f"named back: {total['named']} of {sum(total.values())} mutants")
    if verbose:
        lines += [f"  {r['status'].upper()}: {r['question']} / {r['name']!r}"
                  + (f" (named as: {'; '.join(r['others'])})" if r["others"] else "")
                  + f" [tests: {r['tests']}]" for r in mutants if r["status"] != "named"]
    lines += [f"  COLLECTION ERROR: {error}" for error in results["collection_errors"]]
    lines += [f"  FAILS ON THE REFERENCE (not recorded): {test}" for test in results["reference_failures"]]
    return "\n".join(lines)
