"""Tests of the information-theoretic criteria (minprune/prune/criteria/information.py): histogram entropy,
mutual information with the label, APoZ.

Expected values are exact where the histogram estimator is exact (a constant neuron: 0; a uniform two-valued
neuron: log 2; a copy of the label: H(label) = −Σ p log p of its class frequencies, computed here) and, for an
activation independent of the label, within the plug-in estimator's positive bias, about
(bins − 1)(classes − 1)/(2N) nats (Miller 1955). Model-level scores are checked against activations computed
here with NumPy.
"""
import numpy as np
import pytest

from minprune import nn
from minprune.prune import criteria as C


def label_entropy(labels):
    p = np.bincount(labels) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def test_entropy_of_a_constant_neuron_is_zero_and_of_a_fair_coin_is_log_2():
    rng = np.random.default_rng(0)
    coin = rng.permutation(np.repeat([0.0, 3.5], 500))
    acts = np.stack([np.full(1000, 2.0), coin, np.zeros(1000)], axis=1)
    np.testing.assert_allclose(C.entropy_scores(acts), [0.0, np.log(2), 0.0], atol=1e-12)


def test_entropy_of_a_uniform_neuron_is_log_bins():
    # 8 equally frequent values spread over the neuron's range fill 8 of the bins equally: log 8
    acts = np.tile(np.arange(8.0), 50)[:, None]
    np.testing.assert_allclose(C.entropy_scores(acts, bins=8), [np.log(8)], rtol=1e-12)


def test_mutual_information_of_a_copy_of_the_label_is_the_label_entropy():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 2000)
    copy = labels.astype(np.float64) * 1.7 - 2.0  # any injective map of the label
    mi = C.mutual_information_scores(copy[:, None], labels, bins=16)
    np.testing.assert_allclose(mi, [label_entropy(labels)], rtol=1e-12)


def test_mutual_information_of_an_independent_neuron_is_about_zero():
    rng = np.random.default_rng(1)
    n, bins, classes = 20000, 8, 4
    labels = rng.integers(0, classes, n)
    acts = rng.standard_normal((n, 5))
    bias = (bins - 1) * (classes - 1) / (2 * n)  # ≈ 5e-4 nats
    mi = C.mutual_information_scores(acts, labels, bins=bins)
    assert np.all(mi >= 0) and np.all(mi < 4 * bias), (mi, bias)
    # compared with the label's own information, that is nothing
    assert mi.max() < 0.01 * label_entropy(labels)


def test_mutual_information_ranks_a_noisy_copy_between():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 5000)
    noisy = labels + 0.6 * rng.standard_normal(5000)
    acts = np.stack([rng.standard_normal(5000), noisy, labels.astype(float)], axis=1)
    mi = C.mutual_information_scores(acts, labels, bins=16)
    assert mi[0] < mi[1] < mi[2]


def test_mutual_information_rejects_labels_of_the_wrong_shape():
    with pytest.raises(ValueError, match="labels"):
        C.mutual_information_scores(np.zeros((10, 2)), np.zeros(9, dtype=np.int64))


def test_apoz_scores_count_zeros():
    acts = np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 5.0], [0.0, 0.0, 1.0], [0.0, 3.0, 2.0]])
    np.testing.assert_allclose(C.apoz_scores(acts), [1.0, 0.25, 0.25])


def hand_model():
    """Linear(2, 3) with rows chosen so neuron 0 is never active, neuron 1 always, neuron 2 half the time."""
    fc = nn.Linear(2, 3, bias=False)
    fc.weight.data = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    return nn.Sequential(fc)


def hand_data():
    x = np.array([[1.0, 1.0], [2.0, -1.0], [3.0, 1.0], [4.0, -1.0]], dtype=np.float32)  # x0 > 0, x1 = ±1
    return x, np.array([0, 1, 0, 1])


def test_apoz_and_entropy_of_a_model_layer():
    model, (x, y) = hand_model(), hand_data()
    fc = model[0]
    np.testing.assert_allclose(C.apoz(model, [(x, y)])[(fc, "weight")][:, 0], [0.0, 1.0, 0.5])
    entropy = C.activation_entropy(model, [(x, y)])[(fc, "weight")]
    np.testing.assert_allclose(entropy[:, 0], [0.0, np.log(4), np.log(2)], atol=1e-12)
    assert entropy.shape == (3, 2) and np.all(entropy == entropy[:, :1])  # broadcast over each neuron's row


def test_mutual_information_of_a_model_layer():
    # neuron 2 is ReLU(x1) = 1 exactly when the label is 0: it carries the whole label (log 2 nats);
    # neuron 0 is always 0: nothing
    model, (x, y) = hand_model(), hand_data()
    mi = C.mutual_information(model, [(x[:2], y[:2]), (x[2:], y[2:])])[(model[0], "weight")][:, 0]
    np.testing.assert_allclose(mi[[0, 2]], [0.0, np.log(2)], atol=1e-12)


def test_mutual_information_pairs_every_position_of_a_conv_channel_with_its_images_label():
    # a 1×1 conv copies the image: channel 0 is the image itself, which is constant = label over the 2×2
    # positions, so its MI is H(label); channel 1 (weight 0) is constant: 0
    conv = nn.Conv2d(1, 2, 1, bias=False)
    conv.weight.data = np.array([1.0, 0.0], dtype=np.float32).reshape(2, 1, 1, 1)
    model = nn.Sequential(conv)
    labels = np.array([0, 1, 2, 1, 0, 2])
    x = np.broadcast_to(labels[:, None, None, None], (6, 1, 2, 2)).astype(np.float32)
    mi = C.mutual_information(model, [(x, labels)])[(conv, "weight")][:, 0, 0, 0]
    np.testing.assert_allclose(mi, [label_entropy(labels), 0.0], atol=1e-12)
