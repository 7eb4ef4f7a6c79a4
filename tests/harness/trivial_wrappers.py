"""Trivial answers of every graded function, for the meta-test in test_trivial.py.

``trivial_implementations.write_project`` copies this file into the graded package under
test as ``_trivial.py`` (imported there as ``from . import _trivial``), because graded code
may run in a student process that sees only that package and ``scratch``, never ``tests/``;
so it needs nothing but NumPy and the standard library.

:func:`wrap` makes a graded function trivial: the wrapper runs the reference on deep copies
of the arguments, only to learn the structure of its answer (a tuple of arrays with their
shapes and dtypes, a dict of caches, an object with attributes), then returns that structure
filled by one of :data:`VARIANTS`, each a way to hand in work that was not done:

- ``zeros``, ``ones``, ``half`` (0.5 in every float), ``nan`` (NaN in every float),
  ``random`` (seeded normal floats, ints in the reference's range);
- ``identity``: the function's own input where one has the answer's shape;
- ``always_equal``: arrays, numbers, strings and containers that say they equal anything
  (an ndarray subclass whose comparisons, ufuncs and NumPy functions answer "equal");
- ``masked``: NumPy masked arrays with every entry masked (and ``np.ma.masked`` scalars);
- ``zeroed_inputs``: every array reachable from the arguments is zeroed in place (a test
  that computes its expected value from its inputs after the call then expects zeros), and
  the answer is the zeroed input where one has the answer's shape and dtype, else zeros;
- ``zero_forward``: a ``*forward`` function returns zeros but keeps the reference's cache,
  so that the backward runs (and returns zeros): a backward checked only against finite
  differences of the same forward agrees with it.

In-place updates become no-ops (the reference ran on copies), and where the reference raises
the trivial one returns None (a check inside a graded region is part of what the student
writes). The reference runs again on every call, on purpose: see trivial_implementations.py.
"""

import copy
import numbers
import types

import numpy as np

VARIANTS = ("zeros", "ones", "identity", "half", "nan", "random", "always_equal", "masked", "zeroed_inputs",
            "zero_forward")

RNG = np.random.default_rng(0)  # the random variant's draws: the same run gives the same answers


# --- answers that say they equal anything ------------------------------------------------------

class AlwaysEqualArray(np.ndarray):
    """An ndarray (of zeros) for which every comparison, ufunc and NumPy function says "equal"."""

    def _all(self, value):
        return np.full(self.shape, value).view(AlwaysEqualArray)

    def __eq__(self, other):
        return self._all(True)

    __le__ = __ge__ = __lt__ = __gt__ = __eq__

    def __ne__(self, other):
        return self._all(False)

    def __bool__(self):
        return bool(self.view(np.ndarray).all())

    def __getitem__(self, index):
        return always_equal(super().__getitem__(index))

    def tolist(self):
        return AlwaysEqualList(self.view(np.ndarray).tolist())

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if "out" in kwargs:
            kwargs["out"] = tuple(plain(x) for x in kwargs["out"])
        result = getattr(ufunc, method)(*map(plain, inputs), **kwargs)
        if ufunc in (np.equal, np.less_equal, np.greater_equal, np.less, np.greater, np.logical_and,
                     np.logical_or):
            result = np.ones_like(result, dtype=bool)
        elif ufunc is np.not_equal:
            result = np.zeros_like(result, dtype=bool)
        return always_equal(result)

    def __array_function__(self, func, types_, args, kwargs):
        result = func(*map(plain, args), **{k: plain(v) for k, v in kwargs.items()})
        if func in (np.array_equal, np.array_equiv, np.allclose, np.all, np.any):
            return True
        if func is np.isclose:
            return always_equal(np.ones_like(result, dtype=bool))
        return always_equal(result)


def plain(x):
    if isinstance(x, AlwaysEqualArray):
        return x.view(np.ndarray)
    if isinstance(x, (tuple, list)):
        return type(x)(plain(item) for item in x)
    return x


def always_equal(value):
    if isinstance(value, tuple):
        return tuple(always_equal(x) for x in value)
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value).view(AlwaysEqualArray)
    return value


class AlwaysEqualMixin:
    def __eq__(self, other):
        return True

    __le__ = __ge__ = __lt__ = __gt__ = __eq__

    def __ne__(self, other):
        return False


class AlwaysEqualStr(AlwaysEqualMixin, str):
    __hash__ = str.__hash__


class AlwaysEqualList(AlwaysEqualMixin, list):
    __hash__ = None


class AlwaysEqualTuple(AlwaysEqualMixin, tuple):
    __hash__ = tuple.__hash__


class AlwaysEqualDict(AlwaysEqualMixin, dict):
    __hash__ = None


CONTAINERS = {list: AlwaysEqualList, tuple: AlwaysEqualTuple, dict: AlwaysEqualDict}


# --- filling the reference's answer ---------------------------------------------------------------

