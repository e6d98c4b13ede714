"""DependencyGraph (minprune/prune/graph.py): pruning groups of real architectures, checked by exactness.

The central test: for every prunable group of ResNetMini (identity skips; and a second stage with a projection
shortcut), MobileNetMini (depthwise convs), LeNet-5 (Flatten) and a small net with channel concatenations,
``group.prune(indices)`` gives a smaller model whose output equals that of the *original* model in which the same
channels are zeroed at every producer (output weights, biases, BatchNorm γ and β set to 0) — eval mode, random
inputs, BatchNorm with non-trivial running statistics, float64 (≤ 1e-10) and float32 (≤ 1e-5). Removing a channel
that is zero everywhere cannot change the output; a group that forgot a producer leaves the channel non-zero,
one that forgot a consumer gives a shape error, one with a wrong offset removes the wrong columns.

The zeroing uses the group's members to find the producers, so it is verified independently: forward hooks
check that every layer reading the channels (and every BatchNorm of the group) sees exactly 0 there.
"""
import copy

import numpy as np
import pytest

import minprune as mp
from minprune import models, nn, prune
from minprune.prune import DependencyGraph

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


# ---------------------------------------------------------------------------------------------------- helpers
class ConcatNet(nn.Module):
    """Two conv branches concatenated (a BatchNorm over the concatenation, a conv reading it), then a second
    concatenation that reuses branch a, flattened into a Linear: offsets and Flatten blocks together."""

    def __init__(self, rng):
        super().__init__()
        self.conv_a = nn.Conv2d(2, 3, 3, padding=1, bias=False, rng=rng)
        self.bn_a = nn.BatchNorm2d(3)
        self.conv_b = nn.Conv2d(2, 4, 1, rng=rng)
        self.bn = nn.BatchNorm2d(7)
        self.mix = nn.Conv2d(7, 5, 3, padding=1, rng=rng)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8 * 3 * 3, 4, rng=rng)

    def forward(self, x):
        a = self.bn_a(self.conv_a(x))                                  # 3 channels
        b = self.conv_b(x)                                             # 4 channels
        h = self.relu(self.bn(mp.concatenate([a, b], axis=1)))          # 7 = a | b
        z = mp.concatenate([self.mix(h), a], axis=1)                    # 8 = mix | a
        return self.fc(self.flatten(self.pool(z)))                      # 8 · 3 · 3 features


def randomize_batch_norms(model, rng):
    """Non-trivial γ, β and running statistics, so that a forgotten BatchNorm member cannot go unnoticed."""
    for m in model.modules():
        if isinstance(m, BATCH_NORMS):
            c = m.num_features
            m.weight.data[...] = rng.uniform(0.5, 1.5, c)
            m.bias.data[...] = rng.normal(0, 0.5, c)
            m.running_mean[...] = rng.normal(0, 0.5, c)
            m.running_var[...] = rng.uniform(0.5, 2.0, c)
    return model.eval()


MODELS = {
    "resnet_mini": (lambda rng: models.ResNetMini(rng=rng), (3, 1, 16, 16)),
    "resnet_mini_wide": (lambda rng: models.ResNetMini(channels=8, blocks=2, wide_blocks=2, rng=rng), (3, 1, 16, 16)),
    "mobilenet_mini": (lambda rng: models.MobileNetMini(rng=rng), (3, 1, 16, 16)),
    "lenet5": (lambda rng: models.LeNet5(rng=rng), (3, 1, 28, 28)),
    "concat_net": (lambda rng: ConcatNet(rng), (3, 2, 6, 6)),
}
EXPECTED_PRUNABLE = {"resnet_mini": 4, "resnet_mini_wide": 6, "mobilenet_mini": 4, "lenet5": 4, "concat_net": 3}


