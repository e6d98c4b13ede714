"""Tests of the data-free criteria (minprune/prune/criteria/magnitude.py) — |w|, random, group norms, LAMP, FPGM,
BatchNorm scale and the network-slimming penalty — and of the contract *every* criterion keeps (the second half
of this file, over all five families):

- scores are keyed ``(module, "weight")``, have the weight's shape, are finite and non-negative (the pruning
  functions rank |scores|, as PyTorch, so a negative "unimportant" score would be kept);
- they plug into ``global_unstructured``, ``l1_unstructured`` and ``ln_structured`` through ``importance_scores``,
  and the entries (channels) pruned are exactly those of lowest score (channel criteria: same channel order);
- the model is left as it was: state dict, train/eval mode of every module, gradients, a pruned layer's
  effective weight;
- a criterion that needs data rejects none, no batches, mismatched x/y and inputs the model cannot take, with a
  ValueError that says what is wrong.

Expected values are hand computations (LAMP, FPGM, norms) or loops over channels written here.
"""
from collections import OrderedDict

import numpy as np
import pytest

from minprune import functional as F
from minprune import models, nn, prune
from minprune.prune import criteria as C


# ---------------------------------------------------------------------------------------------- magnitude, random
def test_magnitude_is_abs_of_the_effective_weight():
    model = models.mlp([4, 3, 2], rng=np.random.default_rng(0), flatten=False)
    prune.l1_unstructured(model[0], "weight", amount=0.5)
    scores = C.magnitude(model)
    assert list(scores) == [(model[0], "weight"), (model[2], "weight")]
    np.testing.assert_array_equal(scores[(model[0], "weight")], np.abs(model[0].weight_orig.data * model[0].weight_mask))
    np.testing.assert_array_equal(scores[(model[2], "weight")], np.abs(model[2].weight.data))


def test_random_is_reproducible_from_its_rng():
    model = models.mlp([4, 3, 2], rng=np.random.default_rng(0), flatten=False)
    first = C.random(model, np.random.default_rng(5))
    again = C.random(model, np.random.default_rng(5))
    other = C.random(model, np.random.default_rng(6))
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
        assert not np.array_equal(first[key], other[key])
        assert first[key].shape == key[0].weight.shape


# ---------------------------------------------------------------------------------------------- group norms
def test_group_scores_reductions_by_hand():
    w = np.array([[3.0, -4.0, 0.0], [1.0, 1.0, -1.0]])
    expected_rows = {"l1": [7.0, 3.0], "l2": [5.0, np.sqrt(3)], "linf": [4.0, 1.0], "mean": [7 / 3, 1.0]}
    for reduction, rows in expected_rows.items():
        np.testing.assert_allclose(C.group_scores(w, 0, reduction), np.repeat(np.array(rows)[:, None], 3, 1))
    # dim=1: the input columns, reduced over the rows
    np.testing.assert_allclose(C.group_scores(w, 1, "l1"), np.tile([4.0, 5.0, 1.0], (2, 1)))
    np.testing.assert_allclose(C.group_scores(w, 1, "mean"), np.tile([2.0, 2.5, 0.5], (2, 1)))


def test_group_scores_of_conv_filters_and_channels():
    w = np.random.default_rng(0).standard_normal((3, 2, 2, 2))
    filters = C.group_scores(w, 0, "l2")
    channels = C.group_scores(w, 1, "l1")
    for c in range(3):
        np.testing.assert_allclose(filters[c], np.sqrt((w[c] ** 2).sum()))
    for c in range(2):
        np.testing.assert_allclose(channels[:, c], np.abs(w[:, c]).sum())


def test_group_scores_rejects_an_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        C.group_scores(np.ones((2, 2)), 0, "l3")


# ---------------------------------------------------------------------------------------------- LAMP
def test_lamp_by_hand():
    # sorted squares 1, 4, 9: scores 1/14, 4/13, 9/9 — in the weights' own order and signs
    np.testing.assert_allclose(C.lamp_scores(np.array([[-3.0, 1.0], [0.0, 2.0]])),
                               [[1.0, 1 / 14], [0.0, 4 / 13]])


