"""Grouped and depthwise ``nn.Conv2d`` (issue 9): PyTorch's semantics, checked against naive loops written here
and by central finite differences in float64.

With ``groups = G`` the C input channels split into G consecutive groups of C/G and the O filters into G groups
of O/G; filter o sees only the input channels of its group, so the weight is (O, C/G, kh, kw). ``G = C = O`` is a
depthwise convolution: output channel c = input channel c correlated with its own kh×kw filter.
"""
import numpy as np
import pytest

import minprune as mp
from minprune import metrics, nn
from helpers import gradcheck


def naive_depthwise(x, w, b, stride, padding):
    """Each channel on its own: a 2-D cross-correlation of x[:, c] with w[c, 0], one loop per index."""
    n, c, h, wd = x.shape
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n, c, ho, wo))
    for s in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    patch = xp[s, ch, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    out[s, ch, i, j] = (patch * w[ch, 0]).sum() + (0.0 if b is None else b[ch])
    return out


def naive_grouped(x, w, b, groups, padding):
    """Split into groups, run an ordinary (groups=1) convolution per group by loops, concatenate the outputs."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = h + 2 * padding - kh + 1, wd + 2 * padding - kw + 1
    outs = []
    for g in range(groups):
        xs, ws = xp[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og]
        out = np.zeros((n, og, ho, wo))
        for oc in range(og):
            for i in range(ho):
                for j in range(wo):
                    out[:, oc, i, j] = (xs[:, :, i:i + kh, j:j + kw] * ws[oc]).sum(axis=(1, 2, 3))
            if b is not None:
                out[:, oc] += b[g * og + oc]
        outs.append(out)
    return np.concatenate(outs, axis=1)


def forward(layer, x):
    with mp.no_grad():
        return layer(x).data


@pytest.mark.parametrize("stride, padding, bias", [(1, 1, True), (2, 1, False), (1, 0, True), (2, 0, True)])
def test_depthwise_conv_matches_a_naive_loop(stride, padding, bias):
    rng = np.random.default_rng(0)
    layer = nn.Conv2d(5, 5, 3, stride=stride, padding=padding, groups=5, bias=bias, rng=rng).double()
    assert layer.weight.shape == (5, 1, 3, 3)
    x = rng.standard_normal((2, 5, 7, 6))
    expected = naive_depthwise(x, layer.weight.data, layer.bias.data if bias else None, stride, padding)
    np.testing.assert_allclose(forward(layer, x), expected, rtol=0, atol=1e-12)


def test_depthwise_conv_mixes_no_channels():
    """Changing input channel 2 changes output channel 2 only."""
    rng = np.random.default_rng(1)
    layer = nn.Conv2d(4, 4, 3, padding=1, groups=4, rng=rng).double()
    x = rng.standard_normal((1, 4, 5, 5))
    y = x.copy()
    y[:, 2] += rng.standard_normal((5, 5))
    changed = np.abs(forward(layer, x) - forward(layer, y)).max(axis=(0, 2, 3))
    assert changed[2] > 0 and np.all(np.delete(changed, 2) == 0)


@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_conv_gradients_by_finite_differences(stride):
    rng = np.random.default_rng(2)
    layer = nn.Conv2d(3, 3, 3, stride=stride, padding=1, groups=3, rng=rng).double()
    x = mp.tensor(rng.standard_normal((2, 3, 5, 5)), requires_grad=True)
    gradcheck(lambda inp: layer(inp), x, wrt=[x, layer.weight, layer.bias])


def test_grouped_conv_groups_2_matches_a_naive_loop():
    rng = np.random.default_rng(3)
    layer = nn.Conv2d(4, 6, (3, 2), padding=1, groups=2, rng=rng).double()
    assert layer.weight.shape == (6, 2, 3, 2)
    x = rng.standard_normal((2, 4, 5, 6))
    expected = naive_grouped(x, layer.weight.data, layer.bias.data, groups=2, padding=1)
    np.testing.assert_allclose(forward(layer, x), expected, rtol=0, atol=1e-12)


def test_grouped_conv_groups_2_gradients_by_finite_differences():
    rng = np.random.default_rng(4)
    layer = nn.Conv2d(4, 2, 2, groups=2, rng=rng).double()
    x = mp.tensor(rng.standard_normal((2, 4, 4, 3)), requires_grad=True)
    gradcheck(lambda inp: layer(inp), x, wrt=[x, layer.weight, layer.bias])


def test_depthwise_with_a_channel_multiplier():
    """groups = C with O = 2C: two filters per input channel (output channels 2c and 2c + 1 read channel c)."""
    rng = np.random.default_rng(5)
    layer = nn.Conv2d(3, 6, 3, groups=3, rng=rng).double()
    x = rng.standard_normal((2, 3, 5, 5))
    expected = naive_grouped(x, layer.weight.data, layer.bias.data, groups=3, padding=0)
    np.testing.assert_allclose(forward(layer, x), expected, rtol=0, atol=1e-12)


def test_groups_1_is_an_ordinary_convolution():
    rng = np.random.default_rng(6)
    layer = nn.Conv2d(3, 4, 3, rng=rng).double()
    x = rng.standard_normal((2, 3, 5, 5))
    np.testing.assert_allclose(forward(layer, x), naive_grouped(x, layer.weight.data, layer.bias.data, 1, 0),
                               rtol=0, atol=1e-12)


def test_invalid_groups_are_rejected():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(6, 4, 3, groups=4)
    layer = nn.Conv2d(4, 4, 3, groups=4)
    with pytest.raises(ValueError, match="channels"):
        layer(np.zeros((1, 3, 5, 5), dtype=np.float32))


def test_depthwise_macs_and_parameters():
    """A 3×3 depthwise conv costs C·9 MACs per output position, a full one C·C·9: MobileNet's saving."""
    depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    full = nn.Conv2d(8, 8, 3, padding=1, bias=False)
    assert depthwise.weight.size == 8 * 9 and full.weight.size == 8 * 8 * 9
    assert metrics.flops(depthwise, (2, 8, 6, 6)).dense == 2 * 36 * 8 * 9
    assert metrics.flops(full, (2, 8, 6, 6)).dense == 2 * 36 * 8 * 8 * 9
    assert "groups=8" in repr(depthwise)
