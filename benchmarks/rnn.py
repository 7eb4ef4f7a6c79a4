"""Speed and memory of the RNN language model (a printed benchmark, not a test).

    python benchmarks/rnn.py [--impl solutions] [--vocab 64 --embed 64 --hidden 256 --batch 32 --seq-len 64]
                             [--steps 20 --gen-tokens 2000]

Measures, at the stated size and in float32:
  - training throughput: tokens/s of loss_and_grads + clipping + AdamW (forward, BPTT, update);
  - generation throughput: tokens/s of ``generate`` sampling one sequence token by token
    (start, then one ``step`` per token: batch 1, so Python overhead dominates);
  - peak memory of one training step, from tracemalloc (NumPy reports its buffers to it),
    next to the analytic size of the cache (activations kept for BPTT).
Inputs are random ids: speed does not depend on the text.

OpenBLAS threads: on a small machine its threading of small matrix products can cost more
than it gains; set OPENBLAS_NUM_THREADS=1 to compare.
"""

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch.impl import Impl  # noqa: E402


def time_training(impl, model, ids, targets, steps):
    state = impl.optim.adamw_init(model.params)
    model.loss_and_grads(ids, targets)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        _, grads = model.loss_and_grads(ids, targets)
        grads, _ = impl.optim.clip_grad_norm(grads, 1.0)
        impl.optim.adamw_step(model.params, grads, state, lr=1e-3)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", default=None)
    parser.add_argument("--vocab", type=int, default=64)
    parser.add_argument("--embed", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--gen-tokens", type=int, default=2000)
    args = parser.parse_args()

    impl = Impl(args.impl)
    rng = np.random.default_rng(0)
    V, D, H, B, T = args.vocab, args.embed, args.hidden, args.batch, args.seq_len
    model = impl.rnn.RNNLM(V, D, H, rng=rng, dtype=np.float32)
    n_params = sum(p.size for p in model.params.values())
    ids = rng.integers(0, V, size=(B, T))
    targets = rng.integers(0, V, size=(B, T))

    print("command:", "python benchmarks/rnn.py " + " ".join(sys.argv[1:]))
    print(f"impl {impl.name}; V={V} D={D} H={H}, {n_params:,} parameters, float32; "
          f"batch {B} x {T} tokens; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")

    seconds = time_training(impl, model, ids, targets, args.steps)
    print(f"training:   {args.steps * B * T / seconds:>10,.0f} tokens/s  "
          f"({seconds / args.steps * 1e3:.1f} ms per step of {B * T} tokens)")

    start = time.perf_counter()
    out = impl.generate.generate(model, [0], args.gen_tokens, rng=np.random.default_rng(1))  # no eos: exactly gen_tokens
    seconds = time.perf_counter() - start
    print(f"generation: {len(out) / seconds:>10,.0f} tokens/s  (one sequence, sampling, {len(out)} tokens)")

    tracemalloc.start()
    _, grads = model.loss_and_grads(ids, targets)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    itemsize = 4
    cache = B * T * (D + 2 * H + 2 * V) * itemsize  # embeddings, h_prev and h per step, logits + log-probs
    print(f"peak memory of one loss_and_grads: {peak / 2**20:.1f} MiB "
          f"(parameters {n_params * itemsize / 2**20:.1f} MiB, cached activations ~{cache / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
