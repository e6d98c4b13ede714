"""Tests of minprune.metrics against numbers computed by hand: parameter and MAC counts of LeNet-5 and
LeNet-300-100 written out layer by layer, storage sizes of tiny models in every format, sparsity read from the
effective weights (never a stale ``module.weight``), latency/speedup/accuracy plumbing, and a report whose
fields agree with the individual metrics — plus the errors for bad input."""
import copy

import numpy as np
import pytest

from minprune import data, metrics, models, nn, prune, sparse, train


def rng(seed=0):
    return np.random.default_rng(seed)


def tiny_linear():
    """Linear(3, 2), weight [[0, 1, 0], [2, 0, 0]], bias [0.5, 0]."""
    layer = nn.Linear(3, 2, rng=rng())
    layer.weight.data[...] = [[0, 1, 0], [2, 0, 0]]
    layer.bias.data[...] = [0.5, 0]
    return layer


def digits(n=64, seed=0):
    g = rng(seed)
    return data.ArrayDataset(g.random((n, 1, 28, 28)).astype(np.float32), g.integers(0, 10, n))


# ---------------------------------------------------------------------- parameter counts
def test_count_parameters_lenet5_by_hand():
    conv1 = 6 * 1 * 5 * 5 + 6          # 156
    conv2 = 16 * 6 * 5 * 5 + 16        # 2 416
    fc1 = 400 * 120 + 120              # 48 120
    fc2 = 120 * 84 + 84                # 10 164
    fc3 = 84 * 10 + 10                 # 850
    count = metrics.count_parameters(models.LeNet5(rng=rng()))
    assert count.total == conv1 + conv2 + fc1 + fc2 + fc3 == 61706
    assert count.nonzero == count.total and count.zero == 0


def test_count_parameters_lenet300_100_by_hand_and_pruned():
    model = models.LeNet300_100(rng=rng())
    total = (784 * 300 + 300) + (300 * 100 + 100) + (100 * 10 + 10)
    assert metrics.count_parameters(model) == (total, total) == (266610, 266610)
    prune.prune_model(model, 100000, scope="global")  # an int: exactly 100 000 weights
    count = metrics.count_parameters(model)
    assert count.total == 266610 and count.nonzero == 266610 - 100000  # _orig and _mask not double-counted
    assert metrics.compression_ratio(models.LeNet300_100(rng=rng()), model) == pytest.approx(266610 / 166610)
    assert metrics.model_size_reduction(266610, model) == pytest.approx(100000 / 266610)


# ---------------------------------------------------------------------- sparsity
def test_sparsity_global_is_pooled_per_layer_is_per_layer():
    model = models.SeedNet(rng=rng())           # fc1 100x50 = 5 000 weights, fc2 50x10 = 500
    prune.l1_unstructured(model.fc1, "weight", 2500)
    prune.l1_unstructured(model.fc2, "weight", 500)
    result = metrics.sparsity(model)
    assert result.layers == {"fc1.weight": 0.5, "fc2.weight": 1.0}
    assert result.overall == pytest.approx(3000 / 5500)  # not the mean 0.75 of the layers
    assert (result.zeros, result.total) == (3000, 5500)
    assert metrics.sparsity_percent(model) == pytest.approx(100 * 3000 / 5500)
    with_bias = metrics.sparsity(model, include_bias=True)
    assert set(with_bias.layers) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert with_bias.total == 5500 + 50 + 10


def test_sparsity_reads_orig_times_mask_not_the_stale_weight():
    layer = tiny_linear()
    prune.custom_from_mask(layer, "weight", np.array([[1, 1, 1], [1, 0, 0]]))
    # an optimizer step changes weight_orig; module.weight is refreshed only by the next forward
    layer.weight_orig.data[...] = [[1, 0, 3], [4, 5, 6]]
    model = nn.Sequential(layer)
    assert metrics.sparsity(model).layers == {"0.weight": pytest.approx(3 / 6)}
    assert metrics.count_parameters(model).nonzero == 3 + 1  # weights 1, 3, 4 and the bias 0.5


