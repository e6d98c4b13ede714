"""Tests of compaction (minprune/prune/compact.py): structured zeros become a smaller dense model whose outputs
equal the masked model's (max |difference| ≤ 1e-5 in float32, eval mode), with biases of removed neurons
folded forward, BatchNorm statistics cut, the original model untouched and parameter counts as counted by hand.
"""
import copy

import numpy as np
import pytest

from minprune import models, nn, prune

TOL = 1e-5


def eval_out(model, x):
    model.eval()
    return model(x).data


def layer_widths(model):
    return {name: m.weight.shape[0] for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}


def pruned_rows(module, dim=0):
    """Channels of module.weight along ``dim`` whose mask is entirely zero."""
    mask = np.moveaxis(module.weight_mask, dim, 0).reshape(module.weight_mask.shape[dim], -1)
    return int((~mask.any(axis=1)).sum())


def n_params(*shapes):
    return sum(int(np.prod(s)) for s in shapes)


def assert_state_equal(a, b):
    assert list(a) == list(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def check_compaction(model, x):
    """compact(model) is exact on x, leaves model untouched, and is a dense, unpruned model."""
    model.eval()
    state, hooks = model.state_dict(), {n: list(m._forward_pre_hooks.items()) for n, m in model.named_modules()}
    masked = eval_out(model, x)
    small, report = prune.compact(model)
    assert not prune.is_pruned(small)
    assert all(not k.endswith(("_orig", "_mask")) for k in small.state_dict())
    out = eval_out(small, x)
    assert out.shape == masked.shape and out.dtype == np.float32
    assert np.max(np.abs(out - masked)) <= TOL, np.max(np.abs(out - masked))
    assert_state_equal(model.state_dict(), state)
    assert {n: list(m._forward_pre_hooks.items()) for n, m in model.named_modules()} == hooks
    np.testing.assert_array_equal(eval_out(model, x), masked)
    return small, report


# ---------------------------------------------------------------------- LeNet-300-100
@pytest.mark.parametrize("amount", [0.0, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("how", ["neurons", "ln-weight-only", "inputs-dim1", "mixed"])
def test_lenet300_compaction_is_exact_and_shrinks(amount, how):
    rng = np.random.default_rng(1)
    model = models.LeNet300_100(rng=rng)
    for fc in (model.fc1, model.fc2):  # biases large enough that folding them matters
        fc.bias.data[...] = rng.uniform(-0.5, 0.5, fc.bias.shape).astype(np.float32)
    if how == "neurons":
        prune.prune_neurons(model.fc1, amount)
        prune.prune_neurons(model.fc2, amount, criterion="l1")
        expected = {"fc1": 300 - round(amount * 300), "fc2": 100 - round(amount * 100)}
    elif how == "ln-weight-only":  # biases stay: the dead neurons' relu(b) is folded into the next bias
        prune.ln_structured(model.fc1, "weight", amount, n=2, dim=0)
        prune.ln_structured(model.fc2, "weight", amount, n=1, dim=0)
        expected = {"fc1": 300 - round(amount * 300), "fc2": 100 - round(amount * 100)}
    elif how == "inputs-dim1":  # fc2 / fc3 stop reading some inputs: the producers' rows go
        prune.ln_structured(model.fc2, "weight", amount, n=2, dim=1)
        prune.ln_structured(model.fc3, "weight", amount, n=2, dim=1)
        expected = {"fc1": 300 - round(amount * 300), "fc2": 100 - round(amount * 100)}
    else:
        prune.prune_neurons(model.fc1, amount)
        prune.l1_unstructured(model.fc1, "weight", 0.3)  # unstructured zeros remove nothing more
        prune.ln_structured(model.fc3, "weight", amount, n=2, dim=1)
        expected = {"fc1": 300 - round(amount * 300), "fc2": 100 - round(amount * 100)}
    x = rng.standard_normal((6, 1, 28, 28)).astype(np.float32)
    small, report = check_compaction(model, x)
    assert layer_widths(small) == {**expected, "fc3": 10}
    assert small.fc2.in_features == expected["fc1"] and small.fc3.in_features == expected["fc2"]
    assert report["widths"] == {"fc1": (300, expected["fc1"]), "fc2": (100, expected["fc2"]), "fc3": (10, 10)}
    h1, h2 = expected["fc1"], expected["fc2"]
    assert report["parameters_before"] == 266610
    assert report["parameters_after"] == n_params((784, h1), (h1,), (h1, h2), (h2,), (h2, 10), (10,))


def test_report_counts_by_hand():
    model = models.LeNet300_100(rng=np.random.default_rng(2))
    prune.prune_neurons(model.fc1, 100)
    prune.prune_neurons(model.fc2, 50)
    small, report = prune.compact(model)
    # fc1 784·200 + 200, fc2 200·50 + 50, fc3 50·10 + 10
    assert report["parameters_after"] == 156800 + 200 + 10000 + 50 + 500 + 10 == 167560
    assert report["parameters_before"] == 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10
    assert sum(p.size for p in small.parameters()) == 167560


# ---------------------------------------------------------------------- LeNet-5
@pytest.mark.parametrize("amount", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("how", ["filters", "channels", "ln-weight-only", "neurons"])
def test_lenet5_compaction_is_exact_and_shrinks(amount, how):
    rng = np.random.default_rng(3)
    model = models.LeNet5(rng=rng)
    for conv in (model.conv1, model.conv2):
        conv.bias.data[...] = rng.uniform(-0.3, 0.6, conv.bias.shape).astype(np.float32)
    c1, c2, f1, f2 = 6, 16, 120, 84
    if how == "filters":
        prune.prune_filters(model.conv1, amount)
        prune.prune_filters(model.conv2, amount, criterion="l2")
        c1, c2 = 6 - round(amount * 6), 16 - round(amount * 16)
    elif how == "channels":  # conv2 stops reading some of conv1's channels; fc1 some of conv2's
        prune.prune_channels(model.conv2, amount)
        c1 = 6 - round(amount * 6)
    elif how == "ln-weight-only":  # dead filters with live biases: ReLU → maxpool → folded into the next bias
        prune.ln_structured(model.conv1, "weight", amount, n=1, dim=0)
        prune.ln_structured(model.conv2, "weight", amount, n=2, dim=0)
        prune.ln_structured(model.fc1, "weight", amount, n=2, dim=0)
        c1, c2, f1 = 6 - round(amount * 6), 16 - round(amount * 16), 120 - round(amount * 120)
    else:
        prune.prune_neurons(model.fc1, amount)
        prune.prune_neurons(model.fc2, amount)
        f1, f2 = 120 - round(amount * 120), 84 - round(amount * 84)
    x = rng.standard_normal((3, 1, 28, 28)).astype(np.float32)
    small, report = check_compaction(model, x)
    assert layer_widths(small) == {"conv1": c1, "conv2": c2, "fc1": f1, "fc2": f2, "fc3": 10}
    assert small.conv2.in_channels == c1 and small.fc1.in_features == c2 * 25
    assert small.fc2.in_features == f1 and small.fc3.in_features == f2
    expected = n_params((c1, 1, 5, 5), (c1,), (c2, c1, 5, 5), (c2,), (f1, c2 * 25), (f1,), (f2, f1), (f2,),
                        (10, f2), (10,))
    assert report["parameters_after"] == expected and report["parameters_before"] == 61706


# ---------------------------------------------------------------------- BatchNorm, padding, other layers
def bn_net(rng, padding2=0):
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, rng=rng), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 6, 3, padding=padding2, rng=rng), nn.BatchNorm2d(6), nn.ReLU(),
        nn.Flatten(), nn.Linear(6 * (8 if padding2 else 6) ** 2, 5, rng=rng))
    for bn in (model[1], model[4]):
        c = bn.num_features
        bn.running_mean = rng.standard_normal(c).astype(np.float32)
        bn.running_var = rng.uniform(0.5, 2.0, c).astype(np.float32)
        bn.weight.data[...] = rng.uniform(0.5, 1.5, c).astype(np.float32)
        bn.bias.data[...] = rng.uniform(-0.5, 0.5, c).astype(np.float32)
    return model


def relu_bn_constant(bn, b):
    """What a dead channel with bias b outputs after BatchNorm (running statistics) and ReLU, in float64."""
    g, beta = bn.weight.data.astype(np.float64), bn.bias.data.astype(np.float64)
    rm, rv = bn.running_mean.astype(np.float64), bn.running_var.astype(np.float64)
    return np.maximum(g * (b - rm) / np.sqrt(rv + bn.eps) + beta, 0)


def dead_filters(conv):
    return ~conv.weight_mask.reshape(conv.weight_mask.shape[0], -1).any(axis=1)


@pytest.mark.parametrize("train_mode", [False, True])
def test_batchnorm_between_layers_is_cut_with_its_statistics(train_mode):
    rng = np.random.default_rng(4)
    model = bn_net(rng)
    model[4].running_mean = rng.uniform(-3, -2, 6).astype(np.float32)  # so that ReLU(BN(0)) > 0
    prune.ln_structured(model[0], "weight", 3, n=2, dim=0)   # bias kept: constant ReLU(BN(b)) folded
    prune.prune_filters(model[3], 2)                          # bias pruned: constant ReLU(BN(0)) folded
    kept1, kept2 = np.flatnonzero(~dead_filters(model[0])), np.flatnonzero(~dead_filters(model[3]))
    const1 = relu_bn_constant(model[1], model[0].bias.data.astype(np.float64))[dead_filters(model[0])]
    const2 = relu_bn_constant(model[4], np.zeros(6))[dead_filters(model[3])]
    assert np.any(const1 > 0.05) and np.any(const2 > 0.05)  # the example really needs folding
    stats = {k: v.copy() for k, v in model.state_dict().items()}
    model.train(train_mode)  # compact must not depend on (or disturb) the mode it is called in
    small, report = prune.compact(model)
    assert_state_equal(model.state_dict(), stats)
    assert layer_widths(small) == {"0": 5, "3": 4, "7": 5}
    for bn, old, kept in ((small[1], model[1], kept1), (small[4], model[4], kept2)):
        assert bn.num_features == len(kept)
        np.testing.assert_array_equal(bn.running_mean, old.running_mean[kept])
        np.testing.assert_array_equal(bn.running_var, old.running_var[kept])
        np.testing.assert_array_equal(bn.weight.data, old.weight.data[kept])
        np.testing.assert_array_equal(bn.bias.data, old.bias.data[kept])
    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    masked, out = eval_out(model, x), eval_out(small, x)
    assert np.max(np.abs(out - masked)) <= TOL
    # the folded constants: conv2's new bias is its old bias plus Σ_kernel W2[:, c] · const_c over dead c
    w2 = model[3].weight_orig.data.astype(np.float64) * model[3].weight_mask
    dead1 = np.flatnonzero(dead_filters(model[0]))
    folded = model[3].bias_orig.data * model[3].bias_mask + w2[:, dead1].sum(axis=(2, 3)) @ const1
    np.testing.assert_allclose(small[3].bias.data, folded[kept2], rtol=1e-5, atol=1e-6)
    # without folding, only the dead channels whose constant is exactly 0 can go
    small_nofold, _ = prune.compact(model, can_fold=False)
    assert layer_widths(small_nofold) == {"0": 8 - int((const1 == 0).sum()), "3": 6 - int((const2 == 0).sum()),
                                          "7": 5}
    assert np.max(np.abs(eval_out(small_nofold, x) - masked)) <= TOL


def test_padded_consumer_keeps_channels_it_cannot_fold_but_drops_zero_ones():
    rng = np.random.default_rng(5)
    model = bn_net(rng, padding2=1)  # conv2 pads: a constant channel would differ at the borders
    prune.ln_structured(model[0], "weight", 3, n=2, dim=0)  # dead filters with BN(b) ≠ 0 must stay
    const = relu_bn_constant(model[1], model[0].bias.data.astype(np.float64))[dead_filters(model[0])]
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    small, _ = check_compaction(model, x)
    assert np.any(const > 0) and layer_widths(small)["0"] == 8 - int((const == 0).sum())

    model = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1, rng=rng), nn.ReLU(), nn.Conv2d(6, 4, 3, padding=1, rng=rng),
                          nn.ReLU(), nn.Flatten(), nn.Linear(4 * 25, 3, rng=rng))
    prune.prune_filters(model[0], 3)  # bias pruned too: relu(0) = 0, nothing to fold, the filters go
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    small, _ = check_compaction(model, x)
    assert layer_widths(small) == {"0": 3, "2": 4, "5": 3}


