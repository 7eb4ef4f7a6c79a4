"""Every named mutant of the reference loses points in its own question (mutation testing).

``tests/chapters/hidden/mutants.py`` lists realistic mistakes, each a small edit of ``solutions/``
named as feedback to a student ("the discount gamma is left out of the backup"), at least
three for every graded question. A mutant is killed when at least one graded test of its own
question fails with it: the grader would take points from that question. Every mutant must
be killed. One that survives shows a weak test: strengthen the test (a check that compares
numbers), never drop the mutant.

How: one pytest subprocess collects the chapter tests (``tests/harness/mutation_plugin.py``); its run
loop takes the mutants one by one, makes each live by swapping its function's code, so that
every module that imported the function sees the mistake (``tests/harness/mutation.py``), and runs the
graded tests of its question, cheapest first, up to the first failure. Cost: 12 to 16 s of one
core for 323 mutants (2 s of it collecting the tests), in the suite's background (conftest's
``background``), where it overlaps the chapter tests; this file alone takes about 14 s.

Not re-checked here: that each killing test passes on the reference. The chapter tests of
the same suite check exactly that. Run alone, ``python3 tests/harness/test_mutants.py`` (the
instructors' command: it prints the kill rate per chapter; ``--only mdp,nn::TestLinear`` for
some chapters or questions) also runs every killing test once more with no mutant, so a test
that fails anyway is not counted as a kill (``--no-confirm`` skips that: about 20 s).
"""

import importlib
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

if __name__ == "__main__":  # run as a script: the project's packages stand beside this folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mutation  # noqa: E402  (after the path, when run as a script)
import mutation_plugin  # noqa: E402

pytestmark = pytest.mark.instructor

MIN_MUTANTS_PER_QUESTION = 3

BACKGROUND_FOR = ("mutant_run",)  # conftest's background: what start_background feeds


def start_background(pool, tmp_path_factory):
    # Queued last: what the pool runs first is a job that queues the run. By the time a worker
    # takes that job, every module's runs are queued, test_trivial's (the longest) included,
    # and the pool's two workers finish sooner when the longest runs start first.
    out = tmp_path_factory.mktemp("mutants") / "results.json"
    return {"queued": pool.submit(pool.submit, mutation_plugin.run_subprocess, out)}


@pytest.fixture(scope="module")
def mutant_run(background):
    """(results, pytest's output) of the mutants' run: see ``mutation_plugin.run_subprocess``."""
    return background[__name__]["queued"].result().result()


def test_every_snippet_is_in_a_solution_region():
    # Each old snippet occurs once in its file, inside a solution region of one function: this
    # fails as soon as solutions/ changes under a mutant, naming it. (That the edit compiles
    # and changes the function is checked when the run applies it: a "BROKEN" mutant.)
    problems = []
    for mutant in mutation.load_mutants():
        try:
            mutation.find_snippet(mutant)
        except mutation.MutantError as error:
            problems.append(str(error))
    assert problems == []


def test_names_are_distinct_within_a_question():
    counts = Counter((m.question, m.name) for m in mutation.load_mutants())
    assert [key for key, n in counts.items() if n > 1] == []


def test_a_live_mutant_reaches_every_module_that_imported_its_function():
    # solutions/rlhf.py does `from .nn import log_softmax`: the swapped code reaches that name
    # too, and the reference's comes back afterwards
    import numpy as np

    rlhf = importlib.import_module("solutions.rlhf")
    mutant = next(m for m in mutation.load_mutants() if m.question == "nn::TestSoftmax" and "whole array" in m.name
                  and "log_softmax" in m.name)
    x = np.array([[0.0, 1.0], [2.0, 0.0]])
    reference = rlhf.log_softmax(x)
    with mutation.activated(mutant):
        assert not np.allclose(rlhf.log_softmax(x), reference)
    np.testing.assert_array_equal(rlhf.log_softmax(x), reference)


def test_every_graded_question_has_its_mutants(mutant_run):
    results, output = mutant_run
    per_question = Counter(m.question for m in mutation.load_mutants())
    assert results["collection_errors"] == [], output[-3000:]
    too_few = {q: per_question[q] for q in results["questions"] if per_question[q] < MIN_MUTANTS_PER_QUESTION}
    assert too_few == {}, f"graded questions with fewer than {MIN_MUTANTS_PER_QUESTION} mutants"
    assert sorted(set(per_question) - set(results["questions"])) == [], "mutants of no graded question"


def test_every_mutant_loses_points_in_its_question(mutant_run):
    results, output = mutant_run
    table = mutation_plugin.report(results)
    print(table)  # shown with pytest -rP or -s: the kill rate per chapter
    assert results["collection_errors"] == [], output[-3000:]
    alive = [f"{r['question']} / {r['name']}" for r in results["mutants"] if r["status"] != "killed"]
    assert alive == [], table


def main(argv=None):
    """``python3 tests/harness/test_mutants.py [--only KEYS] [--no-confirm]``: grade the mutants, print
    the kill rate per chapter; exit status 0 when every mutant is killed (and confirmed)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--only", default="", help="comma-separated chapters or question keys (default: all)")
    parser.add_argument("--no-confirm", action="store_true", help="do not re-run the killing tests on the reference")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        results, output = mutation_plugin.run_subprocess(Path(workdir) / "results.json", args.only,
                                                         not args.no_confirm)
    print(mutation_plugin.report(results))
    return 0 if all(r["status"] == "killed" for r in results["mutants"]) and not results["collection_errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
