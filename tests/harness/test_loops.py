"""The harness's training loops and gradient checks, run on the implementation (not graded):
scratch.train.loop (batches, train_lm, the held-out loss), the RLHF loops of
scratch.train.rlhf, and scratch.gradcheck."""

import io
import os
import sys
import time
import types

import numpy as np
import pytest
from scipy import special

from checks import GRAD_TOL, assert_gradients, tiny_gpt
from scratch import gradcheck
from scratch.gradcheck import relative_error
from scratch.train import display, loop, rlhf


# -- the Transformer (chapter 7) -------------------------------------------------------------------
class TestGradientCheckNorm:
    """scratch.gradcheck's norm-wise error (harness, not graded)"""

    def test_norm_wise_error(self):
        analytic, numerical = np.array([3.0, 0.0]), np.array([3.0, 4e-9])
        assert relative_error(analytic, numerical) == pytest.approx(0.4)  # 4e-9 / max(4e-9, 1e-8)
        assert relative_error(analytic, numerical, norm=True) == pytest.approx(4e-9 / (3 + 3))  # ||a - n|| / (||a|| + ||n||)
        x = np.array([1.0, 2.0])
        with pytest.raises(AssertionError, match="'x'"):
            gradcheck.assert_gradients_match(lambda: np.sum(x ** 2), {"x": x}, {"x": 2 * x + 1e-3}, 1e-6, norm=True)

