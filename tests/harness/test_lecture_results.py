"""What ``python -m scratch lecture`` writes: results.json (the one home of every number the
demo measures) and the figures, in the folder of ``--figures``. Only the quick chapters (mdp,
ngram, generate: a few seconds), never the LLM ones."""

import datetime
import json
import re
import subprocess
import sys

import pytest

from scratch import lectures
from scratch.__main__ import print_lecture_outputs
from scratch.impl import PROJECT_ROOT

# printed by the ngram chapter: one row of the held-out perplexity table, n = 1 .. 4
KNESER_NEY_ROW = re.compile(r"^\s*kneser_ney((?:\s+[\d.]+){4})\s*$", re.MULTILINE)


def lecture(*args):
    return subprocess.run([sys.executable, "-m", "scratch", "lecture", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)


def results_of(folder):
    return json.loads((folder / "results.json").read_text())


@pytest.mark.instructor
def test_results_json_holds_the_numbers_the_printout_shows(tmp_path):
    figures = tmp_path / "figures"
    run = lecture("mdp", "ngram", "--impl", "solutions", "--figures", str(figures),
                  "--cache-dir", str(tmp_path / "cache"))
    assert run.returncode == 0, run.stderr
    results = results_of(figures)
    assert {"mdp", "ngram"} <= set(results)
    assert results["run"]["chapters"] == ["mdp", "ngram"]
    assert results["run"]["implementation"] == "solutions"
    datetime.datetime.fromisoformat(results["run"]["date"])  # an ISO date, or ValueError
    assert set(results["measured"]) == {"mdp", "ngram"}
    # one number of the printout, the Kneser-Ney trigram's held-out perplexity, as the file has it
    printed = [float(p) for p in KNESER_NEY_ROW.search(run.stdout).group(1).split()]
    assert printed[2] == round(results["ngram"]["perplexity_kneser_ney_n3"], 3)
    # MLE meets unseen trigrams: an infinite perplexity, kept as a string (JSON has no inf)
    assert results["ngram"]["perplexity_mle_n3"] == "inf"
    assert results["mdp"]["living_reward_-2_same_policy"] == "yes"
    assert all(isinstance(results[c]["seconds"], float) for c in ("mdp", "ngram"))
    # the end of the run says where the numbers are, once
    assert run.stdout.count(str(figures / "results.json")) == 1


@pytest.mark.instructor
def test_a_second_run_into_the_same_folder_keeps_the_first_runs_chapters(tmp_path):
    figures, cache = tmp_path / "figures", str(tmp_path / "cache")
    assert lecture("mdp", "--impl", "solutions", "--figures", str(figures), "--cache-dir", cache).returncode == 0
    first = results_of(figures)
    run = lecture("generate", "--impl", "solutions", "--figures", str(figures), "--cache-dir", cache)
    assert run.returncode == 0, run.stderr
    second = results_of(figures)
    assert second["mdp"] == first["mdp"] and second["measured"]["mdp"] == first["measured"]["mdp"]
    assert "generate" in second and second["run"]["chapters"] == ["generate"]
    assert not list(figures.glob(".results-*"))  # the atomic write leaves no temporary file behind


def test_a_figures_path_that_is_a_file_stops_before_any_chapter(tmp_path):
    not_a_folder = tmp_path / "figures"
    not_a_folder.write_text("a file\n")
    run = lecture("mdp", "--figures", str(not_a_folder), "--cache-dir", str(tmp_path / "cache"))
    assert run.returncode == 2
    assert "--figures" in run.stderr and str(not_a_folder) in run.stderr
    assert "Lecture:" not in run.stdout  # no chapter started
    assert not_a_folder.read_text() == "a file\n"


@pytest.mark.instructor
def test_the_default_figures_folder_is_in_the_cache_dir(tmp_path):
    cache = tmp_path / "cache"
    run = lecture("mdp", "--impl", "solutions", "--cache-dir", str(cache))
    assert run.returncode == 0, run.stderr
    assert (cache / "figures" / "results.json").is_file()


def test_without_matplotlib_the_run_says_once_how_to_get_figures(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(lectures, "save_png", lambda *args, **kwargs: None)  # as without the plot extra
    results = lectures.Results(tmp_path)
    for name in ("a.png", "b.png", "c.png"):
        assert results.save_figure(lambda ax: None, name, "a figure") is None
    print_lecture_outputs(results, ["rlhf"])
    assert capsys.readouterr().out.count(lectures.PLOT_EXTRA) == 1


def test_figures_are_saved_in_the_folder_and_listed_at_the_end(tmp_path, monkeypatch, capsys):
    def fake_save_png(draw, filename, path, size):
        open(path, "w").close()
        return path

    monkeypatch.setattr(lectures, "save_png", fake_save_png)
    results = lectures.Results(tmp_path)
    path = results.save_figure(lambda ax: None, "curve.png", "the curve")
    assert path == str(tmp_path / "curve.png")
    print_lecture_outputs(results, ["rnn"])
    out = capsys.readouterr().out
    assert f"the curve: {path}" in out and out.count(path) == 2  # when saved, and in the list at the end


def test_recorded_values_are_plain_json():
    import numpy as np

    results = lectures.Results(".")
    results.record("x", "int", np.int64(3))
    results.record("x", "float", np.float32(0.5))
    results.record("x", "nan", float("nan"))
    assert results.numbers["x"] == {"int": 3, "float": 0.5, "nan": "nan"}
    assert type(results.numbers["x"]["int"]) is int
    with pytest.raises(TypeError):
        results.record("x", "array", np.zeros(2))
    assert lectures.label_key("PPO + mix, gamma = 0.3") == "ppo_mix_gamma_0.3"
