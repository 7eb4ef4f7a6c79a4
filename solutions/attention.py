"""Self-attention: scaled dot-product attention, the causal mask, and multiple heads.

Lecture slide: "Transformer Language Models — self-attention only attends to the tokens on
the left (masked attention)". Each position t forms a query q_t, a key k_t and a value v_t
from its input x_t; its output is an average of the values of the positions it may see,
weighted by how well its query matches their keys:

    S = Q K^T / sqrt(d)                       scores, d = head size
    S_ij = -inf where position i may not see j   (causal: j > i)
    P = softmax(S) over j                     attention weights, rows sum to 1
    out = P V

Multi-head self-attention runs H such attentions side by side on slices of width d = C / H
and mixes their outputs with one linear layer:

    [Q | K | V] = x W_qkv + b_qkv             (B, T, 3C), one matmul for all three
    Q, K, V -> (B, H, T, d)                   split the width into H heads
    Y = attention(Q, K, V)                    (B, H, T, d)
    out = merge(Y) W_out + b_out              (B, T, C)

Shape glossary: B batch, T positions (queries), T_k positions of the keys (T_k = T_past + T
with a KV cache), C model width, H heads, d = C / H head size.

Decisions:
- A mask is boolean, True where a query MAY attend to a key (broadcast to (..., T, T_k)).
  Scores of blocked pairs are set to -inf before the softmax, so their weights are exactly
  0 and get no gradient. A row with no visible key at all (never the case with the causal
  mask, but possible with padding masks) gets all-zero weights and a zero output instead of
  0/0 = NaN.
- The columns of W_qkv are laid out [queries | keys | values], each C wide with the heads
  contiguous (head h owns columns h*d .. h*d+d-1): one matmul instead of three.
- The queries are scaled by 1/sqrt(d) before the product (T*d multiplications rather than
  T*T_k; the same S).
- KV cache: ``past_kv = (K_past, V_past)`` (B, H, T_past, d) from earlier positions; the new
  positions' keys and values are appended (new arrays, the past is never modified), and
  the causal mask is offset so query i (absolute position T_past + i) sees keys
  0 .. T_past + i. Backward treats the past as constant.
- The stub frame fixes what other code reads (as CS231n puts ``cache = (x, w, b)`` outside
  the student's region): each forward returns ``(out, cache)`` where the given code builds
  the cache dict itself, ``"weights"`` (P, for plots), ``"kv"`` (the keys and values of all
  positions, the next call's past_kv) and ``"saved"``, whatever your backward needs (nobody
  else reads it). Your region sets the variables the frame's return line names.
- No Python loop over batch, heads or positions: batched matmuls over (B, H).
- Padding: an optional ``key_mask`` (B, T_k), True where a key is a real token, is and-ed
  with the causal mask in :func:`attention_mask` (given code: which keys are padding is
  decided by whoever padded, see the prompting chapter), so no query sees a padding key. A
  query that is itself padding sees no key at all and gets a zero output (the rule above).
  ALiBi's |i - j| stays right under left padding: a row's real tokens are shifted by the
  same number of slots, so their distances do not change, and the padding keys between
  them and the start are masked.
- Optional recency bias (ALiBi, Press et al. 2022, "Train Short, Test Long"): head h adds
  -m_h * |i - j| to the score of query i and key j, so before any training every head
  already prefers nearby positions, each at its own range. The bias is a constant: it
  changes the weights P but gets no gradient, so attention_backward is the same with or
  without it. The slopes are a geometric sequence, ALiBi's m_h = 2^(-8(h+1)/H) times 4:
  ALiBi's own values were tuned for words and subwords, and a character-level model needs
  a steeper first head (for H = 8: 2, 1, 1/2, ..., 1/64; the steepest head gives the
  previous character e^2 = 7x the weight of the one before it; the flattest head, 1/64,
  still gives a key 32 positions back 0.6 of the weight of the nearest, all else equal).
  Off by default: the lecture slides' GPT has learned position embeddings only (the lecture
  demo and the training test turn it on; see ``transformer.py`` for why).

Left out: dropout on the weights, rotary embeddings, memory-efficient (flash) attention.
"""

import math

import numpy as np

from . import nn
from ._checks import check_attention, check_key_count, check_self_attention, check_size, check_slopes


def causal_mask(n_queries, n_keys):
    """Boolean (n_queries, n_keys), True where query i may see key j: j <= i + n_keys - n_queries.

    The queries are the LAST n_queries of the n_keys positions (n_keys > n_queries with a KV
    cache), so query i sits at absolute position n_keys - n_queries + i.
    """
    check_key_count(n_queries, n_keys)
    offset = n_keys - n_queries
    return np.arange(n_keys)[None, :] <= np.arange(n_queries)[:, None] + offset


