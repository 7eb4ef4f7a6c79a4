"""scratch.data.instructions (not graded): instruction data over the world, the demonstrators
and the Plackett-Luce labelers."""

import numpy as np
import pytest
from scipy import special

from checks import tiny_gpt
from scratch.data.instructions import POLITE, InstructionData, plackett_luce_rankings
from scratch.data.world import EOS, TaskWorld
from scratch.train.models import widen_vocabulary


# -- SFT (chapter 10) ------------------------------------------------------------------------------
class TestInstructionData:
    """The instruction data of scratch/data/instructions.py (harness, not graded)."""

    def test_prompts_responses_and_split(self):
        world = TaskWorld(seed=0)
        data = InstructionData(world)
        inst = data.instances("heldout")[0]
        assert inst.pair in world.heldout_pairs and data.prompt(inst)[-1] == "=>"
        assert {i.pair for i in data.instances("train")}.isdisjoint(world.heldout_pairs)
        assert len(data.instances("train")) == len(world.tasks) * 3 * len(world.train_pairs)
        # the world's ids keep their meaning; instruction words come after them
        assert data.tokenizer.words[:len(world.tokenizer)] == world.tokenizer.words
        rng = np.random.default_rng(0)
        responses = [data.demonstration(inst, rng) for _ in range(2000)]
        assert all(r[-1] == EOS and tuple(r[-3:-1]) == world.answer(inst.task, inst.pair) for r in responses)
        assert abs(np.mean([r[0] == POLITE for r in responses]) - 0.25) < 0.03  # 4 standard errors

    def test_widened_model_keeps_the_old_parameters(self, impl):
        # (parameters, not logits: this ungraded test must pass on the handout's stubs too)
        for tied in (True, False):
            model = tiny_gpt(impl, vocab=5, context=6, layers=1, width=4, tied=tied)
            wider = widen_vocabulary(impl, model, 8)
            assert wider.vocab_size == 8 and wider.params["tok_emb"].shape == (8, 4)
            for name, value in model.params.items():
                new = wider.params[name]
                old_part = new[:5] if name == "tok_emb" else new[:, :5] if name == "head.W" else new
                np.testing.assert_array_equal(old_part, value, err_msg=name)
                assert new is not value

# -- the reward model (chapter 11) -----------------------------------------------------------------
class TestLabelers:
    """Gold reward and Plackett-Luce labelers of scratch/data/instructions.py (harness, not graded)."""

    def test_gold_reward(self):
        data = InstructionData(TaskWorld(seed=0))
        inst = data.instances("heldout")[0]
        a, b = data.world.answer(inst.task, inst.pair)
        g = data.gold_reward
        assert g(inst, [a, b, "<eos>"]) == 1.0 and g(inst, ["sure", a, b, "<eos>"]) == 1.5
        assert g(inst, [b, a, "<eos>"]) == (1.0 if a == b else 0.0) and g(inst, [a, "mouse" if b != "mouse" else "cat", "<eos>"]) == 0.5
        for malformed in ([a, b], ["sure", "sure", a, b, "<eos>"], [a, b, a, "<eos>"], ["=>", b, "<eos>"], ["<eos>"]):
            assert g(inst, malformed) == -1.0, malformed
        ids = data.tokenizer.encode(["sure", a, b, "<eos>", "<pad>", "<pad>"])
        assert g(inst, list(ids)) == 1.5  # ids work too; trailing padding is ignored

    def test_plackett_luce_first_places(self):
        # 20000 rankings of K = 3 with g = (0, 1, 2), tau = 1: the best is response k with
        # probability softmax(g)_k; given the best, the second place follows the rest's softmax.
        # Tolerance 0.015 (about 4 standard errors of a frequency from 20000 draws).
        gold = np.tile([0.0, 1.0, 2.0], (20000, 1))
        rankings = plackett_luce_rankings(gold, 1.0, np.random.default_rng(0))
        assert sorted(rankings[0]) == [0, 1, 2]
        first = np.bincount(rankings[:, 0], minlength=3) / 20000
        np.testing.assert_allclose(first, special.softmax([0.0, 1.0, 2.0]), atol=0.015)
        after_best = rankings[rankings[:, 0] == 2, 1]
        np.testing.assert_allclose(np.mean(after_best == 1), special.expit(1.0), atol=0.015)
        # a small tau ranks by g almost always, a large one almost at random
        sharp = plackett_luce_rankings(gold[:1000], 0.05, np.random.default_rng(1))
        assert np.all(sharp == [2, 1, 0])
        flat = plackett_luce_rankings(gold, 1000.0, np.random.default_rng(2))
        np.testing.assert_allclose(np.bincount(flat[:, 0], minlength=3) / 20000, 1 / 3, atol=0.015)
        with pytest.raises(ValueError, match="tau"):
            plackett_luce_rankings(gold, 0.0, np.random.default_rng(0))
