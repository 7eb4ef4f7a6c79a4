"""Shared test set-up: the implementation under test and the lecture order.

Tests never import ``solutions`` or ``exercises`` by name: they take the ``impl`` fixture
and read modules off it (``impl.mdp``), so the same tests grade either package.
Select with ``pytest --impl=solutions|exercises`` or the ``SCRATCH_IMPL`` variable.
"""

import os
from concurrent.futures import ThreadPoolExecutor

# As in the grader (scratch/grading/grade.py): the tests multiply small matrices, where BLAS threads
# cost more than they give (the GPT training test takes ~10 s on two threads, ~6 s on one).
# Set before NumPy is first imported, so it takes effect; export the variable to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# The grading runs of the suite share two cores with the chapter tests: their judges and
# student processes poll their pipes 100 us before they sleep, not the 1 ms a grader with
# the machine to itself uses (scratch/grading/wire.py, SPIN_SECONDS).
os.environ.setdefault("SCRATCH_SPIN_SECONDS", "1e-4")

import pytest  # noqa: E402  (after the BLAS setting on purpose)

from scratch.impl import CHAPTERS, PROJECT_ROOT, Impl, default_impl_name  # noqa: E402

NO_SOLUTIONS = "for instructors (the builder's and the grader's own tests): the handout has no solutions/"


def pytest_addoption(parser):
    parser.addoption(
        "--impl",
        choices=("solutions", "exercises"),
        default=None,
        help="implementation under test (default: $SCRATCH_IMPL, else solutions if present, else exercises)",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): points this graded test is worth")
    config.addinivalue_line("markers", "instructor: needs solutions/ (skipped in the student handout)")


@pytest.fixture(scope="session")
def impl(request):
    """The implementation under test; ``impl.mdp`` is its ``mdp`` module. In ``scratch grade``
    it is the submitted package in a process of its own, reached by round trips
    (``scratch/grading/remote.py``); in plain ``pytest``, the package itself."""
    from scratch.grading.plugin import remote_impl

    return remote_impl(request.config) or Impl(request.config.getoption("--impl") or default_impl_name())


def chapter_rank(item):
    """Position of a test's file in the lecture (harness tests last; a chapter's hidden tests,
    in ``tests/hidden/``, after its public ones)."""
    stem = item.path.stem.removeprefix("test_").removesuffix("_hidden")
    return (CHAPTERS.index(stem) if stem in CHAPTERS else len(CHAPTERS), item.path.parent.name == "hidden")


def pytest_collection_modifyitems(session, config, items):
    # Stable sort: files in lecture order, tests inside a file in source order.
    items.sort(key=chapter_rank)
    if not (PROJECT_ROOT / "solutions" / "__init__.py").is_file():
        for item in items:
            if item.get_closest_marker("instructor"):
                item.add_marker(pytest.mark.skip(reason=NO_SOLUTIONS))


BACKGROUND_WORKERS = 2


def lower_priority():
    """Raise the calling thread's nice value by 10 (Linux: a per-thread value, inherited by the
    processes it starts), so a background run yields the CPU to the chapter tests."""
    try:
        os.nice(10)
    except (AttributeError, OSError):  # no nice() on this platform: the runs share the CPU as they are
        pass


@pytest.fixture(scope="session", autouse=True)
def background(request, tmp_path_factory):
    """The harness tests' expensive runs, started together at the session's first test.

    A test module may define ``start_background(pool, tmp_path_factory) -> dict`` (of
    futures, mostly grading runs in subprocesses) and ``BACKGROUND_FOR``, the names of its
    fixtures that read them; when a selected, not skipped test uses one of those fixtures,
    it is called here, so its runs overlap with the chapter tests that follow and the two
    cores share them. ``background[module name]`` is what it returned.
    """
    starters = {
        item.module for item in request.session.items
        if not item.get_closest_marker("skip")
        and set(getattr(item.module, "BACKGROUND_FOR", ())).intersection(item.fixturenames)
    }
    if not starters:
        yield {}
        return
    # Two workers at a lower priority, not one worker per run at the same priority: the kernel
    # shares the cores fairly among processes, so with all the runs at once the chapter tests
    # (one process, the suite's longest chain) got about a quarter of a core until the
    # background was done, then ran alone while the other core idled: 90 to 94 s of wall
    # clock for ~145 s of CPU on two cores. Niced, the runs take what the chapter tests leave,
    # and the suite took 67 to 75 s over four clean-clone runs (four workers: 90 s; no trivial
    # test timed out either way). Runs are queued first in, first out, which a run that waits
    # on another (test_trivial's collection) relies on: it is submitted after the run it
    # waits for, so that one has a worker by then.
    with ThreadPoolExecutor(max_workers=BACKGROUND_WORKERS, initializer=lower_priority) as pool:
        yield {module.__name__: module.start_background(pool, tmp_path_factory)
               for module in sorted(starters, key=lambda m: m.__name__)}


# Logits of a tiny float64 GPT with ALiBi (V=6, N=5, L=1, H=2, C=4, seed 0, every parameter
# redrawn from N(0, 0.5^2) with np.random.default_rng(100), +1 on the layernorm gains), for
# ids [[1, 2, 3, 4, 5], [0, 5, 5, 2, 1]]: the reference solution's numbers, committed.
REFERENCE_LAST_LOGITS = [[1.1363833569, 1.3611655495, 0.3294007315, 0.5162966536, 0.1547573696, -0.1455590131],
                         [1.1475481292, 1.3693141866, 0.3296942358, 0.5072130255, 0.1563726738, -0.1385766547]]
REFERENCE_TOKEN0_LOGITS = [1.10609797, 0.9910816236, 0.8486265011, 0.6053759795, 1.1363833569]


def check_gpt_forward(impl):
    """Raise AssertionError unless the GPT's forward gives the reference numbers above: a
    cheap, exact check that runs before any training, so that a broken or trivial GPT
    fails in milliseconds instead of training for seconds first."""
    import numpy as np
    from checks import assert_close  # type, dtype, shape and NaN first (tests/checks.py)

    model = impl.transformer.GPT(6, 5, 1, 2, 4, alibi=True, dtype=np.float64, seed=0)
    rng = np.random.default_rng(100)
    for name, value in model.params.items():
        value[...] = rng.normal(0.0, 0.5, value.shape) + (1.0 if name.endswith("gamma") else 0.0)
    logits = model.logits(np.array([[1, 2, 3, 4, 5], [0, 5, 5, 2, 1]]))
    try:
        assert_close(logits[:, -1], REFERENCE_LAST_LOGITS, rtol=1e-5, atol=1e-8, name="last logits")
        assert_close(logits[0, :, 0], REFERENCE_TOKEN0_LOGITS, rtol=1e-5, atol=1e-8, name="token 0's logits")
    except AssertionError as err:
        raise AssertionError("GPT.forward does not give the reference logits of a tiny GPT (test_transformer.py "
                             f"locates the error); the LLM chapters' pretrained model was not trained. {err}") from None


@pytest.fixture(scope="session")
def pretrained_small(impl, tmp_path_factory):
    """The LLM chapters' small pretrained GPT (``scratch.train.pretraining.SMALL``), trained once
    per test session with the implementation under test, in a pytest temporary folder (never
    the user's cache), after :func:`check_gpt_forward`. Returns (model, world, source)."""
    from scratch.train import pretraining

    check_gpt_forward(impl)
    model = pretraining.pretrained_gpt(impl, pretraining.SMALL, cache_dir=tmp_path_factory.mktemp("checkpoints"))
    return (model, *pretraining.build_world(pretraining.SMALL))
