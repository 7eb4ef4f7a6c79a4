"""Markov decision processes with known dynamics, and how to find the optimal policy.

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

Left out: stochastic rewards p(r|s, a) enter only through their mean R(s, a), which is all
the Bellman equations need; asynchronous/in-place sweeps; modified policy iteration.
"""

import numpy as np


class ConvergenceError(RuntimeError):
    """An iterative solver did not meet its tolerance within ``max_iter`` sweeps."""


class MDP:
    """A finite MDP with known dynamics: ``MDP(P, R, gamma, terminal)``.

    ``terminal`` is a boolean mask (S,) or a list of state indices. Terminal states must be
    absorbing (every action stays) and pay nothing, which is what "the episode ends" means
    for the Bellman equations.
    """

    def __init__(self, P, R, gamma, terminal=()):
        P = np.asarray(P, dtype=np.float64)
        R = np.asarray(R, dtype=np.float64)
        if P.ndim != 3 or P.shape[0] != P.shape[2] or P.shape[0] == 0 or P.shape[1] == 0:
            raise ValueError(f"P must have shape (S, A, S) with S, A >= 1; got shape {P.shape}")
        S, A, _ = P.shape
        if not np.all(np.isfinite(P)) or P.min() < 0 or P.max() > 1:
            raise ValueError("P must hold probabilities in [0, 1]; got entries outside that range")
        row_sums = P.sum(axis=2)
        if not np.allclose(row_sums, 1.0, atol=1e-8):
            s, a = np.unravel_index(np.argmax(np.abs(row_sums - 1)), row_sums.shape)
            raise ValueError(
                f"P[s, a, :] must sum to 1 for every s, a; P[{s}, {a}, :] sums to {row_sums[s, a]:.6g}"
            )
        if R.shape != (S, A):
            raise ValueError(f"R must have shape (S, A) = {(S, A)} to match P; got {R.shape}")
        if not np.all(np.isfinite(R)):
            raise ValueError("R must be finite; got inf or nan entries")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating, np.integer)) or not 0 <= gamma <= 1:
            raise ValueError(f"gamma must be a number in [0, 1]; got {gamma!r}")
        self.P, self.R, self.gamma = P, R, float(gamma)
        self.terminal = self._terminal_mask(terminal, S)
        for t in np.flatnonzero(self.terminal):
            if not np.allclose(P[t, :, t], 1.0) or np.any(R[t] != 0):
                raise ValueError(
                    f"terminal state {t} must be absorbing with zero reward (P[{t}, :, {t}] = 1, R[{t}] = 0)"
                )

    @staticmethod
    def _terminal_mask(terminal, S):
        terminal = np.asarray(terminal)
        if terminal.dtype == bool:
            if terminal.shape != (S,):
                raise ValueError(f"terminal as a mask must have shape ({S},); got {terminal.shape}")
            return terminal.copy()
        if terminal.size and (not np.issubdtype(terminal.dtype, np.integer) or terminal.min() < 0 or terminal.max() >= S):
            raise ValueError(f"terminal must be a boolean mask or state indices in [0, {S}); got {terminal!r}")
        mask = np.zeros(S, dtype=bool)
        mask[terminal.astype(int).ravel()] = True
        return mask

    @property
    def n_states(self):
        return self.P.shape[0]

    @property
    def n_actions(self):
        return self.P.shape[1]


# ---------------------------------------------------------------------------------------------
# The lecture's gridworld

ACTIONS = ("up", "down", "left", "right")  # the lecture's order; ties go to the first
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))  # (row, column) step of each action
ARROWS = "^v<>"
PERPENDICULAR = ((2, 3), (2, 3), (0, 1), (0, 1))  # up/down slip sideways, left/right slip up/down

LECTURE_LAYOUT = """
.  .  .  +1
.  #  .  -1
S  .  .  .
"""


