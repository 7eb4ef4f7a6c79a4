"""Tests for the layers of ``nn``: values against hand-computed numbers, every backward
against centered finite differences in float64 (``scratch.gradcheck``).

Gradient tolerance: relative error below 1e-6 (float64, eps = 1e-6). A real bug such as a
missing transpose or a dropped term gives errors of order 1e-1 or more.
"""

import numpy as np
import pytest

from checks import GRAD_TOL, assert_close, assert_equal, assert_gradients_match, assert_scalar, check_array


# Leading-dimension layouts every layer must handle: a single vector, a batch, (B, T).
SHAPES = [(), (4,), (2, 3)]


# The activations' definitions (their docstrings' equations). A gradient test checks the
# forward against them first: a backward checked only against finite differences of the
# same forward agrees with it when both return zeros.
ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "gelu": lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
}


def elementwise_check(forward, backward, x, rng, definition):
    """Check forward(x) against ``definition`` (computed before the call, from the test's own
    ``x``), then dL/dx for L = sum(forward(x) * R)."""
    expected = definition(x)
    out, cache = forward(x)
    assert_close(out, expected, rtol=1e-12, atol=1e-12)
    R = rng.standard_normal(out.shape)
    dx = backward(R, cache)
    assert_gradients_match(lambda: np.sum(forward(x)[0] * R), {"x": x}, {"x": dx}, GRAD_TOL)


class TestLinear:
    """linear_forward / linear_backward"""

    @pytest.mark.points(1)
    def test_values(self, impl):
        x = np.array([[1.0, 2.0]])
        W = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]])
        out, _ = impl.nn.linear_forward(x, W, np.array([0.5, 0.0, 0.0]))
        assert_close(out, [[5.5, 2.0, 0.0]])
        out, _ = impl.nn.linear_forward(x, W, None)
        assert_close(out, [[5.0, 2.0, 0.0]])

    @pytest.mark.points(2)
    @pytest.mark.parametrize("lead", SHAPES)
    def test_gradients(self, impl, lead):
        rng = np.random.default_rng(0)
        x = rng.standard_normal(lead + (5,))
        W = rng.standard_normal((5, 3))
        b = rng.standard_normal(3)
        expected = x @ W + b  # the forward first (a zero forward and backward agree with each other)
        out, cache = impl.nn.linear_forward(x, W, b)
        assert_close(out, expected, rtol=1e-12, atol=1e-12)
        R = rng.standard_normal(out.shape)
        dx, dW, db = impl.nn.linear_backward(R, cache)
        f = lambda: np.sum(impl.nn.linear_forward(x, W, b)[0] * R)
        assert_gradients_match(f, {"x": x, "W": W, "b": b}, {"x": dx, "W": dW, "b": db}, GRAD_TOL)

    @pytest.mark.points(1)
    def test_no_bias_gives_db_none(self, impl):
        rng = np.random.default_rng(1)
        x, W = rng.standard_normal((2, 4)), rng.standard_normal((4, 3))
        expected = np.outer(x.sum(axis=0), np.ones(3))  # before the call, from the test's own x
        out, cache = impl.nn.linear_forward(x, W, None)
        dx, dW, db = impl.nn.linear_backward(np.ones((2, 3)), cache)
        assert db is None
        assert_close(dW, expected)

    @pytest.mark.points(1)
    def test_float32_stays_float32(self, impl):
        x = np.ones((2, 4), dtype=np.float32)
        W = np.ones((4, 3), dtype=np.float32)
        out, cache = impl.nn.linear_forward(x, W, np.zeros(3, dtype=np.float32))
        assert_equal(out, np.full((2, 3), 4.0))  # four ones summed
        assert out.dtype == np.float32
        grads = impl.nn.linear_backward(np.full((2, 3), 4.0, dtype=np.float32), cache)
        assert_equal(grads[0], np.full((2, 4), 12.0))  # dx = dout @ W.T: 3 fours
        for g, shape in zip(grads, ((2, 4), (4, 3), (3,))):
            check_array(g, "f", shape)
            assert g.dtype == np.float32


class TestEmbedding:
    """embedding_forward / embedding_backward"""

    @pytest.mark.points(1)
    def test_lookup(self, impl):
        W = np.arange(12.0).reshape(4, 3)
        out, _ = impl.nn.embedding_forward(np.array([[3, 0], [1, 1]]), W)
        assert_equal(out, [[[9, 10, 11], [0, 1, 2]], [[3, 4, 5], [3, 4, 5]]], kind="f")

    @pytest.mark.points(2)
    def test_repeated_ids_accumulate(self, impl):
        # id 2 appears three times: its row's gradient is the sum of the three upstream rows
        ids = np.array([[2, 0, 2], [2, 1, 1]])
        W = np.zeros((4, 2))
        _, cache = impl.nn.embedding_forward(ids, W)
        dout = np.arange(12.0).reshape(2, 3, 2)
        dW = impl.nn.embedding_backward(dout, cache)
        expected = np.array([[2, 3], [8 + 10, 9 + 11], [0 + 4 + 6, 1 + 5 + 7], [0, 0]])
        assert_equal(dW, expected, kind="f")

    @pytest.mark.points(1)
    @pytest.mark.parametrize("lead", SHAPES[1:])
    def test_gradients(self, impl, lead):
        rng = np.random.default_rng(2)
        ids = rng.integers(0, 3, size=lead)  # few ids, so rows repeat
        W = rng.standard_normal((5, 4))
        expected = W[ids]  # the forward first (a zero forward and backward agree with each other)
        out, cache = impl.nn.embedding_forward(ids, W)
        assert_equal(out, expected)
        R = rng.standard_normal(out.shape)
        dW = impl.nn.embedding_backward(R, cache)
        f = lambda: np.sum(impl.nn.embedding_forward(ids, W)[0] * R)
        assert_gradients_match(f, {"W": W}, {"W": dW}, GRAD_TOL)


