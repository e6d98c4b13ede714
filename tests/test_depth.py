"""Depth pruning (minprune/prune/layers.py): angular_distance, block_importance and depth_prune.

Scores are recomputed here independently (hooks on the blocks and the arccos formula; dropping each block by hand
and comparing logits and accuracies), and depth_prune must drop the blocks with the smallest scores of the chosen
criterion and return a working model without touching the original.
"""
import copy

import numpy as np
import pytest

import minprune as mp
from minprune import models, nn, prune
from minprune.prune import angular_distance, block_importance, depth_prune, drop_layers


# ---------------------------------------------------------------------------------------------------- angular_distance
def test_angular_distance_hand_examples():
    x = np.array([[1.0, 2.0, -3.0]])
    assert angular_distance(x, x) == 0.0                                  # same direction
    assert angular_distance(x, 5 * x) == 0.0                              # the length does not matter
    assert angular_distance(x, -x) == pytest.approx(1.0)                  # opposite: π / π
    assert angular_distance(np.array([[1.0, 0.0]]), np.array([[0.0, 3.0]])) == pytest.approx(0.5)  # orthogonal
    assert angular_distance(np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]])) == pytest.approx(0.25)  # 45°


def test_angular_distance_is_per_sample_then_averaged():
    inputs = np.array([[1.0, 0.0], [0.0, 1.0]])
    outputs = np.array([[1.0, 0.0], [0.0, -1.0]])                          # distances 0 and 1 → mean 0.5
    assert angular_distance(inputs, outputs) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    before, after = rng.standard_normal((2, 3, 2, 4, 4))                 # (N, C, H, W): flattened per sample
    expected = np.mean([np.arccos(np.dot(a.ravel(), b.ravel()) / np.linalg.norm(a) / np.linalg.norm(b)) / np.pi
                        for a, b in zip(before, after)])
    assert angular_distance(before, after) == pytest.approx(expected, abs=1e-12)


def test_angular_distance_of_a_zero_vector_is_one_half():
    assert angular_distance(np.zeros((1, 3)), np.ones((1, 3))) == pytest.approx(0.5)
    assert np.isfinite(angular_distance(np.ones((2, 10), dtype=np.float32) / 3, np.ones((2, 10), dtype=np.float32)))


# ---------------------------------------------------------------------------------------------------- fixtures
def resnet_with_identity_block(identity="layer1.1", blocks=3, wide_blocks=0):
    """A random ResNetMini in which one block adds nothing (its bn2 γ = β = 0): relu(x + 0) = x for x ≥ 0."""
    rng = np.random.default_rng(0)
    model = models.ResNetMini(channels=8, blocks=blocks, wide_blocks=wide_blocks, rng=rng).double().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data[...] = rng.uniform(0.5, 1.5, m.num_features)
            m.bias.data[...] = rng.normal(0, 0.3, m.num_features)
    if identity:
        bn2 = model.get_submodule(identity).bn2
        bn2.weight.data[...] = 0
        bn2.bias.data[...] = 0
    x = rng.standard_normal((16, 1, 12, 12))
    y = rng.integers(0, 10, 16)
    return model, (x, y)


def logits(model, x):
    with mp.no_grad():
        return model(x).data


def independent_scores(model, data, blocks):
    """Every criterion by hand: drop each block with drop_layers; read its input/output with a hook."""
    x, y = data
    base = logits(model, x)
    acc = lambda z: float(np.mean(np.argmax(z, axis=1) == y))
    scores = {}
    for name in blocks:
        seen = {}
        handle = model.get_submodule(name).register_forward_hook(
            lambda m, inputs, out: seen.update(io=(inputs[0].data, out.data)))
        logits(model, x)
        handle.remove()
        a, b = (t.reshape(len(x), -1) for t in seen["io"])
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        dropped = logits(drop_layers(model, [name]), x)
        scores[name] = {"accuracy_drop": acc(base) - acc(dropped),
                        "output_change": np.linalg.norm(dropped - base) / np.linalg.norm(base),
                        "angular": float(np.mean(np.arccos(np.clip(cos, -1, 1)) / np.pi))}
    return scores


