"""Tests of the activation-aware criteria (minprune/prune/criteria/activation.py): Wanda scores |W_ij|·‖X_j‖₂,
input norms and the mean activation. (Wanda's per-row masks live in minprune/prune/llm.py with their own tests.)

Expected values are written by hand or computed here with NumPy from the layer inputs (the model's forward pass
redone with matrix products).
"""
import numpy as np

from minprune import models
from minprune.prune import criteria as C


def test_wanda_scores_by_hand():
    w = np.array([[1.0, -2.0, 3.0], [-4.0, 0.5, 1.0]])
    x = np.array([[3.0, 0.0, 1.0], [4.0, 1.0, -1.0]])  # column norms 5, 1, √2
    np.testing.assert_allclose(C.input_norms(x), [5.0, 1.0, np.sqrt(2)])
    np.testing.assert_allclose(C.wanda_scores(w, C.input_norms(x)),
                               [[5.0, 2.0, 3 * np.sqrt(2)], [20.0, 0.5, np.sqrt(2)]])


def test_input_norms_count_tokens_as_samples():
    x = np.arange(12.0).reshape(2, 3, 2)  # 2 sequences × 3 tokens × 2 features
    np.testing.assert_allclose(C.input_norms(x), np.sqrt((x.reshape(6, 2) ** 2).sum(axis=0)))


def test_wanda_uses_each_linear_layers_own_inputs():
    rng = np.random.default_rng(0)
    model = models.mlp([5, 4, 3], rng=rng)
    x = rng.standard_normal((20, 1, 5)).astype(np.float32)
    fc1, fc2 = C.weight_layers(model)
    inputs1 = x.reshape(20, 5).astype(np.float64)
    inputs2 = np.maximum(inputs1 @ fc1.weight.data.T + fc1.bias.data, 0)
    scores = C.wanda(model, [(x[:8], np.zeros(8, np.int64)), (x[8:], np.zeros(12, np.int64))])
    for layer, inputs in ((fc1, inputs1), (fc2, inputs2)):
        np.testing.assert_allclose(scores[(layer, "weight")],
                                   np.abs(layer.weight.data) * np.sqrt((inputs ** 2).sum(axis=0)), rtol=1e-5)


def test_activation_mean_is_the_mean_post_relu_output_per_neuron():
    rng = np.random.default_rng(1)
    model = models.mlp([5, 4, 3], rng=rng, flatten=False)
    x = rng.standard_normal((30, 5)).astype(np.float32)
    fc1 = C.weight_layers(model)[0]
    expected = np.maximum(x.astype(np.float64) @ fc1.weight.data.T + fc1.bias.data, 0).mean(axis=0)
    scores = C.activation_mean(model, [(x, np.zeros(30, np.int64))])[(fc1, "weight")]
    np.testing.assert_allclose(scores, np.repeat(expected[:, None], 5, axis=1), rtol=1e-5)
