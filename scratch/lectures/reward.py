"""Lecture demo, the reward model (RLHF step 2): labelers rank K samples of the SFT model, a
scalar head on the SFT model's Transformer learns from the rankings alone, and we compare it
with the hidden gold reward it never saw.

Setup: the SFT model of the sft demo (cached; trained first if missing). For each prompt, K = 4
responses sampled from it at temperature 1; the simulated labelers rank them by Plackett-Luce
from exp(g / tau), tau = 0.25 (scratch/instructions.py: g = answer correctness + 0.5 for
"sure", -1 for a malformed response). 600 ranked prompts from the training instructions;
accuracy is measured on 300 fresh groups of held-out instructions. Reward model: the SFT
backbone (copied) + a zero head; 300 AdamW steps of 16 groups, lr 0.003.

The ceiling is the accuracy of g itself on the held-out labels: the labelers' noise (and the
ties of g, ranked at random) caps what any reward can reach. The SFT model is almost always
right at temperature 1, so its samples differ mostly by "sure": the rankings mostly teach
politeness, the preference SFT lacks, and say almost nothing about malformed text, which SFT
never writes. The last table probes that: responses no labeler ever saw, scored by the
normalised reward model and by g. A reward that rises with every "sure" is what RLHF will
over-optimise.

K = 2 against K = 4 at the same number of prompts: the K = 2 labels are the order of the first
two responses in the K = 4 ranking (a Plackett-Luce ranking restricted to a subset is the
Plackett-Luce ranking of that subset), so both see the same labelers, and K = 4 sees 6 pairs
per prompt instead of 1.

Measured (two cores, 24 s with the SFT model cached): held-out accuracy 0.632 against the
ceiling 0.644 (within 1.2 points; "sure or not" alone scores 0.634: the rankings of SFT samples
teach politeness and little else). Normalised on SFT samples, the seven malformed samples score
+0.71 on average, above the correct ones (-0.48); the probe "sure sure <answer> <eos>" (gold
-1) scores 2.31, the highest of all. K = 2 against K = 4 at 25 / 100 / 400 prompts: 0.605 /
0.614 / 0.623 against 0.634 / 0.623 / 0.633: the K-wise rankings give more accuracy per
labelled prompt, as the lecture claims (small differences at this noise level).

The reward model is not cached (the checkpoint format stores a GPT; the head would need its
own entry): the RLHF chapter must retrain it or extend scratch/checkpoint.py.
"""

import io

import numpy as np

from scratch.instructions import POLITE, label_groups, sample_responses

from . import sft as sft_demo

K, TAU = 4, 0.25
TRAIN_PROMPTS, TEST_PROMPTS = 600, 300
STEPS, BATCH_PROMPTS, LR = 300, 16, 0.003
K_STUDY = {"prompts": (25, 100, 400), "steps": 150}


def ranked_groups(impl, model, data, n, split, rng):
    pool = data.instances(split)
    instances = [pool[i] for i in rng.integers(len(pool), size=n)]
    responses = sample_responses(impl, model, data, instances, K, rng)
    return label_groups(data, instances, responses, TAU, rng)


def train(impl, sft_model, groups, steps, seed=0):
    model = impl.reward.RewardModel(sft_model)
    impl.reward.train_reward_model(model, groups, steps=steps, lr=LR, optim=impl.optim,
                                   batch_prompts=min(BATCH_PROMPTS, len(groups[0])), rng=np.random.default_rng(seed))
    return model


def group_scores(model, ids, lengths):
    return model.scores(ids.reshape(-1, ids.shape[-1]), lengths.ravel()).reshape(lengths.shape)


def first_two(groups):
    """The same groups with responses 0 and 1 only, ranked as the K-wise ranking orders them."""
    ids, lengths, rankings = groups[:3]
    pair = np.array([[k for k in row if k < 2] for row in rankings])
    return ids[:, :2], lengths[:, :2], pair


