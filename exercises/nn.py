"""Neural-network layers as pure forward/backward pairs, with every gradient derived by hand.

Lecture slide: "Neural Language Models" — an autoregressive model predicts each token from
the tokens on its left, p(x) = prod_t p(x_t | x_<t), and is trained by maximum likelihood,
i.e. by minimising the cross-entropy -1/N sum_t log p(x_t | x_<t). The RNN and the
Transformer chapters are built from the layers below.

Shape glossary
    ...   any leading dimensions (batch B, time T, ...); layers act on the last axis
    D     input width            M   output width of a linear layer
    V     vocabulary size (number of logits)

Every layer is a pair

    out, cache = x_forward(inputs...)        # cache holds what backward needs
    grads      = x_backward(dout, cache)     # dout = dL/dout, same shape as out

Backward functions return fresh arrays and never accumulate into shared state; where the
math *is* an accumulation (an embedding row used at several positions) it is written with
``np.add.at``. Dtypes are preserved: float32 in, float32 out (training speed); gradient
checks run in float64.

Conventions chosen where sources differ
    - linear: out = x @ W + b with W of shape (D, M) (row-vector convention, as in the
      lecture's x W notation), not PyTorch's (M, D) weight with x @ W.T.
    - gelu: the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) used by
      GPT-2, not the exact erf form.
    - layernorm: biased variance (divide by D), eps inside the square root.
    - cross-entropy: the MEAN over unmasked positions (not the sum), so the loss is in nats
      per predicted token and comparable to an entropy rate. A loss mask of all zeros is an
      error (a mean over nothing), never a NaN.
    - softmax/log_softmax subtract the row maximum first, so huge logits do not overflow;
      -inf entries (forbidden tokens) get probability 0 as long as a row is not all -inf.

Deliberately left out: dropout, batch norm, weight initialisation (each model chooses its
own), automatic differentiation (the point is to write each backward by hand).
"""

import math

import numpy as np

from ._checks import check_cross_entropy, check_embedding, check_float_array, check_layernorm, check_linear


# ----------------------------------------------------------------------------- linear


def linear_forward(x, W, b=None):
    """Affine map over the last axis: out = x @ W + b.

    x (..., D), W (D, M), b (M,) or None  ->  out (..., M).
    cache = (x, W, has_bias).
    """
    check_linear(x, W, b)
    # TODO: matmul works on any leading dims; add b only when it is not None
    raise NotImplementedError("linear_forward: not implemented yet")


def linear_backward(dout, cache):
    """Gradients of out = x @ W + b.

    dout (..., M)  ->  dx (..., D), dW (D, M), db (M,) or None if there was no bias.
    Every leading position used the same W and b, so their gradients sum over positions.
    """
    # TODO: flatten the leading dims to (N, D) and (N, M) before forming dW
    raise NotImplementedError("linear_backward: not implemented yet")


# ----------------------------------------------------------------------------- embedding


def embedding_forward(ids, W):
    """Row lookup: out[...] = W[ids[...]].

    ids int (...), W (V, D)  ->  out (..., D).  Equivalent to one_hot(ids) @ W.
    """
    check_embedding(ids, W)
    # TODO: fancy indexing; keep what backward needs to build a (V, D) gradient
    raise NotImplementedError("embedding_forward: not implemented yet")


def embedding_backward(dout, cache):
    """Gradient of out = W[ids] with respect to W: dW (V, D).

    A row used at several positions receives the SUM of their gradients — accumulation is
    the math here, so it is written with ``np.add.at`` (plain ``dW[ids] += dout`` would
    keep only one of the repeated rows' contributions).
    """
    # TODO: np.add.at(dW, ids, dout) sums repeated rows
    raise NotImplementedError("embedding_backward: not implemented yet")


# ----------------------------------------------------------------------------- activations


def relu_forward(x):
    """out = max(x, 0), elementwise."""
    check_float_array(x, "x")
    # TODO: implement relu_forward (see the docstring)
    raise NotImplementedError("relu_forward: not implemented yet")


