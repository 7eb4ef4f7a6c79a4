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
    ### BEGIN SOLUTION
    ### HINT: matmul works on any leading dims; add b only when it is not None
    out = x @ W  # (..., M)
    if b is not None:
        out += b  # in place: out is a fresh array, and a second (..., M) temporary is costly
    return out, (x, W, b is not None)
    ### END SOLUTION


def linear_backward(dout, cache):
    """Gradients of out = x @ W + b.

    dout (..., M)  ->  dx (..., D), dW (D, M), db (M,) or None if there was no bias.
    Every leading position used the same W and b, so their gradients sum over positions.
    """
    ### BEGIN SOLUTION
    ### HINT: flatten the leading dims to (N, D) and (N, M) before forming dW
    x, W, has_bias = cache
    # forward: out = x @ W + b, so dx = dout @ W.T
    dx = dout @ W.T  # (..., D)
    # and dW = sum over positions of x^T dout
    dW = x.reshape(-1, W.shape[0]).T @ dout.reshape(-1, W.shape[1])  # (D, M)
    # and db = sum over positions of dout
    db = dout.reshape(-1, W.shape[1]).sum(axis=0) if has_bias else None  # (M,)
    return dx, dW, db
    ### END SOLUTION


# ----------------------------------------------------------------------------- embedding


def embedding_forward(ids, W):
    """Row lookup: out[...] = W[ids[...]].

    ids int (...), W (V, D)  ->  out (..., D).  Equivalent to one_hot(ids) @ W.
    """
    check_embedding(ids, W)
    ### BEGIN SOLUTION
    ### HINT: fancy indexing; keep what backward needs to build a (V, D) gradient
    return W[ids], (ids, W.shape, W.dtype)  # (..., D)
    ### END SOLUTION


def embedding_backward(dout, cache):
    """Gradient of out = W[ids] with respect to W: dW (V, D).

    A row used at several positions receives the SUM of their gradients — accumulation is
    the math here, so it is written with ``np.add.at`` (plain ``dW[ids] += dout`` would
    keep only one of the repeated rows' contributions).
    """
    ### BEGIN SOLUTION
    ### HINT: np.add.at(dW, ids, dout) sums repeated rows
    ids, shape, dtype = cache
    dW = np.zeros(shape, dtype=dtype)  # (V, D)
    # forward: out = one_hot(ids) @ W, so dW = one_hot(ids)^T @ dout
    np.add.at(dW, ids.reshape(-1), dout.reshape(-1, shape[1]))
    return dW
    ### END SOLUTION


# ----------------------------------------------------------------------------- activations


def relu_forward(x):
    """out = max(x, 0), elementwise."""
    check_float_array(x, "x")
    ### BEGIN SOLUTION
    out = np.maximum(x, 0)
    return out, x
    ### END SOLUTION


def relu_backward(dout, cache):
    """d max(x, 0)/dx = 1 where x > 0, else 0 (the subgradient at 0 is taken as 0)."""
    ### BEGIN SOLUTION
    x = cache
    # forward: out = max(x, 0), so dx = dout where x > 0
    return np.where(x > 0, dout, 0)
    ### END SOLUTION


def tanh_forward(x):
    """out = tanh(x), elementwise; the cache keeps out, since tanh' = 1 - tanh^2."""
    check_float_array(x, "x")
    ### BEGIN SOLUTION
    out = np.tanh(x)
    return out, out
    ### END SOLUTION


def tanh_backward(dout, cache):
    """dx = dout * (1 - out^2)."""
    ### BEGIN SOLUTION
    out = cache
    # forward: out = tanh(x), so dx = dout * (1 - out^2)
    return dout * (1 - out * out)
    ### END SOLUTION


_GELU_C = math.sqrt(2 / math.pi)  # a Python float, so float32 inputs stay float32


def gelu_forward(x):
    """GELU, tanh approximation: out = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)."""
    check_float_array(x, "x")
    ### BEGIN SOLUTION
    ### HINT: cache x and tanh(u); both appear in the derivative
    # u = c x (1 + 0.044715 x^2), built in one buffer: x * x rather than x**3 (a general
    # power, ~15x slower), and in-place updates rather than a temporary per operation
    u = np.multiply(x, x, out=np.empty_like(x))  # x^2, same shape and dtype as x
    u *= 0.044715
    u += 1.0
    u *= x
    u *= _GELU_C
    tanh_u = np.tanh(u, out=u)
    out = tanh_u + 1.0
    out *= x
    out *= 0.5  # 0.5 x (1 + tanh u)
    return out, (x, tanh_u)
    ### END SOLUTION


