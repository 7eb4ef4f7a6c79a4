"""BERT's masked-LM objective, against GPT's next-token objective.

Lecture slide: BERT and GPT use the same Transformer blocks and differ in what they see and
what they predict. GPT is causal and predicts every next token, x_{t+1} from x_<=t. BERT is
bidirectional (``GPT(..., causal=False)``: every position sees every position), so predicting
a token it can already see would be trivial; instead some input tokens are corrupted and
the model predicts the originals at those positions only:

    picked = 15% of the positions of each sequence
    input_t = [MASK] (80% of picked), a random token (10%), x_t unchanged (10%)
    loss = -1/|picked| sum_{t in picked} log p(x_t | corrupted input)

Decisions:
- Exactly max(1, round(0.15 T)) positions per sequence, uniformly without replacement, so no
  sequence is without a target: a fixed count, as in BERT's original data preparation (some
  later libraries instead pick each position independently with probability 0.15, which
  leaves short sequences with no target now and then).
- The random replacement is uniform over the vocabulary without the mask token.
- The loss is the model's own ``loss_and_grads`` with ``loss_mask`` = picked: the
  composable interface of ``transformer.py``, no BERT-specific model code.

Left out: BERT's next-sentence prediction, its segment embeddings, whole-word masking.
"""

import numpy as np

from ._checks import check_causal, check_mask_tokens


def mask_tokens(ids, mask_id, vocab_size, rng, mask_prob=0.15):
    """BERT's corruption of ids (B, T): returns (inputs, targets, loss_mask).

    In each sequence exactly max(1, round(mask_prob * T)) positions are picked uniformly
    without replacement; a picked position becomes ``mask_id`` with probability 0.8, a
    uniformly random token other than ``mask_id`` with probability 0.1, and keeps its token
    with probability 0.1. targets = the original ids; loss_mask (B, T) bool = picked.
    ValueError for ids that are not int (B, T) with T >= 1 and values in [0, vocab_size), for
    vocab_size < 2 (no token besides the mask), a mask_id outside the vocabulary, or
    mask_prob outside (0, 1].
    """
    ids = check_mask_tokens(ids, mask_id, vocab_size, rng, mask_prob)
    # TODO: the n_picked smallest of B x T uniform draws per row are a uniform random subset
    raise NotImplementedError("mask_tokens: not implemented yet")


def masked_lm_loss_and_grads(model, ids, mask_id, rng, mask_prob=0.15):
    """BERT's objective on ids (B, T): corrupt with mask_tokens, predict the original tokens
    at the picked positions only. Returns (loss, grads)."""
    check_causal(model.causal, False, "the masked-LM objective needs a bidirectional model (causal=False)")
    inputs, targets, loss_mask = mask_tokens(ids, mask_id, model.vocab_size, rng, mask_prob)
    return model.loss_and_grads(inputs, targets, loss_mask)
