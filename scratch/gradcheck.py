"""Centered finite differences in float64, to check every hand-written backward.

For a scalar function f of an array x, the centered difference

    df/dx_i  ~  (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

has error O(eps^2), against O(eps) for the one-sided difference; with eps = 1e-6 in float64
the truncation and round-off errors are both around 1e-10 relative to typical gradients of
order one. Tests therefore compare analytic and numerical gradients with
:func:`relative_error` and a tolerance stated in the test (1e-6 is a common choice: a real
bug, such as a missing transpose or a dropped term, gives errors of order 1e-1 to 1).

Two error measures: entry-wise (the default, :func:`relative_error`) catches a single wrong
entry; norm-wise (``norm=True``, ||a - n|| / (||a|| + ||n||)) is the one to use where some
gradients are exactly zero in theory (an attention key bias: softmax ignores a constant added
to a whole row of scores), since entry-wise those entries compare two round-off noises.

Checks run in float64 on purpose: float32 round-off (1e-7 relative) divided by 2 eps would
swamp the comparison, and a float32 check can pass or fail by luck.
"""

import numpy as np


def numerical_gradient(f, x, eps=1e-6):
    """Centered-difference gradient of the scalar ``f()`` with respect to the array ``x``.

    ``f`` takes no arguments and reads ``x`` (which this function perturbs in place, one
    entry at a time, and restores). ``x`` must be a float64 array so the perturbation is
    not lost to rounding. It is written only through ``x[index] = value``, so ``x`` may also
    be an array of another process (the grader's handle on a model's parameter, which
    forwards the write); its values are read once, into a copy.
    """
    dtype = getattr(x, "dtype", None)
    if not (isinstance(x, np.ndarray) or hasattr(x, "__array__") and hasattr(x, "__setitem__")) or dtype != np.float64:
        got = dtype if dtype is not None else type(x).__name__
        raise TypeError(f"x must be a float64 numpy array for a gradient check; got {got}")
    values = np.array(x, dtype=np.float64)  # the originals, read once
    grad = np.zeros_like(values)
    for index in np.ndindex(values.shape):
        original = values[index]
        x[index] = original + eps
        f_plus = float(f())
        x[index] = original - eps
        f_minus = float(f())
        x[index] = original
        grad[index] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(analytic, numerical, norm=False):
    """max_i |a_i - n_i| / max(|a_i| + |n_i|, 1e-8): scale-free, and finite when both are 0.

    With ``norm=True`` the norm-wise error ||a - n|| / max(||a|| + ||n||, 1e-12) instead
    (Euclidean norms over all entries)."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numerical = np.asarray(numerical, dtype=np.float64)
    if analytic.shape != numerical.shape:
        raise ValueError(
            f"analytic gradient has shape {analytic.shape} but numerical has {numerical.shape}"
        )
    if analytic.size == 0:
        return 0.0
    if norm:
        scale = max(np.linalg.norm(analytic) + np.linalg.norm(numerical), 1e-12)
        return float(np.linalg.norm(analytic - numerical) / scale)
    scale = np.maximum(np.abs(analytic) + np.abs(numerical), 1e-8)
    return float(np.max(np.abs(analytic - numerical) / scale))


def check_gradients(f, arrays, grads, eps=1e-6, norm=False):
    """Relative error of each analytic gradient in ``grads`` against ``f``'s numerical one.

    ``arrays`` maps names to the float64 arrays ``f`` reads; ``grads`` maps the same names
    to the analytic gradients. Returns ``{name: relative error}`` so a failing test can
    say which gradient is wrong; ``norm`` selects the error measure (see :func:`relative_error`).
    """
    missing = set(arrays) - set(grads)
    if missing:
        raise ValueError(f"grads has no entry for {sorted(missing)}")
    return {
        name: relative_error(grads[name], numerical_gradient(f, x, eps), norm=norm)
        for name, x in arrays.items()
    }


def assert_gradients_match(f, arrays, grads, tol, norm=False):
    """Assert every analytic gradient in ``grads`` is within relative error ``tol`` of ``f``'s.

    The :func:`check_gradients` comparison as a test assertion: raises AssertionError naming
    each parameter above ``tol`` with its relative error (a NaN error fails too). ``norm``:
    norm-wise instead of entry-wise errors (see :func:`relative_error`).
    """
    errors = check_gradients(f, arrays, grads, norm=norm)
    bad = {name: error for name, error in errors.items() if not error < tol}
    if bad:
        listed = ", ".join(f"{name!r}: relative error {error:.3g}" for name, error in bad.items())
        raise AssertionError(f"gradients above tolerance {tol}: {listed}")
