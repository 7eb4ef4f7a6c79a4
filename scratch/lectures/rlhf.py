"""Lecture demo, RLHF step 3: optimise the SFT policy against the reward model with PPO and
RLOO, near the SFT model (beta), with and without the pretraining mix (gamma), and DPO on the
same comparisons, each judged by the hidden gold reward the reward model only approximates.

Setup: the SFT and reward models of the two previous chapters (cached). A rollout answers a
training instruction (16 prompts x K = 4 samples per iteration, temperature 1, up to 6 tokens),
rewarded by the reward model's score. Nothing in the loop sees the gold reward (0.5 per right
answer word, + 0.5 for "sure", -1 if malformed); it is only reported. Every policy is evaluated
on the held-out instructions (2 samples each) and on 300 held-out pretraining pages.

The known truth: gold 1.5, the most there is, goes only to y* = "sure" + the right answer +
``<eos>``; the policy with mean gold 1.5 is the point mass on y*, whose KL to SFT is exactly
-log pi_SFT(y*|x) (:func:`ideal_kl`), mostly the -log 0.25 = 1.39 of always saying "sure" where
SFT says it a quarter of the time. The possible gain is 1.5 minus SFT's gold.

Decisions: PPO at lr 1e-4 (value head 1e-3), 4 epochs x 2 minibatches, clip 0.2, GAE(1, 0.95);
RLOO at lr 1e-3 (one step per batch); beta fixed, no KL target; KL per response is k1, summed
over tokens (the progress lines also show k3, noisier here). Every run starts from the same
seed: runs differ by their settings, not their luck.

Findings: PPO and RLOO at beta = 0.1 gain most of the possible gold at a KL near the closed-form
optimum's: they learn to say "sure" and little else. With beta = 0 the reward-model score climbs
while gold falls. Gold gain against sqrt(KL) peaks near the optimum's and falls beyond it, a
shape Gao et al.'s R(d) only approximates; beta moves a run along it. SFT already forgot the
pretraining pages and PPO adds to it; the pretraining mix brings most of the loss back, at a
little gold. DPO comes near PPO at beta = 0.5 and collapses at beta = 0.1. The demo prints the
numbers, each section with its reading, and writes them to results.json (``rlhf.*``).
"""

import copy
import time
from dataclasses import replace

import numpy as np

from scratch.data import world
from scratch.data.instructions import MALFORMED, POLITE
from scratch.train import display, models, pretraining, rlhf
from scratch.train.rlhf import GAMMA, LM_ROWS, PPO, PROMPTS, RLOO, dpo_pairs, fit_gao, gao_curve

from . import cache, label_key, record, save_figure

ITERATIONS = 60
BETAS = (0.0, 0.02, 0.05, 0.1, 0.3, 1.0)
DPO = {"betas": (0.5, 0.1), "steps": 150, "eval_every": 50, "lr": 1e-4, "batch_pairs": 32}
EVAL = replace(PPO, k=2)
PRETRAINING_PAGES = 300
COLUMNS = ("score", "gold", "grammatical", "polite", "kl_k1", "kl_k3", "entropy", "length")
RECORDED = {"score": "rm_score", "gold": "gold", "grammatical": "well_formed", "polite": "sure", "kl_k1": "kl",
            "pretraining_loss": "pretraining_loss"}  # a held-out metric's name in results.json


