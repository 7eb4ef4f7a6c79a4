"""Lecture demo, decoding: how one next-token distribution is reshaped by temperature, top-k
and top-p, and what greedy, sampling and beam search produce from the same model.

The model is a word-level Kneser-Ney 5-gram fitted on 2000 toy-English sentences: any LM
with ``start``/``step`` decodes the same way (the RNN and GPT demos decode characters). The
sentences decoded are scored with the grammar's EXACT log-probability, so "how likely is
this output" is a fact, not the model's opinion. The demo prints the numbers and writes them to
results.json (``generate.*``).
"""

import numpy as np

from scratch.data import corpora

from . import label_key, record

CONTEXT = ["the", "mouse"]
SHOWN = 8  # words shown in the distribution table
ORDER = 5


def warped_probabilities(impl, logits, **warp):
    """softmax of the logits after one warper (temperature, top_k or top_p)."""
    gen = impl.generate
    if "temperature" in warp:
        logits = gen.apply_temperature(logits, warp["temperature"])
    if "top_k" in warp:
        logits = gen.top_k_filter(logits, warp["top_k"])
    if "top_p" in warp:
        logits = gen.top_p_filter(logits, warp["top_p"])
    return impl.nn.softmax(logits)


def model_logprob(impl, lm, ids):
    """log p_model(ids) through the decoding protocol (the end-of-sentence token included)."""
    logits, state = lm.start([])
    total = 0.0
    for token in ids:
        total += float(impl.nn.log_softmax(logits)[token])
        logits, state = lm.step(state, token)
    return total


def run(impl):
    grammar = corpora.ToyEnglish()
    sentences = grammar.sample(2000, np.random.default_rng(0))
    lm = impl.ngram.NGramLM(ORDER, "kneser_ney").fit(sentences)
    vocab = lm.vocab

    logits, _ = lm.start(vocab.encode(CONTEXT))
    warps = {"T=0.5": {"temperature": 0.5}, "T=1": {"temperature": 1.0}, "T=2": {"temperature": 2.0},
             "top-k 3": {"top_k": 3}, "top-p 0.8": {"top_p": 0.8}}
    table = {name: warped_probabilities(impl, logits, **warp) for name, warp in warps.items()}
    order = np.argsort(-table["T=1"])[:SHOWN]
    print(f"p(next word | {' '.join(CONTEXT)}) from a Kneser-Ney {ORDER}-gram, after each warper:\n")
    print(f"{'word':<10}" + "".join(f"{name:>11}" for name in warps))
    for name in warps:
        record("generate", f"p_{vocab.words[order[0]]}_{label_key(name)}", table[name][order[0]])
    for i in order:
        print(f"{vocab.words[i]:<10}" + "".join(f"{table[name][i]:>11.3f}" for name in warps))
    print(f"{'(others)':<10}" + "".join(f"{max(0.0, 1 - table[name][order].sum()):>11.3f}" for name in warps))
    print("Temperature < 1 sharpens and > 1 flattens; top-k keeps k words, top-p the fewest "
          "whose mass reaches p; both renormalise.\n")

    gen = impl.generate
    eos = vocab.eos_id
    rng = np.random.default_rng(1)
    decoders = {
        "greedy": lambda: gen.generate(lm, [], 20, strategy="greedy", eos_id=eos),
        "sample T=1": lambda: gen.generate(lm, [], 20, eos_id=eos, rng=rng),
        "sample T=0.7": lambda: gen.generate(lm, [], 20, temperature=0.7, eos_id=eos, rng=rng),
        "top-p 0.9": lambda: gen.generate(lm, [], 20, top_p=0.9, eos_id=eos, rng=rng),
        "beam 8, alpha 0": lambda: gen.beam_search(lm, [], 8, 20, eos_id=eos, length_penalty=0.0),
        "beam 8, alpha 1": lambda: gen.beam_search(lm, [], 8, 20, eos_id=eos, length_penalty=1.0),
    }
    print("Decoded from the sentence start; log-probabilities in nats under the model and under "
          "the grammar (exact; -inf: not a sentence of the language):\n")
    print(f"  {'':<16} {'model':>7} {'grammar':>8}")
    for name, decode in decoders.items():
        runs = 1 if name.startswith(("greedy", "beam")) else 3
        for r in range(runs):
            ids = decode()
            words = [w for w in vocab.decode(ids) if w != vocab.words[eos]]
            label = name if r == 0 else ""
            if runs == 1:  # the deterministic decoders
                record("generate", f"{label_key(name)}_model_logprob", model_logprob(impl, lm, ids))
                record("generate", f"{label_key(name)}_grammar_logprob", grammar.sentence_logprob(words))
                record("generate", f"{label_key(name)}_text", " ".join(words))
            print(f"  {label:<16} {model_logprob(impl, lm, ids):>7.2f} "
                  f"{grammar.sentence_logprob(words):>8.2f}  {' '.join(words)}")
    print("\nGreedy commits to the best next word and can miss a more likely sentence; beam "
          "search keeps 8 candidates. With alpha = 0 it ranks by total log-probability, which "
          "favours short sentences; alpha = 1 ranks by log-probability per word.")