def attention_mask(n_queries, n_keys, causal=True, key_mask=None):
    """The boolean mask of self-attention, True where a query may see a key, or None (all pairs).

    causal: ``causal_mask(n_queries, n_keys)``; ``key_mask`` (B, n_keys), True at real keys,
    blocks padding keys for every head and query: (B, 1, 1, n_keys), and-ed with the causal
    mask into (B, 1, n_queries, n_keys). Given code: the padding rule is the caller's.
    """
    mask = causal_mask(n_queries, n_keys) if causal else None
    if key_mask is None:
        return mask
    padding = np.asarray(key_mask, dtype=bool)[:, None, None, :]  # (B, 1, 1, T_k)
    return padding if mask is None else mask & padding  # (B, 1, T, T_k)


def alibi_slopes(n_heads):
    """The recency slopes m_h = 4 * 2^(-8(h+1)/H), h = 0 .. H-1 (module docstring), (H,)."""
    check_size(n_heads, "n_heads")
    return 4.0 * 2.0 ** (-8.0 * np.arange(1, n_heads + 1) / n_heads)


def alibi_bias(slopes, n_queries, n_keys):
    """Additive score bias (H, n_queries, n_keys): -m_h * |i - j| for query i, key j.

    As in causal_mask, the queries are the LAST n_queries of the n_keys positions, so query
    i sits at absolute position n_keys - n_queries + i (a KV cache sees the same bias as the
    full pass). The distance is symmetric, so the bias also serves causal=False.
    """
    check_key_count(n_queries, n_keys)
    slopes = check_slopes(slopes)
    query_positions = np.arange(n_keys - n_queries, n_keys)
    distance = np.abs(query_positions[:, None] - np.arange(n_keys)[None, :])  # (T, T_k)
    return -slopes[:, None, None] * distance  # (H, T, T_k)


def attention_forward(q, k, v, mask=None, bias=None):
    """Scaled dot-product attention: out = softmax(q k^T / sqrt(d) + bias, masked) v.

    q (..., T, d), k (..., T_k, d), v (..., T_k, d_v), mask bool broadcastable to
    (..., T, T_k), True = may attend (None: every pair); bias: an optional constant array
    broadcastable to (..., T, T_k), added to the scaled scores (ALiBi's recency bias; it gets
    no gradient). Returns out (..., T, d_v) and the cache the frame builds:
    ``"weights"`` = P (..., T, T_k) and ``"saved"`` = what your attention_backward needs.
    Rows with no visible key give 0.

    The cache keeps a reference to the returned ``out`` (backward uses it), so callers must
    not modify ``out`` in place before calling attention_backward (copy it first).
    """
    check_attention(q, k, v, mask, bias)
    ### BEGIN SOLUTION
    ### HINT: set out, weights (P) and saved (whatever attention_backward needs)
    scale = 1.0 / math.sqrt(q.shape[-1])  # a Python float: keeps float32 arrays float32
    q_scaled = q * scale
    scores = q_scaled @ k.swapaxes(-1, -2)  # (..., T, T_k)
    ### HINT: if a bias is given, add it to the scaled scores (in place keeps q's dtype)
    if bias is not None:
        scores += bias  # a constant: the softmax backward below is unchanged
    if mask is not None:
        ### HINT: blocked scores become -inf; a row that is all -inf must not divide 0 by 0
        np.copyto(scores, -np.inf, where=~np.asarray(mask, dtype=bool))
    row_max = scores.max(axis=-1, keepdims=True)  # (..., T, 1)
    row_max[~np.isfinite(row_max)] = 0.0  # fully blocked row: exp(-inf - 0) = 0
    scores -= row_max
    weights = np.exp(scores, out=scores)  # in place: the scores are not needed again
    row_sum = weights.sum(axis=-1, keepdims=True)
    row_sum[row_sum == 0] = 1.0  # fully blocked row: weights stay 0, no NaN
    weights *= 1.0 / row_sum  # one division per row, not per entry
    out = weights @ v  # (..., T, d_v)
    saved = (q_scaled, k, v, weights, scale, out)
    ### END SOLUTION
    return out, {"weights": weights, "saved": saved}


def attention_backward(dout, cache):
    """Gradients of out = softmax(q k^T / sqrt(d) + bias) v: returns (dq, dk, dv), shapes of
    q, k, v. The bias is a constant (it gets no gradient), so nothing here depends on it."""
    saved = cache["saved"]
    ### BEGIN SOLUTION
    q_scaled, k, v, weights, scale, out = saved
    # forward: out = P v, so dv = P^T dout and dP = dout v^T
    dv = weights.swapaxes(-1, -2) @ dout  # (..., T_k, d_v)
    dscores = dout @ v.swapaxes(-1, -2)  # dP, (..., T, T_k)
    ### HINT: softmax backward per row: dS = P * (dP - sum_j P_j dP_j); blocked entries have P = 0
    # forward: P = softmax(S) per row, so dS = P * (dP - sum_j P_j dP_j), and
    # sum_j P_ij dP_ij = sum_j P_ij (dout_i . v_j) = dout_i . out_i: a (..., T, 1) product
    # instead of another pass over the (T, T_k) scores
    dscores -= (dout * out).sum(axis=-1, keepdims=True)
    dscores *= weights  # (..., T, T_k), zero where blocked
    # forward: S = (q * scale) k^T, so dq = dS k * scale and dk = dS^T (q * scale)
    dq = (dscores @ k) * scale  # (..., T, d)
    dk = dscores.swapaxes(-1, -2) @ q_scaled  # (..., T_k, d)
    return dq, dk, dv
    ### END SOLUTION


