"""The screen a submission passes before it runs (``scratch.grading.screen``)."""

import re

import pytest

from scratch.impl import PROJECT_ROOT
from scratch.grading.screen import screen_package, screen_source

pytestmark = pytest.mark.instructor


@pytest.mark.parametrize("package", ["solutions", "exercises"])
def test_the_reference_and_the_stubs_pass(package):
    # A chapter's solution that needs more than the screen allows must change, or the
    # screen must, deliberately: a rejected reference would grade every student 0.
    assert screen_package(PROJECT_ROOT / package) == []


ALLOWED = """
import math
import numpy as np
from collections import Counter
from . import nn
from .mdp_model import MDP
from scratch.data import corpora
from scratch.train import loop
from scratch.gradcheck import numerical_gradient
from scipy import optimize
from scipy.special import logsumexp

class Model:
    def __init__(self, n):
        self._cache = {}
        self.n = n

    def forward(self, x):
        return np.tanh(x) + math.pi + len(Counter([1])) + hasattr(x, "shape")
"""


@pytest.mark.parametrize("source, reason", [
    ("import gc", "imports gc"),
    ("import os.path", "imports os.path"),
    ("from importlib import import_module", "imports from importlib"),
    ("import numpy.testing as nt", "imports numpy.testing"),
    ("from numpy import testing", "imports testing from numpy"),
    ("from .. import scratch", "from outside this package"),
    ("from scratch.grading import plugin", "imports from scratch.grading"),
    ("import scratch.grading.channel", "imports scratch.grading.channel"),
    ("from scratch import data, grade", "imports from scratch"),
    ("from scipy import io", "imports from scipy"),
    ("import scipy.io", "imports scipy.io"),
    ("from scipy import sparse, linalg", "imports from scipy"),
    ("x = eval('1')", "uses eval"),
    ("f = getattr(object, 'x')", "uses getattr"),
    ("g = globals()", "uses globals"),
    ("open('results.json', 'w')", "uses open"),
    ("k = ().__class__.__base__", "reads the attribute __class__"),
    ("def f(e):\n    return e.__traceback__.tb_frame.f_back.f_locals", "reads the attribute f_back"),
    ("import numpy as np\nnp.testing.assert_allclose = print", "changes an attribute of the module np"),
    ("import numpy as np\nnp.save('x', np.zeros(1))", "reads the attribute save"),
    ("import numpy as np\nx = np._core", "private attribute _core"),
    ("from . import nn\nnn.linear_forward = abs", "changes an attribute of the module nn"),
])
def test_reaching_into_the_interpreter_is_flagged_with_its_line(source, reason):
    assert screen_source(ALLOWED, "exercises/x.py") == []
    problems = screen_source(ALLOWED + source + "\n", "exercises/x.py")
    assert problems and reason in " ".join(problems), problems
    assert all(problem.startswith("exercises/x.py:") for problem in problems)


def test_the_handout_lists_what_the_screen_allows_of_scipy():
    from scratch.grading.screen import ALLOWED_SCIPY

    readme = (PROJECT_ROOT / "scratch" / "grading" / "student_readme.md").read_text()
    listed = set(re.findall(r"`scipy\.(\w+)`", readme))
    assert listed == ALLOWED_SCIPY
    for name in sorted(ALLOWED_SCIPY):
        assert screen_source(f"import scipy.{name}\nfrom scipy import {name}\nfrom scipy.{name} import x\n", "ok.py") == []
