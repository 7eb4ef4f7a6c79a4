"""Lecture demo, prompting: zero-, one- and few-shot prompts to the pretrained GPT of the
previous chapter (from the cache), answered in one batch with the KV cache; accuracy on
held-out queries against the number of demonstrations, with and without the task's name.
No weight changes in this chapter: what rises with the shots was learned in pretraining.
The demo prints the accuracies and writes them to results.json (``prompting.*``).
"""

import numpy as np

from scratch.train import display, models, pretraining

from . import cache, label_key, record, save_figure

SHOTS = (0, 1, 2, 4, 8)
REPEATS = 4  # prompts per held-out pair and task, each with its own demonstrations


def save_plot(table, chance):
    """Accuracy against shots as a PNG; its path, or None without matplotlib."""
    def draw(ax):
        # the two curves meet at 100%: distinct markers and line styles keep both visible
        for (label, accuracies), style in zip(table.items(), ({"marker": "o", "linestyle": "-", "markersize": 8},
                                                               {"marker": "x", "linestyle": "--", "markersize": 7})):
            ax.plot(SHOTS, accuracies, label=label, **style)
        ax.axhline(chance, linestyle=":", color="gray", linewidth=1, label="chance (guess the task)")
        ax.set_title("In-context learning: no weight changes")
        ax.set_xlabel("demonstrations in the prompt (shots)")
        ax.set_ylabel("exact match on held-out queries (share)")
        ax.set_ylim(0, 1.02)
        ax.legend()

    return save_figure(draw, "shots.png", "accuracy against shots")


def run(impl):
    task_world, _ = pretraining.build_world(pretraining.LECTURE)
    model = models.pretrained(impl, cache)
    tokenizer = task_world.tokenizer
    rng = np.random.default_rng(0)
    query = task_world.heldout_pairs[0]
    print("One prompt per style, the model's greedy answer after '=>' (held-out query "
          f"{' '.join(query)}):")
    for shots, named in ((0, False), (0, True), (2, False)):
        prompts, golds = impl.prompting.sample_prompts(task_world, "dwarvish", shots, [query], rng, named=named)
        answer = impl.prompting.answer_prompts(model, tokenizer, prompts)[0]
        print(f"  {' '.join(prompts[0])}  ->  {' '.join(answer)}   (dwarvish: {' '.join(golds[0])})")

    queries = task_world.heldout_pairs * REPEATS
    n_prompts = len(queries) * len(task_world.tasks)
    table = {label: [impl.prompting.shot_accuracy(model, task_world, k, named=named, queries=queries, seed=k)
                     for k in SHOTS]
             for label, named in (("no task name", False), ("task named", True))}
    chance = 1 / len(task_world.tasks)
    print(f"\nExact match on held-out queries ({n_prompts} prompts per cell, all {len(task_world.tasks)} tasks; "
          f"greedy answers, one batch per cell):")
    print(f"  {'shots':>14} " + " ".join(f"{k:>6d}" for k in SHOTS))
    for label, accuracies in table.items():
        print(f"  {label:>14} " + " ".join(f"{a:6.1%}" for a in accuracies))
    print(f"  chance without a name or an example: guessing one of {len(task_world.tasks)} tasks = {chance:.0%}\n")
    print(display.text_chart({label: (SHOTS, accuracies) for label, accuracies in table.items()},
                             references={"chance": chance}, x_label="shots", height=8))
    for label, accuracies in table.items():
        for k, accuracy in zip(SHOTS, accuracies):
            record("prompting", f"{label_key(label)}_{k}_shot_exact_match", accuracy)
    record("prompting", "chance", chance)
    save_plot(table, chance)