class Gridworld(MDP):
    """A grid MDP built from a text layout, one whitespace-separated token per cell:

    ``.`` a free square, ``S`` the free square where episodes start, ``#`` a wall, and a
    number (``+1``, ``-1``, ``10``) a terminal square paying that reward on entry. States are
    the non-wall squares in row-major order (terminal squares included, as absorbing states).

    Moving into a wall or off the grid stays put (and still pays the living reward). With
    slip ``noise``, the intended move happens with probability 1 - noise and each of the two
    perpendicular moves with noise / 2; the default 0 is the lecture's deterministic world.
    """

    def __init__(self, layout, living_reward=-0.04, gamma=1.0, noise=0.0):
        if not isinstance(layout, str):
            raise TypeError(f"layout must be a string of rows; got {type(layout).__name__}")
        rows = [line.split() for line in layout.strip().splitlines() if line.strip()]
        if not rows or any(len(row) != len(rows[0]) for row in rows):
            raise ValueError(f"layout must have rows of equal length; got row lengths {[len(r) for r in rows]}")
        for name, value in (("noise", noise), ("living_reward", living_reward)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{name} must be a number; got {value!r}")
        if not 0 <= noise <= 1:
            raise ValueError(f"noise must be a probability in [0, 1]; got {noise!r}")
        if not np.isfinite(living_reward):
            raise ValueError(f"living_reward must be a finite number; got {living_reward!r}")
        self.shape = (len(rows), len(rows[0]))
        self.living_reward, self.noise = float(living_reward), float(noise)
        self.cells = [(r, c) for r, row in enumerate(rows) for c, token in enumerate(row) if token != "#"]
        self.index = {cell: s for s, cell in enumerate(self.cells)}
        self.exit_reward = {}
        self.start = None
        for s, (r, c) in enumerate(self.cells):
            token = rows[r][c]
            if token == "S":
                if self.start is not None:
                    raise ValueError(f"layout has more than one start square 'S' (the second at ({r}, {c}))")
                self.start = s
            elif token != ".":
                try:
                    self.exit_reward[s] = float(token)
                except ValueError:
                    raise ValueError(
                        f"layout cell ({r}, {c}) is {token!r}; cells must be '.', 'S', '#' or a number"
                    ) from None
        S, A = len(self.cells), len(ACTIONS)
        P, R = np.zeros((S, A, S)), np.zeros((S, A))
        for s in range(S):
            if s in self.exit_reward:
                P[s, :, s] = 1.0  # absorbing: the episode has ended
                continue
            for a in range(A):
                side1, side2 = PERPENDICULAR[a]
                for move, prob in ((a, 1 - noise), (side1, noise / 2), (side2, noise / 2)):
                    if prob > 0:
                        s_next = self.neighbour(s, move)
                        P[s, a, s_next] += prob
                        R[s, a] += prob * self.reward_of_entering(s_next)
        super().__init__(P, R, gamma, terminal=list(self.exit_reward))

    @classmethod
    def lecture(cls, living_reward=-0.04, gamma=1.0, noise=0.0):
        """The lecture's 3x4 world: +1 and -1 exits in the right column, one wall, start bottom-left."""
        return cls(LECTURE_LAYOUT, living_reward, gamma, noise)

    def neighbour(self, s, action):
        r, c = self.cells[s]
        dr, dc = MOVES[action]
        return self.index.get((r + dr, c + dc), s)  # a wall or the edge: stay put

    def reward_of_entering(self, s_next):
        return self.exit_reward.get(s_next, self.living_reward)

    # --- sampling, for learning without P and R (q_learning) -----------------------------
    def reset(self, rng):
        """The start square if the layout has one, else a uniformly random non-terminal square."""
        if self.start is not None:
            return self.start
        return int(rng.choice(np.flatnonzero(~self.terminal)))

    def step(self, s, a, rng):
        """Sample one transition: ``(s', reward, done)``. A terminal state stays put, pays 0."""
        if self.terminal[s]:
            return s, 0.0, True
        s_next = int(rng.choice(self.n_states, p=self.P[s, a]))
        return s_next, self.reward_of_entering(s_next), bool(self.terminal[s_next])

    # --- text rendering ---------------------------------------------------------------------
    def render(self, cell_text, width=6):
        """The grid as text, ``cell_text(s)`` in each state's square, walls as ``#``."""
        lines = []
        for r in range(self.shape[0]):
            row = []
            for c in range(self.shape[1]):
                s = self.index.get((r, c))
                text = "#" * (width - 2) if s is None else cell_text(s)
                row.append(f"{text:^{width}}")
            lines.append("".join(row).rstrip())
        return "\n".join(lines)

    def render_values(self, V):
        """Values to two decimals; exits show their reward in brackets."""
        V = check_values(self, V)
        return self.render(lambda s: f"[{self.exit_reward[s]:+g}]" if s in self.exit_reward else f"{V[s]:.2f}")

    def render_policy(self, policy):
        """One arrow per square (``^ v < >``); exits show their reward in brackets.

        A stochastic (S, A) policy shows its most likely action (the first on ties)."""
        policy = np.asarray(policy)
        if policy.shape == (self.n_states, self.n_actions):
            policy = policy.argmax(axis=1)
        if policy.shape != (self.n_states,):
            raise ValueError(f"policy must have shape ({self.n_states},) or ({self.n_states}, {self.n_actions}); got {policy.shape}")
        return self.render(lambda s: f"[{self.exit_reward[s]:+g}]" if s in self.exit_reward else ARROWS[policy[s]])


def policy_matrix(mdp, policy):
    """pi(a|s) as an (S, A) array, from a deterministic (S,) or stochastic (S, A) policy."""
    policy = np.asarray(policy)
    S, A = mdp.n_states, mdp.n_actions
    if policy.shape == (S,):
        if not np.issubdtype(policy.dtype, np.integer) or policy.min() < 0 or policy.max() >= A:
            raise ValueError(f"a deterministic policy must hold action indices in [0, {A}); got {policy!r}")
        return np.eye(A)[policy]
    if policy.shape == (S, A):
        if policy.min() < 0 or not np.allclose(policy.sum(axis=1), 1.0, atol=1e-8):
            raise ValueError("a stochastic policy must have non-negative rows pi(.|s) summing to 1")
        return policy.astype(np.float64)
    raise ValueError(f"policy must have shape (S,) = ({S},) or (S, A) = ({S}, {A}); got {policy.shape}")


def policy_dynamics(mdp, policy):
    """P_pi (S, S) and R_pi (S,): the Markov chain and reward of following ``policy``."""
    pi = policy_matrix(mdp, policy)
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)  # P_pi[s, s'] = sum_a pi(a|s) p(s'|s, a)
    R_pi = np.sum(pi * mdp.R, axis=1)  # R_pi[s] = sum_a pi(a|s) R(s, a)
    return P_pi, R_pi


