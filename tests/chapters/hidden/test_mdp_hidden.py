"""Hidden tests of chapter 1 (kept out of the student handout; on Gradescope, shown after the
due date): value iteration against its definition, on MDPs the public tests never show."""

import numpy as np
import pytest

from checks import assert_close, assert_scalar, random_mdp


class TestValueIterationDefinition:
    """value_iteration: synchronous sweeps on unseen random MDPs, against the definition"""

    @pytest.mark.points(1)
    @pytest.mark.parametrize("seed, tol", [(3, 1e-3), (29, 0.2)])
    def test_against_the_definition(self, impl, seed, tol):
        m = random_mdp(impl.mdp, seed=seed, S=7, A=4, gamma=0.8)
        V_vi, _, sweeps_vi = impl.mdp.value_iteration(m, tol=tol)
        # The definition, after the call, on a fresh copy of the MDP: V_{k+1} = max_a Q(V_k) from
        # V_0 = 0, stop at the first change below tol, return V_{k+1} and k + 1.
        m = random_mdp(impl.mdp, seed=seed, S=7, A=4, gamma=0.8)
        V, sweeps = np.zeros(m.n_states), 0
        while True:
            sweeps += 1
            V_next = (m.R + m.gamma * m.P @ V).max(axis=1)
            if np.max(np.abs(V_next - V)) < tol:
                break
            V = V_next
        assert_scalar(sweeps_vi, sweeps)
        assert_close(V_vi, V_next, atol=1e-12)