def test_other_pass_through_layers_and_nested_sequentials():
    rng = np.random.default_rng(6)
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 6, 3, rng=rng), nn.Tanh(), nn.AvgPool2d(2)),
        nn.Sequential(nn.Conv2d(6, 5, 3, rng=rng), nn.LeakyReLU(0.1), nn.MaxPool2d(2, padding=1), nn.Dropout(0.5)),
        nn.Flatten(), nn.Linear(5 * 2 * 2, 7, rng=rng), nn.Sigmoid(), nn.BatchNorm1d(7), nn.Identity(),
        nn.Linear(7, 2, bias=False, rng=rng))
    bn = model[5]
    bn.running_mean = rng.standard_normal(7).astype(np.float32)
    bn.running_var = rng.uniform(0.5, 2, 7).astype(np.float32)
    for layer, k in ((model[0][0], 2), (model[1][0], 2), (model[3], 3)):
        layer.bias.data[...] = rng.uniform(-1, 1, layer.bias.shape).astype(np.float32)
        prune.ln_structured(layer, "weight", k, n=1, dim=0)  # constant tanh/leaky/sigmoid+BN outputs folded
    x = rng.standard_normal((3, 1, 12, 12)).astype(np.float32)
    small, report = check_compaction(model, x)
    assert layer_widths(small) == {"0.0": 4, "1.0": 3, "3": 4, "7": 2}
    assert small[7].bias is not None  # the folded constant created the bias the last layer lacked


