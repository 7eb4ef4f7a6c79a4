"""What the printed benchmarks share: the lines that say how a figure was measured, and a timer."""

import os
import sys
import time
from pathlib import Path

import numpy as np


def print_setup(impl):
    """Print the command that ran (this script and its flags) and what it ran on: the
    implementation, NumPy, the BLAS thread setting and the number of cores."""
    print(f"command: python benchmarks/{Path(sys.argv[0]).name} " + " ".join(sys.argv[1:]))
    print(f"implementation: {impl.name}; numpy {np.__version__}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; cores {os.cpu_count()}")


def best_seconds(run, repeats):
    """The shortest wall-clock and the shortest CPU time of ``repeats`` calls of ``run()``."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)
