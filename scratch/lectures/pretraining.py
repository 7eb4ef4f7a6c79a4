"""Lecture demo, pretraining: a GPT pretrained on pages whose exact entropy we know, then
fine-tuned on a task it never saw (transfer), and a family of sizes trained on the same
tokens (a scaling law, with its irreducible loss E next to the true entropy).

The world (:mod:`scratch.data.world`): pages of toy-English sentences and pages of
demonstrations ``a b => c d ;`` of a latent task (three made-up word-for-word languages and
reversing); the pretrained model is :data:`scratch.train.pretraining.LECTURE`, cached in the
user's cache folder (``--cache-dir`` names another, ``--retrain`` trains again), so the next
chapters and the next run reuse it.

The known truth: the source's exact entropy per token, in closed form from the world's recipe,
is the floor of every model's loss and the value the scaling fit's E should find. Transfer:
100 examples of a task pretraining never showed (reverse, then elvish), the same batches and
learning rate for every model. Scaling: five widths (non-embedding N 1.8k to 26k), each
trained on the same tokens.

Findings: the pretrained model ends a little above the exact floor on fresh pages. On the new
task, fine-tuning all its weights reaches a held-out answer loss far below that of tuning only
the head and top block or of training from scratch, though all three get (nearly) every greedy
answer right: exact match is too coarse to tell them apart here. In the scaling study every
size is still well above the floor, so the fitted E lands above the true entropy: a fitted E is
only as good as the largest models (with fewer steps the fit gave E = 0 and sizes out of
order). The demo prints the numbers and writes them to results.json (``pretraining.*``).
"""

import io

import numpy as np

from scratch.train import display, loop, models, pretraining

from . import cache, label_key, record, save_figure

SCALING_WIDTHS = (8, 12, 16, 24, 32)  # non-embedding parameters 1.8k to 26k (15x)
SCALING_STEPS = 300
TRANSFER_EXAMPLES, TRANSFER_STEPS, TRANSFER_BATCH = 100, 100, 32
HELDOUT_PAGES = 2000


def show_world(task_world, source):
    rng = np.random.default_rng(3)
    pages = source.sample_pages(40, rng)
    text = next(p for p in pages if p.kind == "text")
    named = next(p for p in pages if p.kind == "task" and p.words[2] == ":")
    plain = next(p for p in pages if p.kind == "task" and p.words[2] != ":")
    print("Three pretraining pages (a page is one training sequence, <bos> to <eos>):")
    for page in (text, named, plain):
        print("  " + " ".join(page.words))
    print(f"\nTasks: {', '.join(task_world.tasks)} (a page names its task only {source.p_named:.0%} of the time);"
          f" {len(task_world.heldout_pairs)} of {len(task_world.heldout_pairs) + len(task_world.train_pairs)}"
          f" input pairs held out.")
    record("pretraining", "entropy_per_page", source.entropy_per_page())
    record("pretraining", "entropy_per_token", source.entropy_per_token())
    print(f"Exact entropy of the source: {source.entropy_per_page():.3f} nats per page, "
          f"{source.predicted_tokens_per_page():.2f} predicted tokens per page -> "
          f"{source.entropy_per_token():.4f} nats per token (the floor of any model's loss).\n")


def show_transfer(impl, model, task_world):
    recipe = pretraining.LECTURE
    corpus = pretraining.transfer_corpus(task_world, TRANSFER_EXAMPLES, seed=1)
    heldout = pretraining.transfer_heldout(task_world)
    training_settings = dict(steps=TRANSFER_STEPS, lr=5e-3, warmup_steps=10, optim=impl.optim, out=io.StringIO())
    batches = lambda: pretraining.row_batches(corpus, TRANSFER_BATCH, np.random.default_rng(1))  # noqa: E731
    runs = {}
    for label, top_blocks in (("fine-tune all weights", None), ("fine-tune head + top block", 1)):
        tuned, _ = impl.transfer.finetune(model, batches(), loop.train_lm, top_blocks=top_blocks, **training_settings)
        runs[label] = tuned
    scratch = pretraining.new_gpt(impl, recipe, task_world)
    loop.train_lm(scratch, batches(), **training_settings)
    runs["from scratch"] = scratch
    prompts = [["<bos>", task_world.unseen_task, ":", *pair, "=>"] for pair in task_world.heldout_pairs]
    golds = [task_world.answer(task_world.unseen_task, pair) for pair in task_world.heldout_pairs]
    print(f"Transfer: corpus B = {TRANSFER_EXAMPLES} examples of {task_world.unseen_task!r} (reverse the pair, then "
          f"elvish), a task pretraining never showed;\n{TRANSFER_STEPS} AdamW steps of {TRANSFER_BATCH} rows, "
          f"the same batches and learning rate for every model.")
    print(f"  {'model':28} held-out answer loss   exact match on {len(golds)} held-out pairs")
    not_tuned = record("pretraining", "transfer_not_tuned_loss", model.loss(*heldout))
    print(f"  {'pretrained, not tuned':28} {not_tuned:10.3f}")
    for label, tuned in runs.items():
        answers = impl.prompting.answer_prompts(tuned, task_world.tokenizer, prompts)
        loss = record("pretraining", f"transfer_{label_key(label)}_loss", tuned.loss(*heldout))
        match = record("pretraining", f"transfer_{label_key(label)}_exact_match",
                       impl.prompting.exact_match(answers, golds))
        print(f"  {label:28} {loss:10.3f} {match:22.0%}")
    print()


