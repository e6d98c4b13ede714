"""Tests of minprune.nn: layer shapes and PyTorch's default initialisation, the Module registries and
containers, state_dict round trips and their error handling, hooks, copying, dtype conversion, the
normalisation/dropout layers in both modes, and a small CNN gradient-checked end to end in float64."""
import copy
import math
import pickle

import numpy as np
import pytest

import minprune as mp
from minprune import functional as F
from minprune import nn
from minprune.nn import Parameter
from helpers import gradcheck, t64


def rng(seed=0):
    return np.random.default_rng(seed)


class Net(nn.Module):
    """A small model with nested containers, a buffer-holding layer and a custom buffer."""

    def __init__(self, seed=0):
        super().__init__()
        g = rng(seed)
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=g), nn.BatchNorm2d(2), nn.ReLU(),
                                      nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(8, 5, rng=g)
        self.fc2 = nn.Linear(5, 3, bias=False, rng=g)
        self.register_buffer("scale", np.array([2.0], np.float32))

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(self.flatten(self.features(x))))) * self.scale


def images(seed=1, n=3):
    return rng(seed).standard_normal((n, 1, 4, 4)).astype(np.float32)


# ---------------------------------------------------------------------- Linear and Conv2d: shapes and init
def test_linear_shapes():
    layer = nn.Linear(3, 4, rng=rng())
    assert layer.weight.shape == (4, 3) and layer.bias.shape == (4,)
    assert isinstance(layer.weight, Parameter) and layer.weight.requires_grad
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    assert layer(np.ones((5, 3), np.float32)).shape == (5, 4)
    assert layer(np.ones((2, 6, 3), np.float32)).shape == (2, 6, 4)
    no_bias = nn.Linear(3, 4, bias=False, rng=rng())
    assert no_bias.bias is None and [n for n, _ in no_bias.named_parameters()] == ["weight"]
    x = mp.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    np.testing.assert_allclose(layer(x).data, x.data @ layer.weight.data.T + layer.bias.data, rtol=1e-6)
    np.testing.assert_allclose(no_bias(x).data, x.data @ no_bias.weight.data.T, rtol=1e-6)


@pytest.mark.parametrize("args, kwargs, out_shape", [
    ((2, 4, 3), {}, (2, 4, 4, 3)),
    ((2, 4, 3), dict(stride=2, padding=1), (2, 4, 3, 3)),
    ((2, 6, (3, 1)), dict(padding=(1, 0)), (2, 6, 6, 5)),
    ((4, 4, 3), dict(groups=4, padding=1), (2, 4, 6, 5)),
])
def test_conv2d_shapes(args, kwargs, out_shape):
    layer = nn.Conv2d(*args, rng=rng(), **kwargs)
    in_c, out_c, k = args
    k = F._pair(k)
    assert layer.weight.shape == (out_c, in_c // kwargs.get("groups", 1)) + k
    assert layer.bias.shape == (out_c,)
    x = rng(1).standard_normal((2, in_c, 6, 5)).astype(np.float32)
    out = layer(x)
    assert out.shape == out_shape and out.dtype == np.float32
    np.testing.assert_allclose(out.data, F.conv2d(mp.tensor(x), layer.weight, layer.bias, layer.stride,
                                                  layer.padding, layer.groups).data)


def _check_uniform(values, bound):
    """Inside ±bound, and spread like U(−bound, bound): mean ≈ 0, std ≈ bound/√3, flat histogram — each within
    4 standard errors for the sample size (a normal or a narrower uniform fails clearly)."""
    values = values.ravel().astype(np.float64)
    n = values.size
    assert np.all(np.abs(values) <= bound * (1 + 1e-6))
    assert np.max(np.abs(values)) > 0.95 * bound  # P(all |v| < 0.95·bound) = 0.95ⁿ
    assert abs(values.mean()) < 4 * bound / math.sqrt(3 * n)
    # the sample std of a uniform has relative standard error √((kurtosis − 1)/4n) = √(0.8/4n)
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=4 * math.sqrt(0.2 / n))
    counts, _ = np.histogram(values, bins=8, range=(-bound, bound))
    expected = n / 8
    assert np.all(np.abs(counts - expected) < 4 * math.sqrt(expected)), counts


