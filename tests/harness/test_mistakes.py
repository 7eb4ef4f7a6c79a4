"""Named mistakes (``scratch.grading.mistakes``): a failing test names the mutant whose results
the submission reproduces.

Two real grading runs, in the suite's background (conftest's ``background``), through
``python3 -m scratch grade --submission DIR --question ... --gradescope PATH``: one of two
common mistakes taken from ``tests/chapters/hidden/mutants.py`` (a sign error in
``ngram.py``'s perplexity, an off-by-one in ``mdp.py``'s sweep count), one of a correct
``mdp.py`` and an unrelated wrong perplexity. Then the file's freshness (like ``scratch build
--check`` for exercises/), what the judge trusts, and the fingerprints' tolerance. How many
mutants are named back when each is graded as a submission is what ``python3
tests/harness/test_mutants.py --record --report`` prints (it writes the file).
"""

import json
import re
import shutil

import numpy as np
import pytest

import mutation
from scratch.grading import mistakes
from scratch.grading.handles import Handle, RemoteArray
from scratch.impl import PROJECT_ROOT
from synthetic_project import grade_cli

pytestmark = pytest.mark.instructor

DATA = PROJECT_ROOT / mistakes.DATA_FILE
SIGN = ("ngram::TestScoring", "perplexity is exp of the mean log-probability, without the minus sign")
OFF_BY_ONE = ("mdp::TestLectureGridworld", "the sweep count is off by one (counted from 0)")
QUESTIONS = "TestScoring,TestLectureGridworld"
UNRELATED = ("np.exp(-logprobs.mean())", "1.01 * np.exp(-logprobs.mean())")  # no mutant's edit

BACKGROUND_FOR = ("graded",)


def mutated(mutant):
    source = (PROJECT_ROOT / "solutions" / mutant.file).read_text(encoding="utf-8")
    assert source.count(mutant.old) == 1, f"solutions/{mutant.file} changed under {mutant.name!r}"
    return source.replace(mutant.old, mutant.new)


def submit_and_grade(folder, files):
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    results = folder.parent / f"{folder.name}-results.json"
    status, out, err = grade_cli(PROJECT_ROOT, "--submission", str(folder), "--question", QUESTIONS,
                                 "--gradescope", str(results), timeout=300)
    return status, out, err, json.loads(results.read_text()) if results.is_file() else None


def start_background(pool, tmp_path_factory):
    by_name = {(m.question, m.name): m for m in mutation.load_mutants()}
    sign, off_by_one = by_name[SIGN], by_name[OFF_BY_ONE]
    root = tmp_path_factory.mktemp("mistakes")
    ngram = (PROJECT_ROOT / "solutions" / "ngram.py").read_text(encoding="utf-8")
    return {
        "mistakes": pool.submit(submit_and_grade, root / "mistakes",
                                {"ngram.py": mutated(sign), "mdp.py": mutated(off_by_one)}),
        "others": pool.submit(submit_and_grade, root / "others",
                              {"mdp.py": (PROJECT_ROOT / "solutions" / "mdp.py").read_text(encoding="utf-8"),
                               "ngram.py": ngram.replace(*UNRELATED)}),
    }


@pytest.fixture(scope="module")
def graded(background):
    return {name: future.result() for name, future in background[__name__].items()}


def flat(text):
    return " ".join(text.split())


def failures(results):
    return {t["name"]: flat(t["output"]) for t in results["tests"] if t["status"] == "failed"}


# -- the grading runs -------------------------------------------------------------------------


def test_two_common_mistakes_are_named_with_their_numbers(graded):
    status, out, err, results = graded["mistakes"]
    assert status == 0, err
    shown = flat(out)
    for _, name in (SIGN, OFF_BY_ONE):
        sentence = mistakes.SENTENCE.format(name=name)
        # the table: the failure's short message, the numbers compared, then the mistake
        assert re.search(r"obtained \S+.{0,80}expected \S+.{0,200}\| " + re.escape(sentence), shown), shown[-3000:]
        named = [text for text in failures(results).values() if sentence in text]
        assert named, f"results.json names no {name!r}"
        assert all("obtained" in text and "expected" in text for text in named)
    # the off-by-one is named on each test it fails, and nothing else is named
    assert shown.count("this is what the code returns when") == sum(
        shown.count(mistakes.SENTENCE.format(name=name)) for _, name in (SIGN, OFF_BY_ONE))


def test_a_correct_submission_and_an_unrelated_mistake_name_nothing(graded):
    status, out, err, results = graded["others"]
    assert status == 0, err
    failed = failures(results)
    assert failed, "the unrelated mistake in perplexity must fail a test"
    assert all(name.startswith("2.") for name in failed), failed  # ngram's; mdp.py, the correct one, passes
    assert "this is what the code returns" not in out
    assert not any("this is what the code returns" in t["output"] for t in results["tests"])


