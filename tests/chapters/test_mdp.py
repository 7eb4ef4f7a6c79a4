"""Chapter 1: MDPs with known dynamics — the lecture's gridworld and how to solve it.

Reference numbers:
- Sutton & Barto, Example 4.1 (Figure 4.1): the 4x4 grid with terminal corners, -1 per step,
  the equiprobable random policy and gamma = 1; the values after k = 1, 2, 3 and 10
  synchronous sweeps, and the limit (0, -14, -20, -22 on the first row).
- The lecture's 3x4 gridworld, deterministic moves, gamma = 1, values derived by hand in
  the comments of each test.

Worlds are built from ``impl.mdp_model``, the given code (in a grading run, the grader's own
copy), never from ``impl.mdp``: the expected values a test derives from a world must not come
from the code it grades.
"""

import numpy as np
import pytest

from checks import (DOWN, LEFT, RIGHT, UP, assert_close, assert_equal, assert_scalar, check_array, check_scalar,
                    random_mdp, state)

# Sutton & Barto's Figure 4.1 values, rounded to one decimal as printed in the book.
SB_SWEEPS = {
    1: [[0.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, 0.0]],
    2: [[0.0, -1.7, -2.0, -2.0], [-1.7, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -1.7], [-2.0, -2.0, -1.7, 0.0]],
    3: [[0.0, -2.4, -2.9, -3.0], [-2.4, -2.9, -3.0, -2.9], [-2.9, -3.0, -2.9, -2.4], [-3.0, -2.9, -2.4, 0.0]],
    10: [[0.0, -6.1, -8.4, -9.0], [-6.1, -7.7, -8.4, -8.4], [-8.4, -8.4, -7.7, -6.1], [-9.0, -8.4, -6.1, 0.0]],
}
SB_LIMIT = [[0, -14, -20, -22], [-14, -18, -20, -20], [-20, -20, -18, -14], [-22, -20, -14, 0]]

# value_iteration(random_mdp(seed=11), tol=0.05): the values after the last synchronous sweep.
RANDOM_MDP_11_VALUES = [13.258140316734, 16.111095920442, 12.794355979918, 16.096547154011, 14.16997684199, 13.195628943861]

SB_LAYOUT = """
-1  .  .  .
 .  .  .  .
 .  .  .  .
 .  .  . -1
"""


def sutton_barto_grid(mdp):
    """Example 4.1: -1 for every step, entering a terminal corner included (its 'reward' is -1)."""
    return mdp.Gridworld(SB_LAYOUT, living_reward=-1.0, gamma=1.0)


def random_policy(world):
    return np.full((world.n_states, world.n_actions), 1 / world.n_actions)


def assert_bellman_expectation(m, policy, V):
    """V must solve V = R_pi + gamma P_pi V for the deterministic ``policy`` (checked after the
    call, so ``m`` and ``policy`` must be fresh copies, never the arrays the code was given:
    code that zeroes its inputs would otherwise make the equation read 0 = 0)."""
    states = np.arange(m.n_states)
    check_array(V, "f", (m.n_states,), "V")
    assert_close(V, m.R[states, policy] + m.gamma * m.P[states, policy] @ V, atol=1e-9, name="V")


def assert_bellman_optimal(m, V, policy=None, atol=1e-9):
    """V must solve V = max_a Q(s, a) with Q = R + gamma P V, and ``policy`` must attain it
    (``m`` a fresh copy, as above).

    Solvers are also compared with each other; this check keeps two that return the same
    wrong (say all-zero, or NaN) answer from agreeing their way to the points.
    """
    check_array(V, "f", (m.n_states,), "V")
    Q = m.R + m.gamma * m.P @ V
    assert_close(V, Q.max(axis=1), atol=atol, name="V")
    if policy is not None:
        check_array(policy, "i", (m.n_states,), "policy")
        assert_close(Q[np.arange(m.n_states), policy], V, atol=atol, name="Q(s, policy(s))")


# --- the model: ungraded plumbing, runs on both implementations --------------------------------


# --- graded ------------------------------------------------------------------------------------