@pytest.mark.parametrize("layer, fan_in", [
    (lambda g: nn.Linear(100, 60, rng=g), 100),
    (lambda g: nn.Linear(9, 400, rng=g), 9),
    (lambda g: nn.Conv2d(8, 40, 3, rng=g), 72),
    (lambda g: nn.Conv2d(6, 30, (3, 2), groups=3, rng=g), 2 * 6),
])
def test_default_init_matches_pytorch_bounds(layer, fan_in):
    module = layer(rng(3))
    _check_uniform(module.weight.data, 1 / math.sqrt(fan_in))  # kaiming_uniform(a=√5) = U(±1/√fan_in)
    assert np.all(np.abs(module.bias.data) <= 1 / math.sqrt(fan_in) * (1 + 1e-6))
    assert module.bias.data.std() > 0


def test_bias_init_is_uniform():
    biases = np.concatenate([nn.Linear(16, 500, rng=rng(s)).bias.data for s in range(4)])
    _check_uniform(biases, 1 / 4)


@pytest.mark.parametrize("make", [lambda g: nn.Linear(4, 3, rng=g), lambda g: nn.Conv2d(2, 3, 3, rng=g)])
def test_rng_determinism(make):
    a, b, c = make(rng(11)), make(rng(11)), make(rng(12))
    for name, p in a.named_parameters():
        np.testing.assert_array_equal(p.data, dict(b.named_parameters())[name].data)
        assert not np.array_equal(p.data, dict(c.named_parameters())[name].data)


def test_layers_without_rng_draw_from_the_default_generator():
    mp.init.default_generator = np.random.default_rng(5)
    try:
        first = nn.Linear(3, 3).weight.data
        second = nn.Linear(3, 3).weight.data
        mp.init.default_generator = np.random.default_rng(5)
        again = nn.Linear(3, 3).weight.data
    finally:
        mp.init.default_generator = np.random.default_rng(0)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again)


def test_init_functions():
    g = rng(0)
    w = mp.init.kaiming_normal((400, 50), rng=g)
    assert w.dtype == np.float32 and w.std() == pytest.approx(math.sqrt(2 / 50), rel=0.03)
    _check_uniform(mp.init.xavier_uniform((300, 100), rng=g), math.sqrt(6 / 400))
    _check_uniform(mp.init.kaiming_uniform((200, 30), rng=g), math.sqrt(2) * math.sqrt(3 / 30))  # a = 0
    assert mp.init.fan_in_and_fan_out((8, 4, 3, 2)) == (24, 48)
    assert mp.init.fan_in_and_fan_out((8, 4)) == (4, 8)
    assert mp.init.uniform((3,), 0, 1, rng=g, dtype=np.float64).dtype == np.float64


# ---------------------------------------------------------------------- input validation
def test_linear_wrong_input_shape_names_layer_and_shapes():
    layer = nn.Linear(3, 2, rng=rng())
    with pytest.raises(ValueError) as info:
        layer(np.ones((5, 4), np.float32))
    message = str(info.value)
    assert "Linear" in message and "3" in message and "(5, 4)" in message


@pytest.mark.parametrize("shape", [(2, 2, 5, 5), (2, 3, 5), (3, 5, 5)], ids=str)
def test_conv2d_wrong_input_shape_names_layer_and_shapes(shape):
    layer = nn.Conv2d(3, 4, 3, rng=rng())
    with pytest.raises(ValueError) as info:
        layer(np.ones(shape, np.float32))
    message = str(info.value)
    assert "Conv2d" in message and "3" in message and str(shape) in message


