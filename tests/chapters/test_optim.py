"""Tests for ``optim``: update rules against values derived by hand, clipping, the schedule."""

import numpy as np
import pytest

from checks import assert_close, assert_equal, assert_scalar, make_params


class TestSGD:
    """sgd_step (momentum, weight decay)"""

    @pytest.mark.points(1)
    def test_two_steps_by_hand(self, impl):
        params = make_params()
        state = impl.optim.sgd_init(params)
        w = params["w"]  # steps must update this very array
        grads = {"w": np.array([0.5, 1.0]), "b": np.array([[2.0]])}
        impl.optim.sgd_step(params, grads, state, lr=0.1, momentum=0.9)
        # v = g = (0.5, 1);  theta = (1, -2) - 0.1 v = (0.95, -2.1)
        assert_close(w, [0.95, -2.1])
        impl.optim.sgd_step(params, grads, state, lr=0.1, momentum=0.9)
        # v = 0.9 (0.5, 1) + (0.5, 1) = (0.95, 1.9);  theta = (0.95, -2.1) - (0.095, 0.19)
        assert_close(params["w"], [0.855, -2.29])
        assert params["w"] is w
        # b: v = 2 then 3.8, so b = 0.5 - 0.2 - 0.38
        assert_close(params["b"], [[-0.08]])

    @pytest.mark.points(1)
    def test_weight_decay_is_added_to_the_gradient(self, impl):
        # Zero gradient, theta = 2, lr 0.5, momentum 0.9, wd 0.1: the decay goes through v.
        # Step 1: g = 0.1 * 2 = 0.2, v = 0.2, theta = 2 - 0.5 * 0.2 = 1.9.
        # Step 2: g = 0.1 * 1.9 = 0.19, v = 0.9 * 0.2 + 0.19 = 0.37, theta = 1.9 - 0.185 = 1.715.
        # (Decay applied outside the velocity, theta -= lr * (v + wd theta), gives 1.805.)
        params = {"w": np.array([2.0])}
        state = impl.optim.sgd_init(params)
        for _ in range(2):
            impl.optim.sgd_step(params, {"w": np.array([0.0])}, state, lr=0.5, momentum=0.9, weight_decay=0.1)
        assert_close(params["w"], [1.715], rtol=1e-12)
        assert_close(state["velocity"]["w"], [0.37], rtol=1e-12)


class TestAdamW:
    """adamw_step (bias correction, decoupled weight decay)"""

    @pytest.mark.points(2)
    def test_first_two_steps_by_hand(self, impl):
        # lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.01
        params = {"w": np.array([1.0, -2.0])}
        state = impl.optim.adamw_init(params)
        impl.optim.adamw_step(params, {"w": np.array([0.5, -3.0])}, state, lr=0.1)
        # Step 1: bias correction makes m_hat = g and v_hat = g^2, so the step is
        # lr * (g / (|g| + eps) + wd * theta):  1 - 0.1 (0.5/(0.5+1e-8) + 0.01) = 0.899000002,
        # -2 - 0.1 (-3/(3+1e-8) - 0.02) = -1.898000000333...
        assert_close(params["w"], [0.899000002, -1.8980000003333333], rtol=1e-12)
        assert_scalar(state["step"], 1)
        assert_close(state["m"]["w"], [0.05, -0.3])
        assert_close(state["v"]["w"], [0.00025, 0.009])
        impl.optim.adamw_step(params, {"w": np.array([-0.25, 0.0])}, state, lr=0.1)
        # Step 2, first entry: m = 0.9*0.05 - 0.1*0.25 = 0.02, m_hat = 0.02/0.19;
        # v = 0.999*0.00025 + 0.001*0.0625 = 0.00031225, v_hat = v/0.001999;
        # theta = 0.899000002 - 0.1 (m_hat/(sqrt(v_hat)+eps) + 0.01*0.899000002).
        # Second entry: m = -0.27, v = 0.008991, same formula.
        assert_close(params["w"], [0.8714672987058464, -1.8290961752352937], rtol=1e-12)
        assert_close(state["m"]["w"], [0.02, -0.27])
        assert_close(state["v"]["w"], [0.00031225, 0.008991])

    @pytest.mark.points(1)
    def test_decay_is_decoupled_from_the_gradient_scale(self, impl):
        # With zero gradient Adam's step is 0, so only the decay acts: theta (1 - lr wd).
        # (Coupled L2 would divide wd*theta by sqrt(v_hat) and move theta by ~lr instead.)
        params = {"w": np.array([3.0])}
        state = impl.optim.adamw_init(params)
        impl.optim.adamw_step(params, {"w": np.array([0.0])}, state, lr=0.1, weight_decay=0.5)
        assert_close(params["w"], [3.0 * (1 - 0.1 * 0.5)])

    @pytest.mark.points(1)
    def test_minimises_a_quadratic(self, impl):
        target = np.array([1.0, -2.0, 0.5])
        params = {"w": np.zeros(3)}
        state = impl.optim.adamw_init(params)
        for _ in range(300):
            impl.optim.adamw_step(params, {"w": 2 * (params["w"] - target)}, state, lr=0.05, weight_decay=0.0)
        assert_close(params["w"], target, atol=1e-2)