def test_sparsity_of_pools_entries():
    assert metrics.sparsity_of([np.array([[0, 1], [2, 0]]), np.array([0, 0, 0, 5, 6, 7])]) == 0.5
    assert metrics.sparsity_of([]) == 0.0
    assert metrics.sparsity_of(iter([np.zeros(3), np.ones(1)])) == 0.75


# ---------------------------------------------------------------------- sizes
def test_model_size_bytes_tiny_linear_by_hand():
    model = nn.Sequential(tiny_linear())
    # dense: 8 values x 4 B; CSR: 2 nnz x (4 + 4) + 3 row pointers x 4, bias dense 2 x 4; bitmask: 1 B of bits
    assert metrics.model_size_bytes(model) == 32
    assert metrics.model_size_bytes(model, "csr") == 2 * 8 + 3 * 4 + 8 == 36
    assert metrics.model_size_bytes(model, "bitmask") == 1 + 2 * 4 + 8 == 17
    assert metrics.model_size_bytes(model, "dense", np.float16) == 16
    assert metrics.model_size_bytes(model, "csr", np.float16) == 2 * 6 + 3 * 4 + 4 == 28
    assert metrics.model_size_bytes(model, "bitmask", np.float16) == 1 + 2 * 2 + 4 == 9
    assert metrics.model_size_bytes(model, "compact") == 32  # nothing structured to remove


def test_model_size_bytes_conv_uses_the_2d_view():
    conv = nn.Conv2d(2, 3, 2, rng=rng())               # weight (3, 2, 2, 2): 24 entries, 3 rows of 8
    mask = np.zeros((3, 2, 2, 2))
    mask[0, 0, 0, :] = 1                                # 2 non-zeros, both in row 0
    prune.custom_from_mask(conv, "weight", mask)
    model = nn.Sequential(conv)
    assert metrics.model_size_bytes(model) == (24 + 3) * 4
    assert metrics.model_size_bytes(model, "csr") == 2 * 8 + (3 + 1) * 4 + 3 * 4
    assert metrics.model_size_bytes(model, "bitmask") == 3 + 2 * 4 + 3 * 4


def test_model_size_bytes_compact_removes_neurons_and_counts_batchnorm_statistics():
    model = nn.Sequential(nn.Linear(4, 3, rng=rng()), nn.ReLU(), nn.Linear(3, 2, rng=rng()))
    prune.prune_neurons(model[0], 1)                    # 4-3-2 → 4-2-2
    assert metrics.model_size_bytes(model, "compact") == (4 * 2 + 2 + 2 * 2 + 2) * 4
    assert metrics.model_size_bytes(model) == (4 * 3 + 3 + 3 * 2 + 2) * 4  # masks are not stored
    bn = nn.Sequential(nn.Linear(2, 3, rng=rng()), nn.BatchNorm1d(3))
    # weight 6 + bias 3 + gamma 3 + beta 3 + running mean 3 + running var 3 (num_batches_tracked is not data)
    assert metrics.model_size_bytes(bn) == 21 * 4


def test_model_size_lenet300_100_at_90_percent():
    model = models.LeNet300_100(rng=rng())
    prune.prune_model(model, round(0.9 * 266200), scope="global")
    nnz = {name: int(np.count_nonzero(m.weight_mask)) for name, m in model.named_children() if name.startswith("fc")}
    assert sum(nnz.values()) == 266200 - 239580
    biases = 300 + 100 + 10
    assert metrics.model_size_bytes(model) == 266610 * 4
    assert metrics.model_size_bytes(model, "csr") == 26620 * 8 + (301 + 101 + 11) * 4 + biases * 4
    assert metrics.model_size_bytes(model, "bitmask") == 266200 // 8 + 26620 * 4 + biases * 4