class TestQValues:
    """q_values: Q(s,a) = R(s,a) + gamma sum_s' p(s'|s,a) V(s')"""

    @pytest.mark.points(1)
    def test_against_explicit_sum(self, impl):
        m = random_mdp(impl.mdp, seed=1)
        V = np.random.default_rng(2).normal(size=m.n_states)
        expected = np.array([[m.R[s, a] + m.gamma * sum(m.P[s, a, t] * V[t] for t in range(m.n_states))
                              for a in range(m.n_actions)] for s in range(m.n_states)])
        assert_close(impl.mdp.q_values(m, V), expected, rtol=1e-12)

    @pytest.mark.points(1)
    def test_lecture_grid_by_hand(self, impl):
        world = impl.mdp_model.Gridworld.lecture(living_reward=-2.0)
        V = np.zeros(world.n_states)
        V[state(world, 0, 2)] = 1.0  # pretend the square left of +1 is worth 1
        Q = impl.mdp.q_values(world, V)
        s = state(world, 1, 2)
        check_array(Q, "f", (world.n_states, world.n_actions), "Q")
        assert_scalar(Q[s, UP], -2.0 + 1.0)  # step cost, then the value above
        assert_scalar(Q[s, RIGHT], -1.0)  # straight into the -1 exit
        assert_scalar(Q[s, DOWN], -2.0)


class TestPolicyEvaluation:
    """policy_evaluation: synchronous sweeps (Sutton & Barto Example 4.1)"""

    @pytest.mark.points(1)
    @pytest.mark.parametrize("k", sorted(SB_SWEEPS))
    def test_values_after_k_sweeps(self, impl, k):
        world = sutton_barto_grid(impl.mdp)
        V = np.zeros(world.n_states)
        for _ in range(k):
            V = impl.mdp.bellman_expectation_backup(world, random_policy(world), V)
        # the book prints one decimal: agreement to 0.05 pins every value
        assert_close(V, np.ravel(SB_SWEEPS[k]), atol=0.05)

    @pytest.mark.points(1)
    def test_stopping_rule_and_start(self, impl):
        # From V_0 = 0 the first sweep changes values by exactly 1 (< 1.01), so it stops there
        # and returns V_1, not V_0; from V0 = V_2 the next sweep changes by < 1.01: V_3.
        world = sutton_barto_grid(impl.mdp)
        pi = random_policy(world)
        V1 = impl.mdp.policy_evaluation(world, pi, tol=1.01)
        assert_close(V1, np.ravel(SB_SWEEPS[1]), atol=1e-12)
        V2 = impl.mdp.bellman_expectation_backup(world, pi, V1)
        V3 = impl.mdp.policy_evaluation(world, pi, tol=1.01, V0=V2)
        assert_close(V3, np.ravel(SB_SWEEPS[3]), atol=0.05)

    @pytest.mark.points(2)
    def test_converges_to_book_values(self, impl):
        world = sutton_barto_grid(impl.mdp)
        V = impl.mdp.policy_evaluation(world, random_policy(world), tol=1e-10)
        assert_close(V, np.ravel(SB_LIMIT), atol=1e-6)

    @pytest.mark.points(1)
    def test_never_ending_policy_raises(self, impl):
        world = impl.mdp_model.Gridworld.lecture(living_reward=-1.0)
        # First a policy that ends: from (2, 3) left, then up twice to (0, 2), then right into
        # +1: -1 -1 -1 +1 = -2 (a function that only ever raises earns nothing here).
        to_plus_one = np.full(world.n_states, UP)
        for row, col, action in ((0, 0, RIGHT), (0, 1, RIGHT), (0, 2, RIGHT), (2, 1, RIGHT), (2, 3, LEFT)):
            to_plus_one[state(world, row, col)] = action
        V = impl.mdp.policy_evaluation(world, to_plus_one, max_iter=500)
        assert_scalar(V[state(world, 2, 3)], -2.0)
        assert_scalar(V[state(world, 0, 2)], 1.0)
        always_left = np.full(world.n_states, LEFT)  # ends bumping the left edge forever
        with pytest.raises(impl.mdp.ConvergenceError, match="terminal"):
            impl.mdp.policy_evaluation(world, always_left, max_iter=500)