def test_lamp_largest_weight_of_every_layer_scores_one_and_scale_does_not_matter():
    model = models.mlp([6, 5, 4, 3], rng=np.random.default_rng(0), flatten=False)
    model[2].weight.data *= 1e-3
    scores = C.lamp(model)
    for (layer, _), s in scores.items():
        assert s.max() == pytest.approx(1.0)
        assert np.unravel_index(s.argmax(), s.shape) == np.unravel_index(np.abs(layer.weight.data).argmax(), s.shape)
    np.testing.assert_allclose(scores[(model[2], "weight")], C.lamp_scores(model[2].weight.data * 1e3), rtol=1e-5)


def test_global_lamp_keeps_a_tiny_layer_that_global_magnitude_empties():
    def build():
        model = models.mlp([20, 10, 10, 3], rng=np.random.default_rng(0), flatten=False)
        model[2].weight.data *= 1e-3
        return model

    magnitude, lamp = build(), build()
    for model, scores in ((magnitude, C.magnitude(magnitude)), (lamp, C.lamp(lamp))):
        prune.global_unstructured(list(scores), prune.L1Unstructured, importance_scores=scores, amount=0.8)
    assert magnitude[2].weight_mask.sum() == 0
    assert all(m.weight_mask.sum() > 0 for m in C.weight_layers(lamp))


# ---------------------------------------------------------------------------------------------- FPGM
def test_fpgm_filter_at_the_median_of_the_others_scores_lowest():
    # filters 0, ±e1, ±e2: filter 0 is the mean (and geometric median) of the four others. Sums of distances:
    # filter 0: 4 · 1; each other: 1 + 2 + 2√2
    w = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], dtype=np.float64).reshape(5, 1, 1, 2)
    scores = C.fpgm_scores(w)
    assert scores.shape == w.shape
    np.testing.assert_allclose(scores[:, 0, 0, 0], [4.0] + [3 + 2 * np.sqrt(2)] * 4)


def test_fpgm_against_a_loop_over_filter_pairs():
    w = np.random.default_rng(0).standard_normal((6, 3, 2, 2))
    expected = [sum(np.linalg.norm(w[i] - w[j]) for j in range(6)) for i in range(6)]
    np.testing.assert_allclose(C.fpgm_scores(w)[:, 0, 0, 0], expected, rtol=1e-10)


# ---------------------------------------------------------------------------------------------- BatchNorm scale
def set_gammas(model, seed=0):
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.weight.data = rng.uniform(-1, 1, m.weight.shape).astype(m.weight.data.dtype)


def test_bn_scale_pairs_a_sequential_conv_bn_stack():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, rng=rng), nn.BatchNorm2d(3), nn.ReLU(),
                          nn.Conv2d(3, 4, 3, rng=rng), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4, 2, rng=rng))
    set_gammas(model)
    assert C.batchnorm_producers(model) == [(model[0], model[1]), (model[3], model[4])]
    scores = C.bn_scale(model)
    assert list(scores) == [(model[0], "weight"), (model[3], "weight")]
    for conv, bn in ((model[0], model[1]), (model[3], model[4])):
        expected = np.abs(bn.weight.data)[:, None, None, None] * np.ones(conv.weight.shape)
        np.testing.assert_array_equal(scores[(conv, "weight")], expected)


def test_bn_scale_pairs_resnet_mini_and_a_projection_shortcut():
    model = models.ResNetMini(channels=4, blocks=2, rng=np.random.default_rng(0))
    expected = [(model.conv1, model.bn1)]
    for block in model.layer1:
        expected += [(block.conv1, block.bn1), (block.conv2, block.bn2)]
    assert C.batchnorm_producers(model) == expected
    block = models.BasicBlock(2, 4, stride=2, rng=np.random.default_rng(0))
    assert C.batchnorm_producers(block) == [(block.conv1, block.bn1), (block.conv2, block.bn2),
                                            (block.downsample[0], block.downsample[1])]


