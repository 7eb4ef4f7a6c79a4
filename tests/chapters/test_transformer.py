"""Transformer LM: attention, heads, block, GPT, KV cache, BERT's objective, loop.

Gradient checks: centered differences (``scratch.gradcheck.numerical_gradient``, eps 1e-6)
in float64, compared per array with the norm-wise relative error
||analytic - numerical|| / (||analytic|| + ||numerical||) < 1e-6
(``scratch.gradcheck.assert_gradients_match(..., norm=True)``). Norm-wise, not entry-wise,
because some gradients are exactly zero in theory (the key bias: softmax ignores a constant
added to a whole row of scores), where the entry-wise ratio compares two round-off noises;
a real bug (a missing transpose or term) gives errors of 1e-2 to 1.
Models in the gradient checks are tiny (B=2, T=4, C=4..8, H=2) and their parameters are
drawn with a larger scale than the 0.02 initialisation so that attention is far from
uniform and every path carries gradient.
"""

import io

import numpy as np
import pytest

from checks import (assert_close, assert_equal, assert_gradients, assert_same, assert_scalar, attention_inputs,
                    attention_params, check_array, reference_attention, self_attention_by_heads, tiny_gpt)
from scratch.data import corpora
from scratch.train import loop


def layernorm(x, gamma, beta, eps=1e-5):
    mean, variance = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps) * gamma + beta


def gelu(u):
    return 0.5 * u * (1 + np.tanh(np.sqrt(2 / np.pi) * (u + 0.044715 * u ** 3)))


def reference_mlp(x, p):
    return gelu(x @ p["W_in"] + p["b_in"]) @ p["W_out"] + p["b_out"]


def reference_block(x, p, H):
    """The causal pre-LN block written out: a = x + attn(ln1(x)), out = a + mlp(ln2(a))."""
    part = lambda prefix: {name[len(prefix):]: v for name, v in p.items() if name.startswith(prefix)}  # noqa: E731
    a = x + self_attention_by_heads(layernorm(x, p["ln1.gamma"], p["ln1.beta"]), part("attn."), H, True)
    return a + reference_mlp(layernorm(a, p["ln2.gamma"], p["ln2.beta"]), part("mlp."))