def test_model_size_bytes_errors():
    model = nn.Sequential(tiny_linear())
    with pytest.raises(ValueError, match="format must be one of"):
        metrics.model_size_bytes(model, "coo")
    with pytest.raises(ValueError, match="floating-point"):
        metrics.model_size_bytes(model, dtype=np.int8)
    with pytest.raises(TypeError, match="dtype"):
        metrics.model_size_bytes(model, dtype="not a dtype")


# ---------------------------------------------------------------------- MACs
def test_flops_lenet5_by_hand():
    macs = metrics.flops(models.LeNet5(rng=rng()), (1, 1, 28, 28))
    conv1 = 6 * 1 * 5 * 5 * 28 * 28    # 117 600 (padding 2 keeps 28x28)
    conv2 = 16 * 6 * 5 * 5 * 10 * 10   # 240 000 (14x14 after pooling, 5x5 kernel → 10x10)
    fc1, fc2, fc3 = 400 * 120, 120 * 84, 84 * 10
    assert {k: v.dense for k, v in macs.layers.items()} == {"conv1": conv1, "conv2": conv2, "fc1": fc1,
                                                            "fc2": fc2, "fc3": fc3}
    assert macs.dense == macs.sparse == 416520
    assert macs.dense_flops == 2 * 416520
    assert macs.layers["conv2"].output_shape == (1, 16, 10, 10)
    assert "conv1" in str(macs) and "FLOPs = 2 × MACs" in str(macs)
    assert metrics.flops(models.LeNet5(rng=rng()), (8, 1, 28, 28)).dense == 8 * 416520


def test_flops_lenet300_100_and_nonzero_weights():
    model = models.LeNet300_100(rng=rng())
    assert metrics.flops(model, (1, 1, 28, 28)).dense == 784 * 300 + 300 * 100 + 100 * 10 == 266200
    prune.l1_unstructured(model.fc1, "weight", 200000)
    macs = metrics.flops(model, (2, 784))
    assert macs.layers["fc1"].sparse == 2 * (235200 - 200000)
    assert macs.sparse == 2 * (35200 + 30000 + 1000)
    conv = models.LeNet5(rng=rng())
    prune.l1_unstructured(conv.conv1, "weight", 50)
    assert metrics.flops(conv, (1, 1, 28, 28)).layers["conv1"].sparse == (150 - 50) * 28 * 28


def test_flops_counts_a_shared_layer_at_every_call_and_restores_the_model():
    shared = nn.Linear(4, 4, rng=rng())
    model = nn.Sequential(shared, nn.ReLU(), shared).train()
    macs = metrics.flops(model, (3, 4))
    assert macs.layers["0"].dense == 2 * 3 * 16
    assert model.training and not shared._forward_hooks
    with pytest.raises(ValueError, match="input_shape"):
        metrics.flops(model, (0, 4))
    with pytest.raises(TypeError, match="input_shape"):
        metrics.flops(model, "big")


# ---------------------------------------------------------------------- latency, speedup, accuracy
def test_latency_fields_and_errors():
    model = models.SeedNet(rng=rng()).train()
    x = np.ones((16, 100), np.float32)
    lat = metrics.latency(model, x, repeats=5, warmup=1)
    assert lat.batch_size == 16 and lat.repeats == 5 and len(lat.times) == 5
    assert 0 < lat.min <= lat.median and lat.spread >= 0 and lat.per_sample == lat.median / 16
    assert "batch of 16" in str(lat)
    assert model.training  # mode restored
    for bad in (0, -3):
        with pytest.raises(ValueError, match="repeats"):
            metrics.latency(model, x, repeats=bad)
    with pytest.raises(ValueError, match="warmup"):
        metrics.latency(model, x, warmup=-1)
    with pytest.raises(TypeError, match="repeats"):
        metrics.latency(model, x, repeats=2.5)
    assert metrics.latency(lambda v: v @ v.T, x, repeats=2).batch_size == 16


