"""Speed and memory of the n-gram chapter: fit and score an interpolated Kneser-Ney model.

Target (issue 3, 2-core machine): fit a KN trigram on 1M tokens in under 3 s and score 1M
held-out tokens in under 3 s. Tokens are counted as the model predicts them: every word and
one ``</s>`` per sentence. The corpora are toy English from ``scratch.corpora.corpora`` (sampling them
is not timed).

Times are the best of ``--repeats`` runs without tracing; peak memory is measured in a
separate traced run (``tracemalloc`` sees NumPy's buffers), so tracing does not slow the
timed runs. The process's peak resident size (``ru_maxrss``) is printed too.

    python benchmarks/ngram.py [--tokens 1000000] [--order 3] [--impl solutions]
"""

import argparse
import math
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch.data import corpora  # noqa: E402
from scratch.impl import Impl  # noqa: E402


def corpus_with_tokens(grammar, n_tokens, seed):
    """Sentences from ``grammar`` totalling at least ``n_tokens`` predicted tokens."""
    per_sentence = grammar.mean_words_per_sentence + 1
    sentences = grammar.corpus(int(n_tokens / per_sentence * 1.02) + 1, seed=seed)
    total, cut = 0, 0
    for cut, sentence in enumerate(sentences, 1):
        total += len(sentence) + 1
        if total >= n_tokens:
            break
    return sentences[:cut], total


def best_time(fn, repeats):
    best, result = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def traced_peak(fn):
    """Peak bytes allocated (Python objects and NumPy buffers) while ``fn`` runs."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--impl", default=None, choices=("solutions", "exercises"))
    args = parser.parse_args(argv)
    ngram = Impl(args.impl).ngram

    print(("command: python benchmarks/ngram.py " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip())
    grammar = corpora.ToyEnglish()
    start = time.perf_counter()
    train, n_train = corpus_with_tokens(grammar, args.tokens, seed=0)
    test, n_test = corpus_with_tokens(grammar, args.tokens, seed=1)
    print(f"corpora: {len(train):,} train sentences ({n_train:,} tokens), {len(test):,} test sentences "
          f"({n_test:,} tokens), sampled in {time.perf_counter() - start:.1f} s (not timed below)")

    def fit():
        return ngram.NGramLM(args.order, "kneser_ney").fit(train)

    fit_s, lm = best_time(fit, args.repeats)
    score_s, ppl = best_time(lambda: lm.perplexity(test), args.repeats)
    fit_peak = traced_peak(fit)
    score_peak = traced_peak(lambda: lm.perplexity(test))
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    print(f"KN {args.order}-gram fit:   {fit_s:6.2f} s  {n_train / fit_s:12,.0f} tokens/s  "
          f"peak traced {fit_peak / 2**20:7.1f} MiB   (target < 3 s for 1M tokens)")
    print(f"KN {args.order}-gram score: {score_s:6.2f} s  {n_test / score_s:12,.0f} tokens/s  "
          f"peak traced {score_peak / 2**20:7.1f} MiB   (target < 3 s for 1M tokens)")
    print(f"process peak resident size: {maxrss_mb:.0f} MiB")
    print(f"held-out perplexity {ppl:.4f}; the source's true perplexity {math.exp(grammar.entropy_per_token):.4f}")


if __name__ == "__main__":
    main()