class TestClipGradNorm:
    """clip_grad_norm (global norm)"""

    @pytest.mark.points(1)
    def test_clips_to_max_norm_and_keeps_direction(self, impl):
        grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}  # global norm 5
        clipped, total = impl.optim.clip_grad_norm(grads, max_norm=1.0)
        assert_scalar(total, 5.0)
        assert_close(clipped["a"], [0.6, 0.0])
        assert_close(clipped["b"], [[0.8]])
        # same direction: one positive factor for every array
        flat = np.concatenate([clipped[k].ravel() for k in grads])
        original = np.array([3.0, 0.0, 4.0])
        assert_close(flat / np.linalg.norm(flat), original / np.linalg.norm(original))
        assert_equal(grads["a"], [3.0, 0.0])  # input untouched
        assert_equal(grads["b"], [[4.0]])

    @pytest.mark.points(1)
    def test_small_gradients_unchanged_but_copied(self, impl):
        grads = {"a": np.array([0.3, -0.4])}
        clipped, total = impl.optim.clip_grad_norm(grads, max_norm=1.0)
        assert_scalar(total, 0.5)
        assert_equal(clipped["a"], [0.3, -0.4])
        assert_equal(grads["a"], [0.3, -0.4])  # input untouched
        assert clipped["a"] is not grads["a"] and clipped is not grads


class TestCosineLR:
    """cosine_lr (linear warmup, cosine decay)"""

    @pytest.mark.points(1)
    def test_values(self, impl):
        lr = lambda step: impl.optim.cosine_lr(step, max_lr=1.0, warmup_steps=10, total_steps=110, min_lr=0.1)
        assert_scalar(lr(0), 0.1)  # (0 + 1) / 10
        assert_scalar(lr(4), 0.5)
        assert_scalar(lr(9), 1.0)
        assert_scalar(lr(10), 1.0)  # cosine starts at its top
        assert_scalar(lr(60), 0.55)  # halfway: min + (max - min) / 2
        assert_scalar(lr(35), 0.1 + 0.9 * (1 + np.cos(np.pi / 4)) / 2)
        assert_scalar(lr(110), 0.1)
        assert_scalar(lr(500), 0.1)
        decay = [lr(s) for s in range(10, 111)]
        assert all(a >= b for a, b in zip(decay, decay[1:]))

    @pytest.mark.points(1)
    def test_no_warmup(self, impl):
        assert_scalar(impl.optim.cosine_lr(0, 2.0, 0, 100), 2.0)
        assert_scalar(impl.optim.cosine_lr(100, 2.0, 0, 100), 0.0)