class TestAttention:
    """attention_forward / attention_backward (scaled dot-product, causal mask)"""

    @pytest.mark.points(1)
    def test_equal_scores_give_running_mean(self, impl):
        # q = 0 makes every visible score equal, so row i averages v_0 .. v_i
        v = np.arange(12.0).reshape(1, 4, 3)
        q = np.zeros((1, 4, 2))
        k = np.ones((1, 4, 2))
        expected = np.cumsum(v, axis=1) / np.arange(1, 5)[:, None]
        out, cache = impl.attention.attention_forward(q, k, v, impl.attention.causal_mask(4, 4))
        assert_close(out, expected, atol=1e-12)
        assert_close(cache["weights"], [np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None]])

    @pytest.mark.points(1)
    def test_matches_reference(self, impl):
        rng = np.random.default_rng(1)
        q, k, v = rng.normal(size=(3, 2, 5, 4))
        bias = rng.normal(size=(5, 5))  # an additive score bias (ALiBi's kind), shared by the batch
        # the expected values first, from the test's own arrays (never what the code was given)
        plain = [reference_attention(q[b], k[b], v[b], True) for b in range(2)]
        biased = [reference_attention(q[b], k[b], v[b], True, bias) for b in range(2)]
        out, _ = impl.attention.attention_forward(q, k, v, impl.attention.causal_mask(5, 5))
        assert_close(out, plain, atol=1e-12)
        out, _ = impl.attention.attention_forward(q, k, v, impl.attention.causal_mask(5, 5), bias)
        assert_close(out, biased, atol=1e-12)

    @pytest.mark.points(1)
    def test_fully_masked_row_is_zero_not_nan(self, impl):
        rng = np.random.default_rng(2)
        q, k, v = rng.normal(size=(3, 3, 4))
        mask = np.ones((3, 3), dtype=bool)
        mask[1] = False  # query 1 may see nothing
        expected = reference_attention(q, k, v, False)
        expected[1] = 0.0
        out, cache = impl.attention.attention_forward(q, k, v, mask)
        assert_close(out, expected, atol=1e-12)
        assert np.all(out[1] == 0)  # exactly: zero weights, not a tiny softmax over -inf
        grads = impl.attention.attention_backward(np.ones((3, 4)), cache)
        for g, shape in zip(grads, ((3, 4), (3, 4), (3, 4))):
            check_array(g, "f", shape, "gradient")
            assert np.all(np.isfinite(g))
        assert np.all(grads[0][1] == 0)  # no gradient to the blocked query

    @pytest.mark.points(2)
    def test_gradients_causal_and_offset(self, impl):
        rng = np.random.default_rng(3)
        att = impl.attention
        # causal (T = T_k = 4), a KV-cache-like offset mask (2 queries, 5 keys), and the offset
        # mask with a constant score bias (ALiBi's, one slope per head)
        for n_queries, n_keys, slopes in ((4, 4, None), (2, 5, None), (2, 5, [0.5, 2.0])):
            q = rng.normal(size=(2, 2, n_queries, 3))
            k, v = rng.normal(size=(2, 2, 2, n_keys, 3))
            mask = att.causal_mask(n_queries, n_keys)
            bias = None if slopes is None else att.alibi_bias(slopes, n_queries, n_keys)
            dout = rng.normal(size=(2, 2, n_queries, 3))
            expected = np.zeros((2, 2, n_queries, 3))  # the forward first: a zero forward and backward agree
            for b, h in np.ndindex(2, 2):
                head_bias = 0.0 if bias is None else np.broadcast_to(bias, (2, n_queries, n_keys))[h]
                expected[b, h] = reference_attention(q[b, h], k[b, h], v[b, h], mask, head_bias)
            out, cache = att.attention_forward(q, k, v, mask, bias)
            assert_close(out, expected, atol=1e-12)
            dq, dk, dv = att.attention_backward(dout, cache)
            assert_gradients(lambda: np.sum(att.attention_forward(q, k, v, mask, bias)[0] * dout),
                             {"q": q, "k": k, "v": v}, {"q": dq, "k": dk, "v": dv})


class TestSelfAttention:
    """split_heads / merge_heads / self_attention_forward / self_attention_backward"""

    @pytest.mark.points(1)
    def test_heads_split_and_merge(self, impl):
        x = np.arange(2 * 3 * 6.0).reshape(2, 3, 6)
        expected = x.reshape(2, 3, 3, 2).transpose(0, 2, 1, 3)  # (B, H, T, d): head h owns columns 2h, 2h + 1
        heads = impl.attention.split_heads(x, 3)
        assert_equal(heads, expected)
        assert_equal(heads[1, 2, 0], [4.0 + 18, 5.0 + 18])  # head 2 owns columns 4, 5
        assert_equal(impl.attention.merge_heads(heads), expected.transpose(0, 2, 1, 3).reshape(2, 3, 6))

    @pytest.mark.points(2)
    def test_matches_per_head_reference(self, impl):
        rng = np.random.default_rng(4)
        B, T, C, H = 2, 5, 6, 3
        x = rng.normal(size=(B, T, C))
        p = attention_params(rng, C)
        slopes = np.array([2.0, 0.5, 0.0])
        for causal, alibi in ((True, False), (False, False), (True, True), (False, True)):
            expected = self_attention_by_heads(x, p, H, causal, slopes if alibi else None)
            out, _ = impl.attention.self_attention_forward(x, p, H, causal=causal, slopes=slopes if alibi else None)
            assert_close(out, expected, atol=1e-12)

    @pytest.mark.points(2)
    def test_gradients(self, impl):
        att = impl.attention
        rng, x, p = attention_inputs(5, T=4)
        dout = rng.normal(size=(2, 4, 8))
        # causal, bidirectional, and causal after a KV cache of 3 earlier positions (only the
        # 4 new keys and values depend on x), the last also with ALiBi slopes
        past_kv = tuple(rng.normal(size=(2, 2, 3, 4)) for _ in range(2))
        for options in ({"causal": True}, {"causal": False}, {"past_kv": past_kv},
                        {"past_kv": past_kv, "slopes": np.array([1.0, 0.25])}):
            expected = self_attention_by_heads(x, p, 2, options.get("causal", True))
            out, cache = att.self_attention_forward(x, p, 2, **options)
            if "past_kv" not in options:  # the forward first: a zero forward and backward agree
                assert_close(out, expected, atol=1e-12)
            dx, grads = att.self_attention_backward(dout, cache)
            assert_gradients(lambda: np.sum(att.self_attention_forward(x, p, 2, **options)[0] * dout),
                             {"x": x, **p}, {"x": dx, **grads})

    @pytest.mark.points(1)
    def test_past_kv_equals_full_pass(self, impl):
        att = impl.attention
        rng, x, p = attention_inputs(6, T=5)
        for slopes in (None, np.array([1.0, 0.25])):  # ALiBi: the cached queries keep their positions
            expected = self_attention_by_heads(x, p, 2, True, slopes)
            full, _ = att.self_attention_forward(x, p, 2, slopes=slopes)
            assert_close(full, expected, atol=1e-12)
            first, cache = att.self_attention_forward(x[:, :3], p, 2, slopes=slopes)
            for a in cache["kv"]:
                check_array(a, "f", (2, 2, 3, 4), "cache['kv']")
            past = tuple(a.copy() for a in cache["kv"])
            rest, cache2 = att.self_attention_forward(x[:, 3:], p, 2, past_kv=cache["kv"], slopes=slopes)
            assert_close(first, expected[:, :3], atol=1e-12)
            assert_close(rest, expected[:, 3:], atol=1e-12)
            check_array(cache2["kv"][0], "f", (2, 2, 5, 4), "cache['kv']")
            for before, after in zip(past, cache["kv"]):
                assert_equal(after, before)  # the past was not modified


