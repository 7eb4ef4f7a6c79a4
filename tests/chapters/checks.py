"""The one comparison every graded test makes of what student code returned.

Each check looks at the obtained value in a fixed order and stops at the first mismatch:

1. the type, exactly: a plain ``np.ndarray`` (never a subclass, a masked array or an object
   array), or the Python / NumPy scalar the docstring promises, or plain lists, tuples and
   dicts of these. ``type(x) is ...`` is asked, never ``x == ...``: an object that says it
   equals everything, or pretends to be an array, fails here before any of its methods runs;
2. the dtype kind: float (``"f"``), int (``"i"``, unsigned included) or bool (``"b"``);
3. the shape;
4. NaN: refused unless the test says it expects NaN (``nan_ok=True``, and then only where
   the expected value has NaN too). ``np.testing.assert_allclose`` treats NaN as equal to
   NaN, so two solvers that both return NaN would agree with each other;
5. the values, with the tolerance stated in the test.

A failure names what was expected and what was obtained (type, shape, a few entries).

- :func:`assert_close` — float arrays within ``rtol`` / ``atol`` (np.isclose's rule);
- :func:`assert_equal` — arrays exactly equal (ids, masks, counts; -inf equals -inf);
- :func:`assert_scalar` — one number, within ``rel`` / ``abs`` (pytest.approx's defaults);
- :func:`assert_same` — plain Python data (lists of token ids, words, dicts), exactly;
- :func:`check_list` — a plain list of numbers of one kind (sampled tokens), type and length only;
- :func:`assert_gradients_match` — ``scratch.gradcheck``'s finite-difference check, after
  each gradient's type, dtype kind and shape (a gradient's shape is its parameter's).

Below them, the helpers more than one test file uses: a random MDP and a grid's state index,
the tiny corpus, a table LM for decoding, a response mask, small parameter sets, a model
with recorded gradients, the small LLM world, a small RNN, a tiny float64 GPT with
randomised parameters, attention written out head by head, and
:func:`check_gpt_forward`, the exact check of a GPT that runs before any training.
"""

import math

import numpy as np

from scratch import gradcheck
from scratch.grading.remote import RemoteArray

KIND_NAMES = {"f": "float", "i": "int", "b": "bool"}
SCALAR_TYPES = {
    "f": (float, np.float16, np.float32, np.float64, np.longdouble),
    "i": (int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64),
    "b": (bool, np.bool_),
}


def describe(value):
    """A short account of ``value``: its exact type, and its dtype, shape and first entries."""
    kind = type(value)
    if kind is np.ndarray:
        return f"ndarray of {value.dtype}, shape {value.shape}: {preview(value)}"
    if kind in SCALAR_TYPES["f"] + SCALAR_TYPES["i"] + SCALAR_TYPES["b"] or kind in (str, type(None)):
        return f"{kind.__name__} {value!r}"
    return f"an object of type {kind.__module__}.{kind.__qualname__}"  # never its repr: it could lie


def preview(array, entries=6):
    flat = array.ravel()
    shown = ", ".join(repr(x.item()) for x in flat[:entries])
    return f"[{shown}{', ...' if flat.size > entries else ''}]"


def kind_of(dtype):
    return {"u": "i"}.get(dtype.kind, dtype.kind)


def fetched(value):
    """In a grading run, an array read from a student object (``model.params[name]``) is the
    grader's live handle on a plain ndarray in the student process: it is fetched here, and
    decoded as strictly as a returned value. Anything else is returned as it is."""
    return np.asarray(value) if isinstance(value, RemoteArray) else value


def check_array(obtained, kind, shape, name="result"):
    """``obtained`` must be a plain ndarray of dtype ``kind`` ("f", "i" or "b") and ``shape``."""
    obtained = fetched(obtained)
    if type(obtained) is not np.ndarray:
        raise AssertionError(f"{name}: expected a numpy array of {KIND_NAMES[kind]}s, shape {shape}; "
                             f"obtained {describe(obtained)}")
    if kind_of(obtained.dtype) != kind:
        raise AssertionError(f"{name}: expected {KIND_NAMES[kind]} entries, shape {shape}; "
                             f"obtained {describe(obtained)}")
    if obtained.shape != tuple(shape):
        raise AssertionError(f"{name}: expected shape {tuple(shape)}; obtained {describe(obtained)}")


def expected_array(expected, kind):
    expected = np.array(expected, dtype=float if kind == "f" else None)
    if expected.dtype == object:
        raise TypeError("the expected value must be numbers of one shape")
    return expected


