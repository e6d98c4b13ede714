"""Tests of the pruning mechanism (minprune/prune/base.py): the re-parametrisation, its behaviour under every
optimizer, ``remove``/``is_pruned``, the amount and error contract (DESIGN.md §3), the method classes and
``PruningContainer``, copying/pickling and saving/loading pruned models.

Expected values are computed here independently (hand examples, ``orig * mask`` recomputed in NumPy, the
gradient of ``x Wᵀ + b`` written out), never by calling the code under test a second time.
"""
import copy
import pickle

import numpy as np
import pytest

import minprune as mp
from minprune import functional as F
from minprune import models, nn, optim, prune, serialize


@pytest.fixture
def rng():
    return np.random.default_rng(20240601)


# ---------------------------------------------------------------------- helpers
def pruning_hooks(module):
    return [h for h in module._forward_pre_hooks.values() if isinstance(h, prune.BasePruningMethod)]


def snapshot(module):
    """Everything pruning may touch on one module, by value and by identity."""
    return {
        "params": {n: (p, None if p is None else p.data.copy()) for n, p in module._parameters.items()},
        "buffers": {n: b.copy() for n, b in module._buffers.items()},
        "hooks": [(k, h, len(h) if isinstance(h, prune.PruningContainer) else None)
                  for k, h in module._forward_pre_hooks.items()],
        "attrs": {k: v for k, v in vars(module).items() if not k.startswith("_")},
    }


def assert_unchanged(module, snap):
    now = snapshot(module)
    assert list(now["params"]) == list(snap["params"]), "parameter names changed"
    for name, (p, data) in snap["params"].items():
        assert now["params"][name][0] is p, f"parameter {name!r} is a different object"
        if p is not None:
            np.testing.assert_array_equal(p.data, data, err_msg=f"parameter {name!r} changed")
    assert list(now["buffers"]) == list(snap["buffers"]), "buffer names changed"
    for name, b in snap["buffers"].items():
        np.testing.assert_array_equal(now["buffers"][name], b, err_msg=f"buffer {name!r} changed")
    assert [(k, id(h), n) for k, h, n in now["hooks"]] == [(k, id(h), n) for k, h, n in snap["hooks"]], \
        "forward pre-hooks changed"
    assert now["attrs"].keys() == snap["attrs"].keys()
    for k, v in snap["attrs"].items():
        assert now["attrs"][k] is v, f"attribute {k!r} replaced"


def small_mlp(rng):
    """A LeNet-300-100-shaped MLP, scaled down so that 200 training steps take well under a second."""
    return models.mlp([24, 40, 20, 6], rng=rng, flatten=False)


# ---------------------------------------------------------------------- the re-parametrisation
def test_reparametrisation_moves_the_same_parameter_and_registers_mask_and_hook(rng):
    m = nn.Linear(6, 4, rng=rng)
    w, b = m.weight, m.bias
    before = w.data.copy()
    prune.l1_unstructured(m, "weight", amount=0.5)

    assert m.weight_orig is w and isinstance(w, nn.Parameter)
    assert "weight" not in m._parameters
    mask = m.weight_mask
    assert isinstance(mask, np.ndarray) and mask.dtype == np.float32 and mask.shape == (4, 6)
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert dict(m.named_buffers())["weight_mask"] is mask
    assert type(m.weight) is mp.Tensor and not isinstance(m.weight, nn.Parameter)
    np.testing.assert_array_equal(m.weight.data, before * mask)
    # parameters() yields weight_orig (the same object), not the effective weight
    params = list(m.parameters())
    assert len(params) == 2 and any(p is w for p in params) and any(p is b for p in params)
    assert set(dict(m.named_parameters())) == {"weight_orig", "bias"}
    assert set(m.state_dict()) == {"weight_orig", "bias", "weight_mask"}
    hooks = pruning_hooks(m)
    assert len(hooks) == 1 and hooks[0]._tensor_name == "weight" and len(m._forward_pre_hooks) == 1


def test_forward_pre_hook_recomputes_the_effective_weight(rng):
    m = nn.Linear(5, 3, rng=rng)
    prune.l1_unstructured(m, "weight", amount=6)
    mask = m.weight_mask.copy()
    m.weight_orig.data[...] = rng.standard_normal((3, 5)).astype(np.float32)  # as an optimizer would
    x = rng.standard_normal((4, 5)).astype(np.float32)
    out = m(x).data
    np.testing.assert_array_equal(m.weight.data, m.weight_orig.data * mask)
    naive = x @ (m.weight_orig.data * mask).T + m.bias.data
    np.testing.assert_allclose(out, naive, rtol=1e-6, atol=1e-6)