class TestBlock:
    """mlp_forward / mlp_backward / block_forward / block_backward (pre-LN, residuals)"""

    @pytest.mark.points(1)
    def test_mlp_gradients(self, impl):
        rng = np.random.default_rng(7)
        tr = impl.transformer
        x = rng.normal(size=(2, 3, 4))
        p = {"W_in": rng.normal(size=(4, 16)), "b_in": rng.normal(size=16),
             "W_out": rng.normal(size=(16, 4)), "b_out": rng.normal(size=4)}
        dout = rng.normal(size=x.shape)
        expected = reference_mlp(x, p)  # the forward first: a zero forward and backward agree
        out, cache = tr.mlp_forward(x, p)
        assert_close(out, expected, atol=1e-12)
        dx, grads = tr.mlp_backward(dout, cache)
        assert_gradients(lambda: np.sum(tr.mlp_forward(x, p)[0] * dout), {"x": x, **p}, {"x": dx, **grads})

    @pytest.mark.points(1)
    def test_zero_branches_are_identity(self, impl):
        # with both output projections (and their biases) zero, each residual branch adds 0
        model = tiny_gpt(impl, width=8)
        p = impl.transformer.subdict(model.params, "blocks.0.")
        for name in ("attn.W_out", "attn.b_out", "mlp.W_out", "mlp.b_out"):
            p[name] = np.zeros_like(p[name])
        x = np.random.default_rng(8).normal(size=(2, 4, 8))
        expected = x.copy()
        out, _ = impl.transformer.block_forward(x, p, 2)
        assert_close(out, expected, atol=1e-14)
        # and the MLP's output bias alone: gelu(0) = 0, so that branch adds exactly the bias
        p["mlp.W_in"], p["mlp.b_in"] = np.zeros_like(p["mlp.W_in"]), np.zeros_like(p["mlp.b_in"])
        p["mlp.b_out"] = np.arange(8.0)
        out, _ = impl.transformer.block_forward(x, p, 2)
        assert_close(out, expected + np.arange(8.0), atol=1e-14)

    @pytest.mark.points(2)
    def test_block_gradients(self, impl):
        rng = np.random.default_rng(9)
        tr = impl.transformer
        model = tiny_gpt(impl, width=8)
        p = tr.subdict(model.params, "blocks.0.")
        x = rng.normal(size=(2, 4, 8))
        dout = rng.normal(size=x.shape)
        expected = reference_block(x, p, 2)  # the forward first: a zero forward and backward agree
        out, cache = tr.block_forward(x, p, 2)
        assert_close(out, expected, atol=1e-12)
        dx, grads = tr.block_backward(dout, cache)
        assert set(grads) == set(p)
        assert_gradients(lambda: np.sum(tr.block_forward(x, p, 2)[0] * dout), {"x": x, **p}, {"x": dx, **grads})
        # the block hands its ALiBi slopes to the attention: the same weights as attention on ln1(x)
        slopes = np.array([1.0, 0.25])
        weights = tr.block_forward(x, p, 2, slopes=slopes)[1]["weights"]  # the frame's entry, by name
        normed = impl.nn.layernorm_forward(x, p["ln1.gamma"], p["ln1.beta"])[0]
        direct = impl.attention.self_attention_forward(normed, tr.subdict(p, "attn."), 2, slopes=slopes)
        assert_close(weights, direct[1]["weights"], atol=1e-12)


