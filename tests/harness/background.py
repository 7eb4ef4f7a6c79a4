"""The harness tests' expensive runs (grading runs in subprocesses, mostly), started at the
session's first test so that they overlap with the chapter tests; the root conftest imports
the fixture from here."""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest


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
