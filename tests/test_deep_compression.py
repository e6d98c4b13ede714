"""Tests of minprune.related.deep_compression: Huffman codes (CLRS's example, optimality against a brute force over
all prefix codes, prefix-freeness, exact decoding of random streams), relative indices with fillers, the encoded
layer round trip, codebook fine-tuning, and the pipeline's table computed from the real byte streams."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minprune import data, models, optim, train
from minprune.related import deep_compression as dc
from minprune.related.quantize import codebook_gradient, kmeans_quantize


def rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------- Huffman
def test_huffman_clrs_example():
    # CLRS §16.3: a:45 b:13 c:12 d:16 e:9 f:5 (thousands) → a 1 bit, b c d 3 bits, e f 4 bits: 224 000 bits
    counts = np.array([45, 13, 12, 16, 9, 5])
    lengths = dc.huffman_lengths(counts)
    assert lengths.tolist() == [1, 3, 3, 3, 4, 4]
    assert int(lengths @ counts) == 224


def test_canonical_codes_by_hand_and_encoding_bits():
    codes = dc.canonical_codes([1, 3, 3, 3, 4, 4])
    # by (length, symbol): a → 0, b → 100, c → 101, d → 110, e → 1110, f → 1111
    assert codes.tolist() == [0b0, 0b100, 0b101, 0b110, 0b1110, 0b1111]
    stream, n_bits = dc.huffman_encode([0, 1, 5], [1, 3, 3, 3, 4, 4])      # 0 100 1111
    assert (stream, n_bits) == (bytes([0b01001111]), 8)
    stream, n_bits = dc.huffman_encode([4, 0, 0], [1, 3, 3, 3, 4, 4])      # 1110 0 0 → padded with zeros
    assert (stream, n_bits) == (bytes([0b11100000]), 6)


def brute_force_optimum(counts):
    """Least Σ count·length over all length vectors satisfying Kraft's inequality Σ 2^−l ≤ 1 (exactly the length
    vectors of prefix codes), lengths 1..k−1."""
    k = len(counts)
    best = None
    for lengths in itertools.product(range(1, k), repeat=k):
        if sum(2.0 ** -l for l in lengths) <= 1.0:
            cost = sum(c * l for c, l in zip(counts, lengths))
            best = cost if best is None else min(best, cost)
    return best


@settings(max_examples=25, deadline=None)
@given(counts=st.lists(st.integers(1, 60), min_size=2, max_size=5))
def test_huffman_is_optimal(counts):
    lengths = dc.huffman_lengths(counts)
    assert int(lengths @ np.array(counts)) == brute_force_optimum(counts)


def bit_string(code, length):
    return format(int(code), f"0{int(length)}b")


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(0, 1000), min_size=1, max_size=40))
def test_huffman_code_is_prefix_free_and_complete(counts):
    lengths = dc.huffman_lengths(counts)
    used = [s for s, c in enumerate(counts) if c > 0]
    assert all((lengths[s] > 0) == (counts[s] > 0) for s in range(len(counts)))
    codes = dc.canonical_codes(lengths)
    words = [bit_string(codes[s], lengths[s]) for s in used]
    for a, b in itertools.permutations(words, 2):
        assert not b.startswith(a), (a, b)
    if len(used) > 1:
        assert sum(2.0 ** -lengths[s] for s in used) == 1.0        # a full binary tree: Kraft with equality


@settings(max_examples=40, deadline=None)
@given(symbols=st.lists(st.integers(0, 11), min_size=1, max_size=300), extra=st.integers(0, 3))
def test_huffman_decodes_random_streams_exactly(symbols, extra):
    k = 12 + extra
    lengths = dc.huffman_lengths(np.bincount(symbols, minlength=k))
    stream, n_bits = dc.huffman_encode(symbols, lengths)
    assert n_bits == int(lengths[symbols].sum()) and len(stream) == -(-n_bits // 8)
    np.testing.assert_array_equal(dc.huffman_decode(stream, n_bits, lengths, len(symbols)), symbols)


def test_huffman_single_symbol_and_empty():
    lengths = dc.huffman_lengths([0, 7, 0])
    assert lengths.tolist() == [0, 1, 0]
    stream, n_bits = dc.huffman_encode([1] * 7, lengths)
    assert n_bits == 7
    assert dc.huffman_decode(stream, n_bits, lengths, 7).tolist() == [1] * 7
    assert dc.huffman_encode([], lengths) == (b"", 0)
    assert dc.huffman_lengths([0, 0]).tolist() == [0, 0]


def test_huffman_encode_rejects_a_symbol_without_code():
    with pytest.raises(ValueError, match="no code"):
        dc.huffman_encode([0, 2], dc.huffman_lengths([3, 1, 0]))


# ---------------------------------------------------------------------- relative indices
def test_relative_indices_by_hand():
    # positions 1, 4, 20 with 3-bit gaps (≤ 8): gaps 2, 3, 16; the gap 16 needs one filler 8 positions on
    # (stored 7 = gap 8), then the weight (stored 7 = gap 8)
    stored, is_filler = dc.relative_indices([1, 4, 20], 3)
    assert stored.tolist() == [1, 2, 7, 7]
    assert is_filler.tolist() == [False, False, True, False]
    assert dc.positions_from_relative(stored, is_filler).tolist() == [1, 4, 20]


def test_relative_indices_exact_multiple_gap():
    # gap 17 = 2·8 + 1 with 3 bits: two fillers then stored 0
    stored, is_filler = dc.relative_indices([16], 3)
    assert stored.tolist() == [7, 7, 0] and is_filler.tolist() == [True, True, False]


@settings(max_examples=50, deadline=None)
@given(positions=st.sets(st.integers(0, 3000), max_size=60), index_bits=st.integers(1, 5))
def test_relative_indices_round_trip(positions, index_bits):
    positions = np.array(sorted(positions), dtype=np.int64)
    stored, is_filler = dc.relative_indices(positions, index_bits)
    assert np.all((stored >= 0) & (stored < 2 ** index_bits))
    gaps = np.diff(np.concatenate([[-1], positions]))
    assert is_filler.sum() == np.sum((gaps - 1) // 2 ** index_bits)
    np.testing.assert_array_equal(dc.positions_from_relative(stored, is_filler), positions)


# ---------------------------------------------------------------------- one layer
def quantized_layer(seed, shape=(30, 40), density=0.1, bits=4):
    g = rng(seed)
    w = g.normal(size=shape).astype(np.float32) * (g.random(shape) < density)
    return kmeans_quantize(w, bits)


@pytest.mark.parametrize("density,index_bits", [(0.1, 5), (0.02, 3), (1.0, 5), (0.0, 5), (0.5, 1)])
def test_encode_decode_layer_exact(density, index_bits):
    shared, codebook, indices = quantized_layer(1, density=density)
    layer = dc.encode_layer(indices, codebook, index_bits)
    assert layer.shape == (30, 40)
    decoded = dc.decode_layer(layer)
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, shared)
    assert layer.nbytes == (len(layer.weights) + len(layer.index) + 4 * len(codebook) + len(codebook) + 1
                            + 2 ** index_bits)


def test_encoded_layer_is_smaller_than_bits_per_entry():
    # at 10 % density, 4-bit clusters and 5-bit gaps: Huffman does no worse than the fixed-width codes
    shared, codebook, indices = quantized_layer(2, density=0.1)
    layer = dc.encode_layer(indices, codebook, 5)
    assert layer.weight_bits <= layer.count * 5        # ≤ ⌈log2(16 + 1)⌉ bits per entry (filler = symbol 16)
    assert layer.index_bits_used <= layer.count * 5
    assert layer.nbytes < 4 * shared.size / 10


def test_encode_shared_weight_round_trip_and_limit():
    shared, _, _ = quantized_layer(3, bits=8, density=0.6)
    np.testing.assert_array_equal(dc.decode_layer(dc.encode_shared_weight(shared)), shared)
    with pytest.raises(ValueError, match="256"):
        dc.encode_shared_weight(rng(4).normal(size=(20, 20)))


# ---------------------------------------------------------------------- the pipeline
def small_problem(seed=0):
    ds = data.blobs(n=512, centers=4, std=2.0, dim=16, rng=rng(seed))
    model = models.mlp([16, 64, 32, 4], rng=rng(seed + 1), flatten=False)
    train.fit(model, data.DataLoader(ds, 64, shuffle=True, rng=rng(seed + 2)),
              optim.SGD(model.parameters(), lr=0.05, momentum=0.9), epochs=3, progress=False)
    return model, ds


def effective(layer):
    return layer.weight_orig.data * layer.weight_mask


def test_deep_compression_table_from_the_real_streams():
    model, ds = small_problem()
    table, encoded = dc.deep_compression(model, sparsity={"0": 0.8, "2": 0.7, "4": 0.5}, bits={"0": 4, "2": 4, "4": 3})
    assert [r["layer"] for r in table.rows] == ["0", "2", "4"]
    for row, (sparsity, bits, layer) in zip(table.rows, [(0.8, 4, model[0]), (0.7, 4, model[2]), (0.5, 3, model[4])]):
        w = effective(layer)
        assert row["weights"] == w.size and row["bits"] == bits
        assert np.count_nonzero(w) == w.size - round(sparsity * w.size) == round(row["kept"] * w.size)
        assert len(np.unique(w[w != 0])) <= 2 ** bits
        np.testing.assert_array_equal(dc.decode_layer(encoded[row["layer"]]), w)     # decodable to the weights
        assert row["dense_bytes"] == 4 * (w.size + layer.bias.size)
        assert row["compressed_bytes"] == encoded[row["layer"]].nbytes + 4 * layer.bias.size
    assert table.ratio == pytest.approx(table.dense_bytes / table.compressed_bytes)
    assert table.dense_bytes == 4 * (16 * 64 + 64 + 64 * 32 + 32 + 32 * 4 + 4)
    text = str(table)
    assert "total" in text and f"{table.ratio:.1f}x" in text


def test_deep_compression_fine_tune_runs_after_pruning():
    model, ds = small_problem(1)
    seen = []
    dc.deep_compression(model, 0.5, 3, fine_tune=lambda m: seen.append(int(np.count_nonzero(m[0].weight_mask))))
    assert seen == [64 * 16 // 2]


def test_fine_tune_codebooks_one_step_is_summed_gradient():
    model, ds = small_problem(2)
    dc.deep_compression(model, 0.5, 3)
    layer = model[2]
    shared, codebook, indices = kmeans_quantize(effective(layer), 3)
    quantized = {"2": (codebook.copy(), indices)}
    x, y = ds.x[:64], ds.y[:64]
    from minprune import functional as F
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    expected = codebook - 0.01 * codebook_gradient(indices, layer.weight_orig.grad, 8)
    model.zero_grad()
    dc.fine_tune_codebooks(model, quantized, data.DataLoader((x, y), 64), lr=0.01, steps=1)
    np.testing.assert_allclose(quantized["2"][0], expected, rtol=1e-6, atol=1e-9)
    w = effective(layer)
    np.testing.assert_array_equal(w[indices < 0], 0.0)
    np.testing.assert_allclose(w[indices >= 0], expected[indices[indices >= 0]].astype(np.float32))
    model.eval()                                                # the mode is restored afterwards
    dc.fine_tune_codebooks(model, quantized, data.DataLoader((x, y), 64), lr=0.01, steps=1)
    assert model.training is False


def test_codebook_fine_tuning_keeps_sharing_and_lowers_the_loss():
    import copy

    model, ds = small_problem(3)
    tuned = copy.deepcopy(model)
    dc.deep_compression(model, 0.8, 2)                            # 4 values per layer: coarse, room to improve
    loader = data.DataLoader(ds, 64, shuffle=True, rng=rng(4))
    table, encoded = dc.deep_compression(tuned, 0.8, 2, loader=loader, codebook_steps=40, codebook_lr=0.01)
    everything = data.DataLoader(ds, 512)
    assert train.evaluate(tuned, everything).loss < train.evaluate(model, everything).loss
    for name, layer in encoded.items():
        w, w_untuned = effective(dict(tuned.named_modules())[name]), effective(dict(model.named_modules())[name])
        assert len(np.unique(w[w != 0])) <= 4
        np.testing.assert_array_equal(w == 0, w_untuned == 0)    # the same weights pruned
        np.testing.assert_array_equal(dc.decode_layer(layer), w)   # the table encodes the tuned codebook
        assert not np.array_equal(w, w_untuned)
