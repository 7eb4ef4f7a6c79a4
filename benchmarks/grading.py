"""What the student process costs the grader (a printed benchmark, not a test).

    python benchmarks/grading.py [--impl solutions] [--question mdp,nn] [--timeout 180]

Grades the same questions twice on this machine, side by side:

  - in-process: the package imported inside the judge, as the grader did before the judge
    left the student's process (``grade.run_questions(..., remote=False)``);
  - two processes: the package in the student process, every call a round trip
    (``scratch/grading/remote.py``), as ``python3 -m scratch grade`` runs it.

Prints the wall-clock and CPU time of each (CPU: this process and its children), the ratio,
and how many round trips and bytes the channel carried. The issue's target is a ratio of at
most 1.5. Both runs use one collection, so the difference is the channel alone.
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch.grading import grade  # noqa: E402
from scratch.grading.run import collect  # noqa: E402
from scratch.impl import PROJECT_ROOT, Impl  # noqa: E402

from common import print_setup  # noqa: E402


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(impl, collected, question, timeout, remote):
    questions = grade.select(grade.number_questions(collected), question)
    with tempfile.TemporaryDirectory() as workdir:
        wall, cpu = time.perf_counter(), children_cpu()
        stats = grade.run_questions(impl, questions, PROJECT_ROOT, workdir, timeout, grade.DEFAULT_BUDGET * 4,
                                    remote=remote)
        wall, cpu = time.perf_counter() - wall, children_cpu() - cpu
    score = sum(q.score for q in questions)
    return {"wall": wall, "cpu": cpu, "score": score, "points": sum(q.points for q in questions), **stats}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="solutions")
    parser.add_argument("--question", default=None, help="as grade --question (default: every question)")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    print_setup(Impl(args.impl))
    with tempfile.TemporaryDirectory() as workdir:
        collected, _ = collect(args.impl, PROJECT_ROOT, workdir)
    local = timed_run(args.impl, collected, args.question, args.timeout, remote=False)
    remote = timed_run(args.impl, collected, args.question, args.timeout, remote=True)
    for name, run in (("in-process", local), ("two processes", remote)):
        print(f"{name:>14}: {run['wall']:6.1f} s wall, {run['cpu']:6.1f} s CPU, {run['score']:g}/{run['points']:g} points")
    print(f"{'ratio':>14}: {remote['wall'] / local['wall']:.2f} wall, {remote['cpu'] / local['cpu']:.2f} CPU "
          f"(target: at most 1.5)")
    print(f"{'channel':>14}: {remote.get('round_trips', 0):,} round trips, {remote.get('bytes', 0) / 1e6:,.1f} MB of arrays")


if __name__ == "__main__":
    main()