def split_heads(x, n_heads):
    """(B, T, C) -> (B, H, T, C // H): head h gets columns h*d .. h*d + d - 1 (a view)."""
    B, T, C = x.shape
    ### BEGIN SOLUTION
    return x.reshape(B, T, n_heads, C // n_heads).transpose(0, 2, 1, 3)  # (B, H, T, d)
    ### END SOLUTION


def merge_heads(y):
    """(B, H, T, d) -> (B, T, H * d): the inverse of split_heads (and its backward)."""
    B, H, T, d = y.shape
    ### BEGIN SOLUTION
    return y.transpose(0, 2, 1, 3).reshape(B, T, H * d)  # (B, T, C)
    ### END SOLUTION


def self_attention_forward(x, params, n_heads, causal=True, past_kv=None, slopes=None, key_mask=None):
    """Multi-head self-attention on x (B, T, C) -> out (B, T, C), cache.

    params: ``W_qkv`` (C, 3C), ``b_qkv`` (3C,), ``W_out`` (C, C), ``b_out`` (C,).
    causal: each position sees itself and the positions on its left only.
    past_kv: optional (K_past, V_past), each (B, H, T_past, d), from earlier positions (only
    with causal=True).
    slopes: optional (H,) ALiBi slopes; head h's scores get alibi_bias (None: no bias).
    key_mask: optional bool (B, T_past + T), True where a key is a real token (False: padding,
    which no query of that row may see); :func:`attention_mask` (given) combines it with the
    causal mask.

    The frame builds the cache: ``"kv"`` = (K, V), each (B, H, T_past + T, d), the keys and
    values of all positions (the next call's past_kv); ``"weights"`` = the attention weights
    P (B, H, T, T_past + T) (attention_forward's); ``"saved"`` = what your backward needs.
    """
    check_self_attention(x, n_heads, causal, past_kv, slopes, key_mask)
    n_keys = x.shape[1] + (0 if past_kv is None else past_kv[0].shape[2])
    mask = attention_mask(x.shape[1], n_keys, causal, key_mask)  # None, (T, T_k) or (B, 1, T, T_k)
    ### BEGIN SOLUTION
    ### HINT: set out, k and v (all positions, past first), attn_cache (attention_forward's) and saved
    ### HINT: attention_forward gets the mask above (given: the causal mask and the key mask, combined)
    qkv, qkv_cache = nn.linear_forward(x, params["W_qkv"], params["b_qkv"])  # (B, T, 3C)
    q, k, v = (split_heads(part, n_heads) for part in np.split(qkv, 3, axis=-1))  # (B, H, T, d)
    if past_kv is not None:
        ### HINT: append the new keys and values along the time axis (new arrays)
        k = np.concatenate([past_kv[0], k], axis=2)  # (B, H, T_past + T, d)
        v = np.concatenate([past_kv[1], v], axis=2)
    ### HINT: with slopes, the bias is alibi_bias(slopes, T, T_k) in x's dtype (it broadcasts over B)
    bias = None if slopes is None else alibi_bias(slopes, q.shape[2], k.shape[2]).astype(x.dtype)
    y, attn_cache = attention_forward(q, k, v, mask, bias)  # (B, H, T, d)
    out, out_cache = nn.linear_forward(merge_heads(y), params["W_out"], params["b_out"])  # (B, T, C)
    saved = (qkv_cache, attn_cache, out_cache, n_heads)
    ### END SOLUTION
    return out, {"kv": (k, v), "weights": attn_cache["weights"], "saved": saved}


def self_attention_backward(dout, cache):
    """Gradients of self_attention_forward: returns dx (B, T, C) and a dict of parameter grads.

    With a KV cache, only the new positions' keys and values depend on x.
    """
    saved = cache["saved"]
    ### BEGIN SOLUTION
    qkv_cache, attn_cache, out_cache, n_heads = saved
    grads = {}
    # forward: out = merge(Y) W_out + b_out
    dmerged, grads["W_out"], grads["b_out"] = nn.linear_backward(dout, out_cache)
    dy = split_heads(dmerged, n_heads)  # the backward of merge is split, (B, H, T, d)
    dq, dk, dv = attention_backward(dy, attn_cache)
    T = dq.shape[2]
    ### HINT: keep only the new positions' dk, dv; merge each back to (B, T, C) and concatenate
    dk, dv = dk[:, :, -T:], dv[:, :, -T:]  # forward: k = concat(past, new); the past is constant
    dqkv = np.concatenate([merge_heads(dq), merge_heads(dk), merge_heads(dv)], axis=-1)  # (B, T, 3C)
    # forward: [Q | K | V] = x W_qkv + b_qkv
    dx, grads["W_qkv"], grads["b_qkv"] = nn.linear_backward(dqkv, qkv_cache)
    return dx, grads
    ### END SOLUTION
