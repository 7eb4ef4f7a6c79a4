"""The model of the lecture's RL setup: an MDP whose dynamics are known, and the gridworld.

An MDP is the state space S, the action space A, the transition function p(s'|s, a) and the
reward R(s, a), here as arrays (shapes below), plus the discount gamma and which states
end an episode. ``Gridworld`` builds one from a text picture of a grid; ``Gridworld.lecture``
is the lecture's 3x4 world with its +1 and -1 exits. The solvers are in ``mdp.py``.

Shapes: S states, A actions.
    P       (S, A, S)  P[s, a, s'] = p(s'|s, a)
    R       (S, A)     expected reward of taking a in s
    V       (S,)       a value function

Conventions (where sources disagree):
- Reward on the transition: entering a terminal square pays that square's reward and ends
  the episode; every other step pays the living reward. Terminal states are absorbing with
  zero reward, so V(terminal) = 0 (the CS188 "exit action" convention would put the +1 in
  V(terminal) instead).
- Actions are ordered up, down, left, right, as the lecture lists them.

Nothing here is graded: this is the world students' solvers run on.
"""

import numpy as np

from ._checks import check_layout, check_mdp_arrays, check_policy, check_terminal, check_values


class MDP:
    """A finite MDP with known dynamics: ``MDP(P, R, gamma, terminal)``.

    ``terminal`` is a boolean mask (S,) or a list of state indices. Terminal states must be
    absorbing (every action stays) and pay nothing, which is what "the episode ends" means
    for the Bellman equations.
    """

    def __init__(self, P, R, gamma, terminal=()):
        self.P, self.R, self.gamma = check_mdp_arrays(P, R, gamma)
        self.terminal = check_terminal(terminal, self.P, self.R)

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
        rows = check_layout(layout, living_reward, noise)
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
        policy = check_policy(self, policy)
        if policy.ndim == 2:
            policy = policy.argmax(axis=1)
        return self.render(lambda s: f"[{self.exit_reward[s]:+g}]" if s in self.exit_reward else ARROWS[policy[s]])


class ModelFreeView:
    """What a learning agent may see of an MDP: no P, no R, only sampled steps.

    ``q_learning`` is graded on this view of a gridworld. Episodes start in a uniformly random
    non-terminal square (the lecture's grid has no start square), so every square is visited.
    It is given code, so in a grading run it lives in the student process beside the learner
    and a step costs no round trip to the grader.
    """

    def __init__(self, world):
        self._world = world
        self.n_states, self.n_actions, self.gamma = world.n_states, world.n_actions, world.gamma
        self._starts = np.flatnonzero(~world.terminal)

    def reset(self, rng):
        return int(rng.choice(self._starts))

    def step(self, s, a, rng):
        return self._world.step(s, a, rng)

