"""Lecture demo, the reward model (RLHF step 2): labelers rank K samples of the SFT model, a
scalar head on the SFT model's Transformer learns from the rankings alone, and we compare it
with the hidden gold reward it never saw.

Setup: the SFT model of the sft demo (cached, trained first if missing). For each prompt, K = 4
responses sampled from it at temperature 1; simulated labelers rank them by Plackett-Luce from
exp(g / tau), tau = 0.25 (scratch/data/instructions.py: g = answer correctness + 0.5 for "sure",
-1 for a malformed response). 600 ranked prompts from the training instructions; accuracy on
300 fresh groups of held-out instructions. Reward model: the SFT backbone (copied) + a zero
head; 300 AdamW steps of 16 groups, lr 0.003; then normalised so that the SFT samples of its
training groups score mean 0 and std 1. Cached with its head for the RLHF chapter.

The known truth: the ceiling is the accuracy of g itself on the held-out labels; the labelers'
noise (and g's ties, ranked at random) caps what any reward can reach. K = 2 against K = 4 at
the same prompts: the K = 2 labels are the order of the first two responses in the K = 4
ranking (a Plackett-Luce ranking restricted to a subset is that subset's Plackett-Luce
ranking), so both see the same labelers, and K = 4 sees 6 pairs per prompt instead of 1.

Findings: the reward model comes within a few points of the ceiling, but "sure or not" alone
scores about as well: SFT is almost always right at temperature 1, so its samples differ mostly
by politeness, the preference SFT lacks, and the rankings say almost nothing about malformed
text, which SFT seldom writes. The probes (responses no labeler saw) show it: a doubled "sure",
malformed, outscores the best response. A reward that rises with every "sure" is what RLHF will
over-optimise. K = 4 gives six times the pairs per prompt; the K table shows what they buy at
25, 100 and 400 prompts: a few points at most, of either sign, within what 150-step models vary.
The demo prints the numbers and writes them to results.json (``reward.*``).
"""

import numpy as np

from scratch.data import instructions
from scratch.data.instructions import POLITE
from scratch.train import models
from scratch.train.models import REWARD

from . import cache, record, save_figure

K_STUDY = {"prompts": (25, 100, 400), "steps": 150}


def group_scores(model, ids, lengths):
    return model.scores(ids.reshape(-1, ids.shape[-1]), lengths.ravel()).reshape(lengths.shape)


def first_two(groups):
    """The same groups with responses 0 and 1 only, ranked as the K-wise ranking orders them."""
    ids, lengths, rankings = groups[:3]
    pair = np.array([[k for k in row if k < 2] for row in rankings])
    return ids[:, :2], lengths[:, :2], pair


def text_strips(groups, width=50):
    """A text scatter plot: one row per group {label: values}, the values binned along one
    shared axis, each cell's count drawn darker for more (`` .:-=+*#%@``)."""
    shades = " .:-=+*#%@"
    values = np.concatenate(list(groups.values()))
    lo, hi = values.min(), values.max()
    edges = np.linspace(lo, hi, width + 1)
    lines = []
    for label, group in groups.items():
        counts, _ = np.histogram(group, bins=edges)
        levels = np.ceil(counts / max(counts.max(), 1) * (len(shades) - 1)).astype(int)
        lines.append(f"  {label:>8} |" + "".join(shades[level] for level in levels) + "|")
    lines.append(f"  {'':>8}  {lo:<{width // 2}.2f}{hi:>{width - width // 2}.2f}")
    return "\n".join(lines)


def save_plot(gold, scores):
    """Reward-model score against gold reward (jittered) as a PNG; its path, or None without
    matplotlib."""
    def draw(ax):
        jitter = np.random.default_rng(0).uniform(-0.08, 0.08, size=gold.shape)
        ax.plot(gold + jitter, scores, ".", alpha=0.3)
        ax.set_xlabel("gold reward g (jittered for visibility)")
        ax.set_ylabel("reward-model score (std of SFT's)")
        ax.set_title("Reward model against the hidden gold reward, held-out samples")

    return save_figure(draw, "reward_vs_gold.png", "reward-model score against gold reward")