def check_nan(obtained, expected, nan_ok, name):
    if not np.isnan(obtained).any():
        return
    if not nan_ok:
        at = np.argwhere(np.isnan(obtained))[:3].tolist()
        raise AssertionError(f"{name}: NaN at {at} (no NaN is expected); obtained {describe(obtained)}")
    if not np.array_equal(np.isnan(obtained), np.isnan(expected)):
        raise AssertionError(f"{name}: NaN where none is expected; obtained {describe(obtained)}, "
                             f"expected {preview(expected)}")


def report_mismatch(obtained, expected, wrong, name, tolerance):
    where = [tuple(int(j) for j in i) for i in np.argwhere(wrong)[:3]]
    listed = "; ".join(f"at {i}: obtained {obtained[i].item()!r}, expected {expected[i].item()!r}" for i in where)
    raise AssertionError(f"{name}: {int(wrong.sum())} of {wrong.size} entries differ ({tolerance}): {listed}. "
                         f"Obtained {describe(obtained)}; expected {preview(expected)}")


def assert_close(obtained, expected, rtol=1e-7, atol=0.0, *, nan_ok=False, name="result"):
    """A float array within |obtained - expected| <= atol + rtol |expected| of ``expected``
    (an array-like of the same shape, or one number that every entry must match);
    infinities must match exactly."""
    obtained = fetched(obtained)
    expected = expected_array(expected, "f")
    one_number = expected.ndim == 0 and type(obtained) is np.ndarray
    check_array(obtained, "f", obtained.shape if one_number else expected.shape, name)
    expected = np.broadcast_to(expected, obtained.shape)
    check_nan(obtained, expected, nan_ok, name)
    if np.isnan(expected).any() and not nan_ok:
        raise AssertionError(f"{name}: the expected value holds NaN; a test comparing with NaN must say nan_ok=True")
    with np.errstate(invalid="ignore", over="ignore"):
        wrong = ~np.isclose(obtained, expected, rtol=rtol, atol=atol, equal_nan=True)
    if wrong.any():
        report_mismatch(obtained, expected, wrong, name, f"rtol={rtol:g}, atol={atol:g}")


def assert_equal(obtained, expected, *, kind=None, name="result"):
    """An array exactly equal to ``expected``, of dtype ``kind`` (default: the kind of
    ``expected``: a list of ints asks for ints, of bools for bools, of floats for floats)."""
    obtained = fetched(obtained)
    expected = expected_array(expected, kind)
    kind = kind or kind_of(expected.dtype)
    check_array(obtained, kind, expected.shape, name)
    if kind == "f":
        check_nan(obtained, expected, False, name)
    wrong = obtained != expected
    if wrong.any():
        report_mismatch(obtained, expected, wrong, name, "exact comparison")


def check_scalar(obtained, kind, name="result"):
    if type(obtained) not in SCALAR_TYPES[kind]:
        raise AssertionError(f"{name}: expected one {KIND_NAMES[kind]} (a Python or NumPy scalar); "
                             f"obtained {describe(obtained)}")


def assert_scalar(obtained, expected, rel=None, abs=None, *, kind=None, name="result"):
    """One number (a Python or NumPy scalar, never an array or a stand-in object) close to
    ``expected`` as ``pytest.approx`` compares: within ``max(rel |expected|, abs)``, rel 1e-6
    and abs 1e-12 by default, within ``abs`` alone when only ``abs`` is given. ``kind``
    defaults to int for an int ``expected`` (compared exactly), else float."""
    kind = kind or ("i" if type(expected) is int else "f")
    if rel is None and abs is not None:
        tolerance = abs
    else:
        tolerance = max((1e-6 if rel is None else rel) * math.fabs(expected), 1e-12 if abs is None else abs)
    check_scalar(obtained, kind, name)
    if kind == "i":
        ok = obtained == expected  # two plain ints: exact
    elif np.isnan(obtained):
        raise AssertionError(f"{name}: obtained NaN, expected {expected!r}")
    elif not np.isfinite(expected):
        ok = obtained == expected
    else:
        ok = math.fabs(obtained - expected) <= tolerance
    if not ok:
        raise AssertionError(f"{name}: obtained {obtained!r}, expected {expected!r} (tolerance {tolerance:g})")