def test_gradient_reaching_orig_is_masked(rng):
    m = nn.Linear(7, 5, rng=rng)
    prune.random_unstructured(m, "weight", amount=0.4, rng=np.random.default_rng(3))
    mask = m.weight_mask.copy()
    x = rng.standard_normal((9, 7)).astype(np.float32)
    r = rng.standard_normal((9, 5)).astype(np.float32)
    (m(x) * r).sum().backward()
    # y = x Wᵀ + b with W = orig ⊙ mask  →  ∂L/∂orig = (rᵀ x) ⊙ mask
    expected = (r.T @ x) * mask
    grad = m.weight_orig.grad
    assert np.all(grad[mask == 0] == 0)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.bias.grad, r.sum(axis=0), rtol=1e-5, atol=1e-5)


def test_optimizer_created_before_pruning_keeps_training_orig(rng):
    m = nn.Linear(6, 3, rng=rng)
    opt = optim.SGD(m.parameters(), lr=0.1)
    w = m.weight
    prune.l1_unstructured(m, "weight", amount=0.5)
    assert any(p is m.weight_orig for p in opt.param_groups[0]["params"])
    before = w.data.copy()
    mask = m.weight_mask.copy()
    x = rng.standard_normal((8, 6)).astype(np.float32)
    m(x).sum().backward()
    opt.step()
    # plain SGD: orig ← orig − lr · ∂(Σy)/∂W ⊙ mask, and ∂(Σy)/∂W[i, j] = Σₙ x[n, j] for every row i
    expected = before - 0.1 * np.broadcast_to(x.sum(axis=0), (3, 6)) * mask
    np.testing.assert_allclose(w.data, expected, rtol=1e-5, atol=1e-6)
    assert m.weight_orig is w


OPTIMIZERS = {
    "sgd-momentum-wd-nesterov": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=True),
    "sgd-momentum-dampening-wd": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.05),
    "adam-l2": lambda p: optim.Adam(p, lr=0.01, weight_decay=0.01),
    "adamw": lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
}


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_no_resurrection_under_200_steps_of_each_optimizer(make_optimizer):
    rng = np.random.default_rng(7)
    model = small_mlp(rng)
    opt = make_optimizer(model.parameters())  # created BEFORE pruning, as in a real training script
    fc1, fc2, fc3 = model[0], model[2], model[4]
    prune.l1_unstructured(fc1, "weight", amount=0.6)
    prune.l1_unstructured(fc1, "bias", amount=0.25)
    prune.ln_structured(fc2, "weight", amount=0.3, n=2, dim=0)
    prune.random_unstructured(fc3, "weight", amount=0.5, rng=np.random.default_rng(1))
    pruned = [(fc1, "weight"), (fc1, "bias"), (fc2, "weight"), (fc3, "weight")]
    masks = {(id(m), n): getattr(m, n + "_mask").copy() for m, n in pruned}
    origs_start = {(id(m), n): getattr(m, n + "_orig").data.copy() for m, n in pruned}
    x = rng.standard_normal((32, 24)).astype(np.float32)
    y = rng.integers(0, 6, size=32)
    losses = []
    for _ in range(200):
        loss = F.cross_entropy(model(x), y)
        losses.append(float(loss.item()))
        for m, n in pruned:  # the forward used exact zeros
            assert np.all(getattr(m, n).data[masks[(id(m), n)] == 0] == 0)
        opt.zero_grad()
        loss.backward()
        for m, n in pruned:
            assert np.all(getattr(m, n + "_orig").grad[masks[(id(m), n)] == 0] == 0)
        opt.step()
    model(x)
    for m, n in pruned:
        mask = masks[(id(m), n)]
        np.testing.assert_array_equal(getattr(m, n + "_mask"), mask)  # training never changes a mask
        assert np.all(getattr(m, n).data[mask == 0] == 0)
        orig = getattr(m, n + "_orig").data
        assert not np.allclose(orig[mask == 1], origs_start[(id(m), n)][mask == 1])  # it did train
        assert np.all(orig * mask == getattr(m, n).data)
    assert losses[-1] < 0.75 * losses[0]  # it learned something
    for m, n in pruned:  # and the zeros survive making the pruning permanent
        mask = masks[(id(m), n)]
        prune.remove(m, n)
        assert np.all(getattr(m, n).data[mask == 0] == 0)