class TestPolicyEvaluationExact:
    """policy_evaluation_exact: solve (I - gamma P_pi) V = R_pi"""

    @pytest.mark.points(2)
    def test_book_values(self, impl):
        world = sutton_barto_grid(impl.mdp)
        V = impl.mdp.policy_evaluation_exact(world, random_policy(world))
        assert_close(V, np.ravel(SB_LIMIT), atol=1e-9)

    @pytest.mark.points(1)
    def test_agrees_with_iterative_on_random_mdps(self, impl):
        def problem(seed):
            m = random_mdp(impl.mdp, seed)
            return m, np.random.default_rng(seed).integers(m.n_actions, size=m.n_states)

        for seed in range(5):
            m, policy = problem(seed)
            exact = impl.mdp.policy_evaluation_exact(m, policy)
            assert_close(exact, impl.mdp.policy_evaluation(m, policy, tol=1e-12), atol=1e-9)
            assert_bellman_expectation(*problem(seed), exact)  # a fresh MDP and policy


class TestGreedyPolicy:
    """greedy_policy: argmax_a Q(s, a), ties to the lowest action index"""

    @pytest.mark.points(1)
    def test_ties_go_to_lowest_index(self, impl):
        world = impl.mdp_model.Gridworld.lecture(living_reward=-2.0)
        V = np.zeros(world.n_states)
        policy = impl.mdp.greedy_policy(world, V)
        check_array(policy, "i", (world.n_states,), "policy")
        # Every move from (1, 0) costs -2 and lands on a zero-valued square: all four tie.
        assert_scalar(policy[state(world, 1, 0)], UP)
        # From (0, 2), right pays +1: no tie.
        assert_scalar(policy[state(world, 0, 2)], RIGHT)
        # From (2, 3), up pays -1 against -2 elsewhere.
        assert_scalar(policy[state(world, 2, 3)], UP)
        # Values that tie nowhere (but in the exits, where every action stays put): the policy is
        # the argmax over actions of Q = R + gamma P V in every state.
        V = np.random.default_rng(0).normal(size=world.n_states)
        assert_equal(impl.mdp.greedy_policy(world, V), (world.R + world.gamma * world.P @ V).argmax(axis=1),
                     kind="i", name="policy")


class TestLectureGridworld:
    """value_iteration: the lecture's gridworld at living reward -2 vs -0.5, sweep by sweep"""

    @pytest.mark.points(1)
    def test_sweep_count_and_stopping_rule(self, impl):
        world = impl.mdp_model.Gridworld.lecture(living_reward=-2.0)
        # V_k grows outward from the exits one square per sweep; the start is 4 moves away,
        # so V_4 = V_5 = V*: the 5th sweep is the first that changes nothing.
        assert_scalar(impl.mdp.value_iteration(world)[2], 5)
        # With tol = 1.5 the 4th sweep (changes of 1 or 0 from V_3) already stops, returning
        # V_4, which is V* at the start square: -2 -2 -2 -1.
        V, _, sweeps = impl.mdp.value_iteration(world, tol=1.5)
        assert_scalar(sweeps, 4)
        check_array(V, "f", (world.n_states,), "V")
        assert_scalar(V[state(world, 2, 0)], -7.0)

    @pytest.mark.points(1)
    def test_synchronous_sweeps_on_a_random_mdp(self, impl):
        # Synchronous sweeps V_{k+1} = max_a Q(V_k) from V_0 = 0, stopping at the first change
        # below tol and returning V_{k+1}, take 34 sweeps on this MDP and end at these values;
        # in-place sweeps stop earlier, elsewhere.
        V, _, sweeps = impl.mdp.value_iteration(random_mdp(impl.mdp, seed=11), tol=0.05)
        assert_scalar(sweeps, 34)
        assert_close(V, RANDOM_MDP_11_VALUES, atol=1e-9)

    @pytest.mark.points(2)
    def test_minus_two_takes_the_nearest_exit(self, impl):
        world = impl.mdp_model.Gridworld.lecture(living_reward=-2.0)
        V, policy, sweeps = impl.mdp.value_iteration(world)
        check_array(V, "f", (world.n_states,), "V")
        check_array(policy, "i", (world.n_states,), "policy")
        # Below the -1 exit: -1 now beats three -2 steps and the +1 (-5).
        assert_scalar(policy[state(world, 2, 3)], UP)
        assert_scalar(V[state(world, 2, 3)], -1.0)
        # The start is four steps from an exit: -2 * 3 - 1 = -7 through either exit.
        assert_scalar(V[state(world, 2, 0)], -7.0)
        assert_scalar(V[state(world, 0, 0)], -3.0)  # -2 -2 +1
        check_scalar(sweeps, "i", "sweeps")
        assert 1 <= sweeps <= 20

    @pytest.mark.points(2)
    def test_minus_half_walks_around_to_plus_one(self, impl):
        world = impl.mdp_model.Gridworld.lecture(living_reward=-0.5)
        V, policy, _ = impl.mdp.value_iteration(world)
        check_array(V, "f", (world.n_states,), "V")
        check_array(policy, "i", (world.n_states,), "policy")
        # Below the -1 exit: three steps left and up to +1 pay -1.5 + 1 = -0.5 > -1.
        assert_scalar(policy[state(world, 2, 3)], LEFT)
        assert_scalar(V[state(world, 2, 3)], -0.5)
        # Beside the -1 exit: up then right (-0.5 + 1) instead of right into -1.
        assert_scalar(policy[state(world, 1, 2)], UP)
        assert_scalar(V[state(world, 1, 2)], 0.5)
        assert_scalar(V[state(world, 2, 0)], -1.0)  # 5 moves: 4 living rewards, then +1