# -- RLHF (chapter 12) -----------------------------------------------------------------------------
@pytest.mark.instructor
class TestLoopHarness:
    """scratch/train/rlhf.py (not graded): settings, bad input, the Gao fit"""

    def test_settings_and_bad_input(self, impl):
        with pytest.raises(ValueError, match="method must be one of"):
            rlhf.Settings(method="sac")
        with pytest.raises(ValueError, match="RLOO needs k >= 2"):
            rlhf.Settings(method="rloo", k=1)
        with pytest.raises(ValueError, match="epochs must be an int >= 1"):
            rlhf.Settings(epochs=0)
        for bad in ({"beta": -1.0}, {"vf_coef": -1}, {"clip_eps": 1.5}, {"lam": 2}, {"kl_target": 0},
                    {"value_lr": float("nan")}, {"k": True}):
            name = next(iter(bad))
            with pytest.raises(ValueError, match=f"^{name} must be"):
                rlhf.Settings(**bad)
        model = impl.transformer.GPT(6, 8, 1, 2, 8, dtype=np.float64, seed=0)
        with pytest.raises(ValueError, match="policy and reference must be two models"):
            rlhf.train(impl, model, model, [[1]], lambda r, t, n: np.zeros(len(r)), rlhf.Settings(),
                       iterations=1, rng=np.random.default_rng(0))
        other = impl.transformer.GPT(6, 8, 1, 2, 8, dtype=np.float64, seed=0)
        with pytest.raises(ValueError, match="gamma > 0 needs pretrain_batches"):
            rlhf.train(impl, model, other, [[1]], lambda r, t, n: np.zeros(len(r)), rlhf.Settings(gamma=0.1),
                       iterations=1, rng=np.random.default_rng(0))
        with pytest.raises(ValueError, match="three non-empty lists of one length"):
            rlhf.train_dpo(impl, model, model, ([[1]], [[2]], []), beta=0.1, steps=1, lr=0.1, batch_pairs=1,
                           rng=np.random.default_rng(0))
        with pytest.raises(ValueError, match="batch_pairs must be an int >= 1"):
            rlhf.train_dpo(impl, model, model, ([[1]], [[2]], [[3]]), beta=0.1, steps=1, lr=0.1, batch_pairs=0,
                           rng=np.random.default_rng(0))
        with pytest.raises(ValueError, match="every response needs at least one token"):
            rlhf.right_pad([], 0)

    def test_a_step_with_an_inf_gradient_is_refused(self, impl):
        params = {"w": np.ones(3)}
        state = impl.optim.adamw_init(params)
        with pytest.raises(FloatingPointError, match="step 7: the gradient norm is inf"):
            loop.apply_step(impl.optim, params, {"w": np.array([1.0, np.inf, 0.0])}, state, loss=0.5, lr=0.1,
                            where="step 7", max_grad_norm=1.0)
        with pytest.raises(FloatingPointError, match="the loss is nan"):
            loop.apply_step(impl.optim, params, {"w": np.ones(3)}, state, loss=float("nan"), lr=0.1, where="step 8",
                            max_grad_norm=1.0)
        np.testing.assert_array_equal(params["w"], 1.0)  # nothing applied
        assert state["step"] == 0

    def test_ppo_step_gradients_match_finite_differences(self, impl):
        # L = L_clip + vf_coef L_V of one PPO minibatch, vf_coef 0.3 and a non-zero value head; the
        # policy moved a little since the rollout (ratios near, not at, 1; inside the clip range)
        policy = tiny_gpt(impl, vocab=7, context=10, layers=1, width=8, seed=8)
        reference = tiny_gpt(impl, vocab=7, context=10, layers=1, width=8, seed=9)
        settings = rlhf.Settings(method="ppo", k=2, max_new_tokens=3, vf_coef=0.3)
        head = {"w": np.random.default_rng(1).normal(size=8), "b": np.array(0.2)}
        reward = rlhf.Reward(lambda r, t, n: (t == 3).sum(axis=1) / 3.0, stop_id=6)
        batch = rlhf.Rollouts(impl, policy, reference, head, [[1, 2], [4], [5, 1, 2]] * 2, reward, {},
                              settings, np.random.default_rng(3))
        rewards = impl.rlhf.kl_penalized_rewards(batch.logprobs, batch.ref_logprobs, batch.scores, batch.mask, 0.1)
        advantages, returns = impl.ppo.gae_advantages(rewards, batch.values, batch.mask, 1.0, 0.95)
        for value in policy.params.values():
            value += np.random.default_rng(4).normal(0, 0.01, value.shape)
        index = np.array([0, 2, 3, 5])

        def loss():
            return rlhf.ppo_loss_and_grads(impl, policy, head, batch, index, advantages, returns, settings)[0]

        total, grads, head_grads, metrics = rlhf.ppo_loss_and_grads(impl, policy, head, batch, index,
                                                                    advantages, returns, settings)
        assert total == pytest.approx(metrics["loss"] + 0.3 * metrics["value_loss"], abs=1e-12)
        assert metrics["clip_fraction"] == 0  # the losses are smooth here: finite differences apply
        names = ["tok_emb", "blocks.0.mlp.W_in", "ln_f.beta"]
        assert_gradients(loss, {**{n: policy.params[n] for n in names}, "w": head["w"]},
                         {**{n: grads[n] for n in names}, "w": head_grads["w"]})

    def test_dpo_gradients_match_finite_differences(self, impl):
        # responses of different lengths: log pi(y|x) is the SUM over a response's tokens
        policy = tiny_gpt(impl, vocab=7, context=10, layers=1, width=8, seed=10)
        reference = tiny_gpt(impl, vocab=7, context=10, layers=1, width=8, seed=11)
        prompts, winners, losers = [[1, 2], [3]], [[4, 5, 6], [2]], [[5], [6, 6, 4, 1]]
        loss, grads, margins, distinct = rlhf.dpo_loss_and_grads(impl, policy, reference, prompts, winners,
                                                                 losers, 0.5)

        def sequence_logprob(model, prompt, response):
            logits = model.logits(np.array([prompt + response[:-1]]))[0, len(prompt) - 1:]
            return special.log_softmax(logits, axis=-1)[np.arange(len(response)), response].sum()

        implicit = [[0.5 * (sequence_logprob(policy, p, y) - sequence_logprob(reference, p, y)) for y in (w, l)]
                    for p, w, l in zip(prompts, winners, losers)]
        expected = np.array([w - l for w, l in implicit])
        np.testing.assert_allclose(margins, expected, atol=1e-10)
        assert loss == pytest.approx(-np.mean(special.log_expit(expected)), abs=1e-10) and distinct.all()
        names = ["tok_emb", "blocks.0.attn.W_qkv", "pos_emb"]
        assert_gradients(lambda: rlhf.dpo_loss_and_grads(impl, policy, reference, prompts, winners, losers,
                                                         0.5)[0],
                         {n: policy.params[n] for n in names}, {n: grads[n] for n in names})

    def test_a_policy_gone_nan_is_refused_before_an_update(self, impl):
        policy = impl.transformer.GPT(6, 8, 1, 2, 8, dtype=np.float64, seed=0)
        reference = impl.transformer.GPT(6, 8, 1, 2, 8, dtype=np.float64, seed=0)
        policy.params["ln_f.gamma"][0] = np.nan
        before = {name: value.copy() for name, value in policy.params.items()}
        with pytest.raises(ValueError, match="NaN"):  # the sampler refuses NaN logits, before any update
            rlhf.train(impl, policy, reference, [[1]], lambda r, t, n: np.zeros(len(r)),
                       rlhf.Settings(max_new_tokens=2), iterations=1, rng=np.random.default_rng(0))
        for name, value in before.items():
            np.testing.assert_array_equal(policy.params[name], value)  # nothing was applied

    def test_gao_fit_recovers_its_parameters(self):
        d = np.linspace(0.2, 3.0, 30)
        alpha, b, r2 = rlhf.fit_gao(d ** 2, d * (0.6 - 0.4 * np.log(d)))
        assert (alpha, b, r2) == pytest.approx((0.6, 0.4, 1.0), abs=1e-9)
        # its peak: dR/dd = alpha - b - b log d = 0 at d = exp(alpha / b - 1)
        peak = np.exp(0.6 / 0.4 - 1)
        assert rlhf.gao_curve(peak, 0.6, 0.4) > max(rlhf.gao_curve(peak * 0.95, 0.6, 0.4),
                                                    rlhf.gao_curve(peak * 1.05, 0.6, 0.4))

    def test_dpo_pairs_follow_the_ranking(self):
        from scratch.data import instructions
        from scratch.train import pretraining

        data = instructions.InstructionData(pretraining.build_world(pretraining.SMALL)[0])
        inst = data.instances("train")[0]
        prompt = data.tokenizer.encode(data.prompt(inst))
        responses = [data.tokenizer.encode(words) for words in (["sure", "<eos>"], ["<eos>"], ["sure", "sure", "<eos>"])]
        ids, lengths = instructions.pad_groups([prompt], [responses], data.pad_id)
        prompts, winners, losers = rlhf.dpo_pairs((ids, lengths, np.array([[2, 0, 1]])), data)
        assert prompts == [list(prompt)] * 3  # the prompt ends at its "=>"
        as_lists = [list(r) for r in responses]
        assert winners == [as_lists[2], as_lists[2], as_lists[0]]  # best first: 2 > 0, 2 > 1, 0 > 1
        assert losers == [as_lists[0], as_lists[1], as_lists[1]]

    def test_metrics_display_prints_window_means(self):
        import io

        out = io.StringIO()
        log = display.MetricsDisplay(4, 2, ["gold", "clip_fraction"], out=out)
        for iteration, gold in enumerate([1.0, 2.0, 3.0, 5.0]):
            log(iteration, {"gold": gold})  # no clip_fraction recorded: nan
        header, first, second = out.getvalue().splitlines()
        assert header.split()[:3] == ["iter", "gold", "clipped"]
        assert first.split()[:3] == ["2", "1.500", "nan"] and second.split()[:2] == ["4", "4.000"]