# ---------------------------------------------------------------------- remove / is_pruned
def test_remove_makes_a_plain_parameter_holding_orig_times_mask(rng):
    m = nn.Linear(6, 4, rng=rng)
    prune.l1_unstructured(m, "weight", amount=0.5)
    orig = m.weight_orig
    orig.data[...] += 1.0  # trained since the last forward: remove uses the current orig
    expected = orig.data * m.weight_mask
    prune.remove(m, "weight")
    assert m.weight is orig and type(m.weight) is nn.Parameter and m.weight.requires_grad
    np.testing.assert_array_equal(m.weight.data, expected)
    assert "weight_orig" not in m._parameters and "weight_mask" not in m._buffers
    assert not pruning_hooks(m) and not prune.is_pruned(m)
    assert set(m.state_dict()) == {"weight", "bias"}
    assert "weight" in m._parameters and "weight" not in vars(m)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    np.testing.assert_allclose(m(x).data, x @ expected.T + m.bias.data, rtol=1e-6, atol=1e-6)


def test_remove_on_unpruned_parameter_raises_value_error_and_changes_nothing(rng):
    m = nn.Linear(4, 3, rng=rng)
    snap = snapshot(m)
    with pytest.raises(ValueError, match="weight"):
        prune.remove(m, "weight")
    assert_unchanged(m, snap)
    prune.l1_unstructured(m, "weight", amount=0.5)
    snap = snapshot(m)
    with pytest.raises(ValueError, match="bias"):
        prune.remove(m, "bias")
    assert_unchanged(m, snap)


def test_is_pruned_sees_submodules(rng):
    model = models.SeedNet(rng=rng)
    assert not prune.is_pruned(model)
    prune.identity(model.fc2, "bias")
    assert prune.is_pruned(model) and prune.is_pruned(model.fc2) and not prune.is_pruned(model.fc1)
    np.testing.assert_array_equal(model.fc2.bias_mask, np.ones(10))
    prune.remove(model.fc2, "bias")
    assert not prune.is_pruned(model)


# ---------------------------------------------------------------------- amounts: PyTorch's rounding and errors
@pytest.mark.parametrize("amount, expected", [
    (0.25, 2),   # 2.5 → 2: Python's round halves to even
    (0.35, 4),   # 3.5 → 4
    (0.45, 4),   # 4.5 → 4
    (0.15, 2),   # 1.5 → 2
    (0.04, 0), (0.06, 1), (0.0, 0), (1.0, 10), (0.5, 5),
    (0, 0), (3, 3), (10, 10),  # an int is a count
    (np.float32(0.5), 5), (np.int64(4), 4),
])
def test_amount_is_a_count_or_a_fraction_rounded_as_python(rng, amount, expected):
    m = nn.Linear(10, 1, rng=rng)
    m.weight.data[...] = np.arange(1, 11, dtype=np.float32)[::-1]  # distinct |w|: the smallest are the last
    prune.l1_unstructured(m, "weight", amount=amount)
    mask = m.weight_mask.ravel()
    assert int((mask == 0).sum()) == expected
    np.testing.assert_array_equal(mask, [1] * (10 - expected) + [0] * expected)


BAD_TYPES = ["0.3", True, False, None, [0.3], 1 + 0j]
BAD_VALUES = [-1, -0.1, 1.1, 2.0, 11, float("nan")]


def prune_calls(rng):
    return {
        "l1_unstructured": lambda m, a: prune.l1_unstructured(m, "weight", amount=a),
        "random_unstructured": lambda m, a: prune.random_unstructured(m, "weight", amount=a, rng=rng),
        "ln_structured": lambda m, a: prune.ln_structured(m, "weight", amount=a, n=2, dim=1),
        "random_structured": lambda m, a: prune.random_structured(m, "weight", amount=a, dim=1, rng=rng),
    }