# ---------------------------------------------------------------------------------------------------- block_importance
def test_block_importance_matches_independent_scores():
    model, data = resnet_with_identity_block()
    got = block_importance(model, data)
    assert list(got) == ["layer1.0", "layer1.1", "layer1.2"]
    expected = independent_scores(model, data, list(got))
    for name in got:
        for key in ("accuracy_drop", "output_change", "angular"):
            assert got[name][key] == pytest.approx(expected[name][key], abs=1e-9), (name, key)
    assert got["layer1.1"]["output_change"] == 0 and got["layer1.1"]["angular"] < 1e-6
    assert model.training is False


def test_block_importance_skips_projection_blocks_by_default_and_checks_names():
    model, data = resnet_with_identity_block(wide_blocks=2)
    assert list(block_importance(model, data)) == ["layer1.0", "layer1.1", "layer1.2", "layer2.1"]
    with pytest.raises(ValueError, match="layer7"):
        block_importance(model, data, ["layer7"])
    with pytest.raises(ValueError, match="projection shortcut"):
        block_importance(model, data, ["layer2.0"])
    assert not any(m._forward_hooks for m in model.modules()), "hooks removed after an error"


# ---------------------------------------------------------------------------------------------------- depth_prune
@pytest.mark.parametrize("criterion", ["accuracy", "output_change", "angular"])
def test_depth_prune_drops_the_block_with_the_smallest_score(criterion):
    model, data = resnet_with_identity_block(identity=None, blocks=4)
    key = prune.DEPTH_CRITERIA[criterion]
    blocks = [f"layer1.{i}" for i in range(4)]
    scores = independent_scores(model, data, blocks)
    ranked = sorted(blocks, key=lambda b: scores[b][key])                 # stable: ties keep model order
    before = {k: v.copy() for k, v in model.state_dict().items()}
    reference = logits(model, data[0])
    for n in (1, 2):
        new, report = depth_prune(model, data, n, criterion=criterion)
        assert report["dropped"] == ranked[:n] and report["criterion"] == criterion
        for name in ranked[:n]:
            assert isinstance(new.get_submodule(name), nn.Identity)
        np.testing.assert_allclose(logits(new, data[0]), logits(drop_layers(model, ranked[:n]), data[0]),
                                   rtol=0, atol=1e-12)
        assert logits(new, data[0]).shape == (16, 10)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    np.testing.assert_array_equal(logits(model, data[0]), reference)


@pytest.mark.parametrize("criterion", ["output_change", "angular"])
def test_depth_prune_finds_a_block_that_does_nothing(criterion):
    model, data = resnet_with_identity_block(identity="layer1.2")
    new, report = depth_prune(model, data, 1, criterion=criterion)
    assert report["dropped"] == ["layer1.2"]
    np.testing.assert_allclose(logits(new, data[0]), logits(model, data[0]), rtol=0, atol=1e-12)
    assert sum(p.size for p in new.parameters()) < sum(p.size for p in model.parameters())


def test_depth_prune_never_drops_a_projection_block_and_validates():
    model, data = resnet_with_identity_block(wide_blocks=2)
    new, report = depth_prune(model, data, 4)
    assert "layer2.0" not in report["dropped"] and len(report["dropped"]) == 4
    assert logits(new, data[0]).shape == (16, 10)
    with pytest.raises(ValueError, match="n_blocks"):
        depth_prune(model, data, 5)
    with pytest.raises(ValueError, match="criterion"):
        depth_prune(model, data, 1, criterion="magnitude")
    unchanged, report = depth_prune(model, data, 0)
    assert report["dropped"] == [] and np.array_equal(logits(unchanged, data[0]), logits(model, data[0]))


def test_depth_prune_and_width_prune_compose():
    """Depth then width: the block-dropped model is still traceable and structured_prune shrinks it further."""
    model, data = resnet_with_identity_block()
    shallow, _ = depth_prune(model, data, 1)
    narrow, report = prune.structured_prune(shallow, data[0], 0.5)
    assert report["macs_after"] < report["macs_before"] and logits(narrow, data[0]).shape == (16, 10)
    assert copy.deepcopy(narrow) is not narrow