def build(name, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    make, shape = MODELS[name]
    model = randomize_batch_norms(make(rng), rng).to(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    return model, x


def output(model, x):
    with mp.no_grad():
        return model(x).data


def zero_at_producers(group, channels):
    """Zero the group's channels at every producer: weight slices and biases of the layers computing them
    (depthwise filters included) and BatchNorm γ and β; consumers (dim 1 of the next layers) are left alone."""
    for member in group:
        module = member.module
        computes = isinstance(module, (nn.Linear, nn.Conv2d)) and member.dim == 0
        normalises = isinstance(module, BATCH_NORMS) and member.param in ("weight", "bias")
        if computes or normalises:
            array = getattr(module, member.param).data
            index = [slice(None)] * array.ndim
            index[member.dim] = member.indices_of(channels)
            array[tuple(index)] = 0


def assert_channels_read_as_zero(model, x, group, channels):
    """Independent check of the zeroing: every layer that reads the group (dim-1 members, through any offset
    and Flatten block) sees exactly 0 at those positions, and every BatchNorm of the group outputs 0 there."""
    seen, handles = {}, []
    watched = {id(m.module): m.module for m in group
               if m.dim == 1 or isinstance(m.module, BATCH_NORMS)}
    def record(module, inputs, out):
        seen[id(module)] = (inputs[0].data, out.data)

    for module in watched.values():
        handles.append(module.register_forward_hook(record))
    output(model, x)
    for h in handles:
        h.remove()
    checked = 0
    for member in group:
        if id(member.module) not in seen:
            continue
        inputs, out = seen[id(member.module)]
        tensor = inputs if member.dim == 1 else out
        positions = member.indices_of(channels)
        assert np.all(np.take(tensor, positions, axis=1) == 0), f"{member!r}: channels {channels} are not zero"
        checked += 1
    assert checked > 0


def prunable_groups(model, x):
    return [g for g in DependencyGraph(model, x).groups() if g.prunable]


def some_channels(size, rng):
    k = max(1, size // 3)
    return np.sort(rng.choice(size, k, replace=False))


# ---------------------------------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("name", list(MODELS))
def test_every_group_prunes_exactly_like_zeroing_its_producers(name):
    model, x = build(name)
    n_groups = len(prunable_groups(model, x))
    assert n_groups == EXPECTED_PRUNABLE[name]
    rng = np.random.default_rng(1)
    original = output(model, x)
    for i in range(n_groups):
        pruned, zeroed = copy.deepcopy(model), copy.deepcopy(model)
        group = prunable_groups(pruned, x)[i]
        channels = some_channels(group.size, rng)
        size = group.size
        group.prune(channels)
        assert group.size == size - len(channels)
        zero_group = prunable_groups(zeroed, x)[i]
        zero_at_producers(zero_group, channels)
        assert_channels_read_as_zero(zeroed, x, zero_group, channels)
        expected = output(zeroed, x)
        assert np.abs(expected - original).max() > 1e-6, "zeroing must matter, or the test proves nothing"
        got = output(pruned, x)
        assert got.dtype == np.float64 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10, err_msg=f"{name}, group {i}:\n{group}")
        n_params = sum(p.size for p in pruned.parameters())
        assert n_params < sum(p.size for p in model.parameters())


@pytest.mark.parametrize("name", ["resnet_mini", "mobilenet_mini", "concat_net"])
def test_exactness_in_float32(name):
    model, x = build(name, dtype=np.float32)
    rng = np.random.default_rng(2)
    for i in range(EXPECTED_PRUNABLE[name]):
        pruned, zeroed = copy.deepcopy(model), copy.deepcopy(model)
        group = prunable_groups(pruned, x)[i]
        channels = some_channels(group.size, rng)
        group.prune(channels)
        zero_at_producers(prunable_groups(zeroed, x)[i], channels)
        got, expected = output(pruned, x), output(zeroed, x)
        assert got.dtype == np.float32
        assert np.abs(got - expected).max() <= 1e-5


@pytest.mark.parametrize("name", ["concat_net", "resnet_mini_wide", "lenet5"])
def test_pruning_all_groups_of_one_graph_in_turn(name):
    """Several groups of one graph, one after the other: a concatenation's later inputs shift to the left when an
    earlier one loses channels, so offsets must follow (the same as zeroing every group at once)."""
    model, x = build(name)
    pruned, zeroed = copy.deepcopy(model), copy.deepcopy(model)
    rng = np.random.default_rng(3)
    plan = [some_channels(g.size, rng) for g in prunable_groups(model, x)]
    for group, channels in zip(prunable_groups(pruned, x), plan):
        group.prune(channels)
    for group, channels in zip(prunable_groups(zeroed, x), plan):
        zero_at_producers(group, channels)
    np.testing.assert_allclose(output(pruned, x), output(zeroed, x), rtol=0, atol=1e-10)
    widths = [g.size for g in prunable_groups(pruned, x)]
    assert widths == [g.size - len(c) for g, c in zip(prunable_groups(model, x), plan)]


def test_prune_keeps_the_order_of_the_remaining_channels():
    model, x = build("lenet5")
    conv1 = model.conv1.weight.data.copy()
    fc1 = model.fc1.weight.data.copy()
    graph = DependencyGraph(model, x)
    graph.group(model.conv2, dim=0).prune([1, 4])
    graph.group(model.conv1, dim=0).prune([0])
    np.testing.assert_array_equal(model.conv1.weight.data, conv1[1:])
    kept = [c for c in range(16) if c not in (1, 4)]
    columns = np.concatenate([np.arange(25 * c, 25 * c + 25) for c in kept])  # Flatten: channel c = 25 features
    np.testing.assert_array_equal(model.fc1.weight.data, fc1[:, columns])
    assert (model.conv1.out_channels, model.conv2.in_channels, model.conv2.out_channels,
            model.fc1.in_features) == (5, 5, 14, 350)


def test_pruned_masks_are_sliced_along_with_the_weights():
    model, x = build("lenet5")
    prune.l1_unstructured(model.conv2, "weight", amount=0.5)
    mask = model.conv2.weight_mask.copy()
    DependencyGraph(model, x).group(model.conv2, dim=0).prune([0, 3])
    np.testing.assert_array_equal(model.conv2.weight_mask, np.delete(mask, [0, 3], axis=0))
    assert model.conv2.weight_orig.shape == (14, 6, 5, 5)
    assert output(model, x).shape == (3, 10)


# ---------------------------------------------------------------------------------------------------- structure
def _members(group):
    return {(m.module_name, m.param, m.dim) for m in group}


def test_residual_stage_group_of_resnet_mini_by_hand():
    model, x = build("resnet_mini")
    group = DependencyGraph(model, x).group(model.conv1, dim=0)
    producers = {("conv1", "weight", 0)} | {(f"layer1.{i}.conv2", "weight", 0) for i in range(3)}
    norms = {(bn, p, 0) for bn in ["bn1"] + [f"layer1.{i}.bn2" for i in range(3)]
             for p in ("weight", "bias", "running_mean", "running_var")}
    consumers = {(f"layer1.{i}.conv1", "weight", 1) for i in range(3)} | {("fc", "weight", 1)}
    assert _members(group) == producers | norms | consumers
    assert group.size == 16 and group.prunable
    inner = DependencyGraph(model, x).group(model.layer1[1].conv1, dim=0)
    assert _members(inner) == {("layer1.1.conv1", "weight", 0), ("layer1.1.conv2", "weight", 1)} | {
        ("layer1.1.bn1", p, 0) for p in ("weight", "bias", "running_mean", "running_var")}


def test_projection_shortcut_joins_the_second_stage_not_the_first():
    model, x = build("resnet_mini_wide")
    graph = DependencyGraph(model, x)
    stage1 = graph.group(model.conv1, dim=0)
    stage2 = graph.group(model.layer2[0].downsample[0], dim=0)
    assert stage1 is graph.group(model.layer2[0].downsample[0], dim=1)      # the projection reads stage 1
    assert stage2 is graph.group(model.layer2[0].conv2, dim=0) is graph.group(model.layer2[1].conv2, dim=0)
    assert stage2 is graph.group(model.fc, dim=1) and stage2.size == 16 and stage1.size == 8
    assert ("layer2.0.downsample.1", "weight", 0) in _members(stage2)
    assert not _members(stage1) & _members(stage2)


def test_depthwise_conv_ties_its_input_and_output_channels():
    model, x = build("mobilenet_mini")
    graph = DependencyGraph(model, x)
    dw = model.features[1].depthwise
    group = graph.group(dw, dim=0)
    assert group is graph.group(dw, dim=1) is graph.group(model.features[0].pointwise, dim=0)
    assert group is graph.group(model.features[1].pointwise, dim=1)
    assert ("features.1.depthwise", "weight", 0) in _members(group)


def test_flatten_and_concat_members_carry_offsets_and_blocks():
    model, x = build("concat_net")
    graph = DependencyGraph(model, x)
    spans = lambda g: {(m.module_name, m.param, m.dim): (m.offset, m.block) for m in g}
    a, b, mix = (graph.group(m, dim=0) for m in (model.conv_a, model.conv_b, model.mix))
    assert spans(a)[("fc", "weight", 1)] == (5 * 9, 9) and spans(a)[("mix", "weight", 1)] == (0, 1)
    assert spans(a)[("bn", "weight", 0)] == (0, 1) and spans(b)[("bn", "weight", 0)] == (3, 1)
    assert spans(b)[("mix", "weight", 1)] == (3, 1) and spans(mix)[("fc", "weight", 1)] == (0, 9)
    member = next(m for m in a if m.module_name == "fc")
    np.testing.assert_array_equal(member.indices_of([1]), np.arange(45 + 9, 45 + 18))


def test_group_lookup_and_non_prunable_groups():
    model, x = build("lenet5")
    graph = DependencyGraph(model, x)
    assert graph.group(model.conv2, dim=1) is graph.group(model.conv1, dim=0)
    assert graph.group(model.fc1, dim=1) is graph.group(model.conv2, dim=0)
    out = graph.group(model.fc3, dim=0)
    assert not out.prunable and "output" in out.reason
    assert not graph.group(model.conv1, dim=1).prunable
    with pytest.raises(ValueError, match="cannot be pruned"):
        out.prune([0])
    with pytest.raises(ValueError, match="dim"):
        graph.group(model.conv1, dim=2)
    with pytest.raises(ValueError, match="no group"):
        graph.group(nn.Linear(2, 2), dim=0)
    assert prune.DependencyGraph is DependencyGraph and mp.prune.Group is type(out)


def test_group_printing_names_every_member_and_why():
    model, x = build("resnet_mini")
    text = repr(DependencyGraph(model, x).group(model.conv1, dim=0))
    assert text.startswith("Group of 16 channels")
    for name in ["conv1.weight dim 0", "layer1.2.conv2.weight dim 0", "layer1.0.conv1.weight dim 1",
                 "fc.weight dim 1", "bn1.weight/bias/running_mean/running_var dim 0"]:
        assert name in text, text
    assert "tied by: op 'add' in module 'layer1.0' (BasicBlock)" in text
    assert "producer" in text and "consumer" in text
    lenet, xl = build("lenet5")
    assert "fc1.weight dim 1 (offset 0, block 25)" in repr(DependencyGraph(lenet, xl).group(lenet.conv2, dim=0))
    mobile, xm = build("mobilenet_mini")
    assert "features.0.depthwise.weight dim 0: depthwise filter of its channel" in repr(
        DependencyGraph(mobile, xm).group(mobile.conv1, dim=0))


# ---------------------------------------------------------------------------------------------------- errors
def _state(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("bad", [np.arange(16), [0, 16], [-1], [3, 3, 99]])
def test_bad_indices_raise_and_leave_the_model_unchanged(bad):
    model, x = build("resnet_mini")
    before = _state(model)
    group = DependencyGraph(model, x).group(model.conv1, dim=0)
    with pytest.raises(ValueError, match="all 16 channels|must be in"):
        group.prune(bad)
    assert _same(before, _state(model)) and group.size == 16
    assert output(model, x).shape == (3, 10)


class Transposing(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, rng=rng)
        self.fc = nn.Linear(3 * 4 * 4, 2, rng=rng)

    def forward(self, x):
        h = self.conv(x).transpose(0, 1, 3, 2) * 2.0     # the transpose is not this module's last op
        return self.fc(h.reshape(h.shape[0], -1))


class Block(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, rng=rng)

    def forward(self, x):
        h = self.conv(x).reshape(x.shape[0], 3, 16)
        return (h @ np.ones((16, 3))).reshape(x.shape[0], -1) + 1.0   # a matmul on activations


class Matmuls(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.stem = nn.Conv2d(1, 3, 3, rng=rng)
        self.block = Block(rng)
        self.fc = nn.Linear(9, 2, rng=rng)

    def forward(self, x):
        return self.fc(self.block(self.stem(x)))


def grouped(rng):
    return nn.Sequential(nn.Conv2d(1, 4, 3, rng=rng), nn.Conv2d(4, 6, 3, groups=2, rng=rng), nn.Flatten(),
                         nn.Linear(6 * 2 * 2, 2, rng=rng))


class Shared(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1, rng=rng)

    def forward(self, x):
        return self.conv(self.conv(x)).mean(axis=(2, 3))


@pytest.mark.parametrize("make, message", [
    (Transposing, r"op 'transpose' in the forward of the model itself \(Transposing\)"),
    (Matmuls, r"op 'matmul' in module 'block' \(Block\)"),
    (grouped, r"op 'conv2d' in module '1' \(Conv2d\): grouped convolutions other than depthwise"),
    (Shared, r"module 'conv' \(Conv2d\): the layer is called more than once"),
])
def test_unsupported_ops_raise_naming_the_op_and_the_module(make, message):
    model = make(np.random.default_rng(0))
    with pytest.raises(ValueError, match=message):
        DependencyGraph(model, np.ones((2, 1, 6, 6), dtype=np.float32))


def test_per_channel_constants_and_channel_reductions_are_refused():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3, rng=np.random.default_rng(0))

        def forward(self, x):
            h = self.conv(x)
            return (h * np.arange(3.0).reshape(1, 3, 1, 1) - h.mean(axis=1, keepdims=True)).mean(axis=(2, 3))

    with pytest.raises(ValueError, match="per-channel constant|spatial mean"):
        DependencyGraph(Scaled(), np.ones((2, 1, 5, 5), dtype=np.float32))


def test_tracing_under_no_grad_is_a_clear_error():
    model, x = build("lenet5")
    with mp.no_grad(), pytest.raises(ValueError, match="no_grad"):
        DependencyGraph(model, x)


def test_spatial_mean_without_keepdims_is_supported():
    class Head(nn.Module):
        def __init__(self, rng):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, rng=rng)
            self.fc = nn.Linear(4, 2, rng=rng)

        def forward(self, x):
            return self.fc(self.conv(x).mean(axis=(2, 3)))

    model = Head(np.random.default_rng(0)).double()
    x = np.random.default_rng(1).standard_normal((2, 1, 5, 5))
    zeroed = copy.deepcopy(model)
    zeroed.conv.weight.data[[1, 2]] = 0
    zeroed.conv.bias.data[[1, 2]] = 0
    DependencyGraph(model, x).group(model.conv, 0).prune([1, 2])
    assert model.fc.weight.shape == (2, 2)
    np.testing.assert_allclose(output(model, x), output(zeroed, x), rtol=0, atol=1e-12)


def test_batch_norm_without_affine_parameters_still_follows_its_channels():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, rng=rng), nn.BatchNorm2d(4, affine=False), nn.ReLU(),
                          nn.Conv2d(4, 2, 3, rng=rng)).double().eval()
    model[1].running_mean[...] = rng.normal(size=4)
    x = rng.standard_normal((2, 1, 6, 6))
    full = output(model, x)
    DependencyGraph(model, x).group(model[0], 0).prune([0])
    assert model[1].running_mean.shape == (3,) and model[1].num_features == 3
    assert output(model, x).shape == full.shape