def test_an_unpruned_model_compacts_to_an_equal_copy():
    rng = np.random.default_rng(7)
    model = models.LeNet5(rng=rng)
    small, report = check_compaction(model, rng.standard_normal((2, 1, 28, 28)).astype(np.float32))
    assert report["parameters_before"] == report["parameters_after"] == 61706
    assert all(b == a for b, a in report["widths"].values())
    assert small.conv1.weight is not model.conv1.weight


def test_unsupported_layers_raise_type_error_naming_them():
    class Mystery(nn.Module):
        def forward(self, x):
            return x

    model = nn.Sequential(nn.Linear(4, 4), Mystery(), nn.Linear(4, 2))
    prune.prune_neurons(model[0], 1)
    with pytest.raises(TypeError, match="Mystery") as info:
        prune.compact(model)
    assert "'1'" in str(info.value)
    assert prune.is_pruned(model[0])
    with pytest.raises(TypeError, match="ResNetMini|BasicBlock"):
        prune.compact(models.ResNetMini(channels=4, blocks=1, rng=np.random.default_rng(0)))
    with pytest.raises(TypeError, match="group"):
        prune.compact(nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.ReLU(), nn.Conv2d(4, 2, 3)))


# ---------------------------------------------------------------------- compact_pair by hand
def test_compact_pair_folds_a_dead_neuron_with_positive_bias():
    w1 = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, 4.0]])
    b1 = np.array([0.5, 2.0, -1.0])
    w2 = np.array([[1.0, 10.0, 100.0], [2.0, 20.0, 200.0]])
    b2 = np.array([0.0, 1.0])
    keep, nw1, nb1, nw2, nb2 = prune.compact_pair(w1, b1, w2, b2)
    np.testing.assert_array_equal(keep, [True, False, True])
    np.testing.assert_array_equal(nw1, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(nb1, [0.5, -1.0])
    np.testing.assert_array_equal(nw2, [[1, 100], [2, 200]])
    np.testing.assert_array_equal(nb2, [0 + 10 * 2.0, 1 + 20 * 2.0])  # relu(2) · w2[:, 1] added to b2
    np.testing.assert_array_equal(w1[1], [0, 0])  # nothing modified in place
    np.testing.assert_array_equal(b2, [0, 1])
    # the two-layer function is unchanged
    x = np.random.default_rng(0).standard_normal((5, 2))
    full = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    np.testing.assert_allclose(np.maximum(x @ nw1.T + nb1, 0) @ nw2.T + nb2, full)


def test_compact_pair_unread_column_removes_the_producer_row():
    w1 = np.array([[1.0, 2.0], [5.0, 6.0], [3.0, 4.0]])
    b1 = np.array([0.5, 2.0, -1.0])
    w2 = np.array([[1.0, 0.0, 100.0], [2.0, 0.0, 200.0]])
    keep, nw1, nb1, nw2, nb2 = prune.compact_pair(w1, b1, w2, None)
    np.testing.assert_array_equal(keep, [True, False, True])
    np.testing.assert_array_equal(nw1, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(nb1, [0.5, -1.0])
    assert nb2 is None  # nothing to fold, no bias invented


def test_compact_pair_negative_bias_custom_activation_and_can_fold():
    w1 = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    b1 = np.array([-2.0, 3.0, 1.0])
    w2 = np.array([[1.0, 1.0, 1.0]])
    keep, _, _, nw2, nb2 = prune.compact_pair(w1, b1, w2, None)  # relu(-2) = 0, relu(3) = 3
    np.testing.assert_array_equal(keep, [False, False, True])
    np.testing.assert_array_equal(nb2, [3.0])
    keep, _, _, _, nb2 = prune.compact_pair(w1, b1, w2, np.array([1.0]), activation=lambda v: v)  # identity
    np.testing.assert_array_equal(keep, [False, False, True])
    np.testing.assert_array_equal(nb2, [1.0 - 2.0 + 3.0])
    keep, _, _, _, nb2 = prune.compact_pair(w1, b1, w2, np.array([1.0]), can_fold=False)
    np.testing.assert_array_equal(keep, [False, True, True])  # relu(−2) = 0 goes anyway; relu(3) must stay
    np.testing.assert_array_equal(nb2, [1.0])


def test_compact_pair_with_conv_shaped_consumer_sums_the_kernel():
    rng = np.random.default_rng(8)
    w1 = rng.standard_normal((3, 2, 3, 3))
    w1[0] = 0
    b1 = np.array([1.5, 0.2, 0.3])
    w2 = rng.standard_normal((4, 3, 2, 2))
    b2 = rng.standard_normal(4)
    keep, nw1, nb1, nw2, nb2 = prune.compact_pair(w1, b1, w2, b2)
    np.testing.assert_array_equal(keep, [False, True, True])
    assert nw1.shape == (2, 2, 3, 3) and nw2.shape == (4, 2, 2, 2)
    expected = b2 + np.array([sum(w2[o, 0, i, j] for i in range(2) for j in range(2)) * 1.5 for o in range(4)])
    np.testing.assert_allclose(nb2, expected)


def test_compacted_model_trains_as_a_plain_model():
    rng = np.random.default_rng(9)
    model = models.mlp([10, 8, 3], rng=rng, flatten=False)
    prune.prune_neurons(model[0], 0.5)
    small, _ = prune.compact(model)
    assert small[0].weight.shape == (4, 10) and small[2].weight.shape == (3, 4)
    assert all(isinstance(p, nn.Parameter) for p in small.parameters())
    out = small(rng.standard_normal((2, 10)).astype(np.float32))
    out.sum().backward()
    assert small[0].weight.grad.shape == (4, 10)
    copy.deepcopy(small)
