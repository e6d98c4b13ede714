"""Deep Compression (Han, Mao & Dally 2016): prune → quantize → Huffman-encode, and the byte stream it gives.

1. **Pruning** with fine-tuning keeps ~8–10 % of LeNet's weights.
2. **Trained quantization**: k-means weight sharing (``related.quantize.kmeans_quantize``) — each surviving
   weight becomes an index into a codebook of 2^b shared values, fine-tuned by summing the gradients per
   cluster (``fine_tune_codebooks``).
3. **Huffman coding** of the cluster indices and of the sparse positions. Positions are stored as *relative*
   indices (the gap to the previous non-zero) in a few bits; a gap too large for them is bridged by a
   *filler* entry (a zero weight) — exactly the paper's Fig. 2 scheme.

Everything here is a real, decodable encoding: the sizes in the table are the lengths of actual byte strings,
and :func:`decode_layer` recovers the very same weights.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from .. import functional as F
from .. import nn
from ..prune.base import trainable_parameter
from ..prune.schedules import prune_to_sparsity
from .quantize import codebook_gradient, kmeans_quantize


# ---------------------------------------------------------------------- Huffman coding
def huffman_lengths(counts) -> np.ndarray:
    """Code length of every symbol of an optimal prefix code for the given symbol ``counts`` (Huffman 1952):
    repeatedly merge the two least frequent subtrees (a heap); each merge adds one bit to every symbol below.
    Symbols with count 0 get length 0 (no code); a single used symbol gets 1 bit. Shapes (k,) → (k,) ints."""
    counts = np.asarray(counts)
    used = np.flatnonzero(counts > 0)
    lengths = np.zeros(len(counts), dtype=np.int64)
    if used.size == 1:
        lengths[used] = 1
        return lengths
    heap = [(int(counts[s]), int(s), [int(s)]) for s in used]   # (weight, tie-break, symbols below)
    heapq.heapify(heap)
    while len(heap) > 1:
        w1, t1, s1 = heapq.heappop(heap)
        w2, t2, s2 = heapq.heappop(heap)
        lengths[s1 + s2] += 1
        heapq.heappush(heap, (w1 + w2, min(t1, t2), s1 + s2))
    return lengths


def canonical_codes(lengths) -> np.ndarray:
    """Canonical Huffman codes (as integers) from code lengths: symbols sorted by (length, symbol) get
    consecutive codes, shifted left when the length grows — so the lengths alone describe the code."""
    lengths = np.asarray(lengths)
    codes = np.zeros(len(lengths), dtype=np.int64)
    code, previous = 0, 0
    for symbol in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[symbol]) - previous
        codes[symbol], previous = code, int(lengths[symbol])
        code += 1
    return codes


def huffman_encode(symbols, lengths) -> tuple:
    """Encode integer ``symbols`` with the canonical code of ``lengths``: returns (bytes, number of bits).
    Vectorized: every code is expanded to its bits in one (n, max length) array, then ``np.packbits``."""
    symbols = np.asarray(symbols, dtype=np.int64)
    if symbols.size == 0:
        return b"", 0
    codes, lengths = canonical_codes(lengths), np.asarray(lengths)
    if np.any(lengths[symbols] == 0):
        raise ValueError("huffman_encode: a symbol has no code (count 0 when the code was built)")
    n_bits, value = lengths[symbols], codes[symbols]
    width = int(n_bits.max())
    positions = np.arange(width)[None, :]
    bits = (value[:, None] >> (n_bits[:, None] - 1 - positions)) & 1
    stream = bits[positions < n_bits[:, None]].astype(np.uint8)
    return np.packbits(stream).tobytes(), int(stream.size)


def huffman_decode(data: bytes, n_bits: int, lengths, count: int) -> np.ndarray:
    """Decode ``count`` symbols (inverse of :func:`huffman_encode`). Canonical decoding reads one bit at a time
    and compares with the first code of each length — a sequential loop (decoding happens once, at load)."""
    lengths = np.asarray(lengths)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[:n_bits]
    order = sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s))
    codes = canonical_codes(lengths)
    table = {(int(lengths[s]), int(codes[s])): s for s in order}
    out = np.empty(count, dtype=np.int64)
    code = length = position = 0
    for i in range(count):
        while True:
            code, length = (code << 1) | int(bits[position]), length + 1
            position += 1
            if (length, code) in table:
                out[i], code, length = table[(length, code)], 0, 0
                break
    return out


# ---------------------------------------------------------------------- sparse positions with relative indices
def relative_indices(positions, index_bits: int):
    """Encode sorted flat ``positions`` of the non-zeros as gaps of at most 2^index_bits (Han et al. 2016,
    Fig. 2). Returns (stored gaps − 1, each in [0, 2^b − 1], and a boolean "is filler" per entry): a gap
    d > 2^b is bridged by ⌊(d − 1) / 2^b⌋ filler entries (zero weights) every 2^b positions."""
    positions = np.asarray(positions, dtype=np.int64)
    limit = 2 ** index_bits
    gaps = np.diff(np.concatenate([[-1], positions]))
    fillers = (gaps - 1) // limit
    entries = fillers + 1
    is_filler = np.ones(int(entries.sum()), dtype=bool)
    ends = np.cumsum(entries) - 1
    is_filler[ends] = False                        # the last entry of each run is the real weight
    stored = np.full(is_filler.size, limit - 1, dtype=np.int64)
    stored[ends] = gaps - 1 - fillers * limit
    return stored, is_filler


def positions_from_relative(stored, is_filler) -> np.ndarray:
    """Inverse of :func:`relative_indices`: the flat positions of the real (non-filler) entries."""
    return (np.cumsum(np.asarray(stored) + 1) - 1)[~np.asarray(is_filler)]


# ---------------------------------------------------------------------- one layer
@dataclass
class EncodedLayer:
    shape: tuple
    codebook: np.ndarray             # float32 (k,)
    weight_lengths: np.ndarray       # Huffman code lengths of the k + 1 symbols (k = filler)
    index_lengths: np.ndarray        # Huffman code lengths of the 2^index_bits gap values
    weights: bytes = b""
    weight_bits: int = 0
    index: bytes = b""
    index_bits_used: int = 0
    count: int = 0                   # entries, fillers included

    @property
    def nbytes(self) -> int:
        """Bytes of the stored layer: both Huffman streams, the float32 codebook, one byte per code length."""
        return (len(self.weights) + len(self.index) + 4 * len(self.codebook)
                + len(self.weight_lengths) + len(self.index_lengths))


def encode_layer(indices: np.ndarray, codebook: np.ndarray, index_bits: int = 5) -> EncodedLayer:
    """Encode a k-means-quantized weight (cluster ``indices``, −1 = pruned) with relative positions and two
    Huffman codes."""
    flat = np.ravel(indices)
    positions = np.flatnonzero(flat >= 0)
    stored, is_filler = relative_indices(positions, index_bits)
    k = len(codebook)
    symbols = np.full(stored.size, k, dtype=np.int64)     # symbol k marks a filler (a zero weight)
    symbols[~is_filler] = flat[positions]
    weight_lengths = huffman_lengths(np.bincount(symbols, minlength=k + 1))
    index_lengths = huffman_lengths(np.bincount(stored, minlength=2 ** index_bits))
    weights, weight_bits = huffman_encode(symbols, weight_lengths)
    index, index_bits_used = huffman_encode(stored, index_lengths)
    return EncodedLayer(tuple(np.shape(indices)), np.asarray(codebook, np.float32), weight_lengths.astype(np.uint8),
                        index_lengths.astype(np.uint8), weights, weight_bits, index, index_bits_used, stored.size)


def encode_shared_weight(weight: np.ndarray, index_bits: int = 5) -> EncodedLayer:
    """Encode a weight array that already holds shared values (after :func:`kmeans_quantize`): the codebook is
    its distinct non-zero values (sorted; at most 256, so an index fits a byte), zeros are the pruned entries.
    What ``deploy.export(format="deep_compression")`` stores for each weight."""
    weight = np.asarray(weight, dtype=np.float32)
    codebook = np.unique(weight[weight != 0])
    if codebook.size > 256:
        raise ValueError(f"encode_shared_weight: needs k-means-shared weights (at most 256 distinct non-zero "
                         f"values), found {codebook.size}; run related.deep_compression (or kmeans_quantize) first")
    indices = np.where(weight != 0, np.searchsorted(codebook, weight), -1)
    return encode_layer(indices, codebook, index_bits)


def decode_layer(layer: EncodedLayer) -> np.ndarray:
    """The weight array back from an :class:`EncodedLayer` (pruned entries 0, others their shared value)."""
    k = len(layer.codebook)
    symbols = huffman_decode(layer.weights, layer.weight_bits, layer.weight_lengths, layer.count)
    stored = huffman_decode(layer.index, layer.index_bits_used, layer.index_lengths, layer.count)
    is_filler = symbols == k
    weight = np.zeros(int(np.prod(layer.shape)), dtype=np.float32)
    weight[positions_from_relative(stored, is_filler)] = layer.codebook[symbols[~is_filler]]
    return weight.reshape(layer.shape)


# ---------------------------------------------------------------------- the pipeline
def _layers(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def fine_tune_codebooks(model, quantized: dict, loader, lr: float = 1e-3, steps: int = 100, loss_fn=F.cross_entropy):
    """Fine-tune the shared values (Han et al. 2016, §3.2): the gradient of a centroid is the sum of its
    weights' gradients; weights are then re-set from the codebook, so sharing and zeros are preserved.
    ``quantized``: ``{name: (codebook, indices)}``, updated in place."""
    modules = dict(model.named_modules())
    was_training = model.training
    model.train()
    step = 0
    while step < steps:
        for x, y in loader:
            model.zero_grad()
            loss_fn(model(x), y).backward()
            for name, (codebook, indices) in quantized.items():
                param = trainable_parameter(modules[name], "weight")
                if param.grad is not None:
                    codebook -= lr * codebook_gradient(indices, param.grad, len(codebook))
                    param.data[...] = np.where(indices >= 0, codebook[np.maximum(indices, 0)], 0.0)
            step += 1
            if step >= steps:
                break
    model.zero_grad()
    model.train(was_training)


@dataclass
class CompressionTable:
    """Per-layer results in the shape of the paper's tables; ``str()`` prints it."""
    rows: list = field(default_factory=list)

    @property
    def dense_bytes(self) -> int:
        return sum(r["dense_bytes"] for r in self.rows)

    @property
    def compressed_bytes(self) -> int:
        return sum(r["compressed_bytes"] for r in self.rows)

    @property
    def ratio(self) -> float:
        return self.dense_bytes / self.compressed_bytes

    def __str__(self):
        lines = [f"{'layer':<10} {'#weights':>9} {'weights %':>9} {'bits':>5} {'dense KB':>9} {'compressed KB':>13} "
                 f"{'ratio':>7}"]
        for r in self.rows:
            lines.append(f"{r['layer']:<10} {r['weights']:>9,} {100 * r['kept']:>8.1f}% {r['bits']:>5} "
                         f"{r['dense_bytes'] / 1024:>9.1f} {r['compressed_bytes'] / 1024:>13.2f} "
                         f"{r['dense_bytes'] / r['compressed_bytes']:>6.1f}x")
        lines.append(f"{'total':<10} {'':>9} {'':>9} {'':>5} {self.dense_bytes / 1024:>9.1f} "
                     f"{self.compressed_bytes / 1024:>13.2f} {self.ratio:>6.1f}x")
        return "\n".join(lines)