@pytest.mark.parametrize("method", ["l1_unstructured", "random_unstructured", "ln_structured", "random_structured"])
@pytest.mark.parametrize("already_pruned", [False, True])
def test_amount_errors_leave_the_module_exactly_as_before(rng, method, already_pruned):
    call = prune_calls(rng)[method]
    m = nn.Linear(10, 1 if method.endswith("unstructured") else 2, rng=rng)  # 10 entries / 10 channels on dim 1
    if already_pruned:
        prune.l1_unstructured(m, "weight", amount=1)
    snap = snapshot(m)
    for bad in BAD_TYPES:
        with pytest.raises(TypeError):
            call(m, bad)
        assert_unchanged(m, snap)
    for bad in BAD_VALUES:
        with pytest.raises(ValueError) as info:
            call(m, bad)
        assert str(bad) in str(info.value), f"the message should contain the amount {bad}: {info.value}"
        assert_unchanged(m, snap)
    if not already_pruned:
        assert not hasattr(m, "weight_mask") and "weight_orig" not in m._parameters and not m._forward_pre_hooks
    else:
        assert len(pruning_hooks(m)) == 1 and int((m.weight_mask == 0).sum()) == 1


def test_int_amount_counts_only_the_entries_still_alive(rng):
    m = nn.Linear(10, 1, rng=rng)
    prune.l1_unstructured(m, "weight", amount=4)
    snap = snapshot(m)
    with pytest.raises(ValueError, match="7"):  # 6 entries are left
        prune.l1_unstructured(m, "weight", amount=7)
    assert_unchanged(m, snap)
    prune.l1_unstructured(m, "weight", amount=6)
    assert np.all(m.weight_mask == 0)


def test_unknown_parameter_name_raises_attribute_error_naming_the_parameters(rng):
    m = nn.Linear(4, 3, rng=rng)
    snap = snapshot(m)
    with pytest.raises(AttributeError) as info:
        prune.l1_unstructured(m, "wieght", amount=0.5)
    assert "wieght" in str(info.value) and "weight" in str(info.value).replace("wieght", "")
    assert_unchanged(m, snap)
    prune.l1_unstructured(m, "weight", amount=0.5)
    snap = snapshot(m)
    for call in (lambda: prune.ln_structured(m, "nope", 0.5, n=1, dim=0),
                 lambda: prune.custom_from_mask(m, "nope", np.ones((3, 4)))):
        with pytest.raises(AttributeError, match="nope"):
            call()
        assert_unchanged(m, snap)


def test_pruning_a_buffer_or_missing_bias_raises_type_error(rng):
    m = nn.Linear(4, 3, bias=False, rng=rng)
    snap = snapshot(m)
    with pytest.raises(TypeError):
        prune.l1_unstructured(m, "bias", amount=0.5)
    assert_unchanged(m, snap)
    bn = nn.BatchNorm1d(3)
    snap = snapshot(bn)
    with pytest.raises(TypeError):
        prune.l1_unstructured(bn, "running_mean", amount=1)
    assert_unchanged(bn, snap)


@pytest.mark.parametrize("call", [
    lambda m, r: prune.ln_structured(m, "bias", 0.5, n=1, dim=0),
    lambda m, r: prune.random_structured(m, "bias", 0.5, dim=0, rng=r),
    lambda m, r: prune.ln_structured(m, "bias", 0.5, n=1, dim=-1),
], ids=["ln", "random", "ln-dim-1"])
def test_structured_pruning_of_a_1d_tensor_raises_value_error(rng, call):
    m = nn.Linear(4, 3, rng=rng)
    snap = snapshot(m)
    with pytest.raises(ValueError, match="multidimensional"):
        call(m, rng)
    assert_unchanged(m, snap)


@pytest.mark.parametrize("dim", [2, 3, -3])
@pytest.mark.parametrize("already_pruned", [False, True])
def test_structured_dim_out_of_range_raises_index_error(rng, dim, already_pruned):
    m = nn.Linear(4, 3, rng=rng)
    if already_pruned:
        prune.ln_structured(m, "weight", 1, n=1, dim=0)
    snap = snapshot(m)
    with pytest.raises(IndexError):
        prune.ln_structured(m, "weight", 0.5, n=1, dim=dim)
    assert_unchanged(m, snap)
    with pytest.raises(IndexError):
        prune.random_structured(m, "weight", 0.5, dim=dim, rng=rng)
    assert_unchanged(m, snap)