def test_slimming_loss_adds_the_l1_penalty_on_gammas_and_its_gradient_is_the_sign():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2, rng=rng)).double()
    set_gammas(model)
    x, y = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)
    gamma = model[1].weight
    loss = C.slimming_loss(model, strength=0.1)
    plain = F.cross_entropy(model(x), y)
    plain.backward()
    plain_grad = gamma.grad.copy()
    model.zero_grad()
    total = loss(model(x), y)
    total.backward()
    assert float(total.data) == pytest.approx(float(plain.data) + 0.1 * np.abs(gamma.data).sum(), rel=1e-12)
    np.testing.assert_allclose(gamma.grad - plain_grad, 0.1 * np.sign(gamma.data), rtol=1e-10)
    # evaluation sums per-sample losses: the penalty is not a per-sample loss, so it is left out there
    assert float(loss(model(x), y, reduction="sum").data) == pytest.approx(
        float(F.cross_entropy(model(x), y, reduction="sum").data))


# ============================================================================================== every criterion
def contract_model(seed=0):
    """Conv → BN → ReLU → Linear → ReLU → Linear on 1×6×6 inputs, float64, BN statistics and scales set."""
    rng = np.random.default_rng(seed)
    model = nn.Sequential(OrderedDict(
        conv=nn.Conv2d(1, 4, 3, rng=rng), bn=nn.BatchNorm2d(4), relu1=nn.ReLU(), flatten=nn.Flatten(),
        fc1=nn.Linear(64, 6, rng=rng), relu2=nn.ReLU(), fc2=nn.Linear(6, 3, rng=rng))).double()
    model.bn.weight.data = rng.uniform(-1.5, 1.5, 4)
    model.bn.running_mean = rng.standard_normal(4) * 0.1
    model.bn.running_var = rng.uniform(0.5, 2.0, 4)
    return model


def contract_data(seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((16, 1, 6, 6)), rng.integers(0, 3, 16)),
            (rng.standard_normal((8, 1, 6, 6)), rng.integers(0, 3, 8))]


CRITERIA = {
    "magnitude": lambda model, data: C.magnitude(model),
    "random": lambda model, data: C.random(model, np.random.default_rng(0)),
    "norm": lambda model, data: C.norm(model, reduction="l2"),
    "lamp": lambda model, data: C.lamp(model),
    "fpgm": lambda model, data: C.fpgm(model),
    "bn_scale": lambda model, data: C.bn_scale(model),
    "gradient": C.gradient,
    "taylor": C.taylor,
    "taylor_filter": C.taylor_filter,
    "snip": C.snip,
    "grasp": C.grasp,
    "synflow": lambda model, data: C.synflow(model, (1, 6, 6)),
    "obd_fisher": lambda model, data: C.obd(model, data, estimator="fisher"),
    "obd_hutchinson": lambda model, data: C.obd(model, data, samples=3, rng=np.random.default_rng(0)),
    "entropy": C.activation_entropy,
    "mutual_information": C.mutual_information,
    "apoz": C.apoz,
    "wanda": C.wanda,
    "activation_mean": C.activation_mean,
}
PER_CHANNEL = {"norm", "fpgm", "bn_scale", "taylor_filter", "entropy", "mutual_information", "apoz",
               "activation_mean"}
DATA_FREE = {"magnitude", "random", "norm", "lamp", "fpgm", "bn_scale", "synflow"}
NEEDS_DATA = sorted(set(CRITERIA) - DATA_FREE)


def assert_lowest_pruned(scores, masks):
    scores, masks = np.concatenate([np.ravel(s) for s in scores]), np.concatenate([np.ravel(m) for m in masks])
    assert np.abs(scores[masks == 0]).max() <= np.abs(scores[masks == 1]).min()


@pytest.mark.parametrize("name", sorted(CRITERIA))
def test_scores_are_keyed_by_weight_with_its_shape_and_non_negative(name):
    model = contract_model()
    scores = CRITERIA[name](model, contract_data())
    assert scores, f"{name} scored nothing"
    for (module, param), s in scores.items():
        assert param == "weight" and isinstance(module, (nn.Linear, nn.Conv2d))
        assert s.shape == module.weight.shape
        assert np.all(np.isfinite(s)) and np.all(s >= 0), f"{name}: min {s.min()}"


@pytest.mark.parametrize("name", sorted(CRITERIA))
def test_global_unstructured_prunes_the_lowest_scores(name):
    model = contract_model()
    scores = CRITERIA[name](model, contract_data())
    prune.global_unstructured(list(scores), prune.L1Unstructured, importance_scores=scores, amount=0.5)
    masks = [module.weight_mask for module, _ in scores]
    assert sum(int((m == 0).sum()) for m in masks) == round(0.5 * sum(m.size for m in masks))
    assert_lowest_pruned(scores.values(), masks)


