"""The Transformer language model (GPT) and its KV cache.

Lecture slide: "Transformer Language Models — self-attention only attends to the tokens on
the left". Because position t only sees x_<=t, one forward pass predicts every next token
at once, and the loss -1/N sum_t log p(x_{t+1} | x_<=t) is computed in parallel over all
positions (the RNN needs a loop over time for the same loss).

    h_0 = E[x_t] + P[t]                          token + learned position embeddings (B, T, C)
    a_l = h_{l-1} + attn(ln_1(h_{l-1}))           pre-LN block: residual around attention
    h_l = a_l + mlp(ln_2(a_l)),  mlp(z) = gelu(z W_in + b_in) W_out + b_out   (width 4C)
    hidden = ln_f(h_L)                           final layernorm (B, T, C)
    logits = hidden W_head                       (B, T, V); W_head = E^T when tied

Shape glossary: B batch, T positions, C width, H heads, V vocabulary, L blocks,
N context length (the largest T), d = C / H head size.

Attention itself (scaled dot-product, causal mask, heads, KV cache) is in
``attention.py``; layers and the cross-entropy come from ``nn.py``.

Composable interface (later chapters attach their own losses without touching the model):

    hidden, cache = model.forward_hidden(ids)       grads = model.backward_hidden(dhidden, cache)
    logits, cache = model.forward(ids)              grads = model.backward(dlogits, cache)
    loss, grads = model.loss_and_grads(ids, targets, loss_mask=None)   # built on the two above

All of them take optional ``positions`` (B, T), the position of each slot (default: every
row at 0 .. T - 1, after any cached ones), and ``key_mask`` (B, T_k), False at keys no
query may see. Both pass straight through to the embeddings and the attention: this model
knows nothing about padding. Whoever pads decides them (prompts padded on the left:
``batched.padded_positions``, the prompting chapter), so this chapter stays self-contained
and one rule of padding has one home.

The stub frame fixes what other code reads (as CS231n puts ``cache = (x, w, b)`` outside the
student's region): every forward returns ``(out, cache)`` and the given code builds the cache
dict itself, with the entries others read by name (``"kvs"``, the KV cache for decoding;
``"weights"``, the attention weights for plots) and ``"saved"``, yours, read only by your
backward. Your region sets the variables the frame's return line names.

``grads`` has the keys of ``model.params``. Parameter names: ``tok_emb`` (V, C), ``pos_emb``
(N, C), ``blocks.{l}.ln1.gamma`` / ``.beta``, ``blocks.{l}.attn.W_qkv`` (C, 3C) / ``b_qkv`` /
``W_out`` (C, C) / ``b_out``, ``blocks.{l}.ln2.*``, ``blocks.{l}.mlp.W_in`` (C, 4C) /
``b_in`` / ``W_out`` (4C, C) / ``b_out``, ``ln_f.gamma`` / ``.beta``, and ``head.W`` (C, V)
when the head is not tied.

Decisions:
- Pre-LN (layernorm inside the residual branch, as in GPT-2), not the original post-LN:
  the residual stream is an identity path, which trains without warmup tricks at this size.
- Tied head by default (logits = hidden E^T): the token embedding receives two gradients,
  from the input lookup and from the head, and they SUM (the math of a shared weight).
- Initialisation as GPT-2: N(0, 0.02) weights, zero biases, unit layernorm gains, and the
  two projections that write into the residual stream scaled by 1/sqrt(2L) so the stream's
  variance does not grow with depth. Deterministic from ``seed``.
- Optional recency bias, ``alibi=True`` (ALiBi's slopes, see ``attention.py``),
  added to the learned position embeddings rather than replacing them, so the model and its
  parameters are the lecture slides' either way. Off by default. Why it exists: on character-level
  toy English at a test-sized budget (~100k characters) a plain GPT does not beat the RNN,
  whose recurrence starts out knowing that the last few characters matter most; a plain
  GPT must first learn that from its position embeddings. With the bias every head starts
  out preferring nearby characters, and the GPT beats the RNN on the same characters (see
  the training test and the lecture demo for the numbers).
- Works in float32 (training) and float64 (gradient checks): ``dtype`` at construction;
  everything computed stays in that dtype. Other dtypes are refused (float16 overflows in
  the loss's sums over many positions).
- Decoding protocol (``start`` / ``step``, see ``generate.py``): the state is
  (tokens seen, per-block (K, V) of every past position). ``step`` runs one position
  through the blocks, attending to the cached keys and values, and returns a NEW state
  (the KV arrays are concatenated, never written in place), so beam search may branch. The
  price: each step copies the whole cache, O(L * t * C) at step t, so decoding T tokens
  copies O(L * T^2 * C) numbers in total (preallocated buffers written in place would avoid
  it, but then a state could be changed behind a branch's back). A sequence may not grow
  past the context length N: an error, not a silent sliding window.
  :meth:`GPT.uncached` decodes by re-running the whole prefix instead (for comparison).
- BERT: the same blocks with ``causal=False`` (every position sees every position); its
  masked-LM objective (``mask_tokens``, ``masked_lm_loss_and_grads``) is in
  ``bert.py`` and importable from here too. A bidirectional model cannot decode
  left to right, so ``start`` raises for it.

Left out: dropout, weight decay exclusions (the optimizer's business).
"""

