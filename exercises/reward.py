"""The reward model, trained from human rankings: step 2 of RLHF.

Lecture slides: "RLHF step 2 — collect comparison data, and train a reward model": for a
prompt x, K responses y_1 .. y_K are sampled from the SFT model and a labeler ranks them
from best to worst. People only rank; nobody writes a number. The reward model r_theta(x, y)
learns a scalar from the rankings alone, and step 3 maximises it with RL.

The model: the SFT model's Transformer with its LM head replaced by a scalar head, read at
the LAST REAL token of each right-padded sequence s = x y (length L):

    h = GPT.forward_hidden(s)                     (B, T, C)
    r_theta(x, y) = h[L - 1] . w + b              (B,)      w (C,), b a scalar

The causal mask lets position L - 1 see the whole prompt and response, and no position sees
the padding to its right: extra right padding changes no score.

The ranking loss (the Bradley-Terry model of a comparison, p(y_i beats y_j) =
sigma(r_i - r_j), over every pair a K-wise ranking implies; InstructGPT's loss): for one
prompt with responses ranked pi(1) > pi(2) > ... > pi(K),

    loss(x) = - 1/C(K,2)  sum_{a < b}  log sigma(r_pi(a) - r_pi(b))

and the batch loss is the mean of loss(x) over the P prompts. All C(K,2) pairs of a prompt
sit in ONE batch element and each response is scored once: InstructGPT found that putting the
pairs in separate batch elements, each response seen in K - 1 of them, overfits within an
epoch. With d = r_i - r_j, -log sigma(d) = log(1 + e^-d) = logaddexp(0, -d) is finite for
any d, and its derivative -sigma(-d) = -exp(-logaddexp(0, d)) never overflows either.

Pairwise accuracy: the share of implied pairs (i above j) with r_i > r_j, a tie counting 1/2
(so a constant reward scores exactly 0.5, chance).

Normalisation: a reward is only defined up to a constant (the loss sees differences). After
training, the head is rescaled so that the SFT policy's own samples score mean 0 and standard
deviation 1 (as lm-human-preferences does before RL): from scores s of those samples,

    gain = 1 / std(s),  bias = -mean(s) / std(s),    r' = gain r + bias

and the affine map folds into the head: w <- gain w, b <- gain b + bias.

Shapes: B sequences, T positions, C width, P prompts, K responses per prompt.

Decisions:
- Parameters: ``params`` holds the backbone's arrays under ``backbone.<name>`` (the SAME
  array objects as ``model.backbone.params``: an optimizer's in-place update moves both) and
  the head ``head.w`` (C,), ``head.b`` () (0-d). The backbone starts as a COPY of the given
  model's parameters (initialised from the SFT model, which it must not change); the head
  starts at zero, so every reward starts at 0 and the loss at ln 2.
- A ranking lists response indices from best to worst: rankings[p, 0] is the best of prompt
  p. The std in the normalisation is the population std (ddof 0).
- Training is harness (``scratch.train.models.train_reward_model``): AdamW over random
  minibatches of ranked groups, each group's K responses in one forward pass.

Left out: a reward for each token (the reward is one number per response), ensembles, and
a margin term for how strongly a labeler prefers one response.
"""

import numpy as np

from ._checks import (check_affine, check_backbone, check_groups, check_lengths, check_scores_and_rankings,
                      check_size, check_spread)
from .transformer import GPT, prefixed, subdict


# --------------------------------------------------------------------------- the ranking loss

def ranking_loss_forward(scores, rankings):
    """Mean over prompts of -1/C(K,2) sum_{a<b} log sigma(r_pi(a) - r_pi(b)) (module docstring).

    ``scores`` (P, K) rewards; ``rankings`` (P, K) response indices, best first. Returns
    (loss, cache), the loss a float.
    """
    scores, rankings = check_scores_and_rankings(scores, rankings)
    # TODO: sort each row best first, take all differences r_a - r_b, keep a < b (np.triu), use logaddexp
    raise NotImplementedError("ranking_loss_forward: not implemented yet")


def ranking_loss_backward(dloss, cache):
    """Gradient of ranking_loss_forward with respect to the scores: (P, K)."""
    # TODO: implement ranking_loss_backward (see the docstring)
    raise NotImplementedError("ranking_loss_backward: not implemented yet")


def pairwise_accuracy(scores, rankings):
    """Share of the ranked pairs (a above b) with r_pi(a) > r_pi(b); a tie counts 1/2."""
    scores, rankings = check_scores_and_rankings(scores, rankings)
    # TODO: implement pairwise_accuracy (see the docstring)
    raise NotImplementedError("pairwise_accuracy: not implemented yet")


