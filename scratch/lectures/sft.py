"""Lecture demo, instruction tuning (RLHF step 1): fine-tune the pretrained GPT of chapter 8
on demonstrations, the loss on response tokens only, and measure what SFT teaches against
what chapter 9's prompting already gets from the same pretrained model.

Setup (scratch/data/instructions.py): the pretraining world's tasks asked in three phrasings,
e.g. "translate into elvish : mouse cat =>", answered by demonstrators who are always right and
open with "sure" a quarter of the time; held-out instructions ask about held-out pairs, which
neither pretraining nor SFT showed. The model: chapter 8's (cached), its vocabulary widened by
the instruction words (every old id unchanged), then 500 AdamW steps of 32 fresh
demonstrations; cached too, the reward chapter starts from it.

The known truth: every answer is certain, only "sure" or not is left to guess, so the loss per
response token cannot go below H(0.25) / 3.25 = 0.173 nats (3.25 response tokens on average).

The comparison, on the same held-out queries: SFT given the bare instruction; the pretrained
model given the same instruction; the pretrained model prompted in its own format as in
chapter 9 (``elvish : a b =>``, 0, 1 or 4 demonstrations). An SFT answer is exact when it is the
gold pair then ``<eos>`` ("sure" first allowed); a prompted answer is read up to ";".

What it shows, honestly: SFT gets close to the floor but wins nothing on accuracy. Prompted in
its own format the pretrained model is as good from one demonstration, or from none when the
task is named (unnamed and 0-shot it can only guess the task); given an instruction it writes
the right words mostly after the phrasing that ends like its own format, and never stops. What
SFT adds is the interface: requests in words the pretrained model never saw, and ``<eos>``.
Sampled, it says "sure" as often as the demonstrators, no more. The demo prints the numbers
and writes them to results.json (``sft.*``).
"""

import numpy as np

from scratch.data.instructions import POLITE
from scratch.data.world import EOS
from scratch.train import display, models, pretraining
from scratch.train.display import side_by_side
from scratch.train.models import SFT

from . import cache, label_key, record

MAX_RESPONSE = 4  # "sure", two words, <eos>
SHOTS = (0, 1, 4)
PHRASINGS = 3  # each held-out (task, pair) is asked in three phrasings: prompted three times too
HELDOUT_DEMONSTRATIONS = 2000


def heldout_loss(impl, model, data):
    """The SFT loss per response token on fresh demonstrations of the held-out instructions
    (its floor is the same as on the training ones: whatever the pair, only "sure" is uncertain)."""
    prompts, responses, _ = data.sample_demonstrations(HELDOUT_DEMONSTRATIONS, np.random.default_rng(4), "heldout")
    ids, targets, mask = impl.sft.sft_batch(prompts, responses, data.pad_id, model.context_length, data.eos_id)
    return float(model.loss(ids, targets, mask))


def answers(impl, model, data, instances, rng=None):
    """Each instance's response ids (greedy when ``rng`` is None, else sampled at temperature 1)."""
    prompts = [data.tokenizer.encode(data.prompt(inst)) for inst in instances]
    out = impl.batched.generate_batch(model, prompts, MAX_RESPONSE, greedy=rng is None, stop_id=data.eos_id,
                                      pad_id=data.pad_id, rng=rng)
    return [out.tokens[i, :out.lengths[i]] for i in range(len(prompts))]


def report(data, instances, responses):
    """Shares of the responses: exact (the gold pair, then <eos>; "sure" first allowed),
    right words (the gold pair first, whatever follows), ending with <eos>, opening with "sure"."""
    words = [data.tokenizer.decode(r) for r in responses]
    golds = [data.world.answer(inst.task, inst.pair) for inst in instances]
    bodies = [w[1:] if w[:1] == [POLITE] else w for w in words]
    return {"exact": np.mean([b == [*g, EOS] for b, g in zip(bodies, golds)]),
            "words": np.mean([tuple(b[:2]) == g for b, g in zip(bodies, golds)]),
            "eos": np.mean([w[-1:] == [EOS] for w in words]),
            "sure": np.mean([w[:1] == [POLITE] for w in words])}


def show_batch(impl, data):
    rng = np.random.default_rng(0)
    prompts, responses, _ = data.sample_demonstrations(3, rng)
    ids, targets, mask = impl.sft.sft_batch(prompts, responses, data.pad_id,
                                            pretraining.LECTURE["model"]["context_length"], data.eos_id)
    print("One SFT batch (right-padded); the loss covers the targets marked ^, response and <eos> only:\n")
    for row in range(len(prompts)):
        shown = [f"{w}{'^' if m else ''}" for w, m in zip(data.tokenizer.decode(targets[row]), mask[row])]
        print("  input   " + " ".join(data.tokenizer.decode(ids[row])))
        print("  target  " + " ".join(shown) + "\n")


def prompted_rows(impl, model, task_world):
    """Chapter 9's prompting of the pretrained model on the held-out pairs, PHRASINGS prompts
    per pair and task: one (label, prompt tokens, exact match) per number of shots and naming."""
    queries = task_world.heldout_pairs * PHRASINGS
    rows = []
    for named in (False, True):
        for k in SHOTS:
            prompt, _ = impl.prompting.sample_prompts(task_world, task_world.tasks[0], k, queries[:1],
                                                      np.random.default_rng(k), named=named)
            accuracy = impl.prompting.shot_accuracy(model, task_world, k, named=named, queries=queries, seed=k)
            label = f"pretrained, {k}-shot{', task named' if named else ''}"
            rows.append((label, len(prompt[0]), accuracy))
    return rows