# -- the file ---------------------------------------------------------------------------------


def test_the_file_is_fresh():
    # Like `python3 -m scratch build --check` for exercises/: the mutants' results were
    # recorded from the solutions, chapter tests and mutants that are here now.
    assert DATA.is_file(), f"{mistakes.DATA_FILE} is missing: run {mistakes.REGENERATE}"
    data = json.loads(DATA.read_text(encoding="utf-8"))
    assert data["format"] == mistakes.FORMAT, f"{mistakes.DATA_FILE} is of another format: run {mistakes.REGENERATE}"
    assert data["digest"] == mistakes.digest_files(PROJECT_ROOT), (
        f"{mistakes.DATA_FILE} is stale (solutions/, tests/chapters/, mutants.py, scratch/data or scratch/train changed since it was "
        f"recorded): run {mistakes.REGENERATE}")
    assert data["mutants"] == [[m.question, m.name] for m in mutation.load_mutants()]


def test_the_judge_reads_the_file_only_with_the_tests_it_was_recorded_with(tmp_path):
    (tmp_path / "tests" / "chapters" / "hidden").mkdir(parents=True)
    (tmp_path / "tests" / "chapters" / "test_x.py").write_text("def test_x():\n    pass\n")
    data = {"format": mistakes.FORMAT, "tests_digest": mistakes.digest_files(tmp_path, tests_only=True),
            "mutants": [], "tests": {}}
    assert mistakes.load(tmp_path) is None  # no file: nothing is named
    mistakes.write(tmp_path / mistakes.DATA_FILE, data)
    assert mistakes.load(tmp_path) == data
    (tmp_path / "tests" / "chapters" / "test_x.py").write_text("def test_x():\n    assert True\n")
    assert mistakes.load(tmp_path) is None  # recorded with other tests: nothing is named
    (tmp_path / mistakes.DATA_FILE).write_text("{not json")
    assert mistakes.load(tmp_path) is None
    assert mistakes.name_mistake(None, "tests/chapters/test_x.py::test_x", mistakes.Recording()) == ""


def test_every_recorded_mistake_is_named_by_the_lookup_as_itself_or_an_identical_earlier_one():
    # Each mutant's stored calls, looked up as a submission's: the first matching mutant in
    # mutants.py's order is itself, or an earlier one that returns the same numbers there.
    data = json.loads(DATA.read_text(encoding="utf-8"))
    named = later = 0
    for nodeid, entry in data["tests"].items():
        for index, calls in entry["mutants"]:
            student = {key: [count, [mistakes.expand(fp, entry["ref"].get(key, [0, []])[1][i]
                                                     if i < len(entry["ref"].get(key, [0, []])[1]) else None)
                                     for i, fp in enumerate(fps)]] for key, (count, fps) in calls.items()}
            found = mistakes.lookup(data, nodeid, student)
            named += found == index
            later += found is None or found > index
    assert later == 0 and named > 0.9 * sum(len(e["mutants"]) for e in data["tests"].values())


def test_the_reference_is_never_named():
    data = json.loads(DATA.read_text(encoding="utf-8"))
    assert all(mistakes.lookup(data, nodeid, entry["ref"]) is None for nodeid, entry in data["tests"].items())


def test_the_file_stays_small():
    assert DATA.stat().st_size < 1_000_000


# -- what the judge compares ------------------------------------------------------------------


class Unfetchable:
    released = []

    def request(self, *args, **kwargs):
        raise AssertionError("a fingerprint made a round trip to the student process")


def test_student_objects_are_not_comparable_and_never_fetched():
    remote = Unfetchable()
    for handle in (Handle(remote, 1, "GPT", False), RemoteArray(remote, 2, "ndarray", False, [3], "<f8")):
        assert mistakes.fingerprint(handle) == mistakes.OPAQUE
        assert mistakes.fingerprint((np.ones(2), handle)) == ["T", 2, [mistakes.fingerprint(np.ones(2)), "?"]]
    assert mistakes.agree(mistakes.OPAQUE, mistakes.fingerprint(np.ones(3))) is None
    masked = np.ma.masked_array(np.ones(3), mask=[True, False, False])
    assert mistakes.fingerprint(masked) == mistakes.OPAQUE  # only exact ndarrays
    assert mistakes.fingerprint(10 ** 30) == mistakes.OPAQUE and mistakes.fingerprint(1 + 2j) == mistakes.OPAQUE