def check_values(mdp, V, name="V"):
    """``V`` as a float array of shape (S,), or a ValueError naming ``name``."""
    V = np.asarray(V, dtype=np.float64)
    if V.shape != (mdp.n_states,):
        raise ValueError(f"{name} must have shape (S,) = ({mdp.n_states},); got {V.shape}")
    return V


def q_values(mdp, V):
    """Q(s, a) = R(s, a) + gamma * sum_s' p(s'|s, a) V(s'), as an (S, A) array."""
    V = check_values(mdp, V)
    # TODO: (S, A, S) @ (S,) gives the expected next value for every (s, a)
    raise NotImplementedError("q_values: not implemented yet")


def bellman_expectation_backup(mdp, policy, V):
    """One synchronous sweep of policy evaluation: V_{k+1}(s) = sum_a pi(a|s) Q_k(s, a).

    Q_k are the action values computed from V_k (``q_values``); every state is updated from
    the old V, so the result does not depend on the order of states.
    """
    pi = policy_matrix(mdp, policy)
    # TODO: implement bellman_expectation_backup (see the docstring)
    raise NotImplementedError("bellman_expectation_backup: not implemented yet")


def policy_evaluation(mdp, policy, tol=1e-10, max_iter=100_000, V0=None):
    """V^pi by repeated synchronous sweeps from V0 (zeros by default).

    Stops at the first sweep that changes no value by ``tol`` or more and returns that V.
    Raises ``ConvergenceError`` after ``max_iter`` sweeps: with gamma = 1 that is what a
    policy that never reaches a terminal state does (its values drift off forever).
    """
    check_solver_args(tol, max_iter)
    V = np.zeros(mdp.n_states) if V0 is None else check_values(mdp, V0, "V0").copy()
    # TODO: implement policy_evaluation (see the docstring)
    raise NotImplementedError("policy_evaluation: not implemented yet")
    raise ConvergenceError(
        f"policy evaluation did not converge to tol = {tol:g} in {max_iter} sweeps; with "
        f"gamma = 1 the policy may never reach a terminal state"
    )


def check_solver_args(tol, max_iter):
    if not tol > 0:
        raise ValueError(f"tol must be > 0; got {tol!r}")
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")


def check_proper(mdp, P_pi):
    """With gamma = 1, V^pi is finite only if every state can reach a terminal state.

    Raises ValueError naming the states from which following the policy never ends.
    """
    reaches = mdp.terminal.copy()
    while True:  # states with a positive-probability step into the set that reaches
        grown = reaches | (P_pi[:, reaches].sum(axis=1) > 0)
        if np.array_equal(grown, reaches):
            break
        reaches = grown
    if not reaches.all():
        raise ValueError(
            f"with gamma = 1 the policy must reach a terminal state from every state; from states "
            f"{np.flatnonzero(~reaches).tolist()} it never does, so their values are not finite "
            f"(if every step costs nothing, staying put ties with moving on: use a negative "
            f"living reward or gamma < 1)"
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
    # TODO: restrict P_pi and R_pi to the non-terminal states, then np.linalg.solve
    raise NotImplementedError("policy_evaluation_exact: not implemented yet")
    return V


def greedy_policy(mdp, V):
    """pi(s) = argmax_a Q(s, a) as (S,) action indices; ties go to the lowest index.

    Two actions count as tied when their Q differ by less than 1e-9 (relative to the size
    of Q), so round-off never decides between equally good actions.
    """
    # TODO: implement greedy_policy (see the docstring)
    raise NotImplementedError("greedy_policy: not implemented yet")


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
    check_solver_args(1.0, max_iter)
    policy = proper_policy(mdp) if policy is None else np.asarray(policy)
    # TODO: implement policy_iteration (see the docstring)
    raise NotImplementedError("policy_iteration: not implemented yet")
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
    check_solver_args(tol, max_iter)
    V = np.zeros(mdp.n_states)
    # TODO: implement value_iteration (see the docstring)
    raise NotImplementedError("value_iteration: not implemented yet")
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
    if not isinstance(episodes, (int, np.integer)) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer; got {episodes!r}")
    if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer; got {max_steps!r}")
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha (the step size) must be in (0, 1]; got {alpha!r}")
    if not 0 <= epsilon <= 1:
        raise ValueError(f"epsilon must be in [0, 1]; got {epsilon!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)); got {type(rng).__name__}")
    Q = np.zeros((env.n_states, env.n_actions))
    # TODO: implement q_learning (see the docstring)
    raise NotImplementedError("q_learning: not implemented yet")
    return Q