def lm_loss(impl, model, ids, targets, loss_mask=None):
    """Forward-only loss (the function the finite differences perturb)."""
    return impl.nn.cross_entropy_forward(model.forward(ids)[0], targets, loss_mask)[0]


class TestGPT:
    """GPT.forward_hidden / backward_hidden / forward / backward / loss_and_grads"""

    @pytest.mark.points(3)
    @pytest.mark.parametrize("tied, layers, alibi", [(True, 2, False), (False, 1, True)])
    def test_every_parameter_gradient(self, impl, tied, layers, alibi):
        model = tiny_gpt(impl, layers=layers, tied=tied, alibi=alibi)
        rng = np.random.default_rng(10)
        ids, targets = rng.integers(0, 5, size=(2, 2, 4))
        loss, grads = model.loss_and_grads(ids, targets)
        # the forward first, against the reference's number: a zero loss has zero gradients
        assert_scalar(loss, 1.8979082403208576 if tied else 1.7805262210795485, rel=1e-10)
        assert set(grads) == set(model.params)
        assert ("head.W" in grads) == (not tied)
        assert abs(loss - lm_loss(impl, model, ids, targets)) < 1e-12
        assert_gradients(lambda: lm_loss(impl, model, ids, targets), model.params, grads)
        # block 0's attention weights, rebuilt by hand: the model passes its slopes (or None) on
        params, tr = model.params, impl.transformer
        x0 = params["tok_emb"][ids] + params["pos_emb"][:ids.shape[1]]
        normed = impl.nn.layernorm_forward(x0, params["blocks.0.ln1.gamma"], params["blocks.0.ln1.beta"])[0]
        direct = impl.attention.self_attention_forward(normed, tr.subdict(params, "blocks.0.attn."), 2,
                                                       slopes=model.slopes)
        assert_close(model.attention_weights(ids)[0], direct[1]["weights"], atol=1e-12)
        # GPT.config (given) rebuilds the same architecture: later chapters copy models by it
        rebuilt = tr.GPT(**model.config)
        assert rebuilt.config == model.config and rebuilt.tied == tied and (rebuilt.slopes is not None) == alibi
        assert {n: p.shape for n, p in rebuilt.params.items()} == {n: p.shape for n, p in model.params.items()}

    @pytest.mark.points(1)
    def test_hidden_path_with_scalar_head(self, impl):
        # a reward-model-like scalar head: r = sum_t hidden[:, t] . w; gradients via backward_hidden
        model = tiny_gpt(impl, layers=1)
        rng = np.random.default_rng(11)
        ids = rng.integers(0, 5, size=(2, 4))
        w = rng.normal(size=4)
        hidden, cache = model.forward_hidden(ids)
        check_array(hidden, "f", (2, 4, 4), "hidden")
        # the forward first, against the reference's numbers: a zero forward and backward agree
        assert_close(hidden[1, -1], [-1.3178142212773916, 0.9208190601584069, 0.5010400049810686,
                                     0.14825656339294319], atol=1e-10)
        assert_close(hidden[0, 0], [-1.3870626496148981, 0.8057583201462301, 0.46100188589316604,
                                    0.46539981853903184], atol=1e-10)
        grads = model.backward_hidden(np.broadcast_to(w, (2, 4, 4)).copy(), cache)
        checked = {name: model.params[name] for name in ("tok_emb", "pos_emb", "blocks.0.attn.W_qkv", "ln_f.gamma")}
        assert_gradients(lambda: float(np.sum(model.forward_hidden(ids)[0] @ w)), checked, grads)

    @pytest.mark.points(1)
    def test_loss_mask_and_float32(self, impl):
        rng = np.random.default_rng(12)
        ids, targets = rng.integers(0, 5, size=(2, 2, 4))
        mask = np.array([[0, 1, 1, 0], [1, 0, 0, 0]], dtype=bool)
        for alibi in (False, True):  # the float64 ALiBi bias must not turn float32 into float64
            model64 = tiny_gpt(impl, layers=1, alibi=alibi)
            loss, grads = model64.loss_and_grads(ids, targets, mask)
            assert_scalar(loss, 1.7258322775875456 if alibi else 1.7575359962668682, rel=1e-10)  # reference's
            changed = targets.copy()
            changed[~mask] = (changed[~mask] + 1) % 5  # targets at masked-out positions do not count
            assert_scalar(model64.loss_and_grads(ids, changed, mask)[0], loss, abs=1e-12)
            model32 = impl.transformer.GPT(5, 6, 1, 2, 4, dtype=np.float32, alibi=alibi)
            model32.params = {name: value.astype(np.float32) for name, value in model64.params.items()}
            loss32, grads32 = model32.loss_and_grads(ids, targets, mask)
            logits32 = model32.logits(ids)
            check_array(logits32, "f", (2, 4, 5), "logits")
            assert logits32.dtype == np.float32
            assert_scalar(loss32, loss, abs=1e-4)
            for name in model64.params:
                assert_close(grads32[name], grads[name], atol=2e-4, name=name)
                assert grads32[name].dtype == np.float32, name