@pytest.mark.parametrize("call", [
    lambda m, s: prune.l1_unstructured(m, "weight", 0.5, importance_scores=s),
    lambda m, s: prune.ln_structured(m, "weight", 0.5, n=2, dim=0, importance_scores=s),
    lambda m, s: prune.threshold_unstructured(m, "weight", 0.1, importance_scores=s),
    lambda m, s: prune.nm_structured(m, "weight", importance_scores=s),
], ids=["l1", "ln", "threshold", "nm"])
@pytest.mark.parametrize("shape", [(4, 3), (12,), (1, 4, 4)])
def test_importance_scores_of_the_wrong_shape_raise_value_error(rng, call, shape):
    m = nn.Linear(4, 3, rng=rng)
    snap = snapshot(m)
    with pytest.raises(ValueError, match="shape"):
        call(m, np.ones(shape))
    assert_unchanged(m, snap)


# ---------------------------------------------------------------------- method classes, as in PyTorch
def test_method_classes_have_pytorchs_constructors_and_pruning_types():
    gen = np.random.default_rng(0)
    methods = [
        (prune.Identity(), "unstructured"),
        (prune.L1Unstructured(0.3), "unstructured"),
        (prune.L1Unstructured(amount=3), "unstructured"),
        (prune.RandomUnstructured(0.3), "unstructured"),
        (prune.RandomUnstructured(amount=0.3, rng=gen), "unstructured"),
        (prune.LnStructured(0.3, 2), "structured"),
        (prune.LnStructured(amount=2, n=1, dim=0), "structured"),
        (prune.RandomStructured(0.3), "structured"),
        (prune.RandomStructured(amount=0.3, dim=1, rng=gen), "structured"),
        (prune.CustomFromMask(np.ones(3)), "global"),
        (prune.CustomFromMask(mask=np.ones(3)), "global"),
    ]
    for method, kind in methods:
        assert isinstance(method, prune.BasePruningMethod) and method.PRUNING_TYPE == kind
    assert prune.LnStructured(0.3, 2).dim == -1 and prune.RandomStructured(0.3).dim == -1  # PyTorch's defaults
    assert prune.LnStructured(0.3, n=1, dim=0).n == 1


@pytest.mark.parametrize("make", [
    lambda a: prune.L1Unstructured(a), lambda a: prune.RandomUnstructured(a), lambda a: prune.LnStructured(a, 2),
    lambda a: prune.RandomStructured(a), lambda a: prune.LnStructured(amount=a, n=1, dim=0),
], ids=["L1Unstructured", "RandomUnstructured", "LnStructured", "RandomStructured", "LnStructured-kw"])
def test_method_classes_validate_amount_when_constructed(make):
    for bad in BAD_TYPES:
        with pytest.raises(TypeError):
            make(bad)
    for bad in [-1, -0.5, 1.5, float("nan")]:
        with pytest.raises(ValueError, match=str(bad).replace(".", r"\.")):
            make(bad)
    make(0), make(0.0), make(1.0), make(1000)  # a big int is only checked against the tensor later


def test_pruning_container_grows_by_one_method_per_pruning_and_supports_the_sequence_protocol(rng):
    m = nn.Linear(8, 6, rng=rng)
    prune.l1_unstructured(m, "weight", amount=0.2)
    assert isinstance(pruning_hooks(m)[0], prune.L1Unstructured)
    prune.ln_structured(m, "weight", amount=1, n=1, dim=0)
    prune.random_unstructured(m, "weight", amount=2, rng=rng)
    hooks = pruning_hooks(m)
    assert len(hooks) == 1 and len(m._forward_pre_hooks) == 1
    container = hooks[0]
    assert isinstance(container, prune.PruningContainer) and len(container) == 3
    assert [type(x) for x in container] == [prune.L1Unstructured, prune.LnStructured, prune.RandomUnstructured]
    assert isinstance(container[0], prune.L1Unstructured) and isinstance(container[-1], prune.RandomUnstructured)
    assert container._tensor_name == "weight" and all(x._tensor_name == "weight" for x in container)

    # built by hand, as PyTorch allows
    a, b = prune.L1Unstructured(0.5), prune.L1Unstructured(0.5)
    a._tensor_name = b._tensor_name = "weight"
    c = prune.PruningContainer(a)
    c.add_pruning_method(b)
    assert len(c) == 2 and c[1] is b and list(c) == [a, b]
    other = prune.L1Unstructured(0.1)
    other._tensor_name = "bias"
    with pytest.raises(ValueError, match="bias"):
        c.add_pruning_method(other)
    with pytest.raises(TypeError):
        c.add_pruning_method("l1")
    assert len(c) == 2
    # the hand-built container's compute_mask applies its newest method to what is still alive
    t = np.array([4.0, 1.0, 3.0, 2.0, 5.0, 6.0], dtype=np.float32)
    first = np.array([1, 0, 1, 1, 1, 1], dtype=np.float32)
    np.testing.assert_array_equal(c.compute_mask(t, first), [1, 0, 0, 0, 1, 1])  # round(0.5 · 5) = 2 of 5 alive


