"""structured_prune, group_importance and compact_graph (minprune/prune/surgery.py).

Parameter and MAC counts after pruning are checked against closed forms written out here; the report against
metrics.flops and the model's own parameters; the result against the original model with the removed channels
zeroed at every producer (float64, ≤ 1e-10), also under hypothesis over widths, depths and amounts.
"""
import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minprune as mp
from minprune import metrics, models, nn, prune
from minprune.prune import DependencyGraph, compact_graph, group_importance, structured_prune

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
SHAPE = (2, 1, 28, 28)


def randomize_batch_norms(model, rng):
    for m in model.modules():
        if isinstance(m, BATCH_NORMS):
            c = m.num_features
            m.weight.data[...] = rng.uniform(0.5, 1.5, c)
            m.bias.data[...] = rng.normal(0, 0.5, c)
            m.running_mean[...] = rng.normal(0, 0.5, c)
            m.running_var[...] = rng.uniform(0.5, 2.0, c)
    return model.eval()


def output(model, x):
    with mp.no_grad():
        return model(x).data


def n_params(model):
    return sum(p.size for p in model.parameters())


def state(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def same_state(a, b):
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and np.array_equal(a[k], b[k]) for k in a)


def zero_at_producers(group, channels):
    """Zero the channels at every producer of the group: weight rows/biases of the layers computing them
    (depthwise filters included), BatchNorm γ and β."""
    for member in group:
        module = member.module
        if (isinstance(module, (nn.Linear, nn.Conv2d)) and member.dim == 0) or (
                isinstance(module, BATCH_NORMS) and member.param in ("weight", "bias")):
            array = getattr(module, member.param).data
            index = [slice(None)] * array.ndim
            index[member.dim] = member.indices_of(channels)
            array[tuple(index)] = 0


def removed_channels(group, new_model):
    """Which channels of ``group`` (a group of the original model) ``new_model`` no longer has, read off the
    running mean of the group's first BatchNorm: random and distinct, and sliced along the group only."""
    bn = next(m for m in group if m.param == "running_mean")
    old = bn.module.running_mean[bn.indices_of(np.arange(group.size))]
    new = new_model.get_submodule(bn.module_name).running_mean
    kept = [int(np.flatnonzero(old == value)[0]) for value in new]
    assert kept == sorted(kept), "the remaining channels keep their order"
    return np.setdiff1d(np.arange(group.size), kept)


# ---------------------------------------------------------------------------------------------------- closed forms
def resnet_counts(s, i, blocks, n, hw=28, classes=10, s2=None, i2=None, wide_blocks=0):
    """Parameters and MACs of a ResNetMini whose stage has width s and inner (conv1) widths i, all 3×3 convs
    without bias, BatchNorm (γ, β) after each; an optional second stage (width s2, inner i2) whose first block has a
    1×1 projection shortcut. Input (n, 1, hw, hw); the stem halves the resolution, the second stage again."""
    p = 9 * s + 2 * s                                              # stem conv 1→s + bn1
    h = (hw + 1) // 2
    m = n * h * h * 9 * s
    block = lambda a, inner, b: 9 * a * inner + 2 * inner + 9 * inner * b + 2 * b
    p += blocks * block(s, i, s)
    m += blocks * n * h * h * (9 * s * i + 9 * i * s)
    width = s
    if wide_blocks:
        h2 = (h + 1) // 2
        p += block(s, i2, s2) + s * s2 + 2 * s2                    # first block + 1×1 projection + its BN
        m += n * h2 * h2 * (9 * s * i2 + 9 * i2 * s2 + s * s2)
        p += (wide_blocks - 1) * block(s2, i2, s2)
        m += (wide_blocks - 1) * n * h2 * h2 * 18 * s2 * i2
        width = s2
    return p + width * classes + classes, m + n * width * classes