import numpy as np

from . import attention, nn
from ._checks import (check_causal, check_context, check_decoding_state, check_heads, check_id_array,
                      check_index_range, check_key_mask, check_lm_dtype, check_past_kvs, check_positions,
                      check_prompt_ids, check_size, check_token_id)
from .bert import mask_tokens, masked_lm_loss_and_grads  # noqa: F401  (the module contract's names)


def subdict(params, prefix):
    """The entries of ``params`` whose names start with ``prefix``, with it removed."""
    return {name[len(prefix):]: value for name, value in params.items() if name.startswith(prefix)}


def prefixed(grads, prefix):
    """The inverse of subdict: every name of ``grads`` with ``prefix`` put in front."""
    return {prefix + name: value for name, value in grads.items()}


def add_gradients(grads, extra):
    """A new gradient dict: ``grads`` with each entry of ``extra`` (names of ``grads``) added.

    How a head's gradient joins the trunk's (:meth:`GPT.head_backward`): a tied head's adds to
    the lookup's ``tok_emb``; an untied one's to the zeros that backward_hidden gives ``head.W``.
    """
    return {name: grads[name] + extra[name] if name in extra else grads[name] for name in grads}


# --------------------------------------------------------------------------- block

def mlp_forward(x, params):
    """mlp(x) = gelu(x W_in + b_in) W_out + b_out: (..., C) -> (..., C), width 4C inside."""
    ### BEGIN SOLUTION
    hidden, in_cache = nn.linear_forward(x, params["W_in"], params["b_in"])  # (..., 4C)
    activated, gelu_cache = nn.gelu_forward(hidden)
    out, out_cache = nn.linear_forward(activated, params["W_out"], params["b_out"])  # (..., C)
    return out, (in_cache, gelu_cache, out_cache)
    ### END SOLUTION


def mlp_backward(dout, cache):
    """Gradients of mlp_forward: dx and {W_in, b_in, W_out, b_out}."""
    ### BEGIN SOLUTION
    in_cache, gelu_cache, out_cache = cache
    grads = {}
    # forward: out = activated W_out + b_out
    dactivated, grads["W_out"], grads["b_out"] = nn.linear_backward(dout, out_cache)
    # forward: activated = gelu(hidden)
    dhidden = nn.gelu_backward(dactivated, gelu_cache)  # (..., 4C)
    # forward: hidden = x W_in + b_in
    dx, grads["W_in"], grads["b_in"] = nn.linear_backward(dhidden, in_cache)
    return dx, grads
    ### END SOLUTION