def test_batchnorm_wrong_input_shape():
    with pytest.raises(ValueError, match="BatchNorm2d.*(2, 3)"):
        nn.BatchNorm2d(3)(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="BatchNorm1d"):
        nn.BatchNorm1d(3)(np.ones((2, 4), np.float32))


def test_invalid_layer_arguments():
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="p"):
        nn.Dropout(1.0)


# ---------------------------------------------------------------------- registries and containers
def test_named_parameters_buffers_modules():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
        "fc1.weight", "fc1.bias", "fc2.weight"]
    assert [n for n, _ in net.named_buffers()] == [
        "scale", "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked"]
    assert [n for n, _ in net.named_modules()] == [
        "", "features", "features.0", "features.1", "features.2", "features.3", "flatten", "fc1", "fc2"]
    assert [n for n, _ in net.named_children()] == ["features", "flatten", "fc1", "fc2"]
    assert list(net.children())[0] is net.features
    assert len(list(net.modules())) == 9
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    assert net.fc1.weight is dict(net.named_parameters())["fc1.weight"]
    assert net.get_submodule("features.1") is net.features[1]
    with pytest.raises(AttributeError, match="features.7"):
        net.get_submodule("features.7")


def test_sequential_names_and_shared_modules_counted_once():
    shared = nn.Linear(2, 2, rng=rng())
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]
    assert len(list(seq.parameters())) == 2


def test_tied_parameter_counted_once():
    a, b = nn.Linear(3, 3, rng=rng(0)), nn.Linear(3, 3, rng=rng(1))
    b.weight = a.weight  # weight tying: one Parameter in two modules
    model = nn.Sequential(a, b)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    assert len(list(model.parameters())) == 3


