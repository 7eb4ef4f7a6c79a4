"""Finding the optimal policy of an MDP with known dynamics (and learning it without them).

The lecture's setup: a state space S, an action space A, a reward function and a transition
function p(s'|s, a); a policy pi picks an action in every state, and its value function
V^pi(s) is the expected total reward of starting in s and following pi. Here both
functions are *known* arrays, so V^pi and the optimal policy can be computed by dynamic
programming; ``q_learning`` at the end drops that assumption and learns from sampled steps.

Shapes: S states, A actions.
    P       (S, A, S)  P[s, a, s'] = p(s'|s, a)
    R       (S, A)     expected reward of taking a in s
    V       (S,)       a value function
    Q       (S, A)     action values
    policy  (S,) int   deterministic: the action taken in each state, or
            (S, A)     stochastic: pi(a|s), rows summing to 1

The equations, with gamma the discount:

    Q(s, a)    = R(s, a) + gamma * sum_s' p(s'|s, a) V(s')                 (q_values)
    V^pi(s)    = sum_a pi(a|s) Q^pi(s, a)                                   (Bellman expectation)
    V*(s)      = max_a Q*(s, a)                                             (Bellman optimality)
    in matrix form V^pi = R_pi + gamma P_pi V^pi, so V^pi = (I - gamma P_pi)^(-1) R_pi.

Conventions (where sources disagree):
- Reward on the transition: entering a terminal square pays that square's reward and ends
  the episode; every other step pays the living reward. Terminal states are absorbing with
  zero reward, so V(terminal) = 0 (the CS188 "exit action" convention would put the +1 in
  V(terminal) instead).
- Sweeps are synchronous: every V_{k+1}(s) is computed from V_k (Sutton & Barto's
  two-array version), so the values after k sweeps are well defined and tested.
- Iterative solvers stop at the first sweep with max_s |V_{k+1}(s) - V_k(s)| < tol and return
  V_{k+1}; after ``max_iter`` sweeps without that they raise ``ConvergenceError`` (values
  that diverge, e.g. gamma = 1 with a policy that never ends, never come back as garbage).
- ``greedy_policy`` breaks ties (within 1e-9, to ignore round-off) towards the lowest action
  index; the gridworld orders actions up, down, left, right as the lecture lists them.

The MDP and the lecture's gridworld are defined in ``mdp_model.py`` and imported
here (``mdp.MDP``, ``mdp.Gridworld``), so this file holds only what solves them.

Left out: stochastic rewards p(r|s, a) enter only through their mean R(s, a), which is all
the Bellman equations need; asynchronous/in-place sweeps; modified policy iteration.
"""

import numpy as np

from ._checks import check_policy, check_proper, check_q_learning, check_size, check_solver, check_values
from .mdp_model import MDP, Gridworld  # noqa: F401  (MDP and Gridworld are this chapter's API too)


class ConvergenceError(RuntimeError):
    """An iterative solver did not meet its tolerance within ``max_iter`` sweeps."""


def policy_matrix(mdp, policy):
    """pi(a|s) as an (S, A) array, from a deterministic (S,) or stochastic (S, A) policy."""
    policy = check_policy(mdp, policy)
    return np.eye(mdp.n_actions)[policy] if policy.ndim == 1 else policy.astype(np.float64)


def policy_dynamics(mdp, policy):
    """P_pi (S, S) and R_pi (S,): the Markov chain and reward of following ``policy``."""
    pi = policy_matrix(mdp, policy)
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)  # P_pi[s, s'] = sum_a pi(a|s) p(s'|s, a)
    R_pi = np.sum(pi * mdp.R, axis=1)  # R_pi[s] = sum_a pi(a|s) R(s, a)
    return P_pi, R_pi