class TestCausality:
    """GPT.forward: position t sees x_<=t only (and every position with causal=False)"""

    @pytest.mark.points(2)
    def test_changing_a_token_affects_only_later_logits(self, impl):
        rng = np.random.default_rng(13)
        for causal, alibi in ((True, False), (False, False), (True, True)):
            model = tiny_gpt(impl, layers=2, causal=causal, width=8, alibi=alibi)
            ids = rng.integers(0, 5, size=(1, 6))
            changed = ids.copy()
            changed[0, 3] = (ids[0, 3] + 1) % 5
            before, after = model.logits(ids), model.logits(changed)
            check_array(before, "f", (1, 6, 5), "logits")
            check_array(after, "f", (1, 6, 5), "logits")
            diff = np.abs(before - after).max(axis=-1)[0]  # (T,)
            assert np.all(diff[3:] > 1e-6)
            if causal:
                assert np.all(diff[:3] < 1e-12), diff
            else:
                assert np.all(diff[:3] > 1e-6), diff


# tiny_gpt(layers=2, width=8, context=8, vocab=7, alibi=...).logits of test_incremental_logits_...
# at the next-to-last position, from the reference implementation (float64).
FULL_PASS_LOGITS = {
    False: [1.1519723254, 1.7544198056, 2.6743123278, 1.3863966108, 0.2986227045, -1.3900449144, 3.2033397975],
    True: [1.1590458895, 1.8138353087, 2.687640359, 1.4315433699, 0.3146202557, -1.4132168124, 3.2280248993],
}


