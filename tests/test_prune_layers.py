"""Tests of layer pruning (minprune/prune/layers.py) on models.ResNetMini: ``drop_layers`` works on a copy and
refuses what an identity cannot replace; ``block_importance`` matches a forward pass written out by hand here.
"""
import numpy as np
import pytest

from minprune import models, nn, no_grad, prune


def resnet(rng, channels=6, blocks=3):
    model = models.ResNetMini(channels=channels, blocks=blocks, rng=rng)
    for m in model.modules():  # non-trivial BatchNorm statistics, so every block really changes its input
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean = rng.normal(0, 0.2, m.num_features).astype(np.float32)
            m.running_var = rng.uniform(0.5, 1.5, m.num_features).astype(np.float32)
            m.bias.data[...] = rng.normal(0, 0.2, m.num_features).astype(np.float32)
    return model.eval()


def forward_skipping(model, x, skip=()):
    """ResNetMini's forward written out by hand, leaving out the residual blocks whose index is in ``skip``."""
    with no_grad():
        h = model.relu(model.bn1(model.conv1(x)))
        for i, block in enumerate(model.layer1):
            if i not in skip:
                h = block(h)
        pooled = h.data.mean(axis=(2, 3))
        return pooled @ model.fc.weight.data.T + model.fc.bias.data


def state_equal(a, b):
    return list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)


def test_resnet_mini_forward_shape_and_structure():
    rng = np.random.default_rng(0)
    model = models.ResNetMini(channels=8, blocks=2, rng=rng)
    x = rng.standard_normal((3, 1, 28, 28)).astype(np.float32)
    assert model(x).shape == (3, 10)
    assert model.relu(model.bn1(model.conv1(x))).shape == (3, 8, 14, 14)  # the stride-2 stem
    assert prune.residual_blocks(model) == ["layer1.0", "layer1.1"]
    assert all(isinstance(b, models.BasicBlock) and b.downsample is None for b in model.layer1)
    assert models.ResNetMini(num_classes=4, rng=rng)(x).shape == (3, 4)
    out = model(x)
    out.sum().backward()  # trainable end to end
    assert model.layer1[1].conv2.weight.grad.shape == (8, 8, 3, 3)


def test_basic_block_is_relu_of_x_plus_f_x():
    rng = np.random.default_rng(1)
    block = models.BasicBlock(4, 4, rng=rng).eval()
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    f = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x))))).data
    np.testing.assert_allclose(block(x).data, np.maximum(x + f, 0), rtol=1e-5, atol=1e-6)
    down = models.BasicBlock(4, 8, stride=2, rng=rng)
    assert down.downsample is not None and down(x).shape == (2, 8, 3, 3) and not down.preserves_shape()


def test_drop_layers_replaces_blocks_with_identity_in_a_copy():
    rng = np.random.default_rng(2)
    model = resnet(rng)
    before = model.state_dict()
    x = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    full = model(x).data
    dropped = prune.drop_layers(model, ["layer1.1"])
    assert dropped is not model
    assert isinstance(dropped.layer1[1], nn.Identity)
    assert isinstance(model.layer1[1], models.BasicBlock)  # the original is untouched
    assert state_equal(model.state_dict(), before)
    np.testing.assert_array_equal(model(x).data, full)
    np.testing.assert_allclose(dropped.eval()(x).data, forward_skipping(model, x, skip={1}), rtol=1e-5, atol=1e-5)
    assert not np.allclose(dropped(x).data, full, atol=1e-3)  # the block did something
    assert dropped.layer1[0] is not model.layer1[0]  # a deep copy: training it leaves the original alone
    two = prune.drop_layers(model, "layer1.0")  # a single name is accepted too
    np.testing.assert_allclose(two.eval()(x).data, forward_skipping(model, x, skip={0}), rtol=1e-5, atol=1e-5)
    both = prune.drop_layers(model, ["layer1.0", "layer1.2"])
    np.testing.assert_allclose(both.eval()(x).data, forward_skipping(model, x, skip={0, 2}), rtol=1e-5, atol=1e-5)
    assert sum(p.size for p in both.parameters()) < sum(p.size for p in model.parameters())


@pytest.mark.parametrize("names, match", [
    (["layer1.7"], "layer1.7"),
    (["layer9"], "layer9"),
    ([""], "''"),
    (["conv1"], "conv1"),            # 1 → 6 channels with stride 2: the shape changes
    (["fc"], "fc"),                  # 6 → 10
    (["layer1.0", "stem"], "stem"),  # nothing is dropped when any name is bad
])
def test_drop_layers_errors_leave_the_model_unchanged(names, match):
    model = resnet(np.random.default_rng(3))
    before = model.state_dict()
    with pytest.raises(ValueError, match=match):
        prune.drop_layers(model, names)
    assert state_equal(model.state_dict(), before)
    assert all(isinstance(b, models.BasicBlock) for b in model.layer1)


def test_drop_layers_refuses_a_projection_block_and_accepts_shape_preserving_layers():
    rng = np.random.default_rng(4)
    model = nn.Sequential(models.BasicBlock(3, 3, rng=rng), models.BasicBlock(3, 5, stride=2, rng=rng))
    with pytest.raises(ValueError, match="'1'"):
        prune.drop_layers(model, ["1"])
    assert isinstance(prune.drop_layers(model, ["0"])[0], nn.Identity)
    mlp = nn.Sequential(nn.Linear(4, 4, rng=rng), nn.ReLU(), nn.Linear(4, 2, rng=rng))
    assert isinstance(prune.drop_layers(mlp, ["0", "1"])[0], nn.Identity)
    with pytest.raises(ValueError, match="'2'"):
        prune.drop_layers(mlp, ["2"])
    assert prune.preserves_shape(nn.Conv2d(3, 3, 3, padding=1)) and not prune.preserves_shape(nn.Conv2d(3, 3, 3))
    assert not prune.preserves_shape(nn.Conv2d(3, 3, 3, stride=2, padding=1))


def test_block_importance_matches_a_direct_computation():
    rng = np.random.default_rng(5)
    model = resnet(rng).train()  # block_importance measures in eval mode and restores the mode
    before = model.state_dict()
    x = rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
    logits = forward_skipping(model.eval(), x)
    y = np.argmax(logits + rng.normal(0, 0.05, logits.shape), axis=1)  # labels the full model mostly gets right
    model.train()
    scores = prune.block_importance(model, (x, y))
    assert model.training and all(m.training for m in model.modules())
    assert state_equal(model.state_dict(), before)  # no BatchNorm statistic moved
    assert list(scores) == ["layer1.0", "layer1.1", "layer1.2"]
    base_acc = np.mean(np.argmax(logits, axis=1) == y)
    model.eval()
    for i, name in enumerate(scores):
        out = forward_skipping(model, x, skip={i})
        change = np.linalg.norm(out - logits) / np.linalg.norm(logits)
        assert {"accuracy_drop", "output_change"} <= set(scores[name])
        np.testing.assert_allclose(scores[name]["output_change"], change, rtol=1e-4)
        assert scores[name]["output_change"] > 0
        np.testing.assert_allclose(scores[name]["accuracy_drop"], base_acc - np.mean(np.argmax(out, axis=1) == y))
    chosen = prune.block_importance(model, (x, y), blocks=["layer1.2"])
    assert list(chosen) == ["layer1.2"] and chosen["layer1.2"] == scores["layer1.2"]