class Judges:
    """The reward (the reward model's score) and what is only reported (gold, grammatical,
    polite), for rollouts given as (rows, tokens, lengths)."""

    def __init__(self, data, reward_model):
        self.data, self.reward_model = data, reward_model
        self.instance = {tuple(data.tokenizer.encode(data.prompt(inst))): inst
                         for split in ("train", "heldout") for inst in data.instances(split)}
        self.reward = rlhf.Reward(self.score, stop_id=data.eos_id, pad_id=data.pad_id)
        self.reported = {"gold": self.gold, "grammatical": self.grammatical, "polite": self.polite}

    def score(self, rows, tokens, lengths):
        sequences = [list(row) + list(response[:n]) for row, response, n in zip(rows, tokens, lengths)]
        ids, mask = rlhf.right_pad(sequences, self.data.pad_id)
        return self.reward_model.scores(ids, mask.sum(axis=1))

    def gold(self, rows, tokens, lengths):
        return np.array([self.data.gold_reward(self.instance[tuple(row)], response[:n])
                         for row, response, n in zip(rows, tokens, lengths)])

    def grammatical(self, rows, tokens, lengths):
        return self.gold(rows, tokens, lengths) != MALFORMED

    def polite(self, rows, tokens, lengths):
        return tokens[:, 0] == self.data.tokenizer.id(POLITE)


def prompt_ids(data, split):
    """The token ids of every instruction of ``split`` ("train" or "heldout"), in data.instances order."""
    return [data.tokenizer.encode(data.prompt(inst)) for inst in data.instances(split)]


def training_prompts(data):
    """Each iteration's prompts: PROMPTS training instructions drawn uniformly."""
    pool = prompt_ids(data, "train")
    return lambda rng: [pool[i] for i in rng.integers(len(pool), size=PROMPTS)]


