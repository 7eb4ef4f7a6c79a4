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

``python3 tests/harness/test_mutants.py --record`` writes ``tests/chapters/hidden/mistakes.json``
instead, the mutants' results that name a student's mistake in the grader's feedback
(``scratch.grading.mistakes``; ``tests/harness/test_mistakes.py`` fails when it is stale);
``--report`` lists every mutant not named back.
"""

import importlib
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

if __name__ == "__main__":  # run as a script: the project's packages stand beside this folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

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


def through_the_grader(results, count, seed=0):
    """Grade ``count`` mutants named back in-process, each as a submission of every exercise
    file (the reference's, one with the mutant's edit), through the real grader, with the
    named mistakes' file in place; the mutant is named there when some failing test's message
    names it."""
    import random
    import subprocess

    from scratch.grading import mistakes, submission
    from scratch.impl import PROJECT_ROOT

    by_name = {(m.question, m.name): m for m in mutation.load_mutants()}
    named = [r for r in results["mutants"] if r["status"] == "named" and not r["question"].startswith("hidden/")]
    sample = random.Random(seed).sample(named, min(count, len(named)))
    lines, hits = [], 0
    for result in sample:
        mutant = by_name[(result["question"], result["name"])]
        with tempfile.TemporaryDirectory() as folder:
            for name in submission.submitted_files(PROJECT_ROOT):
                text = (PROJECT_ROOT / "solutions" / name).read_text(encoding="utf-8")
                Path(folder, name).write_text(text.replace(mutant.old, mutant.new) if name == mutant.file else text)
            done = subprocess.run([sys.executable, "-m", "scratch", "grade", "--submission", folder, "--question",
                                   mutant.question.split("::")[1]], cwd=PROJECT_ROOT, capture_output=True, text=True)
        hit = mistakes.SENTENCE.format(name=mutant.name) in " ".join(done.stdout.split())
        hits += hit
        lines.append(f"  {'named' if hit else 'NOT NAMED'}: {mutant.question} / {mutant.name!r}")
    return "\n".join([f"through the grader: {hits} of {len(sample)} named", *lines])


def mistakes_file():
    from scratch.grading import mistakes
    from scratch.impl import PROJECT_ROOT

    return PROJECT_ROOT / mistakes.DATA_FILE


def main(argv=None):
    """``python3 tests/harness/test_mutants.py [--only KEYS] [--no-confirm]``: grade the mutants, print
    the kill rate per chapter; exit status 0 when every mutant is killed (and confirmed).
    ``--record [PATH] [--report]``: write the named mistakes' file instead
    (``scratch.grading.mistakes``), and print its size, its time and how many mutants are
    named back."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--only", default="", help="comma-separated chapters or question keys (default: all)")
    parser.add_argument("--no-confirm", action="store_true", help="do not re-run the killing tests on the reference")
    parser.add_argument("--record", nargs="?", const=str(mistakes_file()), default=None, metavar="PATH",
                        help="instead, write the named mistakes' file (default: %(const)s)")
    parser.add_argument("--report", action="store_true", help="with --record: list every mutant not named back")
    parser.add_argument("--through-grader", type=int, default=0, metavar="N",
                        help="with --record: also grade N mutants named back in-process (a random sample) "
                             "through `python3 -m scratch grade --submission`, and count those named there")
    args = parser.parse_args(argv)
    if args.record:
        if args.only and Path(args.record).resolve() == mistakes_file().resolve():
            parser.error("with --only, give --record a PATH: the named mistakes' file holds every mutant")
        with tempfile.TemporaryDirectory() as workdir:
            results, output = mutation_plugin.run_subprocess(Path(workdir) / "results.json", args.only,
                                                             record_to=Path(args.record).resolve())
        print(mutation_plugin.record_report(results, args.record, verbose=args.report))
        if args.through_grader and Path(args.record).resolve() != mistakes_file().resolve():
            print("through the grader: not run (the grader reads the file at its place: --record without PATH)")
        elif args.through_grader:
            print(through_the_grader(results, args.through_grader))
        return 0 if not results["collection_errors"] else 1
    with tempfile.TemporaryDirectory() as workdir:
        results, output = mutation_plugin.run_subprocess(Path(workdir) / "results.json", args.only,
                                                         not args.no_confirm)
    print(mutation_plugin.report(results))
    return 0 if all(r["status"] == "killed" for r in results["mutants"]) and not results["collection_errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