def test_speedup_from_numbers_latencies_and_models():
    assert metrics.speedup(2.0, 0.5) == 4.0
    a, b = metrics.compare_latency([models.SeedNet(rng=rng()), models.SeedNet(rng=rng(1))],
                                   np.ones((4, 100), np.float32), repeats=3)
    assert metrics.speedup(a, b) == a.median / b.median
    assert metrics.speedup(models.SeedNet(), models.SeedNet(), np.ones((2, 100), np.float32), repeats=3) > 0
    with pytest.raises(ValueError, match="input batch"):
        metrics.speedup(models.SeedNet(), models.SeedNet())
    with pytest.raises(TypeError):
        metrics.speedup("fast", 1.0)


def test_accuracy_reuses_train_evaluate_for_every_data_form():
    model = models.LeNet300_100(rng=rng())
    ds = digits(50)
    expected = train.evaluate(model, data.DataLoader(ds, batch_size=7)).accuracy
    assert metrics.accuracy(model, ds) == pytest.approx(expected)
    assert metrics.accuracy(model, (ds.x, ds.y)) == pytest.approx(expected)
    assert metrics.accuracy(model, data.DataLoader(ds, batch_size=7)) == pytest.approx(expected)
    assert metrics.accuracy_drop(0.95, 0.947) == pytest.approx(0.003)
    pruned = copy.deepcopy(model)
    prune.prune_model(pruned, 0.99, scope="global")
    assert metrics.accuracy_drop(model, pruned, ds) == pytest.approx(expected - metrics.accuracy(pruned, ds))
    with pytest.raises(ValueError, match="data"):
        metrics.accuracy_drop(model, pruned)


# ---------------------------------------------------------------------- one layer's speed
def test_layer_speed_sweep_shapes_and_ratios():
    sweep = metrics.layer_speed_sweep(20, 30, [0.0, 0.5, 0.9], batch_size=4, repeats=1)
    for key in ("dense", "masked", "csr", "compact"):
        assert getattr(sweep, key).shape == (3,) and np.all(getattr(sweep, key) > 0)
    np.testing.assert_allclose(sweep.flop_ratio, [1.0, 2.0, 10.0])
    np.testing.assert_allclose(sweep.compaction_efficiency, sweep.dense / sweep.compact / sweep.flop_ratio)
    assert "CSR beats dense" in str(sweep)
    with pytest.raises(ValueError, match="sparsities"):
        metrics.layer_speed_sweep(4, 4, [1.0])


def test_speed_sweep_crossover_is_where_csr_wins_for_good():
    sweep = metrics.SpeedSweep(4, 4, 1, np.array([0.5, 0.8, 0.9, 0.99]), dense=np.ones(4),
                               masked=np.ones(4), csr=np.array([0.5, 2.0, 0.9, 0.1]), compact=np.ones(4))
    assert sweep.crossover == 0.9  # a lucky win at 50 % before a loss does not count
    sweep.csr = np.full(4, 2.0)
    assert sweep.crossover is None


# ---------------------------------------------------------------------- report
@pytest.fixture(scope="module")
def lenet_report():
    baseline = models.LeNet300_100(rng=rng())
    pruned = copy.deepcopy(baseline)
    prune.prune_model(pruned, 0.8, scope="global")
    ds = digits(40)
    return baseline, pruned, ds, metrics.report(baseline, pruned, ds, batch_size=8, repeats=3, warmup=1)