def relu_backward(dout, cache):
    """d max(x, 0)/dx = 1 where x > 0, else 0 (the subgradient at 0 is taken as 0)."""
    # TODO: implement relu_backward (see the docstring)
    raise NotImplementedError("relu_backward: not implemented yet")


def tanh_forward(x):
    """out = tanh(x), elementwise; the cache keeps out, since tanh' = 1 - tanh^2."""
    check_float_array(x, "x")
    # TODO: implement tanh_forward (see the docstring)
    raise NotImplementedError("tanh_forward: not implemented yet")


def tanh_backward(dout, cache):
    """dx = dout * (1 - out^2)."""
    # TODO: implement tanh_backward (see the docstring)
    raise NotImplementedError("tanh_backward: not implemented yet")


_GELU_C = math.sqrt(2 / math.pi)  # a Python float, so float32 inputs stay float32


def gelu_forward(x):
    """GELU, tanh approximation: out = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)."""
    check_float_array(x, "x")
    # TODO: cache x and tanh(u); both appear in the derivative
    raise NotImplementedError("gelu_forward: not implemented yet")


def gelu_backward(dout, cache):
    """dx = dout * [0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) du/dx],  du/dx = sqrt(2/pi)(1 + 3*0.044715 x^2)."""
    # TODO: implement gelu_backward (see the docstring)
    raise NotImplementedError("gelu_backward: not implemented yet")


# ----------------------------------------------------------------------------- layernorm


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Normalise each row over the last axis, then scale and shift.

        mu = mean(x),  var = mean((x - mu)^2),  xhat = (x - mu) / sqrt(var + eps)
        out = gamma * xhat + beta

    x (..., D), gamma (D,), beta (D,)  ->  out (..., D).
    """
    check_layernorm(x, gamma, beta, eps)
    # TODO: keepdims=True keeps mu and var broadcastable; cache xhat and 1/sqrt(var+eps)
    raise NotImplementedError("layernorm_forward: not implemented yet")


def layernorm_backward(dout, cache):
    """Gradients of layernorm: dx (..., D), dgamma (D,), dbeta (D,).

    With g = dout * gamma (the gradient reaching xhat), differentiating through mu and var
    gives the compact form  dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    """
    # TODO: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dout * gamma
    raise NotImplementedError("layernorm_backward: not implemented yet")


# ----------------------------------------------------------------------------- softmax


def softmax(x, axis=-1):
    """softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j (stable; -inf -> 0)."""
    check_float_array(x, "x")
    # TODO: subtract the max along axis (keepdims) before exp
    raise NotImplementedError("softmax: not implemented yet")


def log_softmax(x, axis=-1):
    """log_softmax(x)_i = x_i - m - log sum_j exp(x_j - m): never log(0) of a rounded-off softmax."""
    check_float_array(x, "x")
    # TODO: log-sum-exp with the max subtracted; -inf entries stay -inf
    raise NotImplementedError("log_softmax: not implemented yet")


# ----------------------------------------------------------------------------- cross-entropy


def cross_entropy_forward(logits, targets, loss_mask=None):
    """Mean negative log-likelihood of the targets over the unmasked positions.

        loss = - sum_n m_n log softmax(logits_n)[y_n]  /  sum_n m_n

    logits (..., V), targets int (...), loss_mask (...) bool or 0/1 (None: all ones)
    ->  loss (a Python float), cache.  Raises ValueError if every position is masked.
    """
    weights = check_cross_entropy(logits, targets, loss_mask)
    # TODO: log_softmax, pick the target column with np.take_along_axis, average with weights
    raise NotImplementedError("cross_entropy_forward: not implemented yet")


def cross_entropy_backward(dloss, cache):
    """dlogits (..., V) = dloss * m_n (softmax(logits_n) - onehot(y_n)) / sum_n m_n."""
    # TODO: softmax = exp(logp); subtract 1 at the target; scale by weights / count
    raise NotImplementedError("cross_entropy_backward: not implemented yet")
