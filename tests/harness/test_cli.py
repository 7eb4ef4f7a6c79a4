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


# -- issue 19: paths checked before any work, signals without tracebacks, tracked files only --------
import signal  # noqa: E402
import textwrap  # noqa: E402

import pytest  # noqa: E402


def run_cli(*args, **env):
    environment = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "scratch", *args], cwd=PROJECT_ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("make, message", [
    (lambda tmp: "", "--cache-dir must name a folder; got an empty string"),
    (lambda tmp: (tmp / "a_file").write_text("x") and str(tmp / "a_file"), "it is a file, not a folder"),
    (lambda tmp: str(tmp / "a_file" / "below"), "--cache-dir"),
])
def test_a_bad_cache_dir_stops_the_lecture_before_it_starts(tmp_path, make, message):
    (tmp_path / "a_file").write_text("x")
    run = run_cli("lecture", "rlhf", "--cache-dir", make(tmp_path))
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert "Lecture:" not in run.stdout  # no chapter started


SAVES_FOREVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from scratch.__main__ import run_interruptible
    from scratch.impl import Impl
    from scratch.train import checkpoint

    def save_forever(folder):
        model = Impl("solutions").transformer.GPT(50, 64, 2, 4, 128, seed=0)
        print("ready", flush=True)
        while True:
            checkpoint.save_gpt(Path(folder) / "model.npz", model, {"implementation": "solutions"})

    sys.exit(run_interruptible(save_forever, sys.argv[1]))
""")


@pytest.mark.instructor
@pytest.mark.parametrize("signum, status, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_a_signal_during_a_save_exits_cleanly_and_leaves_no_temporary_file(tmp_path, signum, status, word):
    import time

    process = subprocess.Popen([sys.executable, "-c", SAVES_FOREVER, str(tmp_path)], cwd=PROJECT_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # several saves in: the signal lands inside one, or between two
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == status, stderr
    assert word in stderr and "Traceback" not in stderr
    assert [p.name for p in tmp_path.iterdir()] in ([], ["model.npz"])  # never a .tmp left behind


def test_release_refuses_when_git_cannot_list_the_tracked_files(tmp_path, monkeypatch):
    from scratch.grading import release

    (tmp_path / "README.md").write_text("hello\n")
    (tmp_path / "my_answers_backup.py").write_text("answer = 42\n")
    with pytest.raises(release.ReleaseError, match="cannot tell which files .* git tracks .*git ls-files failed"):
        release.project_files(tmp_path)  # not a checkout: it copied every file
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    with pytest.raises(release.ReleaseError, match="git could not run"):
        release.project_files(tmp_path)  # git missing


def test_release_refuses_a_file_as_outdir(tmp_path):
    (tmp_path / "a_file").write_text("x")
    run = run_cli("release", str(tmp_path / "a_file"))
    assert run.returncode == 2 and "is a file" in run.stderr and "Traceback" not in run.stderr