def test_report_agrees_with_the_individual_metrics(lenet_report):
    baseline, pruned, ds, rep = lenet_report
    d = rep.to_dict()
    assert d["pruned"]["sparsity"] == metrics.sparsity(pruned).overall == pytest.approx(0.8)
    assert d["pruned"]["layer_sparsity"] == metrics.sparsity(pruned).layers
    assert d["pruned"]["parameters"] == metrics.count_parameters(pruned)._asdict()
    for fmt in ("dense", "csr", "bitmask", "compact"):
        assert d["pruned"]["size_bytes"][fmt] == metrics.model_size_bytes(pruned, fmt)
        assert d["baseline"]["size_bytes"][fmt] == metrics.model_size_bytes(baseline, fmt)
    macs = metrics.flops(pruned, (1, 1, 28, 28))
    assert d["pruned"]["macs"] == {"dense": macs.dense, "sparse": macs.sparse}
    assert d["baseline"]["accuracy"] == metrics.accuracy(baseline, ds)
    assert d["pruned"]["accuracy"] == metrics.accuracy(pruned, ds)
    s = d["summary"]
    assert s["accuracy_drop"] == pytest.approx(d["baseline"]["accuracy"] - d["pruned"]["accuracy"])
    assert s["sparsity_percent"] == pytest.approx(80.0)
    assert s["compression_ratio"] == pytest.approx(metrics.compression_ratio(baseline, pruned))
    assert s["model_size_reduction"] == pytest.approx(metrics.model_size_reduction(baseline, pruned))
    assert s["speedup"] == pytest.approx(d["baseline"]["latency"]["median"] / d["pruned"]["latency"]["median"])
    assert rep["speedup"] == s["speedup"]
    assert d["batch_size"] == 8 and d["pruned"]["latency"]["batch_size"] == 8 and d["samples"] == 40
    assert d["pruned"]["latency_compacted"] is not None and d["pruned"]["latency_csr"] is not None


def test_report_renders_as_text_html_and_markdown(lenet_report):
    rep = lenet_report[3]
    text = str(rep)
    assert text == repr(rep)
    for needle in ("accuracy", "sparsity", "fc1.weight", "size CSR", "size bitmask", "MACs", "latency",
                   "speedup", "batch of 8", "266,610"):
        assert needle in text
    assert rep._repr_html_().startswith("<table>") and "fc1.weight" in rep._repr_html_()
    assert "| metric | baseline | pruned | change |" in rep._repr_markdown_()


def test_report_on_a_compacted_model_and_a_convnet():
    baseline = models.LeNet5(rng=rng())
    structured = copy.deepcopy(baseline)
    prune.prune_filters(structured.conv2, 8)
    compacted, _ = prune.compact(structured)
    rep = metrics.report(baseline, compacted, digits(10), batch_size=4, repeats=2, warmup=0).to_dict()
    assert rep["pruned"]["parameters"]["total"] < rep["baseline"]["parameters"]["total"]
    assert rep["pruned"]["macs"]["dense"] < rep["baseline"]["macs"]["dense"] == 416520


def test_report_errors():
    ds = digits(8)
    with pytest.raises(ValueError, match="different architectures"):
        metrics.report(models.LeNet300_100(rng=rng()), models.LeNet5(rng=rng()), ds)
    wide = models.LeNet300_100(rng=rng())
    wide.fc1 = nn.Linear(784, 400, rng=rng())
    wide.fc2 = nn.Linear(400, 100, rng=rng())
    with pytest.raises(ValueError, match="fc1.weight has shape"):
        metrics.report(models.LeNet300_100(rng=rng()), wide, ds)
    with pytest.raises(ValueError, match="repeats"):
        metrics.report(models.LeNet300_100(rng=rng()), models.LeNet300_100(rng=rng()), ds, repeats=0)


def test_report_accepts_a_sparsified_model():
    baseline = models.LeNet300_100(rng=rng())
    pruned = copy.deepcopy(baseline)
    prune.prune_model(pruned, 0.9, scope="global")
    rep = metrics.report(baseline, sparse.sparsify(pruned), digits(8), batch_size=4, repeats=2, variants=False)
    assert rep.to_dict()["pruned"]["sparsity"] == pytest.approx(0.9)
    assert "latency_csr" not in rep.to_dict()["pruned"]