@pytest.mark.parametrize("name", sorted(CRITERIA))
def test_l1_unstructured_prunes_the_lowest_scores_of_each_layer(name):
    model = contract_model()
    scores = CRITERIA[name](model, contract_data())
    for (module, param), s in scores.items():
        prune.l1_unstructured(module, param, amount=0.3, importance_scores=s)
        assert (module.weight_mask == 0).sum() == round(0.3 * s.size)
        assert_lowest_pruned([s], [module.weight_mask])
        np.testing.assert_array_equal(module.weight.data[module.weight_mask == 0], 0)


@pytest.mark.parametrize("name", sorted(CRITERIA))
def test_ln_structured_prunes_the_channels_of_lowest_score(name):
    model = contract_model()
    scores = CRITERIA[name](model, contract_data())
    for (module, param), s in scores.items():
        prune.ln_structured(module, param, amount=0.5, n=1, dim=0, importance_scores=s)
        pruned = module.weight_mask.reshape(len(s), -1).max(axis=1) == 0
        assert pruned.sum() == round(0.5 * len(s))
        channel = s.reshape(len(s), -1)
        if name in PER_CHANNEL:  # one score per channel, broadcast: the same order as the scores themselves
            assert np.all(channel == channel[:, :1])
            order = channel[:, 0]
        else:
            order = np.abs(channel).sum(axis=1)
        assert order[pruned].max() <= order[~pruned].min()


def snapshot(model):
    return (model.state_dict(), [m.training for m in model.modules()],
            [None if p.grad is None else p.grad.copy() for p in model.parameters()],
            model.fc1.weight.data.copy())


def assert_same(model, before):
    state, modes, grads, effective = before
    after = model.state_dict()
    assert list(after) == list(state)
    for key in state:
        np.testing.assert_array_equal(after[key], state[key], err_msg=key)
    assert [m.training for m in model.modules()] == modes
    for p, g in zip(model.parameters(), grads):
        assert (p.grad is None) == (g is None)
        if g is not None:
            np.testing.assert_array_equal(p.grad, g)
    np.testing.assert_array_equal(model.fc1.weight.data, effective)  # a pruned layer's orig · mask


@pytest.mark.parametrize("name", sorted(CRITERIA))
def test_criteria_leave_the_model_unchanged(name):
    model = contract_model()
    prune.l1_unstructured(model.fc1, "weight", amount=0.3)
    model.train()
    model(contract_data()[0][0])
    rng = np.random.default_rng(2)
    for p in list(model.parameters())[::2]:
        p.grad = rng.standard_normal(p.shape)  # some parameters hold gradients, the others none
    before = snapshot(model)
    CRITERIA[name](model, contract_data())
    assert_same(model, before)


@pytest.mark.parametrize("name", NEEDS_DATA)
def test_data_criteria_reject_missing_data(name):
    model = contract_model()
    for data in (None, [], iter([])):
        with pytest.raises(ValueError, match="data|batches"):
            CRITERIA[name](model, data)


@pytest.mark.parametrize("name", NEEDS_DATA)
def test_data_criteria_reject_batches_of_the_wrong_shape(name):
    model = contract_model().train()
    before = snapshot(model)
    x, y = contract_data()[0]
    with pytest.raises(ValueError, match=r"Conv2d.*\(16, 2, 6, 6\)"):  # names the layer and the shape
        CRITERIA[name](model, [(np.concatenate([x, x], axis=1), y)])
    with pytest.raises(ValueError, match=r"batch 0.*\(16, 1, 6, 6\).*\(15,\)"):
        CRITERIA[name](model, [(x, y[:-1])])
    with pytest.raises(ValueError, match=r"batch 1"):
        CRITERIA[name](model, [(x, y), (x[:0], y[:0])])
    with pytest.raises(ValueError, match=r"\(x, y\) pairs"):
        CRITERIA[name](model, [x])
    assert_same(model, before)


def test_a_single_pair_of_arrays_is_one_batch():
    model, (x, y) = contract_model(), contract_data()[0]
    for key, s in C.taylor(model, (x, y)).items():
        np.testing.assert_array_equal(s, C.taylor(model, [(x, y)])[key])
