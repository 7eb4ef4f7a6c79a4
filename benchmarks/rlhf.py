"""RLHF's costs: rollouts, and one PPO iteration split into sampling, scoring and update
(a printed benchmark, not a test).

    OPENBLAS_NUM_THREADS=1 python benchmarks/rlhf.py [--impl solutions] [--prompts 16 --k 4
                                                      --new-tokens 6 --iterations 5]

The models have the RLHF demo's shapes (``scratch/train/rlhf.py``'s ``PPO``): the policy, the frozen
SFT model and the reward model are each a GPT of ``scratch.train.pretraining.LECTURE``'s
configuration (C = 64, 2 layers, 4 heads, context 64) over the instruction vocabulary, in
float32, with random weights (speed does not depend on them; random weights never emit
``<eos>``, so every response runs to ``--new-tokens``, the demo's worst case). Prompts are
real training instructions (6 to 8 tokens with the default seed). Measured:
  - rollout tokens/s: ``generate_batch`` on the iteration's B = prompts x K rows with the
    KV cache (the best of 3), against ``generate.generate`` one row at a time;
  - one PPO iteration of ``scratch.train.rlhf.train`` (the demo's settings: 4 epochs x 2
    minibatches), split as the loop times it: sampling (generate_batch), scoring (the
    policy with its value head, the SFT model, the reward model, the judges: none here) and
    update (rewards, GAE, the 8 PPO steps); the median of ``--iterations``, and the same for
    RLOO (one step) and for PPO with the pretraining mix (8 pretraining rows per step);
  - peak memory of one PPO iteration (tracemalloc, a separate run: tracing slows allocation).

What it prints is the measurement (this docstring keeps none, so none can drift). What to
look for: the update (8 PPO steps, each a forward and a backward of the policy) dominates an
iteration, the KV-cached sampling is the cheap part, and RLOO (one step) costs a fraction of
PPO; rollouts are short (6 tokens), so the batched decoder's gain over one row at a time is
smaller than in ``benchmarks/generate.py``'s long decodes, where the per-step overhead is
spread further.
"""

import argparse
import statistics
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import best_seconds, print_setup  # noqa: E402  (benchmarks/common.py)

from scratch.data import instructions, world  # noqa: E402

from scratch.train import pretraining, rlhf  # noqa: E402
from scratch.impl import Impl  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", default=None)
    parser.add_argument("--prompts", type=int, default=rlhf.PROMPTS)
    parser.add_argument("--k", type=int, default=rlhf.PPO.k)
    parser.add_argument("--new-tokens", type=int, default=rlhf.PPO.max_new_tokens)
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args()

    impl = Impl(args.impl)
    print_setup(impl)
    task_world, source = pretraining.build_world(pretraining.LECTURE)
    data = instructions.InstructionData(task_world)
    config = pretraining.LECTURE["model"]
    V, N = len(data.tokenizer), config["context_length"]

    def gpt(seed):
        return impl.transformer.GPT(V, N, config["n_layers"], config["n_heads"], config["width"], alibi=config["alibi"],
                                    dtype=np.float32, seed=seed)

    policy, sft_model = gpt(0), gpt(0)
    reward_model = impl.reward.RewardModel(gpt(1))
    n_params = sum(p.size for p in policy.params.values())
    print(f"models: policy, SFT and reward model, each V={V} C={config['width']} layers={config['n_layers']} "
          f"context {N}, {n_params / 1e6:.2f}M parameters, float32")

    pool = [data.tokenizer.encode(data.prompt(inst)) for inst in data.instances("train")]
    rng = np.random.default_rng(0)
    prompts = [pool[i] for i in rng.integers(len(pool), size=args.prompts)]
    rows = [p for p in prompts for _ in range(args.k)]
    B, T = len(rows), args.new_tokens
    print(f"rollouts: B = {args.prompts} prompts x K = {args.k} = {B} rows, prompt lengths "
          f"{min(map(len, prompts))}..{max(map(len, prompts))}, {T} new tokens each, temperature 1")

    def batched():
        impl.batched.generate_batch(policy, rows, T, pad_id=data.pad_id, rng=np.random.default_rng(1))

    def single():
        for row in rows[:4]:
            impl.generate.generate(policy, row, T, rng=np.random.default_rng(1))

    batched()  # warm-up
    wall, cpu = best_seconds(batched, 3)
    single_wall, _ = best_seconds(single, 3)
    print(f"rollout sampling (generate_batch, KV cache): {B * T / wall:,.0f} tokens/s wall-clock, "
          f"{B * T / cpu:,.0f} per CPU second; one row at a time (generate.generate): "
          f"{4 * T / single_wall:,.0f} tokens/s ({B * T / wall / (4 * T / single_wall):.0f}x)")

    def score(rows_, tokens, lengths):
        sequences = [list(r) + list(t[:n]) for r, t, n in zip(rows_, tokens, lengths)]
        ids, mask = rlhf.right_pad(sequences, data.pad_id)
        return reward_model.scores(ids, mask.sum(axis=1))

    reward = rlhf.Reward(score, stop_id=None, pad_id=data.pad_id)
    lm_batches = world.page_batches(source, rlhf.LM_ROWS, N, np.random.default_rng(7))
    variants = {"PPO": rlhf.PPO, "RLOO": rlhf.RLOO,
                f"PPO + mix (gamma, {rlhf.LM_ROWS} rows of {N})": replace(rlhf.PPO, gamma=rlhf.GAMMA)}
    print(f"one iteration (median of {args.iterations}), seconds:")
    print(f"  {'':<36}{'sampling':>10}{'scoring':>10}{'update':>10}{'total':>10}")
    for label, settings in variants.items():
        history, _ = rlhf.train(impl, gpt(0), sft_model, prompts, reward, settings, iterations=args.iterations,
                                rng=np.random.default_rng(2), pretrain_batches=lm_batches)
        parts = [statistics.median(history[f"seconds_{part}"]) for part in ("sampling", "scoring", "update")]
        print(f"  {label:<36}" + "".join(f"{x:>10.3f}" for x in parts) + f"{sum(parts):>10.3f}")

    tracemalloc.start()
    start = time.perf_counter()
    rlhf.train(impl, gpt(0), sft_model, prompts, reward, rlhf.PPO, iterations=1, rng=np.random.default_rng(2))
    traced = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak memory of one PPO iteration (tracemalloc, {traced:.1f} s traced): {peak / 2**20:.1f} MiB; "
          f"the three models' parameters {3 * n_params * 4 / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