def block_forward(x, params, n_heads, causal=True, past_kv=None, slopes=None, key_mask=None):
    """Pre-LN Transformer block on x (B, T, C) -> out (B, T, C), cache.

        a = x + attn(ln1(x));   out = a + mlp(ln2(a))

    params: ``ln1.gamma``, ``ln1.beta``, ``attn.*`` (see attention.self_attention_forward),
    ``ln2.gamma``, ``ln2.beta``, ``mlp.*`` (see mlp_forward). ``past_kv``: this block's KV
    cache. ``slopes``: the attention's ALiBi slopes (None: no recency bias). ``key_mask``:
    the attention's (B, T_past + T) mask of real (non-padding) keys, or None.

    The frame builds the cache: ``"kv"`` and ``"weights"`` are the attention's (its cache's
    entries of those names), ``"saved"`` = what your block_backward needs.
    """
    ### BEGIN SOLUTION
    ### HINT: pass causal, past_kv, slopes and key_mask on to the attention
    ### HINT: set out, attn_cache (self_attention_forward's cache) and saved (what backward needs)
    normed, ln1_cache = nn.layernorm_forward(x, params["ln1.gamma"], params["ln1.beta"])
    attended, attn_cache = attention.self_attention_forward(
        normed, subdict(params, "attn."), n_heads, causal, past_kv, slopes, key_mask)
    a = x + attended  # residual, (B, T, C)
    normed2, ln2_cache = nn.layernorm_forward(a, params["ln2.gamma"], params["ln2.beta"])
    mlp_out, mlp_cache = mlp_forward(normed2, subdict(params, "mlp."))
    out = a + mlp_out  # residual, (B, T, C)
    saved = {"ln1": ln1_cache, "attn": attn_cache, "ln2": ln2_cache, "mlp": mlp_cache}
    ### END SOLUTION
    return out, {"kv": attn_cache["kv"], "weights": attn_cache["weights"], "saved": saved}


def block_backward(dout, cache):
    """Gradients of block_forward: dx (B, T, C) and a dict keyed like the block's params."""
    saved = cache["saved"]
    ### BEGIN SOLUTION
    ### HINT: a residual x + f(x) passes dout straight through and adds f's input gradient
    grads = {}
    # forward: out = a + mlp(ln2(a)), so da = dout + (through mlp and ln2)
    dnormed2, mlp_grads = mlp_backward(dout, saved["mlp"])
    da_branch, grads["ln2.gamma"], grads["ln2.beta"] = nn.layernorm_backward(dnormed2, saved["ln2"])
    da = dout + da_branch
    # forward: a = x + attn(ln1(x)), so dx = da + (through attn and ln1)
    dnormed, attn_grads = attention.self_attention_backward(da, saved["attn"])
    dx_branch, grads["ln1.gamma"], grads["ln1.beta"] = nn.layernorm_backward(dnormed, saved["ln1"])
    grads.update(prefixed(attn_grads, "attn."))
    grads.update(prefixed(mlp_grads, "mlp."))
    return da + dx_branch, grads
    ### END SOLUTION


# --------------------------------------------------------------------------- model