def test_prune_is_the_functional_form_and_touches_no_module():
    t = np.array([[3.0, -1.0], [0.5, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(prune.L1Unstructured(2).prune(t), [[3, 0], [0, 2]])
    np.testing.assert_array_equal(prune.L1Unstructured(0.25).prune(mp.tensor(t)), [[3, -1], [0, 2]])
    scores = np.array([[0.0, 9.0], [9.0, 9.0]])
    np.testing.assert_array_equal(prune.L1Unstructured(1).prune(t, importance_scores=scores), [[0, -1], [0.5, 2]])
    # a method used alone (not chained) ranks every entry, the default mask is only combined
    v = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    np.testing.assert_array_equal(prune.L1Unstructured(1).prune(v, default_mask=np.array([1, 1, 0, 1.0])),
                                  [0, 2, 0, 4])
    np.testing.assert_array_equal(prune.LnStructured(1, n=1, dim=0).prune(t), [[3, -1], [0, 0]])
    np.testing.assert_array_equal(prune.LnStructured(1, n=1, dim=1).prune(t), [[3, 0], [0.5, 0]])
    with pytest.raises(ValueError, match="shape"):
        prune.L1Unstructured(1).prune(t, importance_scores=np.ones(4))


class Boom(prune.BasePruningMethod):
    """A method whose compute_mask fails: apply must re-raise it and leave the module as it was."""
    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        raise ArithmeticError("boom from compute_mask")


class DropLargest(prune.BasePruningMethod):
    """compute_mask is the one override point: this one prunes the single largest |score| still alive."""
    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        mask = default_mask.copy()
        mask.reshape(-1)[np.argmax(np.abs(t).reshape(-1))] = 0
        return mask


@pytest.mark.parametrize("prior", [0, 1, 2])
def test_apply_reraises_compute_mask_exceptions_and_restores_the_module(rng, prior):
    m = nn.Linear(5, 4, rng=rng)
    for _ in range(prior):
        prune.l1_unstructured(m, "weight", amount=3)
    snap = snapshot(m)
    with pytest.raises(ArithmeticError, match="boom from compute_mask"):
        Boom.apply(m, "weight")
    assert_unchanged(m, snap)
    if prior == 0:
        assert not prune.is_pruned(m) and set(m._parameters) == {"weight", "bias"}


def test_a_custom_subclass_plugs_into_apply_and_chains(rng):
    m = nn.Linear(5, 4, rng=rng)
    w = m.weight.data.copy()
    DropLargest.apply(m, "weight")
    first = np.unravel_index(np.argmax(np.abs(w)), w.shape)
    assert m.weight_mask[first] == 0 and int((m.weight_mask == 0).sum()) == 1
    DropLargest.apply(m, "weight")  # chained: only the survivors are considered
    w2 = np.abs(w).copy()
    w2[first] = -1
    second = np.unravel_index(np.argmax(w2), w.shape)
    assert m.weight_mask[second] == 0 and int((m.weight_mask == 0).sum()) == 2


# ---------------------------------------------------------------------- copy, pickle, zero-size, keywords
def pruned_seednet(rng):
    model = models.SeedNet(rng=rng)
    prune.l1_unstructured(model.fc1, "weight", amount=0.3)
    prune.l1_unstructured(model.fc1, "weight", amount=0.2)
    prune.random_unstructured(model.fc1, "bias", amount=0.2, rng=np.random.default_rng(5))
    prune.ln_structured(model.fc2, "weight", amount=0.2, n=1, dim=1)
    return model


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))], ids=["deepcopy", "pickle"])
def test_deepcopy_and_pickle_of_a_pruned_model_stay_pruned(rng, clone):
    model = pruned_seednet(rng)
    twin = clone(model)
    x = rng.standard_normal((5, 100)).astype(np.float32)
    assert prune.is_pruned(twin)
    np.testing.assert_array_equal(twin(x).data, model(x).data)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(twin.state_dict()[name], value)
    assert len(pruning_hooks(twin.fc1)) == 2  # weight (a container) and bias
    assert [len(h) if isinstance(h, prune.PruningContainer) else 1 for h in pruning_hooks(twin.fc1)] == [2, 1]
    # the copy's hooks work on the copy, independently of the original
    twin.fc1.weight_orig.data[...] = 1.0
    twin(x)
    np.testing.assert_array_equal(twin.fc1.weight.data, model.fc1.weight_mask)
    assert not np.array_equal(model(x).data, twin(x).data)
    assert any(p is twin.fc1.weight_orig for p in twin.parameters())
    prune.remove(twin.fc1, "weight")
    assert prune.is_pruned(model.fc1) and "weight_orig" in model.fc1._parameters


