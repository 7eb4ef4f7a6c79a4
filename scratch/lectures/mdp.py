"""Lecture demo, chapter 1: the gridworld's optimal policy as the living reward changes.

Shows, side by side for living rewards -2, -0.5 and -0.04 (deterministic moves, gamma = 1),
the optimal values and policy found by value iteration, then how much work each solver
needed: value-iteration sweeps, policy-iteration evaluations, and the iterative
policy-evaluation check of the final policy against the exact linear solve. The demo prints
them and writes them to results.json (``mdp.*``).
"""

import numpy as np

from scratch.train.display import side_by_side

from . import record

LIVING_REWARDS = (-2.0, -0.5, -0.04)


def run(impl):
    mdp = impl.mdp
    worlds = [mdp.Gridworld.lecture(living_reward=r) for r in LIVING_REWARDS]
    titles = [f"living reward {r:g}" for r in LIVING_REWARDS]
    print("The lecture's gridworld: +1 and -1 exits, one wall, start at the bottom left;")
    print("moves are deterministic and gamma = 1. Optimal policy (value iteration):\n")
    solved = [mdp.value_iteration(world) for world in worlds]
    print(side_by_side([w.render_policy(pi) for w, (_, pi, _) in zip(worlds, solved)], titles))
    print("\nOptimal values V*(s):\n")
    print(side_by_side([w.render_values(V) for w, (V, _, _) in zip(worlds, solved)], titles))
    print("\nAt -2 three more steps cost more than the -1 exit, so the square below -1 takes it")
    print("(beside -1, up-then-right ties with straight into -1 at -1; ties go to 'up').")
    print("At -0.5 and -0.04 the square below -1 walks around to +1 instead.\n")

    print(f"{'living reward':>14} {'value-iter sweeps':>18} {'policy-iter evals':>18} {'same policy':>12} {'|V_iter - V_exact|':>19}")
    for reward, world, (V, policy, sweeps) in zip(LIVING_REWARDS, worlds, solved):
        V_pi, policy_pi, evaluations = mdp.policy_iteration(world)
        V_check = mdp.policy_evaluation(world, policy)
        gap = np.max(np.abs(V_check - mdp.policy_evaluation_exact(world, policy)))
        same = "yes" if np.array_equal(policy, policy_pi) else "no"
        for name, value in (("value_iteration_sweeps", sweeps), ("policy_iteration_evaluations", evaluations),
                            ("same_policy", same), ("policy_evaluation_gap", gap)):
            record("mdp", f"living_reward_{reward:g}_{name}", value)
        print(f"{reward:>14g} {sweeps:>18d} {evaluations:>18d} {same:>12} {gap:>19.1e}")