# --------------------------------------------------------------------------- the model

class RewardModel:
    """A GPT backbone (a copy of ``base``'s parameters) and a scalar head (module docstring).

    RewardModel(base): ``base`` is a GPT (the SFT model); it is left untouched.
    """

    def __init__(self, base):
        check_backbone(base)
        self.backbone = GPT(**base.config)
        self.backbone.params = {name: value.copy() for name, value in base.params.items()}
        self.dtype, self.context_length = base.dtype, base.context_length
        self.params = prefixed(self.backbone.params, "backbone.")  # the same arrays, not copies
        self.params["head.w"] = np.zeros(base.width, dtype=base.dtype)
        self.params["head.b"] = np.zeros((), dtype=base.dtype)

    def forward(self, ids, lengths):
        """Rewards of right-padded sequences ids (B, T) with ``lengths`` (B,) real tokens each:
        (scores (B,), cache); score_b = hidden[b, lengths[b] - 1] . w + b."""
        lengths = check_lengths(lengths, ids)
        self.sync_backbone()
        hidden, backbone_cache = self.backbone.forward_hidden(ids)  # (B, T, C), given: the backbone's pass
        # TODO: one hidden vector per row at its last real token, then the scalar head; set scores and last (B, C)
        raise NotImplementedError("RewardModel.forward: not implemented yet")
        return scores, {"backbone": backbone_cache, "last": last, "lengths": lengths, "shape": hidden.shape}

    def backward(self, dscores, cache):
        """Gradients of forward for dscores (B,): a dict keyed like ``params``."""
        w, last, lengths = self.params["head.w"], cache["last"], cache["lengths"]
        # TODO: head: dw = sum_b dscores_b last_b, db = sum_b dscores_b; set grads (the head's) and dhidden
        # TODO: dhidden (B, T, C) is zero but at each row's last real token
        raise NotImplementedError("RewardModel.backward: not implemented yet")
        backbone_grads = self.backbone.backward_hidden(dhidden, cache["backbone"])  # given: the backbone's
        return {**grads, **prefixed(backbone_grads, "backbone.")}

    def sync_backbone(self):
        """Point the backbone at the arrays in ``params`` (after ``params`` was replaced)."""
        self.backbone.params = subdict(self.params, "backbone.")

    def scores(self, ids, lengths, batch_size=256):
        """Rewards (B,) of many sequences, ``batch_size`` rows per forward (no gradients)."""
        ids, lengths, batch_size = np.asarray(ids), np.asarray(lengths), check_size(batch_size, "batch_size")
        return np.concatenate([self.forward(ids[i:i + batch_size], lengths[i:i + batch_size])[0]
                               for i in range(0, len(ids), batch_size)])

    def fold_normalization(self, gain, bias):
        """r' = gain r + bias, folded into the head in place: w <- gain w, b <- gain b + bias."""
        gain, bias = check_affine(gain, bias)
        self.params["head.w"] *= gain
        self.params["head.b"][...] = gain * self.params["head.b"] + bias


def reward_loss_and_grads(model, ids, lengths, rankings):
    """The ranking loss of P groups of K sequences each and its gradients.

    ``ids`` (P, K, T) right-padded responses (with their prompts), ``lengths`` (P, K),
    ``rankings`` (P, K) best first. Every group's K sequences are scored in ONE forward pass
    of P*K rows, then all C(K,2) pairs of each group enter the loss. Returns (loss, grads).
    """
    ids, lengths = check_groups(ids, lengths)
    P, K, T = ids.shape
    # TODO: implement reward_loss_and_grads (see the docstring)
    raise NotImplementedError("reward_loss_and_grads: not implemented yet")


def reward_normalization(scores):
    """(gain, bias) that map ``scores`` (the SFT policy's samples, any shape) to mean 0, std 1:
    gain = 1 / std, bias = -mean / std (population std). ValueError on NaN, inf or a zero std."""
    scores = check_spread(scores)
    # TODO: implement reward_normalization (see the docstring)
    raise NotImplementedError("reward_normalization: not implemented yet")


def normalize_rewards(model, ids, lengths):
    """Fold the normalisation of the SFT samples ``ids`` (B, T), ``lengths`` (B,) into
    ``model``'s head (in place); returns (gain, bias)."""
    gain, bias = reward_normalization(model.scores(ids, lengths))
    model.fold_normalization(gain, bias)
    return gain, bias