def test_zero_size_tensors(rng):
    m = nn.Linear(4, 0, rng=rng)
    prune.l1_unstructured(m, "weight", amount=0.5)
    assert m.weight_mask.shape == (0, 4)
    prune.ln_structured(m, "weight", amount=0.5, n=2, dim=1)
    prune.random_unstructured(m, "bias", amount=0)
    assert m(np.ones((3, 4), dtype=np.float32)).shape == (3, 0)
    with pytest.raises(ValueError, match="1"):
        prune.l1_unstructured(m, "weight", amount=1)  # 1 > 0 entries
    prune.remove(m, "weight")
    assert m.weight.shape == (0, 4)

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(np.zeros((0,), dtype=np.float32))
            self.q = nn.Parameter(np.array([3.0, -1.0, 2.0], dtype=np.float32))

    h = Holder()
    prune.global_unstructured([(h, "p"), (h, "q")], pruning_method=prune.L1Unstructured, amount=1)
    assert h.p_mask.shape == (0,)
    np.testing.assert_array_equal(h.q_mask, [1, 0, 1])


def test_keyword_calls(rng):
    m = nn.Linear(6, 4, rng=rng)
    prune.l1_unstructured(module=m, name="weight", amount=0.25)
    prune.random_unstructured(module=m, name="bias", amount=1, rng=rng)
    prune.ln_structured(module=m, name="weight", amount=1, n=float("inf"), dim=0)
    prune.random_structured(module=m, name="weight", amount=1, dim=1, rng=rng)
    prune.custom_from_mask(module=m, name="bias", mask=np.array([1, 1, 0, 1]))
    prune.L1Unstructured.apply(module=m, name="weight", amount=1)
    prune.remove(module=m, name="weight")
    prune.remove(module=m, name="bias")
    prune.identity(module=m, name="weight")
    assert np.all(m.weight_mask == 1)
    prune.threshold_unstructured(module=m, name="bias", threshold=0.0)
    prune.nm_structured(module=nn.Linear(4, 2, rng=rng), name="weight", n=2, m=4)
    prune.block_unstructured(module=nn.Linear(4, 2, rng=rng), name="weight", amount=1, block=(2, 2))


def test_linear_without_bias(rng):
    m = nn.Linear(6, 4, bias=False, rng=rng)
    w = m.weight.data.copy()
    prune.l1_unstructured(m, "weight", amount=0.5)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    np.testing.assert_allclose(m(x).data, x @ (w * m.weight_mask).T, rtol=1e-6, atol=1e-6)
    assert set(m.state_dict()) == {"weight_orig", "weight_mask"}
    prune.prune_neurons(m, 1)  # no bias to prune with the neuron
    assert "bias_mask" not in m._buffers
    prune.remove(m, "weight")
    assert set(m.state_dict()) == {"weight"} and m.bias is None


def test_custom_from_mask_accepts_an_int_mask(rng):
    m = nn.Linear(3, 2, rng=rng)
    w = m.weight.data.copy()
    mask = np.array([[1, 0, 1], [0, 0, 1]], dtype=np.int64)
    prune.custom_from_mask(m, "weight", mask)
    assert m.weight_mask.dtype == np.float32
    np.testing.assert_array_equal(m.weight_mask, mask)
    np.testing.assert_array_equal(m.weight.data, w * mask)
    prune.custom_from_mask(m, "weight", np.array([[1, 1, 0], [1, 1, 1]], dtype=np.int32))  # combined with the old
    np.testing.assert_array_equal(m.weight_mask, [[1, 0, 0], [0, 0, 1]])
    snap = snapshot(m)
    with pytest.raises(ValueError, match="shape"):
        prune.custom_from_mask(m, "weight", np.ones((3, 2), dtype=int))
    assert_unchanged(m, snap)


