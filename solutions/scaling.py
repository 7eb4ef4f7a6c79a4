"""Scaling laws: how the loss falls with model size, and what training costs.

Lecture slide: "Scaling laws — the test loss of a language model falls as a power law in
the number of parameters N, the number of training tokens D and the training compute C,
over many orders of magnitude, as long as the other two do not hold it back."

    L(N) = E + A * N^(-alpha)          E >= 0, A > 0, alpha > 0

E is the irreducible loss: the entropy of the source itself (in the loss's units, nats per
token), which no model, however large, can go below. A real-world study has to estimate E from the fit (nobody knows the entropy
of English); our corpora are generated from a known distribution (:mod:`scratch.data`), so
here the fitted E can be checked against the exact entropy.

Training compute (Kaplan et al., 2020):

    C ~= 6 * N * D    floating-point operations

per parameter and per token, 2 FLOPs in the forward pass (one multiply-add with the
parameter) and 4 in the backward pass (one multiply-add for the gradient of the input, one
for the gradient of the parameter). Left out, as in Kaplan et al.: the attention's
context-dependent FLOPs (the scores Q K^T and the weighted sum P V, about 2 * L * T * C per
token forward, which have no parameter), the softmax, layernorms and nonlinearities.

Which parameters count (the convention sources disagree on):
- ``count_params(..., non_embedding=False)`` (the default) counts every array in
  ``GPT.params``: it equals ``sum(p.size for p in model.params.values())``.
- ``non_embedding=True`` is Kaplan et al.'s N: it leaves out the token embedding E (V, C),
  the position embedding P (N_ctx, C) and, when the head is untied, the head W_head (C, V),
  the "unembedding", which is an embedding matrix as well (tied, it IS E^T). What remains,
  L * (12 C^2 + 13 C) + 2 C, grows with depth and width only; Kaplan et al. found their
  laws much cleaner in it than in the total. (The head's 2 * C * V forward FLOPs per token are then outside 6 * N * D too.)

The GPT of ``transformer.py``, parameter by parameter (C width, V vocabulary,
N_ctx context length, L blocks):

    block l:   ln1 2C, W_qkv 3C^2 + b_qkv 3C, W_out C^2 + b_out C,
               ln2 2C, W_in 4C^2 + b_in 4C, W_out 4C^2 + b_out C      = 12 C^2 + 13 C
    embeddings: tok_emb V C, pos_emb N_ctx C;  final layernorm 2C;  head C V if untied

Fitting: least squares on log L (every point weighs by its relative error, so the small
losses of the big models count as much as the large ones), with E in [0, min L] and A,
alpha > 0. The goodness of fit R^2 is measured in the same log space:

    R^2 = 1 - sum_i (log L_i - log Lhat_i)^2 / sum_i (log L_i - mean_j log L_j)^2

Left out: the data law L(D) and the joint law L(N, D), and compute-optimal allocation (how
to split a budget C between N and D: Kaplan et al.'s and Hoffmann et al.'s "Chinchilla"
answers); the fit here is the one-variable law L(N).
"""

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ._checks import check_bool, check_fit_data, check_positive_array, check_power_law, check_size


class PowerLawFitError(ValueError):
    """The losses admit no power-law fit L = E + A N^-alpha with A, alpha > 0 (they do not fall
    with N), or the solver did not converge. A ValueError, not a RuntimeError, so that a stub's
    NotImplementedError (a RuntimeError) can never pass for it."""


# --------------------------------------------------------------------------- counting

def count_params(vocab_size, context_length, n_layers, width, *, tied=True, non_embedding=False):
    """The number of parameters of ``GPT(vocab_size, context_length, n_layers, n_heads, width,
    tied=tied)`` (any n_heads: the heads split C, they add no parameters), in closed form:

        L (12 C^2 + 13 C)  +  2 C  +  [V C + N_ctx C  +  C V if not tied]

    The bracket is the embeddings, left out when ``non_embedding`` (Kaplan et al.'s N; the
    untied head counts as an embedding, see the module docstring). Returns an int.
    """
    V, N, L, C = (check_size(value, name) for value, name in (
        (vocab_size, "vocab_size"), (context_length, "context_length"), (n_layers, "n_layers"), (width, "width")))
    tied, non_embedding = check_bool(tied, "tied"), check_bool(non_embedding, "non_embedding")
    ### BEGIN SOLUTION
    ### HINT: go through GPT.init_params array by array; the sum is a polynomial in C
    per_block = 12 * C * C + 13 * C  # qkv 3C^2+3C, out C^2+C, mlp 8C^2+5C, two layernorms 4C
    count = L * per_block + 2 * C  # + the final layernorm
    if not non_embedding:
        count += V * C + N * C  # token and position embeddings
        if not tied:
            count += C * V  # the head W_head (C, V)
    return count
    ### END SOLUTION