def fill_array(value, variant, inputs):
    floats = value.dtype.kind in "fc"
    if variant in ("identity", "zeroed_inputs"):
        same = next((x for x in inputs if type(x) is np.ndarray and x.shape == value.shape
                     and (variant == "identity" or x.dtype == value.dtype)), None)
        if same is not None:
            return same if variant == "zeroed_inputs" else same.astype(value.dtype, copy=True)
    if variant == "ones":
        return np.ones_like(value)
    if variant in ("half", "nan") and floats:
        return np.full_like(value, 0.5 if variant == "half" else np.nan)
    if variant == "random":
        if floats:
            return RNG.standard_normal(value.shape).astype(value.dtype)
        if value.dtype.kind in "iu" and value.size:  # ids in (a little beyond) the reference's range
            low, high = min(int(value.min()), 0), int(value.max()) + 1
            return RNG.integers(low, high, size=value.shape, endpoint=True).astype(value.dtype)
        if value.dtype.kind == "b":
            return RNG.random(value.shape) < 0.5
    if variant == "always_equal":
        return always_equal(np.zeros_like(value))
    if variant == "masked":
        return np.ma.masked_all(value.shape, value.dtype)
    return np.zeros_like(value)


def fill_number(value, variant, inputs):
    kind = type(value)
    if isinstance(value, (bool, np.bool_)):
        number = variant == "ones" or (variant == "random" and RNG.random() < 0.5)
    elif variant == "identity":
        number = next((x for x in inputs if isinstance(x, numbers.Number) and not isinstance(x, bool)), 0)
    elif variant == "ones":
        number = 1
    elif isinstance(value, (float, np.floating)):
        number = {"half": 0.5, "nan": np.nan, "random": RNG.standard_normal()}.get(variant, 0.0)
    else:
        number = RNG.integers(0, 2 * abs(int(value)) + 2) if variant == "random" else 0
    if variant == "always_equal":
        return always_equal(np.zeros((), dtype=np.asarray(value).dtype))
    if variant == "masked":
        return np.ma.masked
    return kind(number)


def fill(value, variant, inputs, depth=0):
    """``value`` with every number and array replaced by the ``variant``'s trivial one."""
    if isinstance(value, np.ndarray):
        return fill_array(value, variant, inputs)
    if isinstance(value, (numbers.Number, np.generic)):
        return fill_number(value, variant, inputs)
    if isinstance(value, str):  # a word: nothing, or the first word given (identity)
        same = next((x for x in inputs if isinstance(x, str)), "") if variant == "identity" else ""
        return AlwaysEqualStr(same) if variant == "always_equal" else same
    if value is None or callable(value) or isinstance(value, (type, types.ModuleType, np.random.Generator)):
        return value
    if depth > 6:
        return None
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(*(fill(item, variant, inputs, depth + 1) for item in value))
    if type(value) in CONTAINERS:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        filled = {key: fill(item, variant, inputs, depth + 1) for key, item in items}
        if type(value) is not dict:
            filled = type(value)(filled.values())
        return CONTAINERS[type(value)](filled) if variant == "always_equal" else filled
    try:  # an object the real code built (a fitted model, a result): the same, filled
        filled = copy.copy(value)
        vars(filled).update({name: fill(item, variant, inputs, depth + 1) for name, item in vars(value).items()})
        return filled
    except Exception:
        return None


def zero_in_place(value, seen, depth=0):
    """Zero every writable array reachable from ``value`` (through containers and attributes)."""
    if id(value) in seen or depth > 4 or callable(value) or isinstance(value, (type, types.ModuleType)):
        return
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        if value.flags.writeable:
            value[...] = 0
        return
    if isinstance(value, (list, tuple)):
        children = value
    elif isinstance(value, dict):
        children = value.values()
    else:
        children = getattr(value, "__dict__", {}).values()
    for child in list(children):
        zero_in_place(child, seen, depth + 1)


_learning_the_structure = False  # True while a wrapper runs the reference


def wrap(function, variant):
    """``function`` made trivial (see the module docstring)."""

    def trivial(*args, **kwargs):
        global _learning_the_structure
        if _learning_the_structure:  # called by the reference itself: run it as it is
            return function(*args, **kwargs)
        _learning_the_structure = True
        try:
            answer = function(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        except Exception:
            return None
        finally:
            _learning_the_structure = False
        inputs = [x for x in list(args) + list(kwargs.values()) if not callable(x)]
        if variant == "zeroed_inputs":
            seen = set()
            for x in inputs:
                zero_in_place(x, seen)
        if variant == "zero_forward" and function.__name__.endswith("forward") and type(answer) is tuple:
            # the outputs zero, the caches (dicts, tuples, objects) the reference's own
            return tuple(fill(x, "zeros", inputs) if isinstance(x, (np.ndarray, numbers.Number)) else x
                         for x in answer)
        return fill(answer, "zeros" if variant == "zero_forward" else variant, inputs)

    trivial.__name__, trivial.__qualname__, trivial.__doc__ = function.__name__, function.__qualname__, function.__doc__
    return trivial