def scaling_models(impl, base):
    """One model per width, trained on the same tokens (cached like the pretrained one)."""
    return {width: pretraining.pretrained_gpt(impl, pretraining.with_changes(base, model={"width": width}),
                                              cache_dir=cache.cache_dir, retrain=cache.retrain(f"scaling-w{width}"),
                                              name=f"scaling-w{width}")
            for width in SCALING_WIDTHS}


def show_scaling(impl, source):
    base = pretraining.with_changes(pretraining.LECTURE, train={"steps": SCALING_STEPS, "batch_size": 16})
    pages, exact = pretraining.heldout_pages(base)
    models = scaling_models(impl, base)
    sizes = np.array([impl.scaling.count_params(m.vocab_size, m.context_length, m.n_layers, m.width, non_embedding=True)
                      for m in models.values()])
    losses = np.array([pretraining.heldout_loss(m, base, pages) for m in models.values()])
    tokens = SCALING_STEPS * base["train"]["batch_size"] * base["model"]["context_length"]
    print(f"Scaling: {len(sizes)} widths, 2 blocks each, every model trained on the same {tokens:,} tokens "
          f"(packed rows; ~90% are page tokens).")
    print(f"  {'width':>5} {'N (non-emb.)':>12} {'compute 6ND':>12} {'held-out loss':>14}")
    for width, n, loss in zip(models, sizes, losses):
        print(f"  {width:5d} {n:12,d} {impl.scaling.training_flops(n, tokens):12.2e} {loss:14.4f}")
        record("pretraining", f"scaling_width_{width}_parameters", n)
        record("pretraining", f"scaling_width_{width}_loss", loss)
    fit = impl.scaling.fit_power_law(sizes, losses)
    for name in ("E", "A", "alpha", "r2"):
        record("pretraining", f"scaling_fit_{name}", getattr(fit, name))
    record("pretraining", "scaling_heldout_exact_loss", exact)
    print(f"  fit L(N) = E + A N^-alpha:  E = {fit.E:.3f}, A = {fit.A:.3g}, alpha = {fit.alpha:.3f}, "
          f"R^2 (log space) = {fit.r2:.4f}")
    print(f"  true entropy of the source: {source.entropy_per_token():.3f} nats/token "
          f"({exact:.3f} on these held-out pages). E is what the fit believes no size can beat;"
          f" here we can check it.")
    # Knowing the floor, only A and alpha are left: a straight line through log(L - H).
    slope, intercept = np.polyfit(np.log(sizes), np.log(losses - exact), 1)
    record("pretraining", "scaling_fixed_E_A", np.exp(intercept))
    record("pretraining", "scaling_fixed_E_alpha", -slope)
    print(f"  with E fixed at the true entropy: A = {np.exp(intercept):.3g}, alpha = {-slope:.3f}. When every "
          f"model is still far above the floor\n  (here by {losses.min() - exact:.2f} nats or more), the points "
          f"cannot tell E from a steeper power law: a fitted E is only as good as the largest models.")
    excess = np.maximum(losses - fit.E, 1e-6)
    print(display.text_chart({"log(L - E)": (np.log(sizes) - np.log(sizes[0]), np.log(excess))},
                             x_label="log N - log N_min", height=8))
    save_plot(sizes, losses, fit)
    print()


def save_plot(sizes, losses, fit):
    """L - E against N on log-log axes with the fitted line; the PNG's path, or None
    without matplotlib."""
    def draw(ax):
        from matplotlib.ticker import NullFormatter  # only when drawing: matplotlib is optional

        grid = np.geomspace(sizes.min(), sizes.max(), 50)
        ax.loglog(sizes, losses - fit.E, "o", label="held-out loss - E")
        ax.loglog(grid, fit.predict(grid) - fit.E, "-", label=f"A N^-{fit.alpha:.2f}")
        ax.xaxis.set_minor_formatter(NullFormatter())  # the minor labels overlap on a short axis
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])  # label the five sizes themselves
        ax.set_title("Scaling: held-out loss above its fitted floor E")
        ax.set_xlabel("non-embedding parameters N")
        ax.set_ylabel("L - E (nats / token)")
        ax.legend()

    return save_figure(draw, "scaling.png", "  log-log plot of L - E against N")


def run(impl):
    recipe = pretraining.LECTURE
    task_world, source = pretraining.build_world(recipe)
    show_world(task_world, source)
    model = models.pretrained(impl, cache)
    pages, exact = pretraining.heldout_pages(recipe, n_pages=HELDOUT_PAGES)
    n_params = sum(p.size for p in model.params.values())
    loss = record("pretraining", "heldout_loss", pretraining.heldout_loss(model, recipe, pages))
    record("pretraining", "heldout_exact_loss", exact)
    record("pretraining", "parameters", n_params)
    print(f"\nPretrained GPT ({n_params:,} parameters, {recipe['train']['steps']} steps of "
          f"{recipe['train']['batch_size']} packed rows of {recipe['model']['context_length']} tokens):")
    print(f"  held-out loss {loss:.4f} nats/token on {HELDOUT_PAGES} fresh pages, whose exact mean -log p is "
          f"{exact:.4f}: {loss - exact:+.4f} above the floor.\n")
    show_transfer(impl, model, task_world)
    show_scaling(impl, source)