class GPT:
    """A decoder-only Transformer LM (or, with ``causal=False``, a BERT-style encoder).

    GPT(vocab_size, context_length, n_layers, n_heads, width, *, tied=True, causal=True,
        alibi=False, dtype=np.float32, seed=0)

    ``dtype`` must be np.float32 (training) or np.float64 (gradient checks); anything else is
    a TypeError. ``alibi=True`` adds ALiBi's recency bias with ``attention.alibi_slopes`` to
    every block's attention, ON TOP of the learned position embeddings (kept, so the
    parameters are the same either way); ``self.slopes`` is then (H,), else None.
    """

    def __init__(self, vocab_size, context_length, n_layers, n_heads, width, *, tied=True,
                 causal=True, alibi=False, dtype=np.float32, seed=0):
        for name, value in (("vocab_size", vocab_size), ("context_length", context_length), ("n_layers", n_layers),
                            ("width", width)):
            check_size(value, name)
        check_heads(width, n_heads)
        self.dtype = check_lm_dtype(dtype)
        self.vocab_size, self.context_length = vocab_size, context_length
        self.n_layers, self.n_heads, self.width = n_layers, n_heads, width
        self.tied, self.causal = tied, causal
        self.slopes = attention.alibi_slopes(n_heads) if alibi else None
        self.params = self.init_params(np.random.default_rng(seed))

    @property
    def config(self):
        """The architecture as plain data: ``GPT(**model.config)`` builds the same model (dtype
        by name, JSON-ready). The seed is left out: it draws parameters, not an architecture."""
        return {"vocab_size": int(self.vocab_size), "context_length": int(self.context_length),
                "n_layers": int(self.n_layers), "n_heads": int(self.n_heads), "width": int(self.width),
                "tied": bool(self.tied), "causal": bool(self.causal), "alibi": self.slopes is not None,
                "dtype": np.dtype(self.dtype).name}

    def init_params(self, rng):
        """GPT-2 initialisation (module docstring), in ``self.dtype``."""
        V, N, C, L = self.vocab_size, self.context_length, self.width, self.n_layers
        residual_std = 0.02 / np.sqrt(2 * L)
        shapes = {"tok_emb": ((V, C), 0.02), "pos_emb": ((N, C), 0.02)}
        for layer in range(L):
            p = f"blocks.{layer}."
            shapes.update({
                p + "ln1.gamma": ((C,), "ones"), p + "ln1.beta": ((C,), "zeros"),
                p + "attn.W_qkv": ((C, 3 * C), 0.02), p + "attn.b_qkv": ((3 * C,), "zeros"),
                p + "attn.W_out": ((C, C), residual_std), p + "attn.b_out": ((C,), "zeros"),
                p + "ln2.gamma": ((C,), "ones"), p + "ln2.beta": ((C,), "zeros"),
                p + "mlp.W_in": ((C, 4 * C), 0.02), p + "mlp.b_in": ((4 * C,), "zeros"),
                p + "mlp.W_out": ((4 * C, C), residual_std), p + "mlp.b_out": ((C,), "zeros"),
            })
        shapes.update({"ln_f.gamma": ((C,), "ones"), "ln_f.beta": ((C,), "zeros")})
        if not self.tied:
            shapes["head.W"] = ((C, V), 0.02)
        params = {}
        for name, (shape, how) in shapes.items():
            if how == "ones":
                value = np.ones(shape)
            elif how == "zeros":
                value = np.zeros(shape)
            else:
                value = rng.normal(0.0, how, size=shape)
            params[name] = value.astype(self.dtype)
        return params

    def check_ids(self, ids, n_past=0):
        """``ids`` as an array if it is int (B, T), T >= 1, fits in the context after
        ``n_past`` cached positions, and lies in [0, V); ValueError otherwise."""
        ids = check_id_array(ids)
        check_context(n_past + ids.shape[1], self.context_length)
        return check_index_range(ids, "token ids", self.vocab_size)

    # ----------------------------------------------------------------- hidden states

    def forward_hidden(self, ids, past_kvs=None, positions=None, key_mask=None):
        """Final hidden states (after ln_f) for ids (B, T): (hidden (B, T, C), cache).

        ``past_kvs``: a list of L per-block (K, V), each (B, H, T_past, d), of T_past earlier
        positions (the KV cache); the new positions then sit at T_past .. T_past + T - 1.
        ``positions``: optional int (B, T), each slot's row of the position embedding (None:
        T_past .. T_past + T - 1 in every row). ``key_mask``: optional bool (B, T_past + T),
        False at keys that no query of the row may see. Both pass straight through (module
        docstring): the positions to the lookup, the key mask to every block's attention.

        The frame builds the cache: ``"kvs"`` = every block's (K, V) of all T_past + T
        positions (the next call's past_kvs), ``"weights"`` = every block's attention weights
        (B, H, T, T_past + T), ``"saved"`` = what your backward_hidden needs.
        """
        n_past = check_past_kvs(past_kvs, self.n_layers, self.n_heads, self.width // self.n_heads)
        ids = self.check_ids(ids, n_past)
        positions = check_positions(positions, ids.shape, n_past, self.context_length)  # (B, T)
        key_mask = check_key_mask(key_mask, ids.shape[0], n_past + ids.shape[1])
        params = self.params
        ### BEGIN SOLUTION
        ### HINT: x = E[ids] + P[positions]: two lookups with nn.embedding_forward (positions is always (B, T))
        ### HINT: every block gets self.causal, its own past (K, V), self.slopes (ALiBi, or None) and key_mask
        ### HINT: set hidden, block_caches (the L block_forward caches, in order) and saved
        tokens, tok_cache = nn.embedding_forward(ids, params["tok_emb"])  # (B, T, C)
        placed, pos_cache = nn.embedding_forward(positions, params["pos_emb"])  # (B, T, C)
        x = tokens + placed
        block_caches = []
        for layer in range(self.n_layers):
            past_kv = None if past_kvs is None else past_kvs[layer]
            x, block_cache = block_forward(x, subdict(params, f"blocks.{layer}."), self.n_heads,
                                           self.causal, past_kv, self.slopes, key_mask)
            block_caches.append(block_cache)
        hidden, lnf_cache = nn.layernorm_forward(x, params["ln_f.gamma"], params["ln_f.beta"])
        saved = {"tok": tok_cache, "pos": pos_cache, "blocks": block_caches, "ln_f": lnf_cache}
        ### END SOLUTION
        return hidden, {"kvs": [c["kv"] for c in block_caches], "weights": [c["weights"] for c in block_caches],
                        "saved": saved}

    def backward_hidden(self, dhidden, cache):
        """Gradients of forward_hidden for dhidden (B, T, C): a dict keyed like ``params``
        (``head.W`` gets zeros: the head is not part of this path)."""
        saved = cache["saved"]
        ### BEGIN SOLUTION
        grads = {}
        dx, grads["ln_f.gamma"], grads["ln_f.beta"] = nn.layernorm_backward(dhidden, saved["ln_f"])
        for layer in reversed(range(self.n_layers)):
            dx, block_grads = block_backward(dx, saved["blocks"][layer])
            grads.update(prefixed(block_grads, f"blocks.{layer}."))
        # forward: x = E[ids] + P[positions]: both lookups get dx (rows used twice sum theirs)
        grads["pos_emb"] = nn.embedding_backward(dx, saved["pos"])
        grads["tok_emb"] = nn.embedding_backward(dx, saved["tok"])
        if not self.tied:
            grads["head.W"] = np.zeros_like(self.params["head.W"])
        return grads
        ### END SOLUTION

    # ----------------------------------------------------------------- logits

    def head_weight(self):
        """W_head (C, V): the token embedding transposed when tied (a view), else head.W."""
        return self.params["tok_emb"].T if self.tied else self.params["head.W"]

    def forward(self, ids, past_kvs=None, positions=None, key_mask=None):
        """Next-token logits for ids (B, T): (logits (B, T, V), cache).

        ``past_kvs``, ``positions``, ``key_mask`` as in forward_hidden. The frame builds the
        cache: ``"kvs"`` = forward_hidden's (``start`` and ``step`` read it), ``"saved"`` = yours.
        """
        ### BEGIN SOLUTION
        ### HINT: set logits, hidden_cache (forward_hidden's cache) and saved (what backward needs)
        hidden, hidden_cache = self.forward_hidden(ids, past_kvs, positions, key_mask)
        logits = hidden @ self.head_weight()  # (B, T, V)
        saved = (hidden, hidden_cache)
        ### END SOLUTION
        return logits, {"kvs": hidden_cache["kvs"], "saved": saved}

    def head_backward(self, dlogits, hidden):
        """Gradients of logits = hidden W_head for dlogits (..., V) at ``hidden`` (..., C).

        Returns (dhidden (..., C), head_grads): ``head_grads`` = {"head.W": dW_head (C, V)}, or,
        tied (W_head = E^T), {"tok_emb": dW_head^T (V, C)}, which ADDS to the lookup's gradient
        (:func:`add_gradients`). Any head on the hidden states that also reads out tokens (PPO's
        policy-and-value head) uses this one.
        """
        ### BEGIN SOLUTION
        ### HINT: dhidden = dlogits W_head^T; dW_head = hidden^T dlogits summed over every leading position
        # forward: logits = hidden W_head, so dhidden = dlogits W_head^T, dW_head = hidden^T dlogits
        dhidden = dlogits @ self.head_weight().T  # (..., C)
        dW_head = hidden.reshape(-1, self.width).T @ dlogits.reshape(-1, self.vocab_size)  # (C, V)
        ### HINT: tied: W_head = tok_emb^T, so the gradient is dW_head^T, under "tok_emb"
        return dhidden, ({"tok_emb": dW_head.T} if self.tied else {"head.W": dW_head})
        ### END SOLUTION

    def backward(self, dlogits, cache):
        """Gradients of forward for dlogits (B, T, V): a dict keyed like ``params``."""
        saved = cache["saved"]
        ### BEGIN SOLUTION
        ### HINT: self.head_backward for the head, backward_hidden for the trunk, add_gradients to join them
        hidden, hidden_cache = saved
        dhidden, head_grads = self.head_backward(dlogits, hidden)
        return add_gradients(self.backward_hidden(dhidden, hidden_cache), head_grads)
        ### END SOLUTION

    def logits(self, ids, positions=None, key_mask=None):
        """logits (B, T, V) for ids (B, T) (``positions``, ``key_mask`` as in forward_hidden)."""
        return self.forward(ids, positions=positions, key_mask=key_mask)[0]

    def loss_and_grads(self, ids, targets, loss_mask=None, positions=None, key_mask=None):
        """Mean cross-entropy of ``targets`` (B, T) over the unmasked positions, and its grads
        (``positions``, ``key_mask`` as in forward_hidden; mask padding out with ``loss_mask``)."""
        ### BEGIN SOLUTION
        logits, cache = self.forward(ids, positions=positions, key_mask=key_mask)
        loss, ce_cache = nn.cross_entropy_forward(logits, np.asarray(targets), loss_mask)
        return loss, self.backward(nn.cross_entropy_backward(1.0, ce_cache), cache)
        ### END SOLUTION

    def attention_weights(self, ids):
        """Attention weights P of every block for ids (B, T): a list of L arrays (B, H, T, T)."""
        return self.forward_hidden(ids)[1]["weights"]

    def loss(self, ids, targets, loss_mask=None, positions=None, key_mask=None):
        """The loss of loss_and_grads without the backward pass (evaluation)."""
        return nn.cross_entropy_forward(self.logits(ids, positions, key_mask), np.asarray(targets), loss_mask)[0]

    # ----------------------------------------------------------------- decoding protocol

    def start(self, prompt_ids):
        """Decoding protocol: logits (V,) after the prompt and the state (tokens, KV cache).

        ``prompt_ids``: a non-empty 1-D sequence of ints in [0, V) (else ValueError/TypeError)."""
        check_causal(self.causal)
        prompt = check_prompt_ids(prompt_ids, self.vocab_size, allow_empty=False)[None, :]  # (1, T)
        logits, cache = self.forward(prompt)
        return logits[0, -1], (prompt.shape[1], cache["kvs"])

    def step(self, state, token_id):
        """Decoding protocol: feed one token; returns (logits (V,), new state).

        ``state`` (n_seen, per-block (K, V)) comes from start/step and is left untouched: the
        KV arrays are extended by concatenation into new arrays, which copies the whole cache
        at every step (O(T^2) copying over T steps: the price of never mutating a state)."""
        token_id = check_token_id(token_id, self.vocab_size)
        n_seen, kvs = check_decoding_state(state, self.n_layers, self.n_heads, self.width // self.n_heads,
                                           self.context_length)
        logits, cache = self.forward(np.array([[token_id]], dtype=np.int64), past_kvs=kvs)
        return logits[0, -1], (n_seen + 1, cache["kvs"])

    def uncached(self):
        """The same model behind the decoding protocol WITHOUT a KV cache: every step re-runs
        the whole prefix (quadratically more work; for tests and benchmarks)."""
        return FullPrefixDecoder(self)


class FullPrefixDecoder:
    """Decoding protocol over ``model.logits`` on the whole prefix (state = the tokens)."""

    def __init__(self, model):
        self.model = model

    def start(self, prompt_ids):
        tokens = tuple(int(t) for t in check_prompt_ids(prompt_ids, self.model.vocab_size, allow_empty=False))
        return self.model.logits(np.array([tokens]))[0, -1], tokens

    def step(self, state, token_id):
        tokens = state + (check_token_id(token_id, self.model.vocab_size),)
        return self.model.logits(np.array([tokens]))[0, -1], tokens
