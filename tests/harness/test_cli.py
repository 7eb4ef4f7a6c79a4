"""The command line's own set-up (``python -m scratch``)."""

import os
import subprocess
import sys

from scratch.impl import PROJECT_ROOT

SHOW_BLAS_SETTING = "import os, scratch.__main__; print(os.environ['OPENBLAS_NUM_THREADS'])"


def run_python(code, **env):
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=environment,
                          capture_output=True, text=True, check=True).stdout.split()


def test_the_lecture_runs_blas_on_one_thread_unless_told_otherwise():
    # The transformer chapter took minutes with BLAS threads on a loaded two-core machine,
    # 21 s with one; the setting must come before NumPy is imported to take effect.
    assert run_python(SHOW_BLAS_SETTING) == ["1"]
    assert run_python(SHOW_BLAS_SETTING, OPENBLAS_NUM_THREADS="2") == ["2"]
    # python -m scratch imports the package first: it must not import NumPy before the setting
    assert run_python("import sys, scratch; print('numpy' in sys.modules)") == ["False"]