def gelu_backward(dout, cache):
    """dx = dout * [0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) du/dx],  du/dx = sqrt(2/pi)(1 + 3*0.044715 x^2)."""
    ### BEGIN SOLUTION
    x, tanh_u = cache
    # forward: u = c (x + 0.044715 x^3), so du/dx = c (1 + 3 * 0.044715 x^2)
    du_dx = x * x
    du_dx *= 3 * 0.044715 * _GELU_C
    du_dx += _GELU_C
    # forward: out = 0.5 x (1 + tanh u): product rule, with d tanh(u)/du = 1 - tanh^2 u, so
    # dout/dx = 0.5 [(1 + tanh u) + x (1 - tanh^2 u) du/dx]  (in place, in one buffer)
    dout_dx = np.multiply(tanh_u, tanh_u, out=np.empty_like(tanh_u))  # tanh^2 u
    np.subtract(1.0, dout_dx, out=dout_dx)  # 1 - tanh^2 u
    dout_dx *= du_dx
    dout_dx *= x
    dout_dx += tanh_u
    dout_dx += 1.0
    dout_dx *= 0.5
    dout_dx *= dout
    return dout_dx
    ### END SOLUTION


# ----------------------------------------------------------------------------- layernorm


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Normalise each row over the last axis, then scale and shift.

        mu = mean(x),  var = mean((x - mu)^2),  xhat = (x - mu) / sqrt(var + eps)
        out = gamma * xhat + beta

    x (..., D), gamma (D,), beta (D,)  ->  out (..., D).
    """
    check_layernorm(x, gamma, beta, eps)
    ### BEGIN SOLUTION
    ### HINT: keepdims=True keeps mu and var broadcastable; cache xhat and 1/sqrt(var+eps)
    mu = x.mean(axis=-1, keepdims=True)  # (..., 1)
    centred = x - mu
    var = (centred * centred).mean(axis=-1, keepdims=True)  # (..., 1)
    rstd = 1 / np.sqrt(var + eps)  # (..., 1)
    xhat = centred * rstd  # (..., D)
    out = gamma * xhat + beta
    return out, (xhat, rstd, gamma)
    ### END SOLUTION


def layernorm_backward(dout, cache):
    """Gradients of layernorm: dx (..., D), dgamma (D,), dbeta (D,).

    With g = dout * gamma (the gradient reaching xhat), differentiating through mu and var
    gives the compact form  dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    """
    ### BEGIN SOLUTION
    ### HINT: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dout * gamma
    xhat, rstd, gamma = cache
    D = xhat.shape[-1]
    # forward: out = gamma * xhat + beta, so dbeta = sum dout and dgamma = sum dout * xhat
    dbeta = dout.reshape(-1, D).sum(axis=0)
    dgamma = (dout * xhat).reshape(-1, D).sum(axis=0)
    g = dout * gamma  # dL/dxhat, (..., D)
    # forward: xhat = (x - mu) * rstd; the mean(g) term is the path through mu, the
    # xhat * mean(g * xhat) term the path through var
    dx = rstd * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, dgamma, dbeta
    ### END SOLUTION


# ----------------------------------------------------------------------------- softmax


def softmax(x, axis=-1):
    """softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j (stable; -inf -> 0)."""
    check_float_array(x, "x")
    ### BEGIN SOLUTION
    ### HINT: subtract the max along axis (keepdims) before exp
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)
    ### END SOLUTION


def log_softmax(x, axis=-1):
    """log_softmax(x)_i = x_i - m - log sum_j exp(x_j - m): never log(0) of a rounded-off softmax."""
    check_float_array(x, "x")
    ### BEGIN SOLUTION
    ### HINT: log-sum-exp with the max subtracted; -inf entries stay -inf
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    ### END SOLUTION


# ----------------------------------------------------------------------------- cross-entropy


def cross_entropy_forward(logits, targets, loss_mask=None):
    """Mean negative log-likelihood of the targets over the unmasked positions.

        loss = - sum_n m_n log softmax(logits_n)[y_n]  /  sum_n m_n

    logits (..., V), targets int (...), loss_mask (...) bool or 0/1 (None: all ones)
    ->  loss (a Python float), cache.  Raises ValueError if every position is masked.
    """
    weights = check_cross_entropy(logits, targets, loss_mask)
    ### BEGIN SOLUTION
    ### HINT: log_softmax, pick the target column with np.take_along_axis, average with weights
    logp = log_softmax(logits)  # (..., V)
    target_logp = np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]  # (...)
    count = weights.sum()
    # np.where, not multiplication: a masked position may have logp = -inf, and 0 * inf = NaN
    loss = -np.where(weights > 0, target_logp, 0).sum() / count
    return float(loss), (logp, targets, weights, count)
    ### END SOLUTION


def cross_entropy_backward(dloss, cache):
    """dlogits (..., V) = dloss * m_n (softmax(logits_n) - onehot(y_n)) / sum_n m_n."""
    ### BEGIN SOLUTION
    ### HINT: softmax = exp(logp); subtract 1 at the target; scale by weights / count
    logp, targets, weights, count = cache
    dlogits = np.exp(logp)  # softmax, (..., V)
    # forward: loss = -mean logp[y], and d(-logp[y])/dlogits = softmax - onehot(y)
    at_target = targets[..., None]  # (..., 1)
    np.put_along_axis(dlogits, at_target, np.take_along_axis(dlogits, at_target, axis=-1) - 1, axis=-1)
    dlogits *= (dloss / count) * weights[..., None]
    return dlogits
    ### END SOLUTION
