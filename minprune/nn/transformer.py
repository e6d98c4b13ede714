"""Transformer pieces with PyTorch's names and shapes: Embedding, LayerNorm, GELU, MultiheadAttention, and a
pre-LayerNorm TransformerBlock (as GPT-2). All vectorized over batch, heads and positions; gradients come from
the autograd ops they are written with.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from .. import functional as F
from .. import init
from ..tensor import Tensor
from .layers import Dropout, Linear, Sequential
from .module import Module, Parameter


class Embedding(Module):
    """A lookup table: integer ids (…) → rows of ``weight`` (num_embeddings, embedding_dim), shape (…, dim).
    Initialised N(0, 1) as PyTorch. The backward adds each output gradient into its row (``np.add.at``)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, rng=None, dtype=np.float32):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(init._rng(rng).standard_normal((num_embeddings, embedding_dim)).astype(dtype))

    def forward(self, ids):
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"{self!r}: expected integer ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise ValueError(f"{self!r}: ids must be in [0, {self.num_embeddings - 1}], "
                             f"got range [{ids.min()}, {ids.max()}]")
        return self.weight[ids]

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """Normalise over the last dims (Ba et al. 2016): y = (x − mean) / √(var + ε) · γ + β, per sample."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, dtype=np.float32):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        if tuple(x.shape[-len(self.normalized_shape):]) != self.normalized_shape:
            raise ValueError(f"{self!r}: input's last dims {tuple(x.shape)} do not match {self.normalized_shape}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class GELU(Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


def causal_mask(length: int, source_length: int | None = None) -> np.ndarray:
    """Boolean (L, S) mask, True above the diagonal: position i may not attend to j > i."""
    return np.triu(np.ones((length, source_length or length), dtype=bool), k=1)


class MultiheadAttention(Module):
    """Multi-head attention as ``torch.nn.MultiheadAttention`` (Vaswani et al. 2017).

    Parameters: ``in_proj_weight`` (3·H·d, E) and ``in_proj_bias`` (3·H·d,) stacking the query, key and value
    projections, and ``out_proj`` a Linear(H·d, E); d = E / H. Per head h: softmax(Q_h K_hᵀ / √d + mask) V_h.

    ``forward(query, key, value, attn_mask=None, need_weights=True, is_causal=False)`` → (output, weights):
    inputs (L, N, E), or (N, L, E) with ``batch_first=True``; ``attn_mask`` (L, S) or (N·H, L, S), float (added;
    −inf blocks) or bool (True blocks); ``is_causal=True`` adds the causal mask (PyTorch treats it only as a
    hint and wants the mask too; here it builds it). Weights (N, L, S) averaged over heads, or None.

    Beyond PyTorch, for head pruning: ``head_gate`` (None, or a Tensor (H,)) scales each head's output (its
    gradient is Michel et al.'s head importance), and :meth:`remove_heads` deletes heads, after which
    H·d may be smaller than E.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, rng=None, dtype=np.float32):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout, self.batch_first, self.rng = dropout, batch_first, rng
        self.in_proj_weight = Parameter(init.xavier_uniform((3 * embed_dim, embed_dim), rng=rng, dtype=dtype))
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, rng=rng, dtype=dtype)
        if bias:
            self.out_proj.bias.data[...] = 0.0
        self.head_gate = None

    def forward(self, query, key, value, attn_mask=None, need_weights: bool = True, is_causal: bool = False):
        if not self.batch_first:
            query, key, value = (t.transpose(1, 0, 2) for t in (query, key, value))
        n, length, _ = query.shape
        source = key.shape[1]
        h, d = self.num_heads, self.head_dim
        w, b = self.in_proj_weight, self.in_proj_bias
        inner = h * d
        q, k, v = (F.linear(t, w[i * inner:(i + 1) * inner], None if b is None else b[i * inner:(i + 1) * inner])
                   .reshape(n, -1, h, d).transpose(0, 2, 1, 3) for i, t in enumerate((query, key, value)))
        scores = (q @ k.transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(d))          # (N, H, L, S)
        mask = self._additive_mask(attn_mask, is_causal, n, length, source, scores.dtype)
        if mask is not None:
            scores = scores + mask
        weights = F.softmax(scores, axis=-1)
        if self.dropout and self.training:
            weights = F.dropout(weights, self.dropout, True, self.rng if self.rng is not None else init.default_generator)
        context = weights @ v                                                  # (N, H, L, d)
        if self.head_gate is not None:
            context = context * self.head_gate.reshape(1, h, 1, 1)
        output = self.out_proj(context.transpose(0, 2, 1, 3).reshape(n, length, inner))
        if not self.batch_first:
            output = output.transpose(1, 0, 2)
        return output, (weights.data.mean(axis=1) if need_weights else None)

    def _additive_mask(self, attn_mask, is_causal, n, length, source, dtype):
        mask = None
        if attn_mask is not None:
            attn_mask = np.asarray(attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask)
            if attn_mask.dtype == bool:
                attn_mask = np.where(attn_mask, -np.inf, 0.0)
            if attn_mask.shape == (length, source):
                mask = attn_mask[None, None]
            elif attn_mask.shape == (n * self.num_heads, length, source):
                mask = attn_mask.reshape(n, self.num_heads, length, source)
            else:
                raise ValueError(f"attn_mask must have shape {(length, source)} or "
                                 f"{(n * self.num_heads, length, source)}, got {attn_mask.shape}")
        if is_causal:
            causal = np.where(causal_mask(length, source), -np.inf, 0.0)[None, None]
            mask = causal if mask is None else mask + causal
        return None if mask is None else mask.astype(dtype)

    def check_heads(self, heads) -> np.ndarray:
        """Validate head indices for :meth:`remove_heads` without changing anything; returns them unique, sorted.
        Integers in [0, H − 1], at least one head kept, and no pruning mask on the projections."""
        heads = np.asarray(heads)
        if heads.size and heads.dtype.kind not in "iu":
            raise TypeError(f"remove_heads: head indices must be integers, got {heads.tolist()}")
        heads = np.unique(heads.astype(np.int64))
        h = self.num_heads
        if heads.size and (heads.min() < 0 or heads.max() >= h):
            raise ValueError(f"remove_heads: head indices must be in [0, {h - 1}], got {heads.tolist()}")
        if heads.size >= h:
            raise ValueError(f"remove_heads: cannot remove all {h} heads")
        masked = [f"{prefix}{name}" for prefix, module in (("", self), ("out_proj.", self.out_proj))
                  for name in module._parameters if name.endswith("_orig")]
        if masked:  # the mask and the pruning hook would keep the old shape and overwrite the new weights
            raise ValueError(f"remove_heads: {masked} carry a pruning mask; make it permanent first "
                             "(prune.remove(module, name)), then remove heads")
        return heads

    def remove_heads(self, heads):
        """Delete ``heads`` (indices) in place: their rows of the q, k, v projections and their columns of
        ``out_proj`` go; outputs equal those of the model with those heads gated to 0. Bad indices (see
        :meth:`check_heads`) raise before anything changes."""
        heads = self.check_heads(heads)
        h, d = self.num_heads, self.head_dim
        keep = np.setdiff1d(np.arange(h), heads)
        columns = (keep[:, None] * d + np.arange(d)[None, :]).ravel()             # within one projection
        rows = np.concatenate([columns + i * h * d for i in range(3)])
        self.in_proj_weight = Parameter(self.in_proj_weight.data[rows])
        if self.in_proj_bias is not None:
            self.in_proj_bias = Parameter(self.in_proj_bias.data[rows])
        self.out_proj.weight = Parameter(self.out_proj.weight.data[:, columns])
        self.out_proj.in_features = columns.size
        if self.head_gate is not None:
            self.head_gate = Tensor(self.head_gate.data[keep], requires_grad=self.head_gate.requires_grad)
        self.num_heads = keep.size

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"


class TransformerBlock(Module):
    """A pre-LayerNorm transformer block (GPT-2): x + attn(ln1(x)), then x + mlp(ln2(x)), causal by default.
    Input and output (N, L, d_model)."""

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: int = 4, dropout: float = 0.0, causal: bool = True,
                 rng=None):
        super().__init__()
        self.causal = causal
        self.ln1 = LayerNorm(d_model)
        self.attn = MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True, rng=rng)
        self.ln2 = LayerNorm(d_model)
        self.mlp = Sequential(OrderedDict(fc1=Linear(d_model, mlp_ratio * d_model, rng=rng), gelu=GELU(),
                                          fc2=Linear(mlp_ratio * d_model, d_model, rng=rng)))
        self.dropout = Dropout(dropout, rng=rng)

    def preserves_shape(self) -> bool:
        return True

    def forward(self, x):
        normed = self.ln1(x)
        x = x + self.dropout(self.attn(normed, normed, normed, need_weights=False, is_causal=self.causal)[0])
        return x + self.dropout(self.mlp(self.ln2(x)))
