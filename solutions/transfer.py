"""Pretraining, then fine-tuning: transfer learning.

Lecture slide: "pretrain on A, fine-tune on B". A model trained on a large corpus A (here:
:mod:`scratch.data.world`'s pages of toy English and task demonstrations) starts its training on
a small corpus B from those weights instead of from a random initialisation. What it learned
on A — the words, the ``a b => c d ;`` format, the elvish lexicon, how to reverse a pair —
need not be learned again from B's few examples; only what is new in B must be. The effect
is measured in the chapter's test and demo: on a task that pretraining never showed
(``reverse-elvish``: reverse the pair and translate it into elvish), a hundred examples, the
same steps and the same batches, the fine-tuned model reaches a held-out loss far below
the model trained from scratch.

    theta_0 = theta_pretrained        (not random)
    theta_{t+1} = AdamW(theta_t, grad L_B(theta_t))   for the trainable parameters only

Which parameters train (``top_blocks``):
- ``None``: all of them (full fine-tuning, what GPT-1 did);
- ``k``: the head, the final layernorm and the top k blocks only; everything else stays as
  pretrained ("frozen"). A tied head IS the token embedding (logits = hidden E^T), so with a
  tied head ``tok_emb`` trains too, and with it the input layer (one matrix): without it the
  model could never learn to write a word that pretraining never showed (its embedding,
  and so its logit, would stay where pretraining pushed it: far down, as a word never seen).

Decisions:
- Fine-tuning changes a *copy*: the pretrained model is left as it was, so one pretrained
  model serves every experiment (and the prompting chapter).
- Frozen parameters are left out of the optimizer altogether (:class:`PartialModel` shows
  the training loop only the trainable ones), rather than given zero gradients: AdamW with
  weight decay would still move a parameter whose gradient is zero.
- The backward pass still runs through the whole model and the frozen parameters'
  gradients are dropped; stopping the backward below the lowest trainable block would save
  time, and is left out for clarity.

Left out: learning-rate multipliers per layer, adapters and low-rank updates (LoRA),
regularising towards the pretrained weights.
"""

import copy

from ._checks import check_param_names, check_size


def trainable_names(model, top_blocks=None):
    """Names of the parameters that fine-tuning updates (module docstring), in
    ``model.params`` order. ``top_blocks``: None (all) or an int from 1 to L."""
    top_blocks = None if top_blocks is None else check_size(top_blocks, "top_blocks", 1, model.n_layers)
    ### BEGIN SOLUTION
    if top_blocks is None:
        return list(model.params)
    top = tuple(f"blocks.{layer}." for layer in range(model.n_layers - top_blocks, model.n_layers))
    head = "tok_emb" if model.tied else "head.W"
    return [name for name in model.params
            if name.startswith(top) or name.startswith("ln_f.") or name == head]
    ### END SOLUTION


class PartialModel:
    """A model seen through only some of its parameters, for a training loop.

    ``params`` holds the SAME arrays as the model's, for the trainable names only, so the
    optimizer's in-place updates change the model; the other parameters are frozen.
    ``loss_and_grads`` returns the gradients of those names only; ``loss`` is the model's.
    """

    def __init__(self, model, names):
        self.model = model
        self.params = {name: model.params[name] for name in check_param_names(names, model.params)}

    def loss_and_grads(self, ids, targets, loss_mask=None):
        ### BEGIN SOLUTION
        loss, grads = self.model.loss_and_grads(ids, targets, loss_mask)
        return loss, {name: grads[name] for name in self.params}
        ### END SOLUTION

    def loss(self, ids, targets, loss_mask=None):
        return self.model.loss(ids, targets, loss_mask)


def finetune(pretrained, batches, train_lm, *, top_blocks=None, **train_kwargs):
    """Fine-tune a copy of ``pretrained`` on ``batches``: returns (model, history).

    ``train_lm`` is the training loop (``scratch.train.loop.train_lm``), called on the
    copy's :class:`PartialModel` with ``train_kwargs`` (steps, lr, optim, ...).
    """
    ### BEGIN SOLUTION
    model = copy.deepcopy(pretrained)
    history = train_lm(PartialModel(model, trainable_names(model, top_blocks)), batches, **train_kwargs)
    return model, history
    ### END SOLUTION