def deep_compression(model, sparsity, bits, fine_tune=None, loader=None, codebook_steps: int = 0,
                     codebook_lr: float = 1e-3, index_bits: int = 5):
    """Run the three stages on ``model`` in place; return ``(table, encoded)``.

    ``sparsity`` and ``bits``: a number for every Linear/Conv2d, or a dict by layer name (the paper: 6 bits for
    LeNet-300-100, 8 bits for LeNet-5's convolutions, 5 for its fully connected layers). ``fine_tune(model)``
    runs after pruning; ``codebook_steps`` > 0 fine-tunes the shared values on ``loader``. ``encoded`` maps layer
    names to :class:`EncodedLayer`; biases are counted as float32 in each row's compressed size.
    """
    layers = _layers(model)
    per_layer = lambda value, name: value[name] if isinstance(value, dict) else value  # noqa: E731
    for name, module in layers:
        prune_to_sparsity([(module, "weight")], per_layer(sparsity, name), scope="local")
    if fine_tune is not None:
        fine_tune(model)
    quantized = {}
    for name, module in layers:
        param = trainable_parameter(module, "weight")
        mask = module._buffers.get("weight_mask")
        shared, codebook, indices = kmeans_quantize(param.data * (1 if mask is None else mask), per_layer(bits, name))
        param.data[...] = shared
        quantized[name] = (codebook, indices)
    if codebook_steps:
        fine_tune_codebooks(model, quantized, loader, codebook_lr, codebook_steps)
    table, encoded = CompressionTable(), {}
    for name, module in layers:
        codebook, indices = quantized[name]
        encoded[name] = encode_layer(indices, codebook, index_bits)
        bias_bytes = 0 if module.bias is None else 4 * module.bias.size
        weights = int(np.prod(indices.shape))
        table.rows.append({"layer": name, "weights": weights, "kept": float((indices >= 0).mean()),
                           "bits": per_layer(bits, name), "dense_bytes": 4 * weights + bias_bytes,
                           "compressed_bytes": encoded[name].nbytes + bias_bytes})
    return table, encoded
