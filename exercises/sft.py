"""Instruction tuning (supervised fine-tuning, SFT): step 1 of RLHF.

Lecture slides: "RLHF step 1 — collect demonstration data, and train a supervised policy": a
prompt x is drawn from a set of instructions, a person writes the response y they want to
see, and the pretrained LM is fine-tuned on the pairs (x, y) by maximum likelihood. The
result is pi^SFT, the policy that RLHF's later steps start from and stay close to.

Only the response is a target. The prompt is given, not demonstrated, so the model is
not asked to predict it: for a pair of prompt length P and response length R (its last
token is ``<eos>``), the sequence s = x_1 .. x_P y_1 .. y_R is fed as ids = s[:-1] and
targets = s[1:], and

    L_SFT = - 1/N  sum over pairs  sum_{i=1..R}  log pi(y_i | x, y_<i)

where N counts the response tokens of the batch. Target position t predicts s[t + 1], so it
is a response target exactly when P - 1 <= t <= P + R - 2: the mask is found by POSITION,
from the prompt's known length. It is never found by looking for a separator in the text: a
response may repeat any word of its prompt.

Why the ``<eos>`` is a target and ``<pad>`` is not: sampling stops when the model writes
``<eos>``, so the model must learn WHEN to stop, and that is one more prediction the
demonstration makes. ``<pad>`` only fills the rectangle of a batch (right padding, after
the sequence); it is never predicted. If PAD and EOS were one id, either every pad would be
a target (a model trained to say "stop" over and over, and one whose loss is diluted by
filler) or the EOS would be masked out with the pads (a model that never learns to stop).
So they must differ: ``sft_batch`` refuses ``pad_id == eos_id``.

Shapes: B pairs, T = the longest P + R - 1 in the batch (at most the context length N).

Decisions:
- How EOS is known: the caller passes ``eos_id``, and every response must END with it (a
  demonstration that does not stop teaches the model not to stop). The check is given
  plumbing; the mask still comes from lengths, never from where an ``<eos>`` occurs.
- Right padding (the prompt first in every row, from position 0), so that each row's
  positions are the ones it would have alone and the GPT needs no positions or key mask; the mean
  is over the masked targets of the whole batch (``GPT.loss_and_grads`` with the mask), so
  a long response weighs more than a short one, token by token.
- SFT training is the GPT's own ``loss_and_grads(ids, targets, loss_mask)``, in any
  training loop (``scratch.train.loop.train_lm`` takes ``(ids, targets, loss_mask)`` batches).

Left out: packing several pairs into one row, multi-turn dialogue (a mask with several
response spans), and mixing pretraining text into the fine-tuning batches.
"""

import numpy as np

from ._checks import check_sft_pairs


def sft_batch(prompts_ids, responses_ids, pad_id, context_length, eos_id):
    """A right-padded SFT batch: ``(ids, targets, loss_mask)``, each (B, T).

    ``prompts_ids``: B non-empty 1-D id sequences; ``responses_ids``: B responses, each ending
    with ``eos_id``. Row b holds s_b = prompt_b + response_b: ids[b, :L_b - 1] = s_b[:-1] and
    targets[b, :L_b - 1] = s_b[1:] (L_b = P_b + R_b), then ``pad_id`` up to
    T = max_b (L_b - 1). loss_mask[b, t] is True exactly for P_b - 1 <= t <= L_b - 2: the
    targets that are response tokens, its ``<eos>`` included; prompt targets and padding are
    False. ids and targets are int64, the mask bool.
    """
    prompts, responses = check_sft_pairs(prompts_ids, responses_ids, pad_id, eos_id, context_length)
    # TODO: build each row from its sequence, then the mask from the prompt and sequence lengths only
    raise NotImplementedError("sft_batch: not implemented yet")