# -- the RNN LM's training glue (chapter 5) --------------------------------------------------------
class TestTrainingGlue:
    """scratch.train.loop batching (harness, not graded)"""

    def test_random_batches_shift_targets_by_one(self):
        ids = np.arange(100)
        batches = loop.random_batches(ids, 4, 7, np.random.default_rng(0))
        inputs, targets = next(batches)
        assert inputs.shape == targets.shape == (4, 7)
        np.testing.assert_array_equal(targets, inputs + 1)
        again = next(loop.random_batches(ids, 4, 7, np.random.default_rng(0)))[0]
        np.testing.assert_array_equal(inputs, again)  # the rng alone decides the windows

    def test_sequential_batches_continue_each_row(self):
        ids = np.arange(41)
        windows = loop.sequential_windows(ids, 2, 5)  # rows of 20: 4 windows of 5
        assert len(windows) == 4
        np.testing.assert_array_equal(windows[0][0], [[0, 1, 2, 3, 4], [20, 21, 22, 23, 24]])
        np.testing.assert_array_equal(windows[1][0][:, 0], windows[0][0][:, -1] + 1)
        np.testing.assert_array_equal(windows[3][1][:, -1], [20, 40])

    def test_text_curve_and_progress(self):
        out = io.StringIO()
        progress = display.ProgressDisplay(total_steps=4, every=2, out=out)
        assert progress.update(0, 2.0, 0.1, 10) is None
        line = progress.update(1, 1.0, 0.1, 10)
        assert "step 2/4" in line and "loss 1.5000" in line and "tok/s" in line and "ETA" in line
        curve = display.text_curve([3.0, 2.0, 1.0], width=3, height=3)
        assert curve.splitlines()[0].endswith("*  ")
        for name, bad in (("height", 1), ("height", 0), ("width", 0)):
            with pytest.raises(ValueError, match=name):
                display.text_curve([3.0, 2.0, 1.0], **{name: bad})

    def test_bad_batch_size_raises(self):
        ids = np.arange(100)
        for bad in (0, -2):
            with pytest.raises(ValueError, match="batch_size"):
                loop.sequential_windows(ids, bad, 5)
            with pytest.raises(ValueError, match="batch_size"):
                next(loop.random_batches(ids, bad, 5, np.random.default_rng(0)))
        with pytest.raises(ValueError, match="batch_size"):
            loop.sequential_windows(ids, 2.0, 5)

    def test_non_finite_gradient_norm_stops_before_the_update(self):
        # A model whose loss is finite but whose gradient overflows: clipping an infinite
        # norm would scale by max_norm / inf = 0 (or give NaN) and corrupt the parameters.
        class OverflowingModel:
            params = {"w": np.ones(3)}

            def loss_and_grads(self, ids, targets, loss_mask=None):
                return 1.0, {"w": np.array([np.inf, 1.0, 0.0])}

        def clip_grad_norm(grads, max_norm):  # the reference behaviour: the norm before clipping
            total = float(np.sqrt(sum(np.sum(g**2) for g in grads.values())))
            with np.errstate(invalid="ignore"):  # inf * 0 = NaN: what the loop must not apply
                return {k: g * min(1.0, max_norm / total) for k, g in grads.items()}, total

        def sgd_step(params, grads, state, lr, momentum=0.9, weight_decay=0.0):
            for name, p in params.items():
                p -= lr * grads[name]

        optim = types.SimpleNamespace(sgd_init=lambda params: {}, sgd_step=sgd_step,
                                      clip_grad_norm=clip_grad_norm, cosine_lr=lambda *a: 0.1)
        model = OverflowingModel()
        batches = iter([(np.zeros((1, 2), int), np.zeros((1, 2), int))] * 3)
        with pytest.raises(FloatingPointError, match="gradient norm"):
            loop.train_lm(model, batches, steps=3, lr=0.1, optim=optim, optimizer="sgd",
                          out=io.StringIO())
        np.testing.assert_array_equal(model.params["w"], [1.0, 1.0, 1.0])  # untouched

    def test_strided_loss_scores_every_position_once_in_chunks(self):
        class RecordingModel:  # loss = the mean of the scored targets; ids = arange: target = position + 1
            def __init__(self):
                self.scored, self.batch_sizes = [], []

            def loss(self, ids, targets, loss_mask):
                self.scored.extend(targets[loss_mask].tolist())
                self.batch_sizes.append(len(ids))
                return float(targets[loss_mask].mean())

        for seq_len, n in ((5, 23), (5, 27), (6, 40), (6, 41), (2, 4)):
            model = RecordingModel()
            loss = loop.strided_loss(model, np.arange(n), seq_len, batch_size=2)
            expected = list(range(seq_len // 2 + 1, n))  # every target after the first seq_len // 2
            assert sorted(model.scored) == expected, (seq_len, n)  # once each: no overlap, no gap
            assert loss == pytest.approx(np.mean(expected))  # the mean over positions, not over chunks
            assert max(model.batch_sizes) <= 2

    def test_evaluation_time_is_not_training_speed(self):
        class ConstantModel:
            params = {"w": np.ones(3)}

            def loss_and_grads(self, ids, targets, loss_mask=None):
                return 1.0, {"w": np.zeros(3)}

        optim = types.SimpleNamespace(
            sgd_init=lambda params: {}, sgd_step=lambda params, grads, state, lr, weight_decay: None,
            clip_grad_norm=lambda grads, max_norm: (grads, 0.0), cosine_lr=lambda *a: 0.1)
        batches = iter([(np.zeros((1, 50), int), np.zeros((1, 50), int))] * 4)
        out = io.StringIO()
        history = loop.train_lm(ConstantModel(), batches, steps=4, lr=0.1, optim=optim, optimizer="sgd",
                                log_every=4, eval_fn=lambda m: time.sleep(0.1) or 0.0, eval_every=1, out=out)
        assert history["eval_seconds"] >= 0.4
        # 200 tokens: counting the 0.4 s of evaluation would give < 500 tokens/s
        assert history["tokens_per_sec"] > 5000
        rates = [float(line.split(" tok/s")[0].split("| ")[-1].rstrip("k")) * 1e3 for line in out.getvalue().splitlines()]
        assert rates and rates[-1] > 5000

    def test_evaluate_loss_with_carried_state_needs_a_loss_method(self):
        class NoLossModel:
            def loss_and_grads(self, ids, targets, loss_mask=None):
                return 1.0, {}

        with pytest.raises(TypeError, match="carry_hidden.*loss"):
            loop.evaluate_loss(NoLossModel(), np.arange(50), 2, 5, carry_hidden=True)

    def test_text_chart_draws_curves_and_reference_lines(self):
        chart = display.text_chart({"a": ([0, 10], [2.0, 0.0]), "b": ([10], [0.0])}, {"ref": 1.0},
                                   width=11, height=3).splitlines()
        assert chart[0] == "   2.000 |*          "  # a starts top left
        assert chart[1] == "   1.000 |----------- ref 1.000"
        assert chart[2] == "   0.000 |          @"  # a and b meet at the bottom right
        assert chart[-1].endswith("* a, o b, @ several")
        with pytest.raises(ValueError, match="series 'a'"):
            display.text_chart({"a": ([0, 1], [1.0])})

    def test_a_point_near_a_reference_line_stays_on_its_side(self):
        # the transformer demo's held-out GPT loss 0.315 against the true entropy 0.290, on a
        # chart from 0.29 to 1.31 in 12 rows (0.093 a row): rounding put the GPT on the
        # entropy's line, which the table beside it contradicted
        chart = display.text_chart({"GPT": ([0, 400], [1.0, 0.315])}, {"bigram": 1.314, "entropy": 0.290},
                                   width=11, height=12).splitlines()
        entropy_row = next(i for i, line in enumerate(chart) if line.endswith("entropy 0.290"))
        assert "*" not in chart[entropy_row] and chart[entropy_row - 1].endswith("*")  # just above the floor
        on_it = display.text_chart({"exact": ([0, 1], [0.290, 0.290])}, {"entropy": 0.290}, width=2, height=4)
        assert on_it.splitlines()[0].endswith("** entropy 0.290")  # a point equal to the reference is on its line

    def test_figure_goes_to_a_temporary_directory(self, monkeypatch, tmp_path):
        from unittest import mock

        pyplot = mock.MagicMock()
        figure = mock.MagicMock()
        axes = mock.MagicMock()
        axes.get_legend.return_value = None  # no legend to move
        pyplot.subplots.return_value = (figure, axes)
        matplotlib = mock.MagicMock(pyplot=pyplot)
        monkeypatch.setitem(sys.modules, "matplotlib", matplotlib)
        monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
        monkeypatch.chdir(tmp_path)
        path = display.save_png(lambda ax: ax.plot([2.0, 1.0]), "rnn_loss.png")
        figure.savefig.assert_called_once_with(path, bbox_inches="tight", dpi=120)
        assert os.path.isabs(path) and os.path.dirname(path) != str(tmp_path)  # never the cwd
        assert os.path.basename(path) == "rnn_loss.png"
        os.rmdir(os.path.dirname(path))  # the mock wrote nothing into the fresh directory

    def test_figure_with_real_matplotlib(self, tmp_path):
        pytest.importorskip("matplotlib")  # the optional `plot` extra; not graded
        placed = {}

        def draw(ax, title="loss curve"):
            ax.plot([2.0, 1.0, 0.5], label="train")
            ax.axhline(0.29, linestyle="--")
            ax.set(title=title, xlabel="step", ylabel="nats / char")
            ax.legend()
            placed["ax"] = ax

        path = display.save_png(draw, "curve.png", str(tmp_path / "curve.png"))
        with open(path, "rb") as png:
            assert png.read(8) == b"\x89PNG\r\n\x1a\n"
        anchor = placed["ax"].get_legend().get_bbox_to_anchor().transformed(placed["ax"].transAxes.inverted())
        assert anchor.x0 > 1.0  # the legend sits right of the axes, off the data
        # a figure without a title or an axis label is refused, naming what it lacks
        with pytest.raises(ValueError, match="curve.png: no title"):
            display.save_png(lambda ax: draw(ax, title=""), "curve.png", str(tmp_path / "untitled.png"))
        with pytest.raises(ValueError, match="no y-axis label"):
            display.save_png(lambda ax: ax.set(title="t", xlabel="x"), "bare.png", str(tmp_path / "bare.png"))

# -- the RNN LM's training glue (chapter 5) --------------------------------------------------------
class TestGradientCheckHelper:
    """scratch.gradcheck.assert_gradients_match (harness, not graded)"""

    def test_names_the_wrong_parameter_and_its_error(self):
        x, y = np.array([1.0, 2.0]), np.array([3.0])
        f = lambda: np.sum(x**2) * y[0]  # noqa: E731
        gradcheck.assert_gradients_match(f, {"x": x, "y": y}, {"x": 2 * x * y[0], "y": np.array([5.0])}, GRAD_TOL)
        with pytest.raises(AssertionError, match=r"'y'.*relative error 0\.1"):
            # dy is 5, the analytic value given is 4: |5 - 4| / (5 + 4) = 0.111
            gradcheck.assert_gradients_match(f, {"x": x, "y": y}, {"x": 2 * x * y[0], "y": np.array([4.0])},
                                             GRAD_TOL)


class TestIssue19LoopInput:
    """Issue 19: the RLHF and DPO loops and the training loop check their arguments at the door."""

    def test_settings_take_numpy_numbers(self):
        settings = rlhf.Settings(k=np.int64(4), epochs=np.int32(2), beta=np.float32(0.05), lr=np.float64(1e-4))
        assert (settings.k, settings.epochs) == (4, 2) and type(settings.k) is int
        assert type(settings.beta) is float and settings.beta == pytest.approx(0.05)

    def test_an_adaptive_beta_cannot_start_at_zero(self):
        with pytest.raises(ValueError, match="beta must be > 0 when kl_target is set"):
            rlhf.Settings(beta=0.0, kl_target=6.0)
        assert rlhf.Settings(beta=0.0).beta == 0.0  # a fixed beta of 0 is an ablation

    @pytest.mark.parametrize("kwargs, error, message", [
        ({"iterations": -1}, ValueError, "iterations must be an int >= 1; got -1"),  # it returned {}
        ({"iterations": 0}, ValueError, "iterations must be an int >= 1; got 0"),
        ({"iterations": 2.0}, ValueError, "iterations must be an int >= 1"),
        ({"rng": 0}, TypeError, "rng must be a numpy Generator"),
        ({"prompts": []}, ValueError, "prompts must be a non-empty list"),
        ({"reward": 3.0}, TypeError, "reward must be callable"),
        ({"settings": {"k": 2}}, TypeError, "settings must be a Settings"),
    ])
    def test_train_names_a_bad_argument(self, impl, kwargs, error, message):
        policy = impl.transformer.GPT(6, 8, 1, 2, 8, dtype=np.float64, seed=0)
        reference = impl.transformer.GPT(6, 8, 1, 2, 8, dtype=np.float64, seed=0)
        arguments = {"prompts": [[1]], "reward": lambda r, t, n: np.zeros(len(r)), "settings": rlhf.Settings(),
                     "iterations": 1, "rng": np.random.default_rng(0), **kwargs}
        with pytest.raises(error, match=message):
            rlhf.train(impl, policy, reference, arguments.pop("prompts"), arguments.pop("reward"),
                       arguments.pop("settings"), **arguments)

    def test_dpo_refuses_beta_zero_and_a_bidirectional_policy(self, impl):
        policy = impl.transformer.GPT(6, 8, 1, 2, 8, dtype=np.float64, seed=0)
        reference = impl.transformer.GPT(6, 8, 1, 2, 8, dtype=np.float64, seed=0)
        pairs = ([[1]], [[2]], [[3]])
        with pytest.raises(ValueError, match="beta must be a finite number > 0; got 0.0"):
            rlhf.train_dpo(impl, policy, reference, pairs, beta=0.0, steps=1, lr=0.1, batch_pairs=1,
                           rng=np.random.default_rng(0))
        bidirectional = impl.transformer.GPT(6, 8, 1, 2, 8, dtype=np.float64, seed=0, causal=False)
        with pytest.raises(ValueError, match="response_forward needs a causal model"):
            rlhf.dpo_loss_and_grads(impl, bidirectional, reference, *pairs, 0.1)

    @pytest.mark.parametrize("kwargs, message", [
        ({"lr": -1.0}, "lr must be a finite number > 0"), ({"lr": float("nan")}, "lr must be a finite number"),
        ({"steps": True}, "steps must be a positive integer"), ({"warmup_steps": -1}, "warmup_steps must be an int >= 0"),
        ({"max_grad_norm": 0.0}, "max_grad_norm must be a finite number > 0"), ({"log_every": 0}, "log_every"),
    ])
    def test_train_lm_checks_before_the_first_batch(self, impl, kwargs, message):
        model = impl.transformer.GPT(6, 8, 1, 2, 8, dtype=np.float64, seed=0)
        with pytest.raises(ValueError, match=message):  # never a StopIteration from the empty batches
            loop.train_lm(model, iter([]), **{"steps": 1, "lr": 1e-3, "optim": impl.optim, **kwargs})