def training_flops(n_params, n_tokens):
    """Training compute C = 6 N D in FLOPs (Kaplan et al.'s estimate, module docstring).

    ``n_params`` N and ``n_tokens`` D: positive finite numbers (floats allowed: 1e9) or arrays
    of them (broadcast). Returns a float (np.float64), or an array of floats.
    """
    N = check_positive_array(n_params, "n_params")
    D = check_positive_array(n_tokens, "n_tokens")
    ### BEGIN SOLUTION
    ### HINT: 2 FLOPs forward and 4 backward per parameter per token
    return 6.0 * N * D
    ### END SOLUTION


# --------------------------------------------------------------------------- the power law

def power_law(n_params, E, A, alpha):
    """L(N) = E + A N^(-alpha) for ``n_params`` N (a positive number or array of them); a float
    (np.float64) or an array of the shape of ``n_params``."""
    N = check_positive_array(n_params, "n_params")
    E, A, alpha = check_power_law(E, A, alpha)
    ### BEGIN SOLUTION
    return E + A * N ** (-alpha)
    ### END SOLUTION


@dataclass(frozen=True)
class PowerLawFit:
    """The fitted L(N) = E + A N^(-alpha), and R^2 of log L in log space."""

    E: float
    A: float
    alpha: float
    r2: float

    def predict(self, n_params):
        """The fitted loss at ``n_params`` (a number or an array)."""
        return power_law(n_params, self.E, self.A, self.alpha)


def fit_power_law(n_params, losses):
    """Fit L(N) = E + A N^(-alpha) to measured ``losses`` at model sizes ``n_params``.

    n_params, losses: 1-D, one length, positive and finite, at least 3 distinct N (ValueError
    naming the argument otherwise). Minimises sum_i (log L_i - log(E + A N_i^-alpha))^2 over
    0 <= E <= min L, A > 0, alpha > 0, from the best point of a grid over E (for a fixed E the
    law is a straight line, log(L - E) = log A - alpha log N). Returns a :class:`PowerLawFit`
    with R^2 in log space. PowerLawFitError when the losses do not fall with N (the best fit
    has alpha = 0 or A = 0) or the solver does not converge.
    """
    N, L = check_fit_data(n_params, losses)
    ### BEGIN SOLUTION
    ### HINT: a grid over E in [0, min L) with np.polyfit(log N, log(L - E), 1) gives a start
    ### HINT: then scipy.optimize.least_squares on the log residuals, within bounds
    # Sizes relative to their geometric mean: A and alpha are then far less correlated
    # (A N^-alpha = A_ref n^-alpha with n = N / N_ref and A = A_ref N_ref^alpha).
    log_ref = np.mean(np.log(N))
    log_n = np.log(N) - log_ref
    log_L = np.log(L)

    def log_residuals(theta):
        E, log_A_ref, alpha = theta
        return np.log(E + np.exp(log_A_ref - alpha * log_n)) - log_L

    def jacobian(theta):
        E, log_A_ref, alpha = theta
        term = np.exp(log_A_ref - alpha * log_n)  # A_ref n^-alpha
        model = E + term
        return np.stack([1.0 / model, term / model, -term * log_n / model], axis=1)

    start, best = None, np.inf
    for E in L.min() * np.linspace(0.0, 1.0, 200, endpoint=False):
        slope, intercept = np.polyfit(log_n, np.log(L - E), 1)
        if slope < 0:
            theta = np.array([E, intercept, -slope])
            cost = np.sum(log_residuals(theta) ** 2)
            if cost < best:
                start, best = theta, cost
    if start is None:
        raise PowerLawFitError(f"losses do not fall with n_params: no E in [0, min L) gives alpha > 0; "
                               f"got losses {L.tolist()}")
    result = optimize.least_squares(log_residuals, start, jac=jacobian,
                                    bounds=([0.0, -np.inf, 0.0], [L.min(), np.inf, np.inf]),
                                    xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=10_000)
    E, log_A_ref, alpha = result.x
    if not result.success or not np.all(np.isfinite(result.x)):
        raise PowerLawFitError(f"the power-law fit did not converge: {result.message}")
    if alpha <= 1e-9:
        raise PowerLawFitError(f"losses do not fall with n_params: the best fit has alpha = {alpha:.3g}")
    residual = log_residuals(result.x)
    r2 = 1.0 - np.sum(residual ** 2) / np.sum((log_L - log_L.mean()) ** 2)
    return PowerLawFit(E=float(E), A=float(np.exp(log_A_ref + alpha * log_ref)), alpha=float(alpha), r2=float(r2))
    ### END SOLUTION
