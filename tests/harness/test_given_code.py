"""The given code of the chapters (not graded): the gridworld's dynamics and rendering, the
n-gram vocabulary, the ALiBi slopes."""

import numpy as np
import pytest

from checks import LEFT, RIGHT, TINY, UP, reference_alibi, state


# -- MDPs and the gridworld (chapter 1) ------------------------------------------------------------
def test_lecture_grid_dynamics(impl):
    world = impl.mdp_model.Gridworld.lecture(living_reward=-2.0)
    assert world.n_states == 11 and world.n_actions == 4  # 12 squares minus the wall
    start = state(world, 2, 0)
    assert world.start == start
    # deterministic: up from the start moves one row up, left bumps the edge and stays
    assert world.P[start, UP, state(world, 1, 0)] == 1.0
    assert world.P[start, LEFT, start] == 1.0
    assert world.R[start, UP] == -2.0
    # entering an exit pays its reward and nothing else
    assert world.R[state(world, 0, 2), RIGHT] == 1.0
    assert world.R[state(world, 2, 3), UP] == -1.0
    # the wall at (1, 1): moving into it stays put
    assert world.P[state(world, 1, 0), RIGHT, state(world, 1, 0)] == 1.0
    assert world.terminal.sum() == 2

# -- MDPs and the gridworld (chapter 1) ------------------------------------------------------------
def test_slip_noise_splits_mass(impl):
    world = impl.mdp_model.Gridworld.lecture(noise=0.2)
    s = state(world, 2, 1)  # bottom row, second column; the wall is above it
    # up: 0.8 into the wall (stay), 0.1 left, 0.1 right
    assert world.P[s, UP, s] == pytest.approx(0.8)
    assert world.P[s, UP, state(world, 2, 0)] == pytest.approx(0.1)
    assert world.P[s, UP, state(world, 2, 2)] == pytest.approx(0.1)

# -- MDPs and the gridworld (chapter 1) ------------------------------------------------------------
def test_sampling_matches_the_model(impl):
    world = impl.mdp_model.Gridworld.lecture(living_reward=-0.5, noise=0.2)
    rng = np.random.default_rng(0)
    s = state(world, 1, 2)
    draws = [world.step(s, RIGHT, rng) for _ in range(4000)]
    freq = np.bincount([d[0] for d in draws], minlength=world.n_states) / len(draws)
    assert np.abs(freq - world.P[s, RIGHT]).max() < 0.03
    assert np.mean([d[1] for d in draws]) == pytest.approx(world.R[s, RIGHT], abs=0.06)
    assert all(d[2] == world.terminal[d[0]] for d in draws)

# -- MDPs and the gridworld (chapter 1) ------------------------------------------------------------
def test_a_finished_episode_stays_finished(impl):
    world = impl.mdp_model.Gridworld.lecture(living_reward=-0.5)
    exit_plus = state(world, 0, 3)
    assert world.step(exit_plus, UP, np.random.default_rng(0)) == (exit_plus, 0.0, True)

# -- MDPs and the gridworld (chapter 1) ------------------------------------------------------------
def test_render_policy_takes_a_stochastic_policy(impl):
    world = impl.mdp_model.Gridworld.lecture()
    probs = np.zeros((world.n_states, world.n_actions))
    probs[:, LEFT] = 1.0
    assert world.render_policy(probs) == world.render_policy(np.full(world.n_states, LEFT))

# -- MDPs and the gridworld (chapter 1) ------------------------------------------------------------
def test_render_shows_walls_exits_and_arrows(impl):
    world = impl.mdp_model.Gridworld.lecture()
    text = world.render_policy(np.full(world.n_states, RIGHT))
    assert text.splitlines()[1].split() == [">", "####", ">", "[-1]"]
    assert "[+1]" in world.render_values(np.zeros(world.n_states))

# -- n-gram LMs (chapter 2) ------------------------------------------------------------------------
class TestVocab:
    def test_ids_and_cutoff(self, impl):
        vocab = impl.ngram.Vocab(TINY)
        assert vocab.words == ["<unk>", "<s>", "</s>", "the", "ate", "mouse", "a", "cat", "cheese"]
        assert (vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2)
        assert vocab.encode(["the", "dog", "cheese"]).tolist() == [3, 0, 8]
        assert vocab.decode([3, 5]) == ["the", "mouse"]
        cut = impl.ngram.Vocab(TINY, min_count=2)
        assert cut.words == ["<unk>", "<s>", "</s>", "the", "ate", "mouse"]
        assert cut.encode(["cat"]).tolist() == [0]

# -- the Transformer (chapter 7) -------------------------------------------------------------------
class TestAlibi:
    """alibi_slopes / alibi_bias (given code, not graded)"""

    def test_slopes_and_bias_values(self, impl):
        att = impl.attention
        np.testing.assert_allclose(att.alibi_slopes(8), [2, 1, 1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64])
        np.testing.assert_allclose(att.alibi_slopes(4), [1, 1 / 4, 1 / 16, 1 / 64])
        bias = att.alibi_bias([1.0, 0.5], 3, 3)
        assert bias.shape == (2, 3, 3)
        np.testing.assert_allclose(bias[1], reference_alibi(0.5, 3))
        # two queries after three cached positions sit at positions 3 and 4 of 5
        np.testing.assert_allclose(att.alibi_bias([1.0], 2, 5)[0], reference_alibi(1.0, 5)[3:])
        with pytest.raises(ValueError, match="n_keys"):
            att.alibi_bias([1.0], 3, 2)