def q_values(mdp, V):
    """Q(s, a) = R(s, a) + gamma * sum_s' p(s'|s, a) V(s'), as an (S, A) array."""
    V = check_values(mdp, V)
    ### BEGIN SOLUTION
    ### HINT: (S, A, S) @ (S,) gives the expected next value for every (s, a)
    return mdp.R + mdp.gamma * (mdp.P @ V)
    ### END SOLUTION


def bellman_expectation_backup(mdp, policy, V):
    """One synchronous sweep of policy evaluation: V_{k+1}(s) = sum_a pi(a|s) Q_k(s, a).

    Q_k are the action values computed from V_k (``q_values``); every state is updated from
    the old V, so the result does not depend on the order of states.
    """
    pi = policy_matrix(mdp, policy)
    ### BEGIN SOLUTION
    return np.sum(pi * q_values(mdp, V), axis=1)
    ### END SOLUTION


def policy_evaluation(mdp, policy, tol=1e-10, max_iter=100_000, V0=None):
    """V^pi by repeated synchronous sweeps from V0 (zeros by default).

    Stops at the first sweep that changes no value by ``tol`` or more and returns that V.
    Raises ``ConvergenceError`` after ``max_iter`` sweeps: with gamma = 1 that is what a
    policy that never reaches a terminal state does (its values drift off forever).
    """
    check_solver(tol, max_iter)
    V = np.zeros(mdp.n_states) if V0 is None else check_values(mdp, V0, "V0").copy()
    ### BEGIN SOLUTION
    for _ in range(max_iter):
        V_next = bellman_expectation_backup(mdp, policy, V)
        if np.max(np.abs(V_next - V)) < tol:
            return V_next
        V = V_next
    ### END SOLUTION
    raise ConvergenceError(
        f"policy evaluation did not converge to tol = {tol:g} in {max_iter} sweeps; with "
        f"gamma = 1 the policy may never reach a terminal state"
    )


def policy_evaluation_exact(mdp, policy):
    """V^pi from the linear system (I - gamma P_pi) V = R_pi.

    Terminal states have V = 0, so the system is solved on the non-terminal states only.
    With gamma = 1 the policy must be proper (``check_proper``), else the system is singular.
    """
    P_pi, R_pi = policy_dynamics(mdp, policy)
    if mdp.gamma == 1.0:
        check_proper(mdp, P_pi)
    live = ~mdp.terminal
    V = np.zeros(mdp.n_states)
    ### BEGIN SOLUTION
    ### HINT: restrict P_pi and R_pi to the non-terminal states, then np.linalg.solve
    A = np.eye(live.sum()) - mdp.gamma * P_pi[np.ix_(live, live)]
    V[live] = np.linalg.solve(A, R_pi[live])
    ### END SOLUTION
    return V


def greedy_policy(mdp, V):
    """pi(s) = argmax_a Q(s, a) as (S,) action indices; ties go to the lowest index.

    Two actions count as tied when their Q differ by less than 1e-9 (relative to the size
    of Q), so round-off never decides between equally good actions.
    """
    ### BEGIN SOLUTION
    Q = q_values(mdp, V)
    best = Q.max(axis=1, keepdims=True)
    tied = Q >= best - 1e-9 * np.maximum(1.0, np.abs(best))
    return np.argmax(tied, axis=1)  # argmax of a boolean row is its first True
    ### END SOLUTION


def proper_policy(mdp):
    """A policy that reaches a terminal state from every state that can reach one.

    Each state takes the lowest-index action with a positive chance of moving one step
    closer (in the transition graph) to a terminal state. Policy iteration starts here when
    gamma = 1, since an improper start has no finite value to improve on.
    """
    S = mdp.n_states
    distance = np.where(mdp.terminal, 0, np.inf)
    policy = np.zeros(S, dtype=int)
    for d in range(1, S + 1):
        frontier = distance == d - 1
        # actions that may move into the frontier, from states not yet reached
        moves_in = mdp.P[:, :, frontier].sum(axis=2) > 0  # (S, A)
        newly = np.isinf(distance) & moves_in.any(axis=1)
        if not newly.any():
            break
        distance[newly] = d
        policy[newly] = np.argmax(moves_in[newly], axis=1)
    return policy


