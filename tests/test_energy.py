"""Tests of minprune.related.energy.energy_estimate against a hand computation on a tiny Linear model, with
Horowitz's 45 nm figures (ISSCC 2014): MACs · (multiply + add) + 32-bit words of weights · (SRAM 5 pJ or DRAM
640 pJ) + activations written and read in SRAM."""
import numpy as np
import pytest

from minprune import metrics, models, nn, prune
from minprune.related.energy import PJ, energy_estimate


def tiny():
    """Linear(4, 3) with 2 of its 12 weights zero → ReLU → Linear(3, 2): 23 parameters."""
    g = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 3, rng=g), nn.ReLU(), nn.Linear(3, 2, rng=g))
    model[0].weight.data[0, :2] = 0.0
    return model


def test_table_is_horowitz_2014():
    assert PJ == {"fp32_mult": 3.7, "fp32_add": 0.9, "int8_mult": 0.2, "int8_add": 0.03, "sram_32bit": 5.0,
                  "dram_32bit": 640.0}


def test_fp32_by_hand():
    e = energy_estimate(tiny(), (1, 4))
    macs = 10 + 6                         # non-zero weights only (a sparse accelerator skips the zeros)
    words = 12 + 3 + 6 + 2                # 23 float32 parameters, one 32-bit read each, from SRAM (92 B ≤ 512 KB)
    activations = 4 + 3 + 2               # the input and each layer's output, written and read once
    assert e.compute_pj == pytest.approx(macs * (3.7 + 0.9))
    assert e.weights_pj == pytest.approx(words * 5.0)
    assert e.activations_pj == pytest.approx(2 * activations * 5.0)
    assert e.total_pj == pytest.approx(73.6 + 115.0 + 90.0)
    assert not e.weights_in_dram


def test_dense_macs_and_dram():
    e = energy_estimate(tiny(), (1, 4), sparse=False, sram_bytes=91)     # 92 B do not fit in 91 B of SRAM
    assert e.compute_pj == pytest.approx(18 * 4.6)
    assert e.weights_in_dram and e.weights_pj == pytest.approx(23 * 640.0)


def test_int8_by_hand():
    e = energy_estimate(tiny(), (1, 4), bits=8)
    assert e.compute_pj == pytest.approx(16 * (0.2 + 0.03))
    assert e.weights_pj == pytest.approx(23 / 4 * 5.0)      # 23 bytes = 5.75 words of 32 bits
    assert e.activations_pj == pytest.approx(2 * 9 * 5.0 / 4)


def test_stored_bytes_and_batch():
    e = energy_estimate(tiny(), (3, 4), stored_bytes=40)
    assert e.compute_pj == pytest.approx(3 * 16 * 4.6)
    assert e.weights_pj == pytest.approx(10 * 5.0)           # weights read once per pass, whatever the batch
    assert e.activations_pj == pytest.approx(2 * 3 * 9 * 5.0)


def test_pruned_lenet_moves_on_chip():
    # LeNet-300-100 in float32 (1.07 MB) lives in DRAM; at 90 % sparsity its CSR form (≈ 0.2 MB) fits in SRAM:
    # the weight reads dominate and drop by two orders of magnitude
    model = models.LeNet300_100(rng=np.random.default_rng(1))
    dense = energy_estimate(model, (1, 1, 28, 28))
    prune.global_unstructured([(m, "weight") for m in (model.fc1, model.fc2, model.fc3)], prune.L1Unstructured,
                              amount=0.9)

    pruned = energy_estimate(model, (1, 1, 28, 28), stored_bytes=metrics.model_size_bytes(model, "csr"))
    assert dense.weights_in_dram and not pruned.weights_in_dram
    assert dense.weights_pj == pytest.approx(266_610 * 640.0)
    assert pruned.compute_pj == pytest.approx(26_620 * 4.6)
    assert dense.total_pj > 50 * pruned.total_pj
    assert "estimate" in str(pruned)


def test_rejects_other_bit_widths():
    with pytest.raises(ValueError, match="bits"):
        energy_estimate(tiny(), (1, 4), bits=16)