def mobilenet_counts(widths, n, classes=10):
    """Stem 3×3 conv (1→w0, stride 2: 28→14) + BN; per block a→b: depthwise 3×3 (a·9) + BN, pointwise a·b + BN,
    stride 2 when the width grows; global pooling; Linear."""
    p, h = 9 * widths[0] + 2 * widths[0], 14
    m = n * h * h * 9 * widths[0]
    for a, b in zip(widths[:-1], widths[1:]):
        h = (h - 1) // 2 + 1 if b > a else h
        p += 9 * a + 2 * a + a * b + 2 * b
        m += n * h * h * (9 * a + a * b)
    return p + widths[-1] * classes + classes, m + n * widths[-1] * classes


def lenet5_counts(c1, c2, f1, f2, n):
    p = (25 * c1 + c1) + (25 * c1 * c2 + c2) + (25 * c2 * f1 + f1) + (f1 * f2 + f2) + (f2 * 10 + 10)
    m = n * (28 * 28 * 25 * c1 + 10 * 10 * 25 * c1 * c2 + 25 * c2 * f1 + f1 * f2 + f2 * 10)
    return p, m


CASES = {
    "resnet_mini": (lambda rng: models.ResNetMini(rng=rng), resnet_counts(16, 16, 3, 2), resnet_counts(8, 8, 3, 2)),
    "resnet_mini_wide": (lambda rng: models.ResNetMini(wide_blocks=2, rng=rng),
                         resnet_counts(16, 16, 3, 2, s2=32, i2=32, wide_blocks=2),
                         resnet_counts(8, 8, 3, 2, s2=16, i2=16, wide_blocks=2)),
    "mobilenet_mini": (lambda rng: models.MobileNetMini(rng=rng), mobilenet_counts((16, 32, 32, 64), 2),
                       mobilenet_counts((8, 16, 16, 32), 2)),
    "lenet5": (lambda rng: models.LeNet5(rng=rng), lenet5_counts(6, 16, 120, 84, 2), lenet5_counts(3, 8, 60, 42, 2)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_halving_every_width_matches_the_closed_form(name):
    make, (p0, m0), (p1, m1) = CASES[name]
    model = make(np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)
    assert (n_params(model), metrics.flops(model, SHAPE).dense) == (p0, m0), "the closed form of the full model"
    new, report = structured_prune(model, x, 0.5)
    assert (n_params(new), metrics.flops(new, SHAPE).dense) == (p1, m1)
    assert (report["parameters_before"], report["parameters_after"]) == (p0, p1)
    assert (report["macs_before"], report["macs_after"]) == (m0, m1)
    for layer, (before, after) in report["widths"].items():
        module = new.get_submodule(layer)
        assert module.weight.shape[0] == after and model.get_submodule(layer).weight.shape[0] == before
        assert after == (before if layer.startswith("fc") and before == 10 else before // 2)
    assert output(new, x).shape == (2, 10)


def test_resnet_mini_closed_form_numbers():
    """The formula written out once as numbers: 14 362 → 3 730 parameters, 5 475 776 → 1 383 136 MACs (batch 2)."""
    assert resnet_counts(16, 16, 3, 2) == (14362, 5475776)
    assert resnet_counts(8, 8, 3, 2) == (3730, 1383136)


def test_inner_widths_can_differ_from_the_stage_width():
    """Pruning only the inner group of each block (the stage group ignored): stage 16, inner 16 − 4."""
    model = models.ResNetMini(rng=np.random.default_rng(0))
    x = np.zeros(SHAPE, dtype=np.float32)
    new, report = structured_prune(model, x, 4, ignored_layers=["conv1"])
    assert (report["parameters_after"], report["macs_after"]) == resnet_counts(16, 12, 3, 2)
    assert report["widths"]["layer1.1.conv1"] == (16, 12) and report["widths"]["layer1.1.conv2"] == (16, 16)


# ---------------------------------------------------------------------------------------------------- behaviour
def small_resnet(dtype=np.float64, **kwargs):
    rng = np.random.default_rng(0)
    model = randomize_batch_norms(models.ResNetMini(rng=rng, **kwargs), rng).to(dtype)
    return model, rng.standard_normal((2, 1, 12, 12)).astype(dtype)


def test_structured_prune_equals_zeroing_the_removed_channels_and_leaves_the_original():
    model, x = small_resnet(wide_blocks=2)
    before, reference = state(model), output(model, x)
    new, _ = structured_prune(model, x, 0.4)
    assert same_state(before, state(model)) and np.array_equal(output(model, x), reference)
    zeroed = copy.deepcopy(model)
    for group, zgroup in zip(DependencyGraph(model, x).groups(), DependencyGraph(zeroed, x).groups()):
        if group.prunable:
            removed = removed_channels(group, new)
            assert len(removed) == round(0.4 * group.size)
            zero_at_producers(zgroup, removed)
    np.testing.assert_allclose(output(new, x), output(zeroed, x), rtol=0, atol=1e-10)


def test_l2_importance_removes_the_weakest_channels():
    model, x = small_resnet()
    block = model.layer1[1]
    block.conv1.weight.data[[3, 11]] *= 1e-3                  # two filters of the inner group nearly vanish
    new, report = structured_prune(model, x, 2, ignored_layers=["conv1"])
    np.testing.assert_array_equal(new.layer1[1].conv1.weight.data, np.delete(block.conv1.weight.data, [3, 11], 0))
    np.testing.assert_array_equal(new.layer1[1].conv2.weight.data, np.delete(block.conv2.weight.data, [3, 11], 1))
    np.testing.assert_array_equal(new.layer1[1].bn1.running_mean, np.delete(block.bn1.running_mean, [3, 11]))


def test_importance_scores_from_a_criterion_decide():
    model, x = small_resnet()
    scores = np.ones_like(model.layer1[0].conv1.weight.data)
    scores[[0, 5]] = 0                                           # say channels 0 and 5 of conv1 do not matter
    new, _ = structured_prune(model, x, 2, importance={(model.layer1[0].conv1, "weight"): scores * 1e6},
                              ignored_layers=["conv1"], reduction="first")
    np.testing.assert_array_equal(new.layer1[0].conv1.weight.data,
                                  np.delete(model.layer1[0].conv1.weight.data, [0, 5], 0))


def test_group_importance_by_hand():
    model = models.LeNet5(rng=np.random.default_rng(0))
    group = DependencyGraph(model, np.zeros((1, 1, 28, 28), dtype=np.float32)).group(model.conv1, 0)
    w1 = model.conv1.weight.data.astype(np.float64)
    w2 = model.conv2.weight.data.astype(np.float64)
    l2_out = np.sqrt((w1 ** 2).sum(axis=(1, 2, 3)))               # conv1's filters
    l2_in = np.sqrt((w2 ** 2).sum(axis=(0, 2, 3)))                # conv2's input channels
    l1_out, l1_in = np.abs(w1).sum(axis=(1, 2, 3)), np.abs(w2).sum(axis=(0, 2, 3))
    norm = lambda v: v / v.mean()
    np.testing.assert_allclose(group_importance(group), (norm(l2_out) + norm(l2_in)) / 2)
    np.testing.assert_allclose(group_importance(group, "l1", "sum"), norm(l1_out) + norm(l1_in))
    np.testing.assert_allclose(group_importance(group, reduction="max"), np.maximum(norm(l2_out), norm(l2_in)))
    np.testing.assert_allclose(group_importance(group, reduction="first", normalize=False), l2_out)
    with pytest.raises(ValueError, match="reduction"):
        group_importance(group, reduction="median")
    with pytest.raises(ValueError, match="importance"):
        group_importance(group, importance="l3")


def test_global_scope_removes_the_requested_total_under_the_caps():
    model, x = small_resnet(wide_blocks=1)
    sizes = [g.size for g in DependencyGraph(model, x).groups() if g.prunable]
    new, _ = structured_prune(model, x, 0.3, scope="global")
    after = [g.size for g in DependencyGraph(new, x).groups() if g.prunable]
    assert sum(sizes) - sum(after) == round(0.3 * sum(sizes))
    assert len(set(np.subtract(sizes, after))) > 1, "global: groups lose different numbers of channels"
    new, _ = structured_prune(model, x, 1.0, scope="global", max_layer_amount=0.5)
    after = [g.size for g in DependencyGraph(new, x).groups() if g.prunable]
    assert after == [s - s // 2 for s in sizes]


@pytest.mark.parametrize("scope", ["local", "global"])
def test_round_to_keeps_hardware_friendly_widths(scope):
    model, x = small_resnet(channels=12, wide_blocks=1)
    new, report = structured_prune(model, x, 0.3, scope=scope, round_to=4)
    widths = [after for name, (before, after) in report["widths"].items() if name != "fc"]
    assert all(w % 4 == 0 for w in widths) and min(widths) >= 4
    assert report["macs_after"] < report["macs_before"]


def test_ignored_layers_and_argument_errors():
    model, x = small_resnet()
    new, report = structured_prune(model, x, 0.5, ignored_layers=[model.layer1[2].conv2])
    assert report["widths"]["conv1"] == (16, 16), "ignoring a member protects its whole group"
    assert report["widths"]["layer1.2.conv1"] == (16, 16), "… every group it is in (it reads the inner group)"
    assert report["widths"]["layer1.1.conv1"] == (16, 8)
    before = state(model)
    for kwargs, match in [(dict(amount=1.5), "amount"), (dict(amount=0.5, scope="everywhere"), "scope"),
                          (dict(amount=0.5, max_layer_amount=1.0), "max_layer_amount"),
                          (dict(amount=0.5, round_to=0), "round_to"),
                          (dict(amount=0.5, ignored_layers=["layer9"]), "layer9"),
                          (dict(amount=0.5, importance="l7"), "importance"),
                          (dict(amount=0.5, importance={(nn.Linear(2, 2), "weight"): np.ones((2, 2))}),
                           "module of this model")]:
        with pytest.raises(ValueError, match=match):
            structured_prune(model, x, **kwargs)
    assert same_state(before, state(model))


def test_the_whole_amount_still_leaves_every_group_a_channel():
    model, x = small_resnet(channels=4)
    new, report = structured_prune(model, x, 1.0, max_layer_amount=0.99)
    assert all(after >= 1 for after in dict(report["widths"].values()).values())
    assert all(after == 1 for name, (_, after) in report["widths"].items() if name != "fc")
    assert output(new, x).shape == (2, 10)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(channels=st.integers(2, 8), blocks=st.integers(1, 3), wide=st.integers(0, 2),
       amount=st.floats(0, 1), max_layer_amount=st.sampled_from([0.0, 0.3, 0.5, 0.9]),
       round_to=st.sampled_from([None, 2, 3]), scope=st.sampled_from(["local", "global"]))
def test_structured_prune_on_residual_stages(channels, blocks, wide, amount, max_layer_amount, round_to, scope):
    rng = np.random.default_rng(channels * 100 + blocks)
    model = randomize_batch_norms(models.ResNetMini(channels, blocks, wide_blocks=wide, rng=rng), rng).double()
    x = rng.standard_normal((2, 1, 8, 8))
    before, reference = state(model), output(model, x)
    new, report = structured_prune(model, x, amount, scope=scope, round_to=round_to,
                                   max_layer_amount=max_layer_amount)
    assert same_state(before, state(model)) and np.array_equal(output(model, x), reference), "original untouched"
    out = output(new, x)
    assert out.shape == (2, 10) and np.all(np.isfinite(out))
    zeroed = copy.deepcopy(model)
    for group, zgroup in zip(DependencyGraph(model, x).groups(), DependencyGraph(zeroed, x).groups()):
        if not group.prunable:
            continue
        removed = removed_channels(group, new)
        assert len(removed) <= int(np.floor(max_layer_amount * group.size))
        if round_to and len(removed):
            assert (group.size - len(removed)) % round_to == 0
        zero_at_producers(zgroup, removed)
    np.testing.assert_allclose(out, output(zeroed, x), rtol=0, atol=1e-10)
    assert report["parameters_after"] == n_params(new) and report["macs_after"] == metrics.flops(new, x.shape).dense


# ---------------------------------------------------------------------------------------------------- compact_graph
def mask_channels(group, channels):
    """Prune the group's channels with masks (the torch-style API) at every producer: conv rows, BN γ and β."""
    for member in group:
        module = member.module
        if (isinstance(module, nn.Conv2d) and member.dim == 0) or (
                isinstance(module, BATCH_NORMS) and member.param in ("weight", "bias")):
            mask = np.ones(getattr(module, member.param).shape)
            index = [slice(None)] * mask.ndim
            index[member.dim] = channels
            mask[tuple(index)] = 0
            prune.custom_from_mask(module, member.param, mask)


@pytest.mark.parametrize("kind", ["stage", "inner", "depthwise"])
def test_compact_graph_removes_exactly_the_zero_channels(kind):
    rng = np.random.default_rng(0)
    if kind == "depthwise":
        model = randomize_batch_norms(models.MobileNetMini(rng=rng), rng).double()
        anchor, channels = (lambda m: m.features[0].pointwise), [1, 2, 30]
    else:
        model = randomize_batch_norms(models.ResNetMini(rng=rng), rng).double()
        anchor = (lambda m: m.conv1) if kind == "stage" else (lambda m: m.layer1[1].conv1)
        channels = [0, 7, 8]
    x = rng.standard_normal((2, 1, 16, 16))
    group = DependencyGraph(model, x).group(anchor(model), 0)
    mask_channels(group, channels)
    before, masked = state(model), output(model, x)
    new, report = compact_graph(model, x)
    assert same_state(before, state(model))
    np.testing.assert_allclose(output(new, x), masked, rtol=0, atol=1e-10)
    new_group = DependencyGraph(new, x).group(anchor(new), 0)
    assert new_group.size == group.size - 3
    changed = {name: w for name, w in report["widths"].items() if w[0] != w[1]}
    assert changed and all(b - a == 3 for a, b in [(w[1], w[0]) for w in changed.values()])
    assert report["parameters_after"] == n_params(new) and report["macs_after"] == metrics.flops(new, x.shape).dense


def test_compact_graph_removes_nothing_when_one_conv_of_a_residual_stage_is_masked():
    """ln_structured on one conv of the stage zeroes its filters, but the stage's channel is also produced by the
    stem and the other blocks (and its BatchNorm adds β): it is not zero, so nothing can be removed. Same for
    an inner conv whose BatchNorm still adds β."""
    rng = np.random.default_rng(0)
    model = randomize_batch_norms(models.ResNetMini(rng=rng), rng).double()
    x = rng.standard_normal((2, 1, 16, 16))
    prune.ln_structured(model.layer1[0].conv2, "weight", amount=0.5, n=2, dim=0)
    prune.ln_structured(model.layer1[1].conv1, "weight", amount=0.5, n=2, dim=0)
    new, report = compact_graph(model, x)
    assert all(before == after for before, after in report["widths"].values())
    assert report["parameters_after"] == n_params(models.ResNetMini())
    np.testing.assert_allclose(output(new, x), output(model, x), rtol=0, atol=1e-10)
    # the same conv with its BatchNorm's γ and β pruned at those channels: now the inner channels are zero
    zero = np.flatnonzero(model.layer1[1].conv1.weight_mask.reshape(16, -1).max(axis=1) == 0)
    for name in ("weight", "bias"):
        prune.custom_from_mask(model.layer1[1].bn1, name, np.isin(np.arange(16), zero, invert=True).astype(float))
    new, report = compact_graph(model, x)
    assert report["widths"]["layer1.1.conv1"] == (16, 8) and report["widths"]["layer1.0.conv2"] == (16, 16)
    np.testing.assert_allclose(output(new, x), output(model, x), rtol=0, atol=1e-10)


def test_make_permanent_removes_every_reparametrisation():
    model = models.LeNet5(rng=np.random.default_rng(0))
    prune.l1_unstructured(model.conv1, "weight", 0.5)
    prune.ln_structured(model.fc1, "weight", 0.5, n=1, dim=0)
    prune.make_permanent(model)
    assert not any(prune.is_pruned(m) for m in model.modules())
    assert np.count_nonzero(model.conv1.weight.data) == 75