def policy_iteration(mdp, policy=None, max_iter=1_000):
    """Alternate exact evaluation and greedy improvement until the policy is stable.

    Returns ``(V, policy, iterations)``, ``iterations`` being the number of evaluations.
    The start is ``policy`` if given, else ``proper_policy(mdp)``. Stability is checked on
    the policy itself; since ``greedy_policy`` breaks ties the same way every time, the loop
    cannot cycle between equally good policies.
    """
    check_size(max_iter, "max_iter")
    policy = proper_policy(mdp) if policy is None else np.asarray(policy)
    ### BEGIN SOLUTION
    for iteration in range(1, max_iter + 1):
        V = policy_evaluation_exact(mdp, policy)
        improved = greedy_policy(mdp, V)
        if np.array_equal(improved, policy):
            return V, policy, iteration
        policy = improved
    ### END SOLUTION
    raise ConvergenceError(f"policy iteration did not stabilise in {max_iter} iterations")


def value_iteration(mdp, tol=1e-10, max_iter=100_000):
    """V* by synchronous sweeps V_{k+1}(s) = max_a Q_k(s, a), from V_0 = 0.

    Returns ``(V, policy, sweeps)``: the first V_{k+1} with max |V_{k+1} - V_k| < tol, the
    greedy policy for it, and k + 1. For gamma < 1 that V is within tol * gamma / (1 - gamma)
    of V*. Raises ``ConvergenceError`` after ``max_iter`` sweeps (values that grow forever,
    as with gamma = 1 and a positive living reward).

    With gamma = 1 the greedy policy is only sure to reach an exit when every step costs
    something (a negative living reward, as in the lecture): with free steps, bumping into a
    wall ties with walking on, and the tie may go to the wall.
    """
    check_solver(tol, max_iter)
    V = np.zeros(mdp.n_states)
    ### BEGIN SOLUTION
    for sweep in range(1, max_iter + 1):
        V_next = q_values(mdp, V).max(axis=1)
        if np.max(np.abs(V_next - V)) < tol:
            return V_next, greedy_policy(mdp, V_next), sweep
        V = V_next
    ### END SOLUTION
    raise ConvergenceError(f"value iteration did not converge in {max_iter} sweeps")


def epsilon_greedy(Q_row, epsilon, rng):
    """With probability epsilon a uniformly random action, else the best (lowest index on ties)."""
    if rng.random() < epsilon:
        return int(rng.integers(len(Q_row)))
    return int(np.argmax(Q_row))


def q_learning(env, episodes, alpha=0.5, epsilon=0.2, rng=None, max_steps=200):
    """Learn Q from sampled steps only: the case where p(s'|s, a) and R are unknown.

    ``env`` needs ``n_states``, ``n_actions``, ``gamma``, ``reset(rng) -> s`` and
    ``step(s, a, rng) -> (s', r, done)``; it is never asked for P or R. Each step, with an
    epsilon-greedy action a in state s,

        Q(s, a) <- Q(s, a) + alpha * (r + gamma * max_a' Q(s', a') * (not done) - Q(s, a)).

    An episode ends at a terminal state or after ``max_steps`` steps. Returns Q (S, A);
    the learned policy is its row-wise argmax.
    """
    check_q_learning(episodes, alpha, epsilon, rng, max_steps)
    Q = np.zeros((env.n_states, env.n_actions))
    ### BEGIN SOLUTION
    for _ in range(episodes):
        s = env.reset(rng)
        for _ in range(max_steps):
            a = epsilon_greedy(Q[s], epsilon, rng)
            s_next, r, done = env.step(s, a, rng)
            target = r if done else r + env.gamma * Q[s_next].max()
            Q[s, a] += alpha * (target - Q[s, a])
            if done:
                break
            s = s_next
    ### END SOLUTION
    return Q