def test_default_scores_are_the_current_effective_weight(rng):
    """Pruning again ranks orig · mask as it is *now*, even if no forward refreshed module.weight since."""
    m = nn.Linear(6, 1, rng=rng)
    prune.l1_unstructured(m, "weight", amount=1)
    old = np.abs(m.weight_orig.data[0])
    alive = np.flatnonzero(m.weight_mask[0] == 1)
    target = alive[np.argmax(old[alive])]  # the entry a stale ranking would keep longest
    m.weight_orig.data[0, alive] = 5.0  # an optimizer step; no forward yet
    m.weight_orig.data[0, target] = 0.01
    prune.l1_unstructured(m, "weight", amount=1)
    assert m.weight_mask[0, target] == 0 and int((m.weight_mask == 0).sum()) == 2


# ---------------------------------------------------------------------- save / load of pruned models
def test_save_load_of_a_pruned_model_is_bit_exact(rng, tmp_path):
    model = pruned_seednet(rng)
    path = serialize.save(model, tmp_path / "pruned.npz")
    state = serialize.load(path)
    assert {"fc1.weight_orig", "fc1.weight_mask", "fc1.bias_orig", "fc1.bias_mask", "fc2.weight_orig",
            "fc2.weight_mask", "fc2.bias"} == set(state)
    fresh = models.SeedNet(rng=np.random.default_rng(99))
    assert prune.load_pruned_state_dict(fresh, state) is fresh
    assert prune.is_pruned(fresh.fc1) and prune.is_pruned(fresh.fc2)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[name], value, err_msg=name)
        assert fresh.state_dict()[name].dtype == value.dtype
    # module.<name> is orig · mask of the *loaded* arrays right away (no forward needed)
    np.testing.assert_array_equal(fresh.fc1.weight.data, state["fc1.weight_orig"] * state["fc1.weight_mask"])
    assert int((fresh.fc1.weight.data == 0).sum()) == int((state["fc1.weight_mask"] == 0).sum())
    x = rng.standard_normal((6, 100)).astype(np.float32)
    np.testing.assert_array_equal(fresh(x).data, model(x).data)
    # a model pruned again after loading keeps composing on the loaded mask
    prune.l1_unstructured(fresh.fc2, "weight", amount=0.1)
    assert (fresh.fc2.weight_mask == 0).sum() > (model.fc2.weight_mask == 0).sum()


def test_load_pruned_state_dict_into_an_already_pruned_model(rng):
    model = pruned_seednet(rng)
    other = pruned_seednet(np.random.default_rng(3))
    prune.load_pruned_state_dict(other, model.state_dict())
    x = rng.standard_normal((2, 100)).astype(np.float32)
    np.testing.assert_array_equal(other(x).data, model(x).data)


@pytest.mark.parametrize("corrupt", [
    lambda s: s.update({"fc9.weight_orig": s["fc1.weight_orig"], "fc9.weight_mask": s["fc1.weight_mask"]}),
    lambda s: s.update({"fc1.weight_mask": np.ones((50, 99), dtype=np.float32)}),
    lambda s: s.update({"fc1.weight_orig": np.ones((50, 99), dtype=np.float32)}),
    lambda s: s.pop("fc2.bias"),
    lambda s: s.update({"fc1.nothing_orig": np.ones(3), "fc1.nothing_mask": np.ones(3)}),
], ids=["unknown-module", "mask-shape", "orig-shape", "missing-key", "unknown-parameter"])
def test_a_bad_state_raises_and_leaves_the_fresh_model_unchanged(rng, corrupt):
    state = pruned_seednet(rng).state_dict()
    corrupt(state)
    fresh = models.SeedNet(rng=np.random.default_rng(99))
    before = fresh.state_dict()
    snaps = {name: snapshot(m) for name, m in fresh.named_modules()}
    with pytest.raises((KeyError, ValueError, RuntimeError, AttributeError)):
        prune.load_pruned_state_dict(fresh, state)
    assert not prune.is_pruned(fresh)
    assert list(fresh.state_dict()) == list(before)
    for name, value in before.items():
        np.testing.assert_array_equal(fresh.state_dict()[name], value)
    for name, m in fresh.named_modules():
        assert_unchanged(m, snaps[name])
