"""The lecture demo, one module per chapter; each defines ``run(impl)`` and prints what the
slides show. ``python -m scratch lecture [CHAPTER ...]`` runs them in lecture order.

A chapter never imports another: the models it needs come from :mod:`scratch.train`
(recipes and cached builders), and nothing outside this package imports a chapter.

What a run measured has one home: the folder of ``--figures`` (default ``<cache dir>/figures``)
gets the run's figures and ``results.json``, written after every chapter (atomically) and
merged with the chapters of earlier runs in the same folder:

    {"run":      {"date": ..., "implementation": "solutions", "chapters": ["mdp", "ngram"]},
     "measured": {"mdp": {"date": ..., "implementation": "solutions"}, ...},
     "mdp":      {"living_reward_-2_value_iteration_sweeps": 4, ..., "seconds": 0.1},
     ...}

A chapter calls :func:`record` for every number a reader would quote and :func:`save_figure`
for its figures; a chapter run again replaces its own entry and no other.
"""

import datetime
import json
import math
import os
import tempfile
from pathlib import Path

from scratch.train.display import save_png
from scratch.train.models import Cache

# The run's one cache of trained models (``--cache-dir``, ``--retrain``), configured in place
# by ``python -m scratch lecture`` (Cache.reset); every chapter asks it for its models.
cache = Cache()

RESULTS_FILE = "results.json"
PLOT_EXTRA = 'pip install -e ".[plot]"'
RESERVED = ("run", "measured")  # results.json's keys that are not chapters


class Results:
    """One run's numbers by chapter and figures, kept in ``folder`` (see the module doc)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder / RESULTS_FILE
        self.numbers, self.figures, self.figures_skipped = {}, [], False

    def earlier(self):
        """results.json of an earlier run in the folder ({} if none); ValueError if it is not one."""
        if not self.path.exists():
            return {}
        try:
            earlier = json.loads(self.path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{self.path} is not a results file this demo wrote ({err})") from err
        if not isinstance(earlier, dict) or not all(isinstance(v, dict) for v in earlier.values()):
            raise ValueError(f"{self.path} is not a results file this demo wrote (not {{chapter: {{key: value}}}})")
        return earlier

    def record(self, chapter, key, value):
        """Keep ``value`` (a number or a string) as ``chapter``'s ``key``; returns ``value``."""
        self.numbers.setdefault(chapter, {})[key] = plain(value)
        return value

    def save_figure(self, draw, filename, what, size=(5, 3.5)):
        """Draw ``draw(ax)`` into ``filename`` in the folder and print ``what: <path>``; returns
        the path, or None without matplotlib (the run's end says once how to get figures)."""
        path = save_png(draw, filename, str(self.folder / filename), size=size)
        self.figures_skipped |= path is None
        if path is not None:
            self.figures.append(path)
            print(f"{what}: {path}")
        return path

    def write(self, implementation, chapters, finished):
        """Merge the ``finished`` chapters' numbers into results.json, atomically; returns its path."""
        merged = self.earlier()
        now = datetime.datetime.now().isoformat(timespec="seconds")
        measured = merged.get("measured", {})
        for chapter in finished:
            merged[chapter] = self.numbers.get(chapter, {})
            measured[chapter] = {"date": now, "implementation": implementation}
        merged["run"] = {"date": now, "implementation": implementation, "chapters": list(chapters)}
        merged["measured"] = measured
        order = list(RESERVED) + sorted(k for k in merged if k not in RESERVED)
        text = json.dumps({k: merged[k] for k in order}, indent=1, allow_nan=False) + "\n"
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".results-", suffix=".json")
        try:
            with os.fdopen(handle, "w") as out:
                out.write(text)
            os.replace(temporary, self.path)  # readers see the old file or the new one, never half
        except BaseException:
            os.unlink(temporary)
            raise
        return self.path


def plain(value):
    """``value`` as JSON's plain int, float or string (numpy scalars too; inf and nan as strings)."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if not isinstance(value, (int, float, str)):
        raise TypeError(f"a recorded value is a number or a string; got {type(value).__name__}")
    return value


def label_key(text):
    """A stable key from a printed label: "PPO, beta = 0.1" -> "ppo_beta_0.1"."""
    words = "".join(c if c.isalnum() or c in ".-" else " " for c in text.lower()).split()
    return "_".join(words)


# The run's results, set by ``python -m scratch lecture`` to its ``--figures`` folder; the
# default (a chapter run from Python) is the default cache folder's ``figures``.
results = None


def current():
    global results
    if results is None:
        from scratch.train.checkpoint import default_cache_dir

        results = Results(default_cache_dir() / "figures")
        results.folder.mkdir(parents=True, exist_ok=True)
    return results


def record(chapter, key, value):
    """Keep ``chapter``'s number ``key`` for results.json; returns ``value``."""
    return current().record(chapter, key, value)


def save_figure(draw, filename, what, size=(5, 3.5)):
    """Save a figure in the run's folder and print ``what: <path>``; returns the path or None."""
    return current().save_figure(draw, filename, what, size)