class TestKVCache:
    """GPT.start / GPT.step (decoding protocol, KV cache)"""

    @pytest.mark.points(2)
    def test_incremental_logits_match_full_pass(self, impl):
        ids = np.random.default_rng(14).integers(0, 7, size=8)
        for alibi in (False, True):
            model = tiny_gpt(impl, layers=2, width=8, context=8, vocab=7, alibi=alibi)
            full = model.logits(ids[None])[0]  # (T, V)
            check_array(full, "f", (8, 7), "logits")
            assert_close(full[-2], FULL_PASS_LOGITS[alibi], atol=1e-8)  # the reference's
            logits, state = model.start(ids[:3])
            incremental = [logits]
            for token in ids[3:-1]:
                logits, state = model.step(state, token)
                incremental.append(logits)
            for t, logits in enumerate(incremental, start=2):
                assert_close(logits, full[t], atol=1e-6, rtol=0, name=f"logits at position {t}")

    @pytest.mark.points(1)
    def test_step_does_not_mutate_state(self, impl):
        model = tiny_gpt(impl, layers=1, width=8)
        _, state = model.start(np.array([1, 2]))
        frozen = [tuple(a.copy() for a in kv) for kv in state[1]]
        a, _ = model.step(state, 3)
        assert_close(a, [3.4284020694, -0.4615367472, 1.7849830778, -2.5078662237, 0.519254105],
                     atol=1e-8)  # the reference's numbers
        model.step(state, 4)  # a branch from the same state
        b, _ = model.step(state, 3)
        assert_equal(b, a)
        for kv, kv_frozen in zip(state[1], frozen):
            for x, y in zip(kv, kv_frozen):
                assert_equal(x, y)

    @pytest.mark.points(1)
    def test_greedy_with_and_without_cache(self, impl):
        model = tiny_gpt(impl, layers=2, width=8, context=12, vocab=7)
        prompt = [1, 4, 2]
        cached = impl.generate.generate(model, prompt, 9, strategy="greedy")
        uncached = impl.generate.generate(model.uncached(), prompt, 9, strategy="greedy")
        assert_same(cached, [1, 5, 5, 0, 0, 5, 5, 5, 5])  # the reference's tokens
        assert_same(uncached, [1, 5, 5, 0, 0, 5, 5, 5, 5])


class TestMaskedLM:
    """mask_tokens / the masked-LM loss with causal=False"""

    @pytest.mark.points(2)
    def test_mask_tokens_proportions(self, impl):
        rng = np.random.default_rng(15)
        V, mask_id = 1000, 999
        ids = rng.integers(0, V - 1, size=(1000, 100))
        inputs, targets, picked = impl.transformer.mask_tokens(ids.copy(), mask_id, V, np.random.default_rng(16))
        assert_equal(targets, ids)
        check_array(inputs, "i", (1000, 100), "inputs")
        check_array(picked, "b", (1000, 100), "picked")
        assert np.all(picked.sum(axis=1) == 15)  # 15% of T = 100, in every sequence
        # every position is equally likely to be picked: per column 0.15, binomial sd 0.011
        column_rate = picked.mean(axis=0)
        assert np.all(np.abs(column_rate - 0.15) < 0.06), column_rate
        assert_equal(inputs[~picked], ids[~picked])
        n = picked.sum()  # 15000 picked positions; binomial standard deviations below ~0.0033
        as_mask = np.mean(inputs[picked] == mask_id)
        kept = np.mean(inputs[picked] == ids[picked])  # 0.1 + 0.1 / (V - 1) random hits
        assert n == 15000
        assert abs(as_mask - 0.8) < 0.02 and abs(kept - 0.1) < 0.015
        assert abs(1 - as_mask - kept - 0.1) < 0.015  # random replacements
        # the random tokens are spread over the vocabulary (~1500 draws over 999 ids: ~780 distinct)
        replaced = inputs[picked & (inputs != mask_id) & (inputs != ids)]
        assert len(np.unique(replaced)) > 200
        # ... and never the mask token: with V = 2 the only other token is 0, so exactly 80%
        # (not 85%) of the picked positions show the mask token
        inputs2, _, picked2 = impl.transformer.mask_tokens(np.zeros((1000, 100), dtype=np.int64), 1, 2,
                                                           np.random.default_rng(17))
        check_array(inputs2, "i", (1000, 100), "inputs")
        check_array(picked2, "b", (1000, 100), "picked")
        assert abs(np.mean(inputs2[picked2] == 1) - 0.8) < 0.02

    @pytest.mark.points(2)
    def test_masked_loss_counts_picked_positions_only(self, impl):
        model = tiny_gpt(impl, layers=1, causal=False, vocab=6)
        rng = np.random.default_rng(17)
        ids = rng.integers(0, 5, size=(2, 6))
        loss, grads = impl.transformer.masked_lm_loss_and_grads(model, ids, 5, np.random.default_rng(18))
        assert_scalar(loss, 2.4239465498344535, rel=1e-9)  # the reference's number
        inputs, targets, picked = impl.transformer.mask_tokens(ids, 5, 6, np.random.default_rng(18))
        logp = impl.nn.log_softmax(model.logits(inputs))
        check_array(logp, "f", (2, 6, 6), "log_softmax")
        picked_logp = np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0][picked]
        assert_scalar(loss, float(-picked_logp.mean()), abs=1e-12)
        assert_gradients(lambda: lm_loss(impl, model, inputs, targets, picked), model.params, grads)


