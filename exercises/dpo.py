"""DPO: the RLHF objective solved without a reward model in the loop and without sampling.

Lecture slide "RLHF": maximise E_pi[r(x, y)] - beta KL(pi(.|x) || pi_ref(.|x)) (pi_ref = pi^SFT).
For each prompt this has a closed-form maximiser,

    pi*(y|x) = pi_ref(y|x) exp(r(x, y) / beta) / Z(x),   so   r(x, y) = beta log(pi*(y|x) / pi_ref(y|x)) + beta log Z(x)

Any policy pi therefore defines an IMPLICIT reward r_pi(x, y) = beta log(pi(y|x) / pi_ref(y|x)),
and in a comparison the unknown beta log Z(x) cancels. Put r_pi into the reward model's
Bradley-Terry loss (``reward.py``) on the comparison data, a winner y_w and a loser
y_l per prompt, and the policy is trained directly, by maximum likelihood:

    L_DPO = -mean over pairs of log sigma( beta [ (log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l)) ] )

log pi(y|x) is a SEQUENCE log-probability: the sum of the per-token log-probabilities over
the response tokens (``rlhf.masked_sum`` of ``rlhf.token_logprobs_forward``).

With h = beta (log pi - log pi_ref) per response, the loss is the K = 2 case of the
reward model's ranking loss on the scores (h_w, h_l), winner first. That loss is already
stable for any margin (log(1 + e^-z) through logaddexp), and its gradient wrt h_w is
-sigma(-z) / n_pairs; the chain rule through h gives beta times it. At pi = pi_ref every
margin is 0: the loss is ln 2 and dL/d log pi(y_w) = -beta / 2 per pair (divided by the
number of pairs), the opposite for y_l.

Decisions: the mean over pairs (not the sum), as the ranking loss; the reference model's
log-probabilities are constants (no gradient); the log-probabilities are read at
temperature 1 unless the caller says otherwise (DPO has no rollouts).

Left out: label smoothing (conservative DPO), IPO's squared loss, and the SFT term some
recipes add on the winners.
"""

import numpy as np

from ._checks import check_beta, check_sequence_logprobs
from .reward import ranking_loss_backward, ranking_loss_forward

# Every pair's scores are listed winner first: the ranking of each row is (0, 1).
WINNER_FIRST = (0, 1)


def dpo_loss_forward(logp_w, logp_l, ref_logp_w, ref_logp_l, beta):
    """L_DPO over n pairs of sequence log-probabilities (each (n,)): (loss, cache)."""
    beta = check_beta(beta, positive=True)  # beta = 0: the loss stays ln 2, nothing is learned
    logp_w, logp_l, ref_logp_w, ref_logp_l = check_sequence_logprobs(
        "logp_w", logp_w, logp_l=logp_l, ref_logp_w=ref_logp_w, ref_logp_l=ref_logp_l)
    # TODO: the implicit rewards beta (log pi - log pi_ref) of winner and loser, as (n, 2) scores for reward.ranking_loss_forward
    raise NotImplementedError("dpo_loss_forward: not implemented yet")


def dpo_loss_backward(dloss, cache):
    """Gradients of dpo_loss_forward w.r.t. the policy's log-probabilities: (dlogp_w (n,), dlogp_l (n,))."""
    # TODO: implement dpo_loss_backward (see the docstring)
    raise NotImplementedError("dpo_loss_backward: not implemented yet")