def run(impl):
    data = sft_demo.instruction_data()
    sft_model = sft_demo.sft_model(impl, data, out=io.StringIO())
    rng = np.random.default_rng(0)
    train_groups = ranked_groups(impl, sft_model, data, TRAIN_PROMPTS, "train", rng)
    ids, lengths, rankings, gold = ranked_groups(impl, sft_model, data, TEST_PROMPTS, "heldout", rng)
    values, counts = np.unique(train_groups[3], return_counts=True)
    print(f"Labelled data: {TRAIN_PROMPTS} prompts x K = {K} SFT samples, ranked by Plackett-Luce labelers "
          f"(tau = {TAU}); gold rewards of the samples: "
          + ", ".join(f"{v:g}: {c / counts.sum():.0%}" for v, c in zip(values, counts)))
    model = train(impl, sft_model, train_groups[:3], STEPS)
    scores = group_scores(model, ids, lengths)
    polite = (ids == data.tokenizer.id(POLITE)).any(axis=2).astype(float)
    accuracy = impl.reward.pairwise_accuracy
    print(f"\nHeld-out pairwise accuracy ({TEST_PROMPTS} groups of held-out instructions, {TEST_PROMPTS * 6} pairs):")
    print(f"  reward model                    {accuracy(scores, rankings):.3f}")
    print(f"  ceiling: the gold reward g      {accuracy(gold, rankings):.3f}")
    print(f"  'sure' or not, nothing else     {accuracy(polite, rankings):.3f}")
    print("  a constant                      0.500")

    flat_ids, flat_lengths = ids.reshape(-1, ids.shape[-1]), lengths.ravel()
    gain, bias = impl.reward.normalize_rewards(model, flat_ids, flat_lengths)
    normalised = model.scores(flat_ids, flat_lengths)
    print(f"\nNormalised on these SFT samples (gain {gain:.3f}, bias {bias:.3f}): mean {normalised.mean():.3f}, "
          f"std {normalised.std():.3f}. Reward-model score against the gold reward, held-out samples:")
    print(f"  {'gold g':>8} {'samples':>8} {'mean score':>11} {'std':>6}")
    for value in np.unique(gold):
        chosen = normalised[gold.ravel() == value]
        print(f"  {value:>8g} {len(chosen):>8} {chosen.mean():>11.2f} {chosen.std():>6.2f}")

    # "elvish for a b ?": a short prompt, so that the longest probe still fits in the context
    inst = next(i for i in data.instances("heldout") if i.task != "reverse" and i.phrasing == 1 and len(set(i.pair)) == 2)
    a, b = data.world.answer(inst.task, inst.pair)
    probes = [[a, b, "<eos>"], [POLITE, a, b, "<eos>"], [b, a, "<eos>"], [POLITE, b, a, "<eos>"],
              [POLITE, POLITE, a, b, "<eos>"], [POLITE, a, b], [a, b, b, "<eos>"], [POLITE, a, POLITE, b, "<eos>"]]
    prompt = data.tokenizer.encode(data.prompt(inst))
    rows = [np.concatenate([prompt, data.tokenizer.encode(p)]) for p in probes]
    padded = np.zeros((len(rows), max(map(len, rows))), dtype=np.int64)
    for i, row in enumerate(rows):
        padded[i, :len(row)] = row
    probe_scores = model.scores(padded, np.array([len(r) for r in rows]))
    print(f"\nProbes for '{' '.join(data.prompt(inst)[1:])}' (most of them unlike any SFT sample):")
    for words, score in zip(probes, probe_scores):
        print(f"  {' '.join(words):<40} reward model {score:>6.2f}   gold {data.gold_reward(inst, words):>5.1f}")

    print(f"\nK = 2 against K = 4 at the same number of prompts ({K_STUDY['steps']} steps each), held-out accuracy:")
    print(f"  {'prompts':>8} {'K = 2':>8} {'K = 4':>8}")
    for n in K_STUDY["prompts"]:
        subset = tuple(part[:n] for part in train_groups[:3])
        by_k = [accuracy(group_scores(train(impl, sft_model, groups, K_STUDY["steps"]), ids, lengths), rankings)
                for groups in (first_two(subset), subset)]
        print(f"  {n:>8} {by_k[0]:>8.3f} {by_k[1]:>8.3f}")
