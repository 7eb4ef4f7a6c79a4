"""Which implementation runs: the reference ``solutions`` or the student's ``exercises``.

Both packages have the same modules (``mdp``, ``ngram``, ``nn``, ...), and ``exercises`` is
generated from ``solutions``. Tests, the grader and the lecture demo never import either
package by name; they ask for an :class:`Impl` and read modules off it
(``impl.mdp.value_iteration``).

The choice, in order: an explicit name (``--impl``), else the ``SCRATCH_IMPL`` environment
variable, else ``solutions`` when that folder stands beside this ``scratch`` package (an
instructor's checkout), else ``exercises`` (a student's handout, which has no ``solutions/``).
Looking beside the package rather than on ``sys.path`` keeps a handout built from an
instructor's checkout from silently picking up the instructor's installed solutions.
"""

import importlib
import os
from pathlib import Path

IMPLEMENTATIONS = ("solutions", "exercises")
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The chapters in lecture order. Test files are ``tests/chapters/test_<chapter>.py``; the grader
# and the lecture demo follow this order.
CHAPTERS = ("mdp", "ngram", "nn", "optim", "rnn", "generate", "transformer", "pretraining", "prompting",
            "sft", "reward", "rlhf")


def default_impl_name():
    """The implementation to use when none is named on the command line."""
    name = os.environ.get("SCRATCH_IMPL", "").strip()
    if name:
        return check_impl_name(name, "SCRATCH_IMPL")
    if (PROJECT_ROOT / "solutions" / "__init__.py").is_file():
        return "solutions"
    return "exercises"


def check_impl_name(name, where="--impl"):
    if name not in IMPLEMENTATIONS:
        raise ValueError(f"{where} must be one of {', '.join(IMPLEMENTATIONS)}; got {name!r}")
    return name


class Impl:
    """Modules of one implementation, imported on first use: ``Impl('solutions').mdp``."""

    def __init__(self, name=None):
        self.name = check_impl_name(name) if name is not None else default_impl_name()

    def module(self, chapter):
        return importlib.import_module(f"{self.name}.{chapter}")

    def __getattr__(self, chapter):
        if chapter.startswith("_"):
            raise AttributeError(chapter)
        try:
            return self.module(chapter)
        except ModuleNotFoundError as err:
            if err.name == f"{self.name}.{chapter}":
                raise AttributeError(f"{self.name} has no module {chapter!r}") from None
            raise

    def __repr__(self):
        return f"Impl({self.name!r})"