def test_sequential_indexing_slicing_len():
    layers = [nn.Linear(2, 3, rng=rng()), nn.ReLU(), nn.Linear(3, 1, rng=rng())]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and seq[0] is layers[0] and seq[-1] is layers[2]
    assert list(seq) == layers
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is layers[1] and head[1] is layers[2]
    assert [n for n, _ in head.named_children()] == ["1", "2"]  # a slice keeps the names, as PyTorch
    assert len(seq[::2]) == 2 and seq[::2][1] is layers[2]
    x = mp.tensor(np.ones((4, 2), np.float32))
    np.testing.assert_array_equal(seq(x).data, layers[2](layers[1](layers[0](x))).data)
    np.testing.assert_array_equal(seq(x).data, seq[1:](seq[0](x)).data)
    new = nn.Identity()
    seq[1] = new
    assert seq[1] is new
    seq.append(nn.ReLU())
    assert len(seq) == 4 and [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    with pytest.raises(IndexError):
        seq[10]


def test_modulelist():
    blocks = nn.ModuleList([nn.Linear(2, 2, rng=rng()), nn.Linear(2, 2, rng=rng(1))])
    blocks.append(nn.Linear(2, 1, rng=rng(2)))
    assert len(blocks) == 3 and blocks[-1].out_features == 1
    assert [n for n, _ in blocks.named_parameters()][:2] == ["0.weight", "0.bias"]

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = blocks

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    holder = Holder()
    assert "layers.2.bias" in dict(holder.named_parameters())
    assert len(list(holder.parameters())) == 6
    assert holder(np.ones((1, 2), np.float32)).shape == (1, 1)


def test_attribute_registry_rules():
    layer = nn.Linear(2, 2, rng=rng())
    with pytest.raises(TypeError, match="weight"):
        layer.weight = mp.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    with pytest.raises(TypeError):
        layer.weight = np.ones((2, 2))
    with pytest.raises(TypeError):
        layer.register_parameter("extra", mp.tensor([1.0]))
    new = Parameter(np.zeros((2, 2), np.float32))
    layer.weight = new
    assert layer.weight is new and dict(layer.named_parameters())["weight"] is new
    layer.bias = None
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    layer.note = "plain attribute"
    assert "note" not in dict(layer.named_parameters())
    del layer.weight
    assert "weight" not in dict(layer.named_parameters())
    with pytest.raises(AttributeError):
        layer.weight
    bn = nn.BatchNorm1d(2)
    bn.running_mean = [1.0, 2.0]  # assigning to a buffer name stores an array
    assert isinstance(bn.running_mean, np.ndarray) and "running_mean" in dict(bn.named_buffers())


def test_train_eval_propagate():
    net = Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net
    assert not net.training and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.features.eval()
    assert net.training and not net.features[1].training


def test_zero_grad():
    net = Net()
    net(images()).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# ---------------------------------------------------------------------- state_dict
def test_state_dict_returns_copies():
    net = Net()
    state = net.state_dict()
    assert list(state) == ["scale", "features.0.weight", "features.0.bias", "features.1.weight",
                           "features.1.bias", "features.1.running_mean", "features.1.running_var",
                           "features.1.num_batches_tracked", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    before = net.fc1.weight.data.copy()
    state["fc1.weight"][...] = 99
    state["features.1.running_mean"][...] = 99
    np.testing.assert_array_equal(net.fc1.weight.data, before)
    np.testing.assert_array_equal(net.features[1].running_mean, 0)


def test_load_state_dict_round_trip_is_bit_exact():
    source, target = Net(seed=1), Net(seed=2)
    source(images())  # a training step changes BatchNorm's running statistics
    source.eval()
    target.eval()
    weight_object = target.fc1.weight
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert target.fc1.weight is weight_object  # loaded in place
    for (k, a), (k2, b) in zip(source.state_dict().items(), target.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(source(images(5)).data, target(images(5)).data)


def _broken(state, **changes):
    state = copy.deepcopy(state)
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            del state[key]
        else:
            state[key] = value
    return state


@pytest.mark.parametrize("edit, expected", [
    (dict(fc1__bias=None), ["missing", "fc1.bias"]),
    (dict(fc9__weight=np.zeros(3)), ["unexpected", "fc9.weight"]),
    (dict(fc1__weight=np.zeros((5, 9))), ["fc1.weight", "(5, 8)", "(5, 9)"]),
    (dict(features__1__running_var=np.ones(3)), ["features.1.running_var", "(3,)"]),
    (dict(fc2__weight=None, extra=np.ones(1), fc1__bias=np.ones(4)), ["fc2.weight", "extra", "fc1.bias"]),
])
def test_load_state_dict_errors_list_problems_and_leave_model_unchanged(edit, expected):
    net, other = Net(seed=1), Net(seed=2)
    state = _broken(other.state_dict(), **edit)
    before = net.state_dict()
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    for fragment in expected:
        assert fragment in str(info.value)
    after = net.state_dict()
    assert list(after) == list(before)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


def test_load_state_dict_non_strict_returns_key_lists():
    net, other = Net(seed=1), Net(seed=2)
    state = _broken(other.state_dict(), fc2__weight=None, features__1__running_mean=None, head__bias=np.ones(2))
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["features.1.running_mean", "fc2.weight"]
    assert result.unexpected_keys == ["head.bias"]
    np.testing.assert_array_equal(net.fc1.weight.data, other.fc1.weight.data)  # present keys were loaded
    assert not np.array_equal(net.fc2.weight.data, other.fc2.weight.data)
    with pytest.raises(RuntimeError, match="fc1.weight"):  # shape mismatches are errors even when not strict
        net.load_state_dict({"fc1.weight": np.zeros((2, 2))}, strict=False)


# ---------------------------------------------------------------------- hooks
def test_forward_pre_hook_can_replace_inputs_and_be_removed():
    layer = nn.Linear(2, 2, rng=rng())
    x = mp.tensor(np.ones((1, 2), np.float32))
    seen = []

    def double_input(module, inputs):
        seen.append((module, inputs))
        return inputs[0] * 2  # a single value replaces the inputs too

    handle = layer.register_forward_pre_hook(double_input)
    np.testing.assert_allclose(layer(x).data, F.linear(x * 2, layer.weight, layer.bias).data)
    assert seen[0][0] is layer and isinstance(seen[0][1], tuple) and seen[0][1][0] is x
    handle.remove()
    np.testing.assert_allclose(layer(x).data, F.linear(x, layer.weight, layer.bias).data)
    assert len(seen) == 1
    handle.remove()  # removing twice is harmless


def test_pre_hooks_run_in_order_and_see_the_previous_result():
    layer = nn.Identity()
    layer.register_forward_pre_hook(lambda m, inputs: (inputs[0] + 1,))
    layer.register_forward_pre_hook(lambda m, inputs: (inputs[0] * 10,))
    layer.register_forward_pre_hook(lambda m, inputs: None)  # None keeps the inputs
    assert layer(mp.tensor([1.0])).item() == 20.0


def test_forward_hook_sees_output_and_can_replace_it():
    layer = nn.Linear(2, 3, rng=rng())
    records = []
    h1 = layer.register_forward_hook(lambda m, inputs, out: records.append((inputs, out)))
    h2 = layer.register_forward_hook(lambda m, inputs, out: out * 0)
    out = layer(np.ones((1, 2), np.float32))
    assert isinstance(records[0][0][0], mp.Tensor) and records[0][1].shape == (1, 3)
    np.testing.assert_array_equal(out.data, 0)
    h2.remove()
    h1.remove()
    assert np.any(layer(np.ones((1, 2), np.float32)).data != 0) and len(records) == 1


def test_call_accepts_numpy_arrays():
    layer = nn.Linear(2, 1, rng=rng())
    out = layer(np.ones((3, 2), np.float32))
    assert isinstance(out, mp.Tensor) and out.shape == (3, 1)


# ---------------------------------------------------------------------- copying and dtype
@pytest.mark.parametrize("copier", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
                         ids=["deepcopy", "pickle"])
def test_copies_give_identical_outputs_and_are_independent(copier):
    net = Net()
    net(images())  # non-default running statistics
    net.eval()
    clone = copier(net)
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in net.named_parameters()]
    assert all(type(p) is Parameter for p in clone.parameters())
    np.testing.assert_array_equal(clone(images(3)).data, net(images(3)).data)
    clone.fc1.weight.data[...] = 0
    clone.features[1].running_mean[...] = 5
    assert np.any(net.fc1.weight.data != 0) and np.all(net.features[1].running_mean != 5)
    assert not clone.training


def test_double_and_float_convert_parameters_and_buffers():
    net = Net()
    net(images()).sum().backward()
    param_objects = list(net.parameters())
    assert net.double() is net
    assert all(p.dtype == np.float64 and p.grad is None for p in net.parameters())
    assert list(net.parameters())[0] is param_objects[0]  # same Parameter objects
    bn = net.features[1]
    assert bn.running_mean.dtype == np.float64 and bn.running_var.dtype == np.float64
    assert net.scale.dtype == np.float64
    assert bn.num_batches_tracked.dtype == np.int64  # integers stay integers
    assert net(images().astype(np.float64)).dtype == np.float64
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters()) and bn.running_var.dtype == np.float32


# ---------------------------------------------------------------------- normalisation and dropout layers
@pytest.mark.parametrize("layer, shape", [(nn.BatchNorm1d, (16, 3)), (nn.BatchNorm1d, (8, 3, 5)),
                                          (nn.BatchNorm2d, (4, 3, 5, 5))], ids=str)
def test_batchnorm_layers_train_and_eval(layer, shape):
    bn = layer(3, momentum=0.2)
    bn.weight.data[...] = [1.0, 2.0, 0.5]
    bn.bias.data[...] = [0.0, -1.0, 3.0]
    x = rng(4).standard_normal(shape).astype(np.float32) * 3 + 1
    axes = (0,) + tuple(range(2, len(shape)))
    out = bn(x)
    np.testing.assert_allclose(out.data.mean(axis=axes), bn.bias.data, atol=1e-5)
    np.testing.assert_allclose(out.data.std(axis=axes), np.abs(bn.weight.data), rtol=1e-3)
    n = x.size // 3
    np.testing.assert_allclose(bn.running_mean, 0.2 * x.mean(axis=axes), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, 0.8 + 0.2 * x.var(axis=axes) * n / (n - 1), rtol=1e-5)
    assert int(bn.num_batches_tracked) == 1
    bn.eval()
    stats = bn.running_mean.copy(), bn.running_var.copy()
    out = bn(x)
    cshape = (1, 3) + (1,) * (len(shape) - 2)
    expected = ((x - stats[0].reshape(cshape)) / np.sqrt(stats[1].reshape(cshape) + 1e-5)
                * bn.weight.data.reshape(cshape) + bn.bias.data.reshape(cshape))
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(bn.running_mean, stats[0])  # eval does not update
    assert int(bn.num_batches_tracked) == 1


def test_batchnorm_without_affine_or_running_stats():
    bn = nn.BatchNorm1d(2, affine=False, track_running_stats=False)
    assert list(bn.named_parameters()) == [] and list(bn.named_buffers()) == []
    bn.eval()  # without running statistics, eval normalises with the batch statistics
    out = bn(rng(0).standard_normal((10, 2)).astype(np.float32) * 4)
    np.testing.assert_allclose(out.data.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.data.std(axis=0), 1, rtol=1e-3)


def test_dropout_layer():
    x = mp.tensor(np.ones((50, 40), np.float32))
    drop = nn.Dropout(0.5, rng=rng(0))
    out = drop(x)
    assert 0.4 < np.mean(out.data == 0) < 0.6
    drop.eval()
    np.testing.assert_array_equal(drop(x).data, x.data)
    a, b = nn.Dropout(0.3, rng=rng(9)), nn.Dropout(0.3, rng=rng(9))
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_simple_layers_match_functional():
    x = mp.tensor(rng(0).standard_normal((2, 3, 4, 4)))
    pairs = [(nn.ReLU(), F.relu(x)), (nn.Sigmoid(), F.sigmoid(x)), (nn.Tanh(), F.tanh(x)),
             (nn.LeakyReLU(0.1), F.leaky_relu(x, 0.1)), (nn.Flatten(), F.flatten(x)), (nn.Identity(), x),
             (nn.MaxPool2d(2), F.max_pool2d(x, 2)), (nn.MaxPool2d(3, 1, 1), F.max_pool2d(x, 3, 1, 1)),
             (nn.AvgPool2d(2), F.avg_pool2d(x, 2)), (nn.AdaptiveAvgPool2d(1), F.adaptive_avg_pool2d(x, 1))]
    for layer, expected in pairs:
        np.testing.assert_array_equal(layer(x).data, expected.data, err_msg=repr(layer))
    assert "kernel_size=3" in repr(nn.MaxPool2d(3, 1, 1))


def test_repr():
    text = repr(Net())
    assert "(features): Sequential(" in text and "(0): Conv2d(1, 2, kernel_size=(3, 3)" in text
    assert "(fc2): Linear(in_features=5, out_features=3, bias=False)" in text


# ---------------------------------------------------------------------- end to end
def test_small_cnn_gradcheck_end_to_end():
    g = rng(21)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=g), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(12, 4, rng=g)).double()
    x = t64(g.standard_normal((3, 2, 4, 4)))
    target = np.array([0, 3, 1])
    conv, bn, fc = model[0], model[1], model[5]
    bn.weight.data[...] = g.uniform(0.5, 1.5, 3)
    bn.bias.data[...] = g.standard_normal(3) * 0.1
    # the whole model: float64 forward (training-mode BatchNorm), fused cross-entropy, every op's backward
    assert model(x).dtype == np.float64
    gradcheck(lambda inp: F.cross_entropy(model(inp), target), x,
              wrt=[x, conv.weight, conv.bias, bn.weight, bn.bias, fc.weight, fc.bias], atol=1e-6, rtol=1e-5)