class TestActivations:
    """relu, tanh, gelu (forward / backward)"""

    @pytest.mark.points(1)
    def test_values(self, impl):
        assert_close(impl.nn.relu_forward(np.array([-2.0, 0.0, 1.5]))[0], [0.0, 0.0, 1.5])
        assert_close(impl.nn.tanh_forward(np.array([-2.0, 0.0, 1.5]))[0], np.tanh([-2.0, 0.0, 1.5]))
        # tanh-approximate GELU at x = 1: 0.5 (1 + tanh(sqrt(2/pi) 1.044715)) = 0.841192
        gelu, _ = impl.nn.gelu_forward(np.array([1.0, 0.0, -10.0]))
        assert_close(gelu, [0.8411919906, 0.0, 0.0], atol=1e-9)

    @pytest.mark.points(1)
    @pytest.mark.parametrize("name", ["relu", "tanh", "gelu"])
    @pytest.mark.parametrize("lead", SHAPES[1:])
    def test_gradients(self, impl, name, lead):
        rng = np.random.default_rng(3)
        x = rng.standard_normal(lead + (5,))
        if name == "relu":  # keep finite differences away from the kink at 0
            x = np.where(np.abs(x) < 1e-3, 0.5, x)
        forward = getattr(impl.nn, f"{name}_forward")
        backward = getattr(impl.nn, f"{name}_backward")
        elementwise_check(forward, backward, x, rng, ACTIVATIONS[name])

    @pytest.mark.points(1)
    @pytest.mark.parametrize("name", ["relu", "tanh", "gelu"])
    def test_float32_stays_float32(self, impl, name):
        x = np.linspace(-2, 2, 6, dtype=np.float32)
        expected = ACTIVATIONS[name](x.astype(np.float64))
        out, cache = getattr(impl.nn, f"{name}_forward")(x)
        dx = getattr(impl.nn, f"{name}_backward")(np.ones(6, dtype=np.float32), cache)
        assert_close(out, expected, rtol=1e-5, atol=1e-6)
        check_array(dx, "f", (6,), "dx")
        assert out.dtype == dx.dtype == np.float32

    @pytest.mark.points(1)
    def test_relu_gradient_is_a_mask(self, impl):
        x = np.array([-1.0, 2.0, -3.0, 4.0])
        _, cache = impl.nn.relu_forward(x)
        assert_equal(impl.nn.relu_backward(np.full(4, 7.0), cache), [0, 7, 0, 7], kind="f")


class TestLayerNorm:
    """layernorm_forward / layernorm_backward"""

    @pytest.mark.points(1)
    def test_values(self, impl):
        x = np.array([[1.0, 2.0, 3.0, 6.0]])  # mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5
        gamma, beta = np.array([1.0, 2.0, 1.0, 1.0]), np.array([0.0, 0.0, 1.0, 0.0])
        xhat = np.array([-2.0, -1.0, 0.0, 3.0]) / np.sqrt(3.5)
        expected = [xhat * gamma + beta]  # before the call, from the test's own gamma and beta
        out, _ = impl.nn.layernorm_forward(x, gamma, beta, eps=0.0 + 1e-12)
        assert_close(out, expected, rtol=1e-9)

    @pytest.mark.points(2)
    @pytest.mark.parametrize("lead", SHAPES)
    def test_gradients(self, impl, lead):
        rng = np.random.default_rng(4)
        x = 3 * rng.standard_normal(lead + (6,)) + 1
        gamma = rng.standard_normal(6)
        beta = rng.standard_normal(6)
        # the forward first, against the definition with eps = 1e-5, computed before the call
        # (a zero forward and backward would agree otherwise)
        mean, variance = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
        expected = (x - mean) / np.sqrt(variance + 1e-5) * gamma + beta
        out, cache = impl.nn.layernorm_forward(x, gamma, beta)
        assert_close(out, expected, rtol=1e-10, atol=1e-12)
        R = rng.standard_normal(out.shape)
        dx, dgamma, dbeta = impl.nn.layernorm_backward(R, cache)
        f = lambda: np.sum(impl.nn.layernorm_forward(x, gamma, beta)[0] * R)
        assert_gradients_match(
            f, {"x": x, "gamma": gamma, "beta": beta}, {"x": dx, "gamma": dgamma, "beta": dbeta}, GRAD_TOL
        )