def run(impl):
    data = models.instruction_data()
    heldout = data.instances("heldout")
    print(f"Instructions over the pretraining world ({len(data.world.words)} words, tasks "
          f"{', '.join(data.world.tasks)}), {PHRASINGS} phrasings each: {len(data.instances('train'))} training and "
          f"{len(heldout)} held-out instructions; vocabulary {len(data.world.tokenizer)} pretrained words + "
          f"{len(data.tokenizer) - len(data.world.tokenizer)} instruction words = {len(data.tokenizer)}\n")
    show_batch(impl, data)

    base = models.pretrained(impl, cache)
    history = {}
    print(f"\nSFT: {SFT['steps']} AdamW steps of {SFT['batch']} fresh demonstrations, starting from the pretrained model")
    model = models.sft_model(impl, data, cache, history=history, base=base)
    if history:
        print(display.text_curve(history["loss"], label="SFT loss per response token"))
        last = SFT["steps"] // 10
        train_loss = record("sft", f"train_loss_last_{last}_steps", np.mean(history["loss"][-last:]))
        seconds = record("sft", "finetune_seconds", history["seconds"])
        print(f"  mean over the last {last} steps {train_loss:.3f}; {seconds:.0f} s of fine-tuning")
    floor = record("sft", "loss_floor", -(0.25 * np.log(0.25) + 0.75 * np.log(0.75)) / 3.25)
    loss = record("sft", "heldout_loss", heldout_loss(impl, model, data))
    print(f"SFT loss on {HELDOUT_DEMONSTRATIONS} fresh demonstrations of held-out instructions: {loss:.3f} nats per "
          f"response token;\nits exact floor: H(p_polite) / E[response tokens] = {floor:.3f} nats (every answer is "
          f"certain; only 'sure' or not is left)\n")

    tokens = np.mean([len(data.prompt(inst)) for inst in heldout])
    widened = models.widen_vocabulary(impl, base, len(data.tokenizer), seed=SFT["widen_seed"])
    print(f"Held-out queries: {len(data.world.heldout_pairs)} pairs x {len(data.world.tasks)} tasks x {PHRASINGS} "
          f"= {len(heldout)}; greedy answers, at most {MAX_RESPONSE} tokens:")
    print(f"  {'model and prompt':<36} {'prompt tokens':>13} {'exact':>7} {'right words':>12} {'ends <eos>':>11}")
    for label, m in (("SFT, the instruction", model), ("pretrained, the instruction", widened)):
        scores = report(data, heldout, answers(impl, m, data, heldout))
        for name in ("exact", "words", "eos"):
            record("sft", f"{label_key(label)}_{name}", scores[name])
        print(f"  {label:<36} {tokens:>13.2f} {scores['exact']:>7.1%} {scores['words']:>12.1%} {scores['eos']:>11.1%}")
    by_phrasing = []
    for phrasing, templates in enumerate(zip(data.phrasings(data.world.tasks[0]), data.phrasings("reverse"))):
        chosen = [inst for inst in heldout if inst.phrasing == phrasing]
        share = report(data, chosen, answers(impl, widened, data, chosen))["words"]
        record("sft", f"pretrained_the_instruction_words_phrasing_{phrasing}", share)
        by_phrasing.append(f"  {share:>4.0%}  " + " / ".join(" ".join(words) for words in templates))
    record("sft", "instruction_tokens", tokens)
    for label, n_tokens, accuracy in prompted_rows(impl, base, data.world):
        record("sft", f"{label_key(label)}_exact", accuracy)
        record("sft", f"{label_key(label)}_prompt_tokens", n_tokens)
        print(f"  {label:<36} {n_tokens:>13d} {accuracy:>7.1%} {'':>12} {'n/a':>11}")
    print("  (a prompted answer is read up to ';', pretraining's separator, as chapter 9 reads it, so it has\n"
          "  no <eos> to count; unnamed and 0-shot, the pretrained model can only guess the task)")
    print("The pretrained model's right words, by phrasing of the instruction:\n" + "\n".join(by_phrasing) + "\n")

    sampled = report(data, heldout, answers(impl, model, data, heldout, np.random.default_rng(1)))
    for name in ("exact", "eos", "sure"):
        record("sft", f"sft_sampled_{name}", sampled[name])
    print(f"Sampled at temperature 1, SFT: exact {sampled['exact']:.1%}, ends with <eos> {sampled['eos']:.1%}, "
          f"opens with 'sure' {sampled['sure']:.1%} (the demonstrators: {data.p_polite:.0%}).")
    print("SFT imitates: it says 'sure' as often as the demonstrators did, no more. The labelers of the\n"
          "next chapter like 'sure'; the reward model and RLHF are how that preference gets in.\n")
    sample = [heldout[i] for i in sorted(np.random.default_rng(3).choice(len(heldout), size=6, replace=False))]
    columns = {"SFT sample": answers(impl, model, data, sample, np.random.default_rng(2)),
               "pretrained, greedy": answers(impl, widened, data, sample)}
    print(side_by_side(["\n".join(" ".join(data.prompt(inst)[1:]) for inst in sample)]
                       + ["\n".join(" ".join(data.tokenizer.decode(r)) for r in responses)
                          for responses in columns.values()],
                       ["held-out instruction", *columns]))