# Training budget: 102k characters, 800 AdamW steps of 4 windows x 32 characters (~2.7 passes
# over 1200 training sentences), cosine schedule after 20 warmup steps, peak lr 0.015. GPT:
# 3 blocks, C = 48, H = 8, with ALiBi's recency bias (87k parameters).
# The RNN it must beat is chapter 5's, on the same characters: RNNLM(V, 16, 48) (4.5k
# parameters), sequential_batches(train_ids, 4, 32), 800 steps, lr 0.02, carry_hidden=True,
# held-out evaluate_loss(model, val_ids, 8, 64, carry_hidden=True). That loss is a constant
# here, measured with the reference solution, so this question grades the student's GPT and
# not their RNN. Measured held-out losses (nats/char; true entropy 0.290, char bigram ~1.31):
#   RNN, model seeds 0-7: 0.378 0.389 0.379 0.389 0.388 0.389 0.390 0.394 (seed 1: 0.3893)
#   GPT, model seeds 0-5: 0.360 0.367 0.359 0.366 0.377 0.361 (mean 0.365)
# The same GPT without ALiBi: 0.414 and 0.440 (seeds 0, 1), above the RNN. At this budget a
# plain GPT must first learn from its position embeddings that the previous few characters
# matter, which the RNN's recurrence gives for free (over ~35 plain variants the best was
# 0.39-0.41). Two blocks with ALiBi give 0.364-0.388: too close to the RNN to assert.
# Margin: BLAS rounding differences act like another seed (one thread instead of two moved
# seed 0 from 0.360 to 0.355); the worst GPT seed is still 0.012 below the RNN's 0.389,
# about two standard deviations of the GPT's spread over seeds.
RNN_HELD_OUT_LOSS = 0.389
ENTROPY_MARGIN = 0.1


class TestTraining:
    """A small GPT on character-level toy English, against the RNN on the same characters"""

    @pytest.mark.points(2)
    def test_beats_the_rnn_and_nears_true_entropy(self, impl):
        grammar, vocab, train_ids, val_ids = corpora.char_level_splits(1500, seed=0)
        model = impl.transformer.GPT(len(vocab), 32, 3, 8, 48, alibi=True, seed=0)
        # Before 800 steps: the first window's loss and gradients against the reference's
        # numbers (float32), so that wrong code fails in milliseconds, not after loop.
        loss, grads = model.loss_and_grads(train_ids[None, :32], train_ids[None, 1:33])
        assert_scalar(loss, 3.033363103866577, rel=1e-4)
        for name, p in model.params.items():
            check_array(grads[name], "f", p.shape, name)
        assert_scalar(sum(float(np.abs(g).sum()) for g in grads.values()), 427.4150085449219, rel=1e-3)
        batches = loop.random_batches(train_ids, 4, 32, np.random.default_rng(0))
        loop.train_lm(model, batches, steps=800, lr=0.015, warmup_steps=20, optim=impl.optim,
                      log_every=1000, out=io.StringIO())
        val_loss = loop.strided_loss(model, val_ids, 32)
        bigram = corpora.char_bigram_loss(train_ids, val_ids, len(vocab))
        entropy = grammar.entropy_per_char
        assert val_loss < bigram - 0.5, f"GPT {val_loss:.3f} vs bigram {bigram:.3f} nats/char"
        assert val_loss < RNN_HELD_OUT_LOSS, (
            f"GPT {val_loss:.3f} vs the RNN's {RNN_HELD_OUT_LOSS} nats/char on the same characters")
        assert val_loss < entropy + ENTROPY_MARGIN, (
            f"held-out {val_loss:.3f} nats/char, true entropy {entropy:.3f}, margin {ENTROPY_MARGIN}")
        assert val_loss > entropy - 0.02  # below the source's entropy would be a bug