def assert_same(obtained, expected, name="result"):
    """Plain Python data equal to ``expected``: lists, tuples and dicts of the same exact
    types all the way down, with str, None, bool, int and float leaves (an int leaf also
    accepts a NumPy int, a float leaf a NumPy float); NaN is never equal."""
    if isinstance(expected, (list, tuple)):
        if type(obtained) is not type(expected) or len(obtained) != len(expected):
            raise AssertionError(f"{name}: expected a {type(expected).__name__} of {len(expected)} items "
                                 f"{expected!r}; obtained {describe_data(obtained)}")
        for i, (a, e) in enumerate(zip(obtained, expected)):
            assert_same(a, e, f"{name}[{i}]")
    elif isinstance(expected, dict):
        if type(obtained) is not dict or not all(plain_key(k) for k in obtained) or set(obtained) != set(expected):
            raise AssertionError(f"{name}: expected a dict with keys {sorted(expected)!r}; "
                                 f"obtained {describe_data(obtained)}")
        for key, e in expected.items():
            assert_same(obtained[key], e, f"{name}[{key!r}]")
    elif expected is None or type(expected) is str:
        if type(obtained) is not type(expected) or obtained != expected:
            raise AssertionError(f"{name}: expected {expected!r}; obtained {describe(obtained)}")
    else:
        kind = "b" if type(expected) is bool else "i" if type(expected) is int else "f"
        check_scalar(obtained, kind, name)
        if not obtained == expected:  # a plain number here, so == is the number's own
            raise AssertionError(f"{name}: expected {expected!r}; obtained {describe(obtained)}")


def check_list(obtained, kind, length, name="result"):
    """``obtained`` must be a plain list of ``length`` numbers of ``kind`` ("i", "f" or "b")."""
    if type(obtained) is not list or len(obtained) != length:
        raise AssertionError(f"{name}: expected a list of {length} {KIND_NAMES[kind]}s; "
                             f"obtained {describe_data(obtained)}")
    for i, item in enumerate(obtained):
        check_scalar(item, kind, f"{name}[{i}]")


def plain_key(key):
    """A dict key of plain type (str, number, or a tuple of these), whose == is the type's own."""
    if type(key) is tuple:
        return all(plain_key(k) for k in key)
    return type(key) in (str, int, float, bool)


def assert_gradients_match(f, arrays, grads, tol, norm=False):
    """Every ``grads[name]`` a float array of ``arrays[name]``'s shape, within relative error
    ``tol`` of the centered differences of ``f`` (see ``scratch.gradcheck.assert_gradients_match``)."""
    if type(grads) is not dict:
        raise AssertionError(f"expected a dict of gradients; obtained {describe(grads)}")
    for name, x in arrays.items():
        if name not in grads:
            raise AssertionError(f"no gradient for {name!r}; the gradients are for {sorted(grads)}")
        check_array(grads[name], "f", x.shape, f"gradient {name!r}")
    gradcheck.assert_gradients_match(f, arrays, grads, tol, norm=norm)


def describe_data(value):
    if type(value) in (list, tuple):
        items = ", ".join(describe(x) for x in value[:5])
        return f"{type(value).__name__} of {len(value)} items: {items}{', ...' if len(value) > 5 else ''}"
    if type(value) is dict:
        return f"dict of {len(value)} items"
    return describe(value)


# -- helpers the chapter files share: small models with known numbers --------------------------

GRAD_TOL = 1e-6

def assert_gradients(f, arrays, grads, tol=GRAD_TOL):
    assert_gradients_match(f, arrays, grads, tol, norm=True)

def randomize(params, rng, scale=0.5):
    """Replace every parameter by N(0, scale^2) noise (+1 for layernorm gains), in place."""
    for name, value in params.items():
        value[...] = rng.normal(0.0, scale, value.shape) + (1.0 if name.endswith("gamma") else 0.0)

def tiny_gpt(impl, *, vocab=5, context=6, layers=1, heads=2, width=4, seed=0, **kwargs):
    model = impl.transformer.GPT(vocab, context, layers, heads, width, dtype=np.float64,
                                 seed=seed, **kwargs)
    randomize(model.params, np.random.default_rng(seed + 100))
    return model

def reference_attention(q, k, v, causal, bias=0.0):
    """softmax(q k^T / sqrt(d) + bias) v for one head, (T, d) arrays, the slow obvious way.

    ``causal``: True (query i sees keys 0..i), False (all), or a boolean mask (T, T_k).
    """
    scores = q @ k.T / np.sqrt(q.shape[-1]) + bias
    if isinstance(causal, np.ndarray):
        scores = np.where(causal, scores, -np.inf)
    elif causal:
        scores = scores + np.triu(np.full(scores.shape, -np.inf), k=1)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True) @ v