def run_rl(impl, sft_model, judges, prompts, settings, label, key, pretrain_batches=None, seed=0):
    """A copy of the SFT model trained by ``settings`` for ITERATIONS; returns (policy, history).
    Its training time is recorded as ``<key>_seconds``."""
    print(f"\n{label}")
    started = time.perf_counter()
    policy = copy.deepcopy(sft_model)
    columns = COLUMNS + (("clip_fraction",) if settings.method == "ppo" else ()) + (("lm_loss",) if settings.gamma else ())
    progress = display.MetricsDisplay(ITERATIONS, ITERATIONS // 4, columns)
    history, _ = rlhf.train(impl, policy, sft_model, prompts, judges.reward, settings, iterations=ITERATIONS,
                            rng=np.random.default_rng(seed), judges=judges.reported,
                            pretrain_batches=pretrain_batches, log=progress)
    print(f"  {record('rlhf', f'{key}_seconds', time.perf_counter() - started):.0f} s")
    return policy, history


class Evaluation:
    """Held-out metrics of a policy: the held-out instructions (EVAL.k samples each) and the
    held-out pretraining pages."""

    def __init__(self, impl, data, sft_model, judges):
        self.impl, self.sft_model, self.judges = impl, sft_model, judges
        self.prompts = prompt_ids(data, "heldout")
        self.pages, self.floor = pretraining.heldout_pages(pretraining.LECTURE, n_pages=PRETRAINING_PAGES)

    def __call__(self, policy):
        metrics = rlhf.evaluate(self.impl, policy, self.sft_model, self.prompts, self.judges.reward, EVAL,
                                rng=np.random.default_rng(1), judges=self.judges.reported)
        metrics["pretraining_loss"] = pretraining.heldout_loss(policy, pretraining.LECTURE, self.pages)
        return metrics


def table(rows, columns=("score", "gold", "grammatical", "polite", "kl_k1", "pretraining_loss")):
    """{label: metrics} as a text table."""
    heads = {"score": "RM score", "gold": "gold", "grammatical": "well-formed", "polite": "'sure'",
             "kl_k1": "KL to SFT", "pretraining_loss": "pretrain loss"}
    width = max(map(len, rows)) + 2
    lines = [f"  {'':<{width}}" + "".join(f"{heads[c]:>14}" for c in columns)]
    for label, metrics in rows.items():
        lines.append(f"  {label:<{width}}" + "".join(f"{metrics[c]:>14.3f}" if np.isfinite(metrics[c]) else f"{'-':>14}"
                                                     for c in columns))
    return "\n".join(lines)


def save_frontier(points, alpha, b, best):
    """Gold gain against sqrt(KL), one colour per beta, with the fitted R(d) and the
    closed-form best policy ``best`` = (d, gain); its path, or None."""
    def draw(ax):
        for beta, (d, gain) in points.items():
            ax.plot(d, gain, ".", alpha=0.5, label=f"beta = {beta:g}")
        grid = np.linspace(0.05, max(d.max() for d, _ in points.values()), 100)
        ax.plot(grid, gao_curve(grid, alpha, b), "k-", label="d (alpha - b log d)")
        ax.plot(*best, "k*", markersize=12, label="best policy (closed form)")
        ax.axhline(0, color="gray", linewidth=0.5)
        ax.set_title("Gold gain against the distance from SFT")
        ax.set_xlabel("d = sqrt(KL to SFT) (nats^1/2)")
        ax.set_ylabel("gold reward gain over SFT")
        ax.legend()

    return save_figure(draw, "rlhf_frontier.png", "gold gain against sqrt(KL)")


def save_overoptimisation(history):
    """Reward-model score and gold reward per iteration at beta = 0; its path, or None."""
    def draw(ax):
        for name, label in (("score", "reward-model score"), ("gold", "gold reward"),
                            ("grammatical", "share well-formed")):
            ax.plot(history[name], label=label)
        ax.set_title("Over-optimisation: PPO without the KL penalty (beta = 0)")
        ax.set_xlabel("PPO iteration")
        ax.set_ylabel("batch mean (score in SFT std; gold; share)")
        ax.legend()

    return save_figure(draw, "rlhf_overoptimisation.png", "over-optimisation at beta = 0")


def show_samples(impl, policy, judges, n=6):
    """A few held-out answers of ``policy`` with their reward-model score and gold reward."""
    data = judges.data
    instances = data.instances("heldout")[::58][:n]
    rows = [data.tokenizer.encode(data.prompt(inst)) for inst in instances]
    out = impl.batched.generate_batch(policy, rows, PPO.max_new_tokens, stop_id=data.eos_id, pad_id=data.pad_id,
                                      rng=np.random.default_rng(2))
    scores, gold = judges.score(rows, out.tokens, out.lengths), judges.gold(rows, out.tokens, out.lengths)
    for inst, tokens, length, s, g in zip(instances, out.tokens, out.lengths, scores, gold):
        prompt = " ".join(data.prompt(inst)[1:])
        print(f"  {prompt:<38} {' '.join(data.tokenizer.decode(tokens[:length])):<32} RM {s:>5.2f}  gold {g:>4.1f}")


def ideal_kl(impl, sft_model, data, split):
    """The KL to SFT of the best policy for the gold reward, in closed form, on the
    instructions of ``split`` ("train" or "heldout").

    Gold 1.5, the most there is, goes only to y* = "sure" + the right answer + ``<eos>``, so a
    policy whose mean gold is 1.5 puts all its mass on y*, and its KL to SFT is
    sum_y pi(y) log(pi(y) / pi_SFT(y)) = -log pi_SFT(y*|x), read at the rollouts' temperature
    1: the mean of that over the split's instructions, from one pass of the SFT model."""
    instances = data.instances(split)
    rows = prompt_ids(data, split)
    best = [data.tokenizer.encode([POLITE, *data.world.answer(inst.task, inst.pair), data.tokenizer.words[data.eos_id]])
            for inst in instances]
    ids, left_pad = impl.batched.pad_left(rows, data.pad_id)
    tokens, mask = rlhf.right_pad(best, data.pad_id)
    logits, _ = impl.rlhf.response_forward(sft_model, ids, left_pad, tokens)
    logprobs, _ = impl.rlhf.token_logprobs_forward(logits, tokens, mask, PPO.temperature)
    return float(-impl.rlhf.masked_sum(logprobs, mask).mean())


def sweep(impl, sft_model, judges, prompts, evaluate, results):
    """Sections 1 to 3: PPO at every beta of BETAS (beta = 0 is the over-optimisation run) and
    RLOO at PPO's beta; returns each PPO run's history by beta."""
    runs = {}
    for beta in BETAS:
        label = f"PPO, beta = {beta:g}"
        policy, history = run_rl(impl, sft_model, judges, prompts, replace(PPO, beta=beta), label, label_key(label))
        runs[beta] = history
        results[label] = evaluate(policy)
        if beta == 0:
            show_overoptimisation(history)
            print("Held-out answers of the beta = 0 policy:")
            show_samples(impl, policy, judges)
    label = f"RLOO, beta = {RLOO.beta:g}"
    policy, _ = run_rl(impl, sft_model, judges, prompts, RLOO, f"{label}, lr {RLOO.lr:g}", label_key(label))
    results[label] = evaluate(policy)
    return runs


def show_overoptimisation(history):
    """Section 2: the beta = 0 run's reward-model score and gold reward per quarter of training."""
    quarters = {name: [float(np.mean(part)) for part in np.array_split(history[name], 4)] for name in ("score", "gold")}
    for name, values in quarters.items():
        for q, value in enumerate(values, 1):
            record("rlhf", f"ppo_beta_0_quarter_{q}_{RECORDED[name]}", value)
    print("Over-optimisation, beta = 0, means per quarter of training: reward-model score "
          + " / ".join(f"{v:.2f}" for v in quarters["score"]) + ", gold " + " / ".join(f"{v:.2f}" for v in quarters["gold"])
          + ".\nThe reward model learned from rankings of SFT samples, almost never malformed: it never learned "
            "that a second 'sure' is wrong.")


def show_frontier(runs, sft_gold, best_kl):
    """Section 3: gold gain over ``sft_gold`` against d = sqrt(KL) over every iteration of the
    sweep (training instructions), binned, with Gao et al.'s R(d) fitted to it and the
    closed-form best point (``best_kl``, on the training instructions too)."""
    kl = np.concatenate([h["kl_k1"] for h in runs.values()])
    d = np.sqrt(np.maximum(kl, 0))
    gain = np.concatenate([h["gold"] for h in runs.values()]) - sft_gold
    alpha, b, r2 = fit_gao(kl, gain)
    d_peak = np.exp(alpha / b - 1) if b > 0 else float("inf")
    for name, value in (("sft_gold_train", sft_gold), ("ideal_kl_train", best_kl), ("possible_gold_gain_train", 1.5 - sft_gold),
                        ("frontier_gao_alpha", alpha), ("frontier_gao_b", b), ("frontier_gao_r2", r2),
                        ("frontier_gao_peak_d", d_peak), ("frontier_gao_peak_gain", gao_curve(d_peak, alpha, b))):
        record("rlhf", name, value)
    print(f"\nGold gain over SFT's ({sft_gold:.3f} on the training instructions) against d = sqrt(KL), all {len(d)} "
          f"iterations of the sweep. Fitted R(d) = d (alpha - b log d): alpha = {alpha:.3f}, b = {b:.3f}, "
          f"R^2 = {r2:.2f}; its peak: gain {gao_curve(d_peak, alpha, b):.3f} at d = {d_peak:.2f} (KL {d_peak ** 2:.2f}).")
    print(f"The best policy there is (closed form, see ideal_kl; training instructions): gold 1.5, a gain of "
          f"{1.5 - sft_gold:.3f}, at d = {np.sqrt(best_kl):.2f} (KL {best_kl:.2f}).")
    edges = np.quantile(d, np.linspace(0, 1, 9))
    print(f"  {'d from':>8} {'to':>6} {'iterations':>11} {'gold gain':>10} {'R(d)':>8}")
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        chosen = (d >= lo) & (d <= hi)
        record("rlhf", f"frontier_bin_{i}_d_from", lo)
        record("rlhf", f"frontier_bin_{i}_gold_gain", gain[chosen].mean())
        print(f"  {lo:>8.2f} {hi:>6.2f} {chosen.sum():>11} {gain[chosen].mean():>10.3f} "
              f"{gao_curve(max(d[chosen].mean(), 1e-9), alpha, b):>8.3f}")
    print("The rise is a ceiling (gold cannot pass 1.5), reached at a KL set by SFT's p('sure'); the fall a cliff "
          "(a malformed answer\ncosts 2.5 gold at once): a shape two parameters cannot bend to, so R(d) follows the "
          "fall but misplaces the peak.")
    points = {beta: (np.sqrt(np.maximum(h["kl_k1"], 0)), np.array(h["gold"]) - sft_gold) for beta, h in runs.items()}
    best = (np.sqrt(best_kl), 1.5 - sft_gold)
    save_frontier(points, alpha, b, best)
    save_overoptimisation(runs[0.0])


def pretraining_mix(impl, sft_model, judges, prompts, evaluate, results):
    """Section 4: PPO at PPO's beta with gamma = GAMMA, against gamma = 0, on held-out pretraining pages."""
    _, source = pretraining.build_world(pretraining.LECTURE)
    batches = world.page_batches(source, LM_ROWS, sft_model.context_length, np.random.default_rng(7))
    label = f"PPO + mix, gamma = {GAMMA:g}"
    policy, _ = run_rl(impl, sft_model, judges, prompts, replace(PPO, gamma=GAMMA),
                       f"PPO, beta = {PPO.beta:g}, with the pretraining mix gamma = {GAMMA:g} ({LM_ROWS} rows of "
                       f"pretraining pages in every step)", label_key(label), batches)
    results[label] = evaluate(policy)
    base = pretraining.heldout_loss(models.pretrained(impl, cache), pretraining.LECTURE, evaluate.pages)
    record("rlhf", "pretrained_pretraining_loss", base)
    record("rlhf", "pretraining_pages_exact_loss", evaluate.floor)
    print(f"\nThe pretraining mix (held-out pretraining pages; exact floor {evaluate.floor:.3f} nats per token):")
    rows = {"pretrained (chapter 8)": {"gold": np.nan, "kl_k1": np.nan, "pretraining_loss": base}}
    rows.update({name: results[name] for name in ("SFT", f"PPO, beta = {PPO.beta:g}", label)})
    print(table(rows, ("gold", "kl_k1", "pretraining_loss")))
    print("SFT, trained on responses only, already forgot the pages (the alignment tax); PPO adds to it, the mix "
          "pays most of it back.")


def dpo(impl, sft_model, data, evaluate, results):
    """Section 5: DPO on the reward model's comparisons at each beta of DPO["betas"],
    evaluated every DPO["eval_every"] steps; returns the labels of its rows in ``results``."""
    train_groups, _ = models.labelled_data(impl, sft_model, data)
    pairs = dpo_pairs(train_groups, data)
    identical = record("rlhf", "dpo_identical_pairs_share", np.mean([w == l for w, l in zip(pairs[1], pairs[2])]))
    record("rlhf", "dpo_pairs", len(pairs[0]))
    print(f"\nDPO on the reward model's comparisons: {len(pairs[0])} ranked pairs of its {len(train_groups[0])} groups "
          f"({identical:.0%} of them two identical responses, which teach nothing), {DPO['steps']} steps of "
          f"{DPO['batch_pairs']} pairs, lr {DPO['lr']:g}, held-out evaluations every {DPO['eval_every']} steps")
    labels = []
    for beta in DPO["betas"]:
        policy = copy.deepcopy(sft_model)
        print(f"DPO, beta = {beta:g} (accuracy: the implicit reward's, on the batch's pairs of different responses)")
        progress = display.MetricsDisplay(DPO["steps"], DPO["eval_every"], ("loss", "accuracy", "margin"))

        def log(step, metrics):
            progress(step, metrics)
            if (step + 1) % DPO["eval_every"] == 0:
                labels.append(f"DPO, beta = {beta:g}, {step + 1} steps")
                results[labels[-1]] = evaluate(policy)

        rlhf.train_dpo(impl, policy, sft_model, pairs, beta=beta, steps=DPO["steps"], lr=DPO["lr"],
                       batch_pairs=DPO["batch_pairs"], rng=np.random.default_rng(3), pad_id=data.pad_id, log=log)
    return labels


def run(impl):
    data = models.instruction_data()
    reward_model, sft_model = models.reward_model(impl, data, cache)
    judges = Judges(data, reward_model)
    prompts = training_prompts(data)
    evaluate = Evaluation(impl, data, sft_model, judges)
    print(f"RLHF step 3 against the reward model of step 2: {ITERATIONS} iterations of {PROMPTS} training "
          f"instructions x K = {PPO.k} samples. Progress lines: means over the iterations since the last line "
          f"(KL per response, k1 and k3). Evaluation: {len(evaluate.prompts)} held-out instructions x {EVAL.k} samples.")
    results = {"SFT": evaluate(sft_model)}
    runs = sweep(impl, sft_model, judges, prompts, evaluate, results)
    best_kl = record("rlhf", "ideal_kl", ideal_kl(impl, sft_model, data, "heldout"))
    print(f"\nHeld-out instructions (means per response; KL to SFT in nats per response). The best policy for "
          f"the gold reward scores 1.5, {1.5 - results['SFT']['gold']:.3f} over SFT, at a KL of "
          f"{best_kl:.2f} (closed form, see ideal_kl):")
    print(table({label: m for label, m in results.items()}, ("score", "gold", "grammatical", "polite", "kl_k1")))
    show_gains(results, best_kl)
    sft_train = rlhf.evaluate(impl, sft_model, sft_model, prompt_ids(data, "train"), judges.reward, replace(EVAL, k=1),
                              rng=np.random.default_rng(1), judges=judges.reported)
    show_frontier(runs, sft_train["gold"], ideal_kl(impl, sft_model, data, "train"))
    pretraining_mix(impl, sft_model, judges, prompts, evaluate, results)
    dpo_labels = dpo(impl, sft_model, data, evaluate, results)
    main_ppo, main_rloo = f"PPO, beta = {PPO.beta:g}", f"RLOO, beta = {RLOO.beta:g}"
    print("\nDPO next to PPO and RLOO (held-out instructions):")
    print(table({label: results[label] for label in ("SFT", main_ppo, main_rloo, *dpo_labels)}))
    print("Without sampling, nothing shows DPO the malformed text its updates make likelier; a small beta lets the "
          "implicit reward's\nmargins grow on the pairs that differ by a 'sure'. PPO and RLOO see their own samples "
          "every iteration.")
    for label, metrics in results.items():
        for name, short in RECORDED.items():
            record("rlhf", f"{label_key(label)}_{short}", metrics[name])
        record("rlhf", f"{label_key(label)}_gold_gain", metrics["gold"] - results["SFT"]["gold"])
    return results


def show_gains(results, best_kl):
    """Section 1's reading: the gold gains over SFT at PPO's beta against the possible one."""
    sft_gold = results["SFT"]["gold"]
    possible = record("rlhf", "possible_gold_gain", 1.5 - sft_gold)
    main = {label: results[label] for label in (f"PPO, beta = {PPO.beta:g}", f"RLOO, beta = {RLOO.beta:g}")}
    print("Gold gain over SFT: " + ", ".join(f"{label} {m['gold'] - sft_gold:.3f} at KL {m['kl_k1']:.2f}"
                                             for label, m in main.items())
          + f"; possible {possible:.3f}, at KL {best_kl:.2f}: they learned to say 'sure' and little else.")
