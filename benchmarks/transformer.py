"""Speed and memory of the GPT (a printed benchmark, not a test).

    python benchmarks/transformer.py [--impl solutions] [--batch 16 --seq-len 256 --width 256
                                      --heads 8 --layers 4 --vocab 64 --steps 3 --gen-tokens 256]

Measures, in float32:
  - one training step (forward + backward + global-norm clipping + AdamW) at B=16, T=256,
    C=256, H=8, 4 layers: seconds per step and tokens/s;
  - the step's matrix-multiplication FLOPs, counted as 2 m n k per product: forward
    B T [L (24 C^2 + 4 T C) + 2 C V] (qkv 6C^2, attention output 2C^2, MLP 16C^2 per token;
    q k^T and P v 2 T C each, over the full T x T square that is computed, masked half
    included; the head 2 C V), and backward twice the forward (one product for the input's
    gradient, one for the weight's);
  - the achieved FLOP/s as a fraction of this machine's large-matmul FLOP/s (a 2048^3
    float32 product), measured in the same run with the same BLAS threads (target >= 50%);
  - generation: tokens/s for ``--gen-tokens`` new tokens (greedy, batch 1) with the KV cache
    (one position per step) and without it (the whole prefix re-run each step);
  - peak memory of one training step from tracemalloc (NumPy reports its buffers to it),
    next to the parameters + AdamW state.
Inputs are random ids: speed does not depend on the text. The time not spent in matmuls
goes to the elementwise layers (GELU's tanh, layernorm, softmax over B H T^2 scores).

OpenBLAS threads: the matmuls use every BLAS thread, NumPy's elementwise ufuncs (GELU's
tanh, the softmax's exp, layernorm, the residual and bias additions) run on one core, so the
fraction of the peak drops as threads are added; OPENBLAS_NUM_THREADS=1 compares core for
core. On a machine shared with other jobs, threaded small products (the B*H attention
matrices) can cost more than they gain, and every figure varies from run to run: the step
and the peak are each the best of several repeats.

Measured on a quiet 2-core machine (numpy 2.4, OpenBLAS): 39-42% of the peak with the
default two threads, 52-59% with OPENBLAS_NUM_THREADS=1, so the >= 50% target holds core for
core only. Where the rest goes (two threads, ms per step of ~1500): the attention products
(24 batched calls per step, 4 layers x (2 forward + 4 backward), each B * H = 128 small
256 x 256 x 32 products) run at about a third of the peak (~260 ms in all, ~90 at the peak
rate), the softmax ~215, GELU ~195, layernorm ~105. Splitting GELU and the softmax
over a thread pool (NumPy's ufuncs release the GIL) halves those two in isolation, but in
a whole step it gained under 5% (OpenBLAS's threads keep spinning between products and
compete for the same cores), so the layers stay single-threaded and readable.
"""

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import print_setup  # noqa: E402  (benchmarks/common.py)

from scratch.impl import Impl  # noqa: E402


def forward_matmul_flops(B, T, C, L, V):
    """Matmul FLOPs of one forward pass (module docstring)."""
    return B * T * (L * (24 * C * C + 4 * T * C) + 2 * C * V)


def peak_matmul_flops(n=2048, repeats=3):
    """Best FLOP/s of an n x n x n float32 product (the machine's large-matmul rate)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def training_step(impl, model, ids, targets, state):
    _, grads = model.loss_and_grads(ids, targets)
    grads, _ = impl.optim.clip_grad_norm(grads, 1.0)
    impl.optim.adamw_step(model.params, grads, state, lr=1e-3)


def time_generation(impl, lm, n_tokens):
    start = time.perf_counter()
    out = impl.generate.generate(lm, [0], n_tokens, strategy="greedy")
    assert len(out) == n_tokens
    return n_tokens / (time.perf_counter() - start), out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", default=None)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--gen-tokens", type=int, default=256)
    args = parser.parse_args()

    impl = Impl(args.impl)
    B, T, C, H, L, V = args.batch, args.seq_len, args.width, args.heads, args.layers, args.vocab
    print_setup(impl)

    # the context holds the training window and a 1-token prompt + the generated tokens
    context = max(T, args.gen_tokens + 1)
    model = impl.transformer.GPT(V, context, L, H, C, dtype=np.float32, seed=0)
    n_params = sum(p.size for p in model.params.values())
    print(f"model: B={B} T={T} C={C} H={H} layers={L} V={V} context={context}, "
          f"{n_params / 1e6:.2f}M parameters, float32")

    rng = np.random.default_rng(0)
    ids = rng.integers(0, V, size=(B, T))
    targets = rng.integers(0, V, size=(B, T))
    state = impl.optim.adamw_init(model.params)
    training_step(impl, model, ids, targets, state)  # warm-up
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        training_step(impl, model, ids, targets, state)
        times.append(time.perf_counter() - start)
    step_seconds = min(times)
    flops = 3 * forward_matmul_flops(B, T, C, L, V)
    peak = peak_matmul_flops()
    achieved = flops / step_seconds
    print(f"training step (forward + backward + clip + AdamW): {step_seconds:.3f} s best of "
          f"{args.steps} (mean {np.mean(times):.3f} s), {B * T / step_seconds / 1e3:.1f}k tokens/s")
    print(f"matmul FLOPs per step: {flops / 1e9:.1f} GFLOP (forward {flops / 3e9:.1f}, backward "
          f"{2 * flops / 3e9:.1f})")
    print(f"achieved: {achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.0%} of this machine's "
          f"large-matmul {peak / 1e9:.1f} GFLOP/s (2048^3 float32, same run)")
    threads = os.environ.get("OPENBLAS_NUM_THREADS", f"default ({os.cpu_count()} cores)")
    print(f"target >= 50% of the peak: {'met' if achieved >= 0.5 * peak else 'NOT met'} with BLAS "
          f"threads = {threads}" + ("" if threads == "1" else
                                    "; core for core: OPENBLAS_NUM_THREADS=1 python benchmarks/transformer.py"))

    tracemalloc.start()
    training_step(impl, model, ids, targets, state)
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    param_bytes = sum(p.nbytes for p in model.params.values())
    print(f"peak memory of a training step (tracemalloc): {peak_bytes / 2**20:.0f} MiB; "
          f"parameters {param_bytes / 2**20:.1f} MiB (+ AdamW moments {2 * param_bytes / 2**20:.1f} MiB)")

    cached_rate, cached = time_generation(impl, model, args.gen_tokens)
    uncached_rate, uncached = time_generation(impl, model.uncached(), args.gen_tokens)
    print(f"generation of {args.gen_tokens} tokens (greedy, batch 1): {cached_rate:.0f} tokens/s with "
          f"the KV cache, {uncached_rate:.1f} tokens/s re-running the prefix "
          f"({cached_rate / uncached_rate:.1f}x); same tokens: {cached == uncached}")


if __name__ == "__main__":
    main()