def reference_alibi(slope, T):
    """-slope * |i - j| for T positions, element by element."""
    return np.array([[-slope * abs(i - j) for j in range(T)] for i in range(T)])

def self_attention_by_heads(x, p, H, causal, slopes=None):
    """Multi-head self-attention (B, T, C) head by head with ``reference_attention``."""
    B, T, C = x.shape
    qkv = x @ p["W_qkv"] + p["b_qkv"]
    d = C // H
    out = []
    for b in range(B):
        heads = [reference_attention(qkv[b, :, h * d:(h + 1) * d], qkv[b, :, C + h * d:C + (h + 1) * d],
                                     qkv[b, :, 2 * C + h * d:2 * C + (h + 1) * d], causal,
                                     reference_alibi(slopes[h], T) if slopes is not None else 0.0) for h in range(H)]
        out.append(np.concatenate(heads, axis=-1) @ p["W_out"] + p["b_out"])
    return np.array(out)

def attention_params(rng, C, dtype=np.float64):
    return {"W_qkv": rng.normal(0, 0.5, (C, 3 * C)).astype(dtype), "b_qkv": rng.normal(0, 0.5, 3 * C).astype(dtype),
            "W_out": rng.normal(0, 0.5, (C, C)).astype(dtype), "b_out": rng.normal(0, 0.5, C).astype(dtype)}

def random_mdp(mdp, seed, S=6, A=3, gamma=0.9):
    rng = np.random.default_rng(seed)
    P = rng.random((S, A, S)) ** 3  # skewed rows, some near zero
    P /= P.sum(axis=2, keepdims=True)
    R = rng.normal(size=(S, A))
    return mdp.MDP(P, R, gamma)

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


def attention_inputs(seed, T, B=2, C=8):
    """A seeded rng, inputs x (B, T, C) and self-attention parameters of width C, drawn in
    that order (the attention tests' common start)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, C))
    return rng, x, attention_params(rng, C)


# the n-gram chapter's tiny corpus
TINY = [s.split() for s in ("the mouse ate the cheese", "the cat ate the mouse", "a mouse ate")]


class TableLM:
    """Next-token probabilities looked up by the tuple of tokens generated so far.

    The state is that tuple (immutable, so ``step`` cannot mutate it); prefixes missing from
    the table use ``default``. ``steps`` counts calls to ``step``.
    """

    def __init__(self, table, default):
        self.table = {key: np.asarray(value, dtype=float) for key, value in table.items()}
        self.default = np.asarray(default, dtype=float)
        self.steps = 0

    def logits(self, prefix):
        with np.errstate(divide="ignore"):
            return np.log(self.table.get(prefix, self.default))

    def start(self, prompt_ids):
        return self.logits(()), ()

    def step(self, state, token_id):
        self.steps += 1
        new_state = state + (int(token_id),)
        return self.logits(new_state), new_state


def constant_lm(probs):
    return TableLM({}, probs)


def left_padding(left_pad, n_slots):
    """The GPT's ``positions`` and ``key_mask`` for rows with ``left_pad`` pads in front, as
    keyword arguments, written out here (the expected values never use the code under test):
    slot s of row b sits at max(s - left_pad[b], 0) and is a real key when s >= left_pad[b]."""
    slots, pads = np.arange(n_slots)[None, :], np.asarray(left_pad)[:, None]
    return {"positions": np.maximum(slots - pads, 0), "key_mask": slots >= pads}


def prefix_mask(lengths, T):
    """Response mask (B, T): True in the first lengths[b] positions of row b."""
    return np.arange(T)[None, :] < np.asarray(lengths)[:, None]


UP, DOWN, LEFT, RIGHT = range(4)  # the gridworld's actions


def state(world, row, col):
    return world.index[(row, col)]


def make_params():
    return {"w": np.array([1.0, -2.0]), "b": np.array([[0.5]])}


class Recorded:
    """A model whose loss and gradients are known numbers (for PartialModel)."""

    def __init__(self):
        self.params = {"a": np.arange(3.0), "b": np.ones((2, 2)), "c": np.zeros(4)}

    def loss_and_grads(self, ids, targets, loss_mask=None):
        return 2.5, {"a": np.array([1.0, -2.0, 3.0]), "b": np.full((2, 2), 7.0), "c": np.arange(4.0) - 1.5}


def small_world():
    from scratch.train import pretraining

    return pretraining.build_world(pretraining.SMALL)[0]


def small_model(impl, seed=0, V=5, D=3, H=4):
    return impl.rnn.RNNLM(V, D, H, rng=np.random.default_rng(seed), dtype=np.float64)
