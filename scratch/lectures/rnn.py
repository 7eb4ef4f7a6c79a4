"""Lecture demo, RNN language models: train a character-level RNN LM on toy English, watch
the loss approach the source's true entropy, then decode it with greedy, temperature and
top-p sampling side by side.

Setup: 3000 toy-English sentences (80/10/10 split), characters as tokens (V = 21, "\\n" is
the end of sentence); RNNLM with D = 24, H = 96 in float32; AdamW, peak lr 0.01 with
warmup and cosine decay, clipping at norm 1; truncated BPTT over windows of 48 characters,
16 streams, hidden state carried across windows. Reference points printed next to the
held-out loss: the char bigram (add-one counts) and the exact entropy per character.
The demo prints the losses and writes them to results.json (``rnn.*``), with the plot of the
curve, ``rnn_loss.png``, in the same folder when matplotlib is installed.
"""

import numpy as np

from scratch.data import corpora
from scratch.train import display, loop
from scratch.train.display import side_by_side

from . import label_key, record, save_figure


STEPS = 600
BATCH, SEQ_LEN = 16, 48
D_EMBED, D_HIDDEN = 24, 96
N_SAMPLES = 6


def decode_sentences(impl, model, vocab, strategy_kwargs, rng):
    """N_SAMPLES sentences started from "\\n" and stopped at the next "\\n"."""
    eos = int(vocab.encode("\n")[0])
    sentences = []
    for _ in range(N_SAMPLES):
        ids = impl.generate.generate(model, [eos], 90, eos_id=eos, rng=rng, **strategy_kwargs)
        sentences.append(vocab.decode(ids).rstrip("\n"))
    return sentences


def save_plot(history, references=None):
    """Save the loss curves as rnn_loss.png in the run's folder, with ``references`` ({name:
    loss}, e.g. the true entropy) as dashed horizontal lines; returns the path, or None
    without matplotlib."""
    def draw(ax):
        ax.plot(history["loss"], label="train (per batch)", alpha=0.6)
        ax.plot(history["eval_step"], history["eval_loss"], "o-", label="held-out")
        for (name, value), style in zip((references or {}).items(), (":", "--", "-.")):
            ax.axhline(value, linestyle=style, linewidth=1, color="gray", label=f"{name} {value:.3f}")  # in the legend
        ax.set_title("RNN LM on toy English, one character per token")
        ax.set_xlabel("training step")
        ax.set_ylabel("loss (nats / char)")
        ax.legend()

    return save_figure(draw, "rnn_loss.png", "loss curves", size=(6, 3.5))


def run(impl):
    grammar, vocab, train_ids, val_ids = corpora.char_level_splits(3000, seed=0)
    V = len(vocab)
    print("Toy English, one character per token (V = %d, '\\n' ends a sentence):\n" % V)
    print("\n".join(vocab.decode(train_ids[:300]).split("\n")[:3]) + "\n")
    bigram = corpora.char_bigram_loss(train_ids, val_ids, V)
    print(f"train {len(train_ids)} chars, held-out {len(val_ids)} chars")
    print(f"references, nats/char: char bigram {bigram:.3f}, true entropy {grammar.entropy_per_char:.3f}\n")

    print(f"RNNLM: embedding {D_EMBED} -> tanh RNN {D_HIDDEN} -> linear {V}; "
          f"{STEPS} AdamW steps of {BATCH} x {SEQ_LEN} chars (truncated BPTT)\n")
    model = impl.rnn.RNNLM(V, D_EMBED, D_HIDDEN, rng=np.random.default_rng(1))
    held_out = lambda m: loop.evaluate_loss(m, val_ids, 8, 64, carry_hidden=True)
    history = loop.train_lm(
        model, loop.sequential_batches(train_ids, BATCH, SEQ_LEN), steps=STEPS, lr=0.01,
        warmup_steps=30, optim=impl.optim, carry_hidden=True, log_every=STEPS // 10,
        eval_fn=held_out, eval_every=STEPS // 6,
    )

    print("\nTraining loss (nats/char):")
    print(display.text_curve(history["loss"], width=60, height=10))
    print("\nHeld-out loss:", ", ".join(f"step {s}: {v:.3f}" for s, v in zip(history["eval_step"], history["eval_loss"])))
    final = history["eval_loss"][-1]
    print(f"final held-out {final:.3f} nats/char = true entropy {grammar.entropy_per_char:.3f} "
          f"+ {final - grammar.entropy_per_char:.3f}; the bigram is at {bigram:.3f} "
          f"({history['seconds']:.0f} s of training)")
    for name, value in (("char_bigram_loss", bigram), ("true_entropy_per_char", grammar.entropy_per_char),
                        ("heldout_loss", final), ("train_seconds", history["seconds"])):
        record("rnn", name, value)
    save_plot(history, references={"true entropy": grammar.entropy_per_char, "char bigram": bigram})

    strategies = {
        "greedy": {"strategy": "greedy"},
        "temperature 0.7": {"strategy": "sample", "temperature": 0.7},
        "temperature 1.0": {"strategy": "sample", "temperature": 1.0},
        "top-p 0.9": {"strategy": "sample", "top_p": 0.9},
    }
    rng = np.random.default_rng(2)
    samples = {name: decode_sentences(impl, model, vocab, kwargs, rng) for name, kwargs in strategies.items()}
    print("\nSentences decoded from '\\n' (greedy repeats itself: it is deterministic):")
    names = list(strategies)
    for left, right in (names[:2], names[2:]):
        print()
        print(side_by_side(["\n".join(samples[left]), "\n".join(samples[right])], [left, right]))
    print("\nGrammatical (the grammar gives the sentence a non-zero probability):")
    for name, sentences in samples.items():
        ok = sum(np.isfinite(grammar.sentence_logprob(s.split(" "))) for s in sentences)
        print(f"  {name:<16} {ok}/{len(sentences)}")
        record("rnn", f"grammatical_{label_key(name)}", ok / len(sentences))