class TestSolversAgree:
    """policy_iteration and value_iteration agree with the exact solve"""

    @pytest.mark.points(1)
    @pytest.mark.parametrize("seed", range(4))
    def test_random_mdps(self, impl, seed):
        m = random_mdp(impl.mdp, seed, S=8, A=3, gamma=0.95)
        V_vi, pi_vi, _ = impl.mdp.value_iteration(m, tol=1e-12)
        V_pi, pi_pi, iterations = impl.mdp.policy_iteration(m)
        assert_close(V_vi, V_pi, atol=1e-9)
        assert_equal(pi_vi, pi_pi, kind="i")
        assert_close(impl.mdp.policy_evaluation_exact(m, pi_pi), V_pi, atol=1e-12)
        assert_bellman_optimal(random_mdp(impl.mdp, seed, S=8, A=3, gamma=0.95), V_pi, pi_pi)  # a fresh MDP
        check_scalar(iterations, "i", "iterations")
        assert iterations >= 1

    @pytest.mark.points(1)
    @pytest.mark.parametrize("living_reward, noise", [(-2.0, 0.0), (-0.5, 0.0), (-0.04, 0.2)])
    def test_lecture_grid(self, impl, living_reward, noise):
        world = impl.mdp_model.Gridworld.lecture(living_reward=living_reward, noise=noise)
        V_vi, pi_vi, _ = impl.mdp.value_iteration(world, tol=1e-12)
        V_pi, pi_pi, _ = impl.mdp.policy_iteration(world)
        assert_close(V_vi, V_pi, atol=1e-9)
        assert_equal(pi_vi, pi_pi, kind="i")
        assert_bellman_optimal(impl.mdp_model.Gridworld.lecture(living_reward=living_reward, noise=noise), V_pi, pi_pi)

    @pytest.mark.points(1)
    def test_policy_iteration_counts_evaluations(self, impl):
        # From the shortest-path start policy: at -2 one improvement and a confirming
        # evaluation; at -0.5 the walk around to +1 takes one more.
        assert_scalar(impl.mdp.policy_iteration(impl.mdp_model.Gridworld.lecture(living_reward=-2.0))[2], 2)
        assert_scalar(impl.mdp.policy_iteration(impl.mdp_model.Gridworld.lecture(living_reward=-0.5))[2], 3)

    @pytest.mark.points(1)
    def test_bellman_optimality_holds(self, impl):
        V, policy, _ = impl.mdp.value_iteration(random_mdp(impl.mdp, seed=7), tol=1e-12)
        assert_bellman_optimal(random_mdp(impl.mdp, seed=7), V, policy)  # a fresh MDP

    @pytest.mark.points(1)
    def test_diverging_values_raise(self, impl):
        # First a world that converges (by hand: -2 -2 +1 from the top-left corner), so that a
        # function that only ever raises earns nothing here.
        ending = impl.mdp_model.Gridworld.lecture(living_reward=-2.0)
        V, _, _ = impl.mdp.value_iteration(ending, max_iter=300)
        assert_scalar(V[state(ending, 0, 0)], -3.0)
        world = impl.mdp_model.Gridworld.lecture(living_reward=+1.0)  # living forever pays, gamma = 1
        with pytest.raises(impl.mdp.ConvergenceError):
            impl.mdp.value_iteration(world, max_iter=300)


