"""Lecture demo, instruction tuning (RLHF step 1): fine-tune a GPT on demonstrations, the
loss on response tokens only, and measure what SFT teaches: to answer the instruction, and
to stop.

Setup (scratch/instructions.py): a small world, six words, one made-up language (elvish) and
``reverse``; instructions in three phrasings per task, e.g. "translate into elvish : mouse cat
=>", answered by demonstrators who are always right and open with "sure" a quarter of the
time. Held-out instructions ask about the world's held-out pairs, never trained on.
GPT: C = 32, H = 4, 2 blocks, context 12, float32; 1000 AdamW steps of 32 fresh
demonstrations (peak lr 0.01, warmup then cosine decay). The model is cached
(:func:`scratch.checkpoint.cached_gpt`), and the reward-model demo starts from it.

What this demo does NOT show (left for when the pretraining chapter's checkpoint is merged):
SFT starting from a pretrained model, and the comparison with chapter 9's few-shot
prompting of that model on the same instructions. Here the "base" is the same network
before fine-tuning (random weights), and SFT starts from scratch.

Measured (two cores): training loss 0.18 nats per response token against the exact floor
H(0.25) / 3.25 = 0.173 (the only uncertainty left in a response is "sure" or not); held-out
exact match 100%; greedy answers that end with ``<eos>`` 100% (base: 0%); sampled responses
that open with "sure" about 25%, the demonstrators' rate. About 25 s on the first run.
"""

import numpy as np

from scratch import checkpoint, training
from scratch.instructions import POLITE, InstructionData, sft_batches
from scratch.world import EOS, TaskWorld

from . import side_by_side

WORLD = {"seed": 0, "n_words": 6, "n_languages": 1}
WIDTH, HEADS, LAYERS, CONTEXT = 32, 4, 2, 12
STEPS, BATCH, LR = 1000, 32, 0.01
MAX_RESPONSE = 4  # "sure", two words, <eos>


def instruction_data():
    return InstructionData(TaskWorld(**WORLD))


def sft_recipe(impl):
    return {"implementation": impl.name, "world": WORLD, "width": WIDTH, "heads": HEADS, "layers": LAYERS,
            "context": CONTEXT, "steps": STEPS, "batch": BATCH, "lr": LR, "data_seed": 1, "init_seed": 0}


def base_model(impl, data):
    """The network before fine-tuning (random weights, seed 0)."""
    return impl.transformer.GPT(len(data.tokenizer), CONTEXT, LAYERS, HEADS, WIDTH, seed=0)


def sft_model(impl, data, out=None, history=None):
    """The SFT model of this demo, from the cache or trained now (``history`` gets the loss)."""
    def train():
        model = base_model(impl, data)
        result = training.train_lm(model, sft_batches(data, impl.sft, BATCH, CONTEXT, np.random.default_rng(1)),
                                   steps=STEPS, lr=LR, warmup_steps=50, optim=impl.optim, log_every=STEPS // 5)
        if history is not None:
            history.update(result)
        return model
    return checkpoint.cached_gpt("sft-demo", sft_recipe(impl), train, impl.transformer, out=out)


def answers(impl, model, data, instances, rng=None):
    """Each instance's response ids (greedy when ``rng`` is None, else sampled at temperature 1)."""
    prompts = [data.tokenizer.encode(data.prompt(inst)) for inst in instances]
    out = impl.batched.generate_batch(model, prompts, MAX_RESPONSE, greedy=rng is None, stop_id=data.eos_id,
                                      pad_id=data.pad_id, rng=rng)
    return [out.tokens[i, :out.lengths[i]] for i in range(len(prompts))]


def report(data, instances, responses):
    """(exact match, share ending with <eos>, share opening with "sure")."""
    words = [data.tokenizer.decode(r) for r in responses]
    golds = [data.world.answer(inst.task, inst.pair) for inst in instances]
    answer = [tuple(w[1:-1] if w and w[0] == POLITE else w[:-1]) for w in words]
    return (np.mean([a == g and w[-1:] == [EOS] for a, g, w in zip(answer, golds, words)]),
            np.mean([w[-1:] == [EOS] for w in words]), np.mean([w[:1] == [POLITE] for w in words]))


def run(impl):
    data = instruction_data()
    print(f"Instructions over {len(data.world.words)} words, tasks {', '.join(data.world.tasks)}, "
          f"3 phrasings each: {len(data.instances('train'))} training and {len(data.instances('heldout'))} "
          f"held-out instructions; vocabulary {len(data.tokenizer)} (the world's + {POLITE!r}, 'translate', ...)\n")
    rng = np.random.default_rng(0)
    prompts, responses, _ = data.sample_demonstrations(3, rng)
    ids, targets, mask = impl.sft.sft_batch(prompts, responses, data.pad_id, CONTEXT, data.eos_id)
    print("One SFT batch (right-padded); the loss covers the targets marked ^, response and <eos> only:\n")
    for row in range(len(prompts)):
        shown = [f"{w}{'^' if m else ''}" for w, m in zip(data.tokenizer.decode(targets[row]), mask[row])]
        print("  input   " + " ".join(data.tokenizer.decode(ids[row])))
        print("  target  " + " ".join(shown) + "\n")

    history = {}
    model = sft_model(impl, data, history=history)
    floor = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75)) / 3.25
    if history:
        print(training.text_curve(history["loss"], label="SFT loss per response token"))
    print(f"\nexact floor of the SFT loss: H(p_polite) / E[response tokens] = {floor:.3f} nats "
          f"(every answer is certain; only 'sure' or not is left)\n")

    heldout = data.instances("heldout")
    base = base_model(impl, data)
    rows = []
    for name, m in (("base (before SFT)", base), ("SFT", model)):
        greedy = report(data, heldout, answers(impl, m, data, heldout))
        sampled = report(data, heldout, answers(impl, m, data, heldout, np.random.default_rng(1)))
        rows.append(f"  {name:<18} {greedy[0]:>10.1%} {greedy[1]:>10.1%} {sampled[1]:>10.1%} {sampled[2]:>10.1%}")
    print(f"Held-out instructions ({len(heldout)}), at most {MAX_RESPONSE} tokens each:")
    print(f"  {'':<18} {'exact':>10} {'<eos>':>10} {'<eos>':>10} {'sure':>10}")
    print(f"  {'':<18} {'greedy':>10} {'greedy':>10} {'sampled':>10} {'sampled':>10}")
    print("\n".join(rows))
    print("\nSFT imitates: it says 'sure' as often as the demonstrators did (25%), no more. The labelers\n"
          "of the next chapter like 'sure'; the reward model and RLHF are how that preference gets in.\n")
    sample = [heldout[i] for i in sorted(np.random.default_rng(3).choice(len(heldout), size=6, replace=False))]
    generated = answers(impl, model, data, sample, np.random.default_rng(2))
    print(side_by_side(["\n".join(" ".join(data.prompt(inst)[1:]) for inst in sample),
                        "\n".join(" ".join(data.tokenizer.decode(r)) for r in generated)],
                       ["held-out instruction", "SFT sample"]))
