"""Lecture demo, n-gram language models: count, divide, smooth, and compare with the truth.

On toy English (a small grammar in the lecture's world, whose true entropy is known
exactly): corpus statistics, the chain rule on the lecture's kind of sentence, sentences
sampled from unigram, bigram and trigram models, and a held-out perplexity table of every
smoothing against the source's true perplexity. The demo prints the numbers and writes them
to results.json (``ngram.*``).
"""

import math
import warnings

import numpy as np

from scratch.data import corpora

from . import record

EXAMPLE = "the mouse eats the cheese .".split()
SMOOTHINGS = (("mle", {}), ("add_k", {"k": 0.01}), ("interpolation", {}), ("kneser_ney", {}))


def run(impl):
    ngram = impl.ngram
    grammar = corpora.ToyEnglish()
    train, heldout, test = corpora.train_val_test_split(grammar.corpus(25_000, seed=0), (0.8, 0.1, 0.1))
    n_tokens = sum(len(s) + 1 for s in train)
    vocab = ngram.Vocab(train)
    true_ppl = math.exp(grammar.entropy_per_token)
    for name, value in (("entropy_per_sentence", grammar.entropy_per_sentence),
                        ("entropy_per_token", grammar.entropy_per_token), ("true_perplexity", true_ppl),
                        ("entropy_per_char", grammar.entropy_per_char)):
        record("ngram", name, value)
    print(f"Toy English: {len(train):,} training sentences, {n_tokens:,} predicted tokens (words and </s>),")
    print(f"{len(vocab) - 3} distinct words. Most frequent: {', '.join(vocab.words[3:11])}.")
    print(f"Exact source entropy: {grammar.entropy_per_sentence:.3f} nats per sentence, "
          f"{grammar.entropy_per_token:.3f} per token (perplexity {true_ppl:.3f}), "
          f"{grammar.entropy_per_char:.3f} per character.\n")

    trigram = ngram.NGramLM(3, "mle").fit(train)
    print("Chain rule, trigram MLE: p(" + " ".join(EXAMPLE) + ") =")
    factors = [(w, EXAMPLE[max(0, i - 2):i]) for i, w in enumerate(EXAMPLE + ["</s>"])]
    for word, context in factors:
        shown = " ".join((["<s>"] * (2 - len(context))) + context)
        print(f"    p({word:>6} | {shown:<12}) = {trigram.prob(word, context):.4f}")
    product = record("ngram", "trigram_mle_example_prob", math.prod(trigram.prob(w, c) for w, c in factors))
    record("ngram", "grammar_example_prob", math.exp(grammar.sentence_logprob(EXAMPLE)))
    print(f"  product = {product:.5f}; exp(logprob) = {math.exp(trigram.logprob(EXAMPLE)):.5f}; "
          f"the grammar's exact p = {math.exp(grammar.sentence_logprob(EXAMPLE)):.5f}\n")

    rng = np.random.default_rng(0)
    for n, name in ((1, "unigram"), (2, "bigram"), (3, "trigram")):
        lm = ngram.NGramLM(n, "kneser_ney").fit(train)
        print(f"Sampled from the {name} model (Kneser-Ney):")
        for _ in range(3):
            print("    " + (" ".join(lm.sample(rng, max_len=20)) or "(empty: </s> came first)"))
    print("The unigram ignores order; the bigram makes local sense but mixes up whether a verb")
    print("takes food or an animal (it sees only 'the'); the trigram sees the verb, but not")
    print("the subject across a relative clause.\n")

    print(f"Held-out perplexity ({sum(len(s) + 1 for s in test):,} test tokens; "
          f"true perplexity of the source {true_ppl:.3f}):")
    print(f"{'smoothing':>14}" + "".join(f"{f'n = {n}':>10}" for n in (1, 2, 3, 4)))
    for smoothing, kwargs in SMOOTHINGS:
        row = []
        for n in (1, 2, 3, 4):
            lm = ngram.NGramLM(n, smoothing, **kwargs).fit(train, heldout=heldout)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # MLE meets unseen n-grams: inf
                row.append(record("ngram", f"perplexity_{smoothing}_n{n}", lm.perplexity(test)))
        print(f"{smoothing:>14}" + "".join(f"{p:>10.3f}" for p in row))
    print("MLE gives probability 0 to any n-gram missing from training (inf); every smoothed")
    print("model stays above the true perplexity, and the gap shrinks as n grows.")