class FixedStartView:
    """A world as an agent sees it (no P, no R), every episode from the same square."""

    def __init__(self, world, start):
        self._world, self._start = world, start
        self.n_states, self.n_actions, self.gamma = world.n_states, world.n_actions, world.gamma

    def reset(self, rng):
        return self._start

    def step(self, s, a, rng):
        return self._world.step(s, a, rng)


class TestQLearning:
    """q_learning: reward and transition functions unknown"""

    @pytest.mark.points(2)
    @pytest.mark.parametrize("living_reward, gamma", [(-2.0, 1.0), (-0.5, 1.0), (-0.04, 0.9)])
    def test_recovers_value_iteration_policy(self, impl, living_reward, gamma):
        world = impl.mdp_model.Gridworld.lecture(living_reward=living_reward, gamma=gamma)
        # First six greedy steps (epsilon 0) from the bottom-left square, by hand: up, up, up
        # (bumping the top edge), then down, down, down (bumping the bottom edge). Every next
        # state's row still has max 0, so each (square, action) tried scores alpha * r = r / 2.
        # Cheap and exact: wrong code fails here, not after 3000 episodes.
        first = impl.mdp.q_learning(FixedStartView(world, state(world, 2, 0)), episodes=1, alpha=0.5, epsilon=0.0,
                                    max_steps=6, rng=np.random.default_rng(0))
        expected = np.zeros((world.n_states, world.n_actions))
        for row, col in ((2, 0), (1, 0), (0, 0)):
            expected[state(world, row, col), [UP, DOWN]] = living_reward / 2
        assert_close(first, expected, rtol=1e-12)
        Q = impl.mdp.q_learning(impl.mdp_model.ModelFreeView(world), episodes=3000, alpha=0.5, epsilon=0.3,
                                rng=np.random.default_rng(0))
        check_array(Q, "f", (world.n_states, world.n_actions), "Q")
        world = impl.mdp_model.Gridworld.lecture(living_reward=living_reward, gamma=gamma)  # fresh, for the expected values
        live = ~world.terminal
        assert_equal(Q[world.terminal], np.zeros((2, world.n_actions)))  # the episode ends on entering an exit
        # max_a Q is the optimal V (the one fixed point of Bellman optimality), and the learned
        # greedy action attains it in every square (ties allowed either way).
        assert_bellman_optimal(world, Q.max(axis=1), Q.argmax(axis=1), atol=1e-3)
        # and it is the value iteration's V*
        V_star, _, _ = impl.mdp.value_iteration(world)
        assert_close(Q.max(axis=1)[live], V_star[live], atol=1e-3)

    @pytest.mark.points(1)
    def test_same_seed_same_q(self, impl):
        grid = impl.mdp_model.Gridworld.lecture(living_reward=-0.5, noise=0.2)
        runs = [impl.mdp.q_learning(impl.mdp_model.ModelFreeView(grid), episodes=50, rng=np.random.default_rng(3)) for _ in range(2)]
        assert_equal(runs[0], runs[1], kind="f")
        exits = impl.mdp_model.Gridworld.lecture(living_reward=-0.5, noise=0.2).terminal  # fresh
        assert np.abs(runs[0]).sum() > 0 and np.all(runs[0][exits] == 0)