class TestSoftmax:
    """softmax / log_softmax"""

    @pytest.mark.points(1)
    def test_values(self, impl):
        x = np.array([[0.0, np.log(3.0)], [np.log(2.0), 0.0]])
        assert_close(impl.nn.softmax(x), [[1 / 4, 3 / 4], [2 / 3, 1 / 3]])
        assert_close(impl.nn.log_softmax(x), np.log([[1 / 4, 3 / 4], [2 / 3, 1 / 3]]))
        # along axis 0 instead: columns (0, log 2) and (log 3, 0)
        assert_close(impl.nn.softmax(x, axis=0), [[1 / 3, 3 / 4], [2 / 3, 1 / 4]])
        assert_close(impl.nn.log_softmax(x, axis=0), np.log([[1 / 3, 3 / 4], [2 / 3, 1 / 4]]))

    @pytest.mark.points(1)
    def test_huge_and_minus_inf_logits(self, impl):
        x = np.array([1000.0, 1000.0 + np.log(3.0), -np.inf, -1e4])
        p = impl.nn.softmax(x)
        assert_close(p, [0.25, 0.75, 0.0, 0.0], atol=1e-15)
        logp = impl.nn.log_softmax(x)
        check_array(logp, "f", (4,), "log_softmax")
        assert_close(logp[:2], np.log([0.25, 0.75]))
        assert logp[2] == -np.inf and np.isfinite(logp[3])


# cross_entropy_forward on test_gradients' random logits, from the reference implementation.
CROSS_ENTROPY_LOSSES = {((4,), False): 2.2307724446950257, ((4,), True): 2.6687542794709582,
                        ((2, 3), False): 2.2572826987815833, ((2, 3), True): 1.9174742856651208}


class TestCrossEntropy:
    """cross_entropy_forward / cross_entropy_backward (with a loss mask)"""

    @pytest.mark.points(1)
    def test_value_is_mean_over_unmasked(self, impl):
        logits = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]]))
        targets = np.array([0, 2, 1])
        loss, _ = impl.nn.cross_entropy_forward(logits, targets)
        assert_scalar(loss, -(np.log(0.5) + np.log(0.8) + np.log(1 / 3)) / 3)
        loss, _ = impl.nn.cross_entropy_forward(logits, targets, np.array([1, 0, 1]))
        assert_scalar(loss, -(np.log(0.5) + np.log(1 / 3)) / 2)

    @pytest.mark.points(2)
    @pytest.mark.parametrize("lead", [(4,), (2, 3)])
    @pytest.mark.parametrize("masked", [False, True])
    def test_gradients(self, impl, lead, masked):
        rng = np.random.default_rng(5)
        logits = 2 * rng.standard_normal(lead + (5,))
        targets = rng.integers(0, 5, size=lead)
        mask = None
        if masked:
            mask = rng.random(lead) < 0.5
            mask.reshape(-1)[0] = True
        loss, cache = impl.nn.cross_entropy_forward(logits, targets, mask)
        # the forward first, against the reference's numbers: a zero loss has zero gradients
        assert_scalar(loss, CROSS_ENTROPY_LOSSES[lead, masked], rel=1e-12)
        dlogits = impl.nn.cross_entropy_backward(1.0, cache)
        f = lambda: impl.nn.cross_entropy_forward(logits, targets, mask)[0]
        assert_gradients_match(f, {"logits": logits}, {"logits": dlogits}, GRAD_TOL)
        if masked:  # masked positions get exactly zero gradient
            assert np.all(dlogits[~mask] == 0)
        # dloss scales the gradient linearly
        assert_close(impl.nn.cross_entropy_backward(2.5, cache), 2.5 * dlogits)

    @pytest.mark.points(1)
    def test_extreme_logits_stay_finite(self, impl):
        logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [0.0, -np.inf, 0.0]])
        targets = np.array([1, 2, 0])
        loss, cache = impl.nn.cross_entropy_forward(logits, targets)
        assert_scalar(loss, (2e4 + np.log(3) + np.log(2)) / 3)
        dlogits = impl.nn.cross_entropy_backward(1.0, cache)
        check_array(dlogits, "f", (3, 3), "dlogits")
        assert np.all(np.isfinite(dlogits))
        assert_close(dlogits[0], [1 / 3, -1 / 3, 0.0], atol=1e-12)

    @pytest.mark.points(1)
    def test_masked_minus_inf_target_is_not_nan(self, impl):
        # a masked position whose target has probability 0 must not turn the loss into NaN
        logits = np.array([[0.0, -np.inf], [0.0, 0.0]])
        loss, cache = impl.nn.cross_entropy_forward(logits, np.array([1, 0]), np.array([0, 1]))
        assert_scalar(loss, np.log(2))
        dlogits = impl.nn.cross_entropy_backward(1.0, cache)
        check_array(dlogits, "f", (2, 2), "dlogits")
        assert np.all(np.isfinite(dlogits))