def show_probes(data, model):
    # "elvish for a b ?": a short prompt, so that the longest probe still fits in the context
    inst = next(i for i in data.instances("heldout") if i.task != "reverse" and i.phrasing == 1 and len(set(i.pair)) == 2)
    a, b = data.world.answer(inst.task, inst.pair)
    probes = [[a, b, "<eos>"], [POLITE, a, b, "<eos>"], [b, a, "<eos>"], [POLITE, b, a, "<eos>"],
              [POLITE, POLITE, a, b, "<eos>"], [POLITE, a, b], [a, b, b, "<eos>"], [POLITE, a, POLITE, b, "<eos>"]]
    prompt = data.tokenizer.encode(data.prompt(inst))
    ids, lengths = instructions.pad_groups([prompt], [[data.tokenizer.encode(p) for p in probes]], data.pad_id)
    probe_scores = model.scores(ids[0], lengths[0])
    print(f"\nProbes for '{' '.join(data.prompt(inst)[1:])}' (most of them unlike any SFT sample):")
    for words, score in zip(probes, probe_scores):
        symbolic = [{a: "a", b: "b"}.get(w, w.strip("<>")) for w in words]  # a stable key: "sure_a_b_eos"
        record("reward", "probe_" + "_".join(symbolic), score)
        print(f"  {' '.join(words):<40} reward model {score:>6.2f}   gold {data.gold_reward(inst, words):>5.1f}")


def run(impl):
    data = models.instruction_data()
    sft_model = models.sft_model(impl, data, cache)
    train_groups, (ids, lengths, rankings, gold) = models.labelled_data(impl, sft_model, data)
    values, counts = np.unique(train_groups[3], return_counts=True)
    for v, c in zip(values, counts):
        record("reward", f"train_samples_gold_{v:g}_share", c / counts.sum())
    print(f"Labelled data: {REWARD['train_prompts']} prompts x K = {REWARD['K']} SFT samples, ranked by Plackett-Luce "
          f"labelers (tau = {REWARD['tau']}); gold rewards of the samples: "
          + ", ".join(f"{v:g}: {c / counts.sum():.0%}" for v, c in zip(values, counts)))
    print(f"\nReward model: {REWARD['steps']} AdamW steps of {REWARD['batch_prompts']} ranked groups, from the SFT model")
    model = models.cached_reward_model(impl, sft_model, train_groups, REWARD["steps"], "reward", cache)
    scores = group_scores(model, ids, lengths)
    polite = (ids == data.tokenizer.id(POLITE)).any(axis=2).astype(float)
    accuracy = impl.reward.pairwise_accuracy
    ceiling = record("reward", "heldout_accuracy_ceiling", accuracy(gold, rankings))
    record("reward", "heldout_accuracy", accuracy(scores, rankings))
    record("reward", "heldout_accuracy_sure_only", accuracy(polite, rankings))
    print(f"\nHeld-out pairwise accuracy ({REWARD['test_prompts']} groups of held-out instructions, {REWARD['test_prompts'] * 6} pairs):")
    print(f"  reward model                    {accuracy(scores, rankings):.3f}   "
          f"({(ceiling - accuracy(scores, rankings)) * 100:.1f} points under the ceiling)")
    print(f"  ceiling: the gold reward g      {ceiling:.3f}")
    print(f"  'sure' or not, nothing else     {accuracy(polite, rankings):.3f}")
    print("  a constant                      0.500")

    print(f"\nReward-model score (normalised on the training groups' SFT samples) against the gold reward, "
          f"held-out samples: mean {scores.mean():.3f}, std {scores.std():.3f}")
    print(f"  {'gold g':>8} {'samples':>8} {'mean score':>11} {'std':>6}")
    record("reward", "heldout_score_mean", scores.mean())
    record("reward", "heldout_score_std", scores.std())
    by_gold = {f"g = {value:g}": scores[gold == value] for value in np.unique(gold)}
    for label, chosen in by_gold.items():
        record("reward", f"heldout_samples_gold_{label[4:]}", len(chosen))
        record("reward", f"heldout_mean_score_gold_{label[4:]}", chosen.mean())
        print(f"  {label[4:]:>8} {len(chosen):>8} {chosen.mean():>11.2f} {chosen.std():>6.2f}")
    print("\nThe same as a plot: one row per gold reward, the reward-model scores of its samples along the axis\n"
          "(each row shaded by its own fullest cell; the table above gives the counts):")
    print(text_strips(by_gold))
    save_plot(gold.ravel(), scores.ravel())
    show_probes(data, model)

    steps = K_STUDY["steps"]
    print(f"\nK = 2 against K = 4 at the same number of prompts: {2 * len(K_STUDY['prompts'])} reward models, "
          f"{steps} steps each")
    table = {}
    for n in K_STUDY["prompts"]:
        subset = tuple(part[:n] for part in train_groups[:3])
        for k, groups in ((2, first_two(subset)), (4, subset)):
            study = models.cached_reward_model(impl, sft_model, groups, steps, f"reward-k{k}-n{n}", cache,
                                               log_every=steps)
            table[n, k] = record("reward", f"heldout_accuracy_k{k}_{n}_prompts",
                                 accuracy(group_scores(study, ids, lengths), rankings))
    print(f"\nHeld-out accuracy:\n  {'prompts':>8} {'K = 2':>8} {'K = 4':>8}")
    for n in K_STUDY["prompts"]:
        print(f"  {n:>8} {table[n, 2]:>8.3f} {table[n, 4]:>8.3f}")