@pytest.mark.parametrize("shape", [(3,), (4, 5), (2, 3, 40)])
def test_agreement_is_within_tolerance_never_exact(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    fp = mistakes.fingerprint(x)
    assert mistakes.agree(fp, mistakes.fingerprint(x * (1 + 1e-9) + 1e-12)) is True  # rounding, another order
    assert mistakes.agree(fp, mistakes.fingerprint(x.T.copy().T)) is True
    wrong = x.copy()
    wrong.flat[-1] += 1e-2 * np.abs(x).max()
    assert mistakes.agree(fp, mistakes.fingerprint(wrong)) is False
    assert mistakes.agree(fp, mistakes.fingerprint(-x)) is False
    assert mistakes.agree(fp, mistakes.fingerprint(x.astype(np.float32))) is True  # float32's rounding: 6e-8
    assert mistakes.agree(fp, mistakes.fingerprint(x.reshape(-1) if len(shape) > 1 else x[None])) is False
    with_nan = x.copy()
    with_nan.flat[0] = np.nan
    assert mistakes.agree(mistakes.fingerprint(with_nan), mistakes.fingerprint(with_nan.copy())) is True
    assert mistakes.agree(fp, mistakes.fingerprint(with_nan)) is False


def test_integers_and_containers_compare_exactly():
    assert mistakes.agree(mistakes.fingerprint(np.arange(5)), mistakes.fingerprint(np.arange(5))) is True
    assert mistakes.agree(mistakes.fingerprint(np.arange(5)), mistakes.fingerprint(np.arange(1, 6))) is False
    assert mistakes.agree(mistakes.fingerprint(3), mistakes.fingerprint(3.0)) is False
    grads = {f"w{i}": np.full((2, 3), float(i)) for i in range(8)}
    nudged = {**grads, "w7": grads["w7"] * (1 + 1e-9)}
    broken = {**grads, "w0": grads["w0"] + 0.5}
    assert mistakes.fingerprint(grads)[0] == "C"  # summarised: one hash of the structure, one projection
    assert mistakes.agree(mistakes.fingerprint(grads), mistakes.fingerprint(nudged)) is True
    assert mistakes.agree(mistakes.fingerprint(grads), mistakes.fingerprint(broken)) is False
    assert mistakes.agree(mistakes.fingerprint(grads), mistakes.fingerprint({**grads, "w8": 1.0})) is False


def test_the_projection_weights_are_the_same_on_every_machine():
    # Integer hashing, not NumPy's random streams: the file is recorded on the instructor's
    # machine and read on Gradescope's.
    np.testing.assert_array_equal(mistakes.weights(3), mistakes._weights(3))
    assert mistakes.fingerprint(np.linspace(0.0, 1.0, 10)) == [
        "P", [10], "", 1.8757714, [-0.65888212, 1.1921207, 1.3109003, 0.2615437]]


def test_a_missing_file_disables_naming_in_plain_pytest_and_in_grading(tmp_path):
    shutil.copytree(PROJECT_ROOT / "tests" / "chapters", tmp_path / "tests" / "chapters",
                    ignore=shutil.ignore_patterns("__pycache__", "mistakes.json"))
    assert mistakes.load(tmp_path) is None


def test_the_recording_run_sees_what_the_judge_sees():
    # In-process, the recording wraps the graded names: a call from the test is recorded under
    # the name the judge's remote impl uses; a call inside the package (value_iteration calling
    # q_values) runs in the student process in a grading run, unseen, and is not; a forward's
    # cache stays there as a handle; afterwards every function is the reference's again.
    import importlib

    mdp, attention = importlib.import_module("solutions.mdp"), importlib.import_module("solutions.attention")
    originals = (mdp.q_values, mdp.value_iteration, attention.attention_forward)
    world = mdp.Gridworld.lecture()
    recording = mistakes.Recording()
    q = np.random.default_rng(0).normal(size=(2, 3, 4))
    with mutation.recording(recording.add):
        assert mdp.q_values is not originals[0]
        mdp.q_values(world, np.zeros(world.n_states))
        mdp.value_iteration(world)
        out, cache = attention.attention_forward(q, q, q)
    assert (mdp.q_values, mdp.value_iteration, attention.attention_forward) == originals
    assert sorted(recording.calls) == ["attention.attention_forward", "mdp.q_values", "mdp.value_iteration"]
    assert recording.calls["mdp.q_values"][0] == 1  # value_iteration's own calls are not counted
    assert type(cache) is dict  # the test gets it; the judge would hold a handle
    assert recording.calls["attention.attention_forward"][1] == [["T", 2, [mistakes.fingerprint(out), "?"]]]
