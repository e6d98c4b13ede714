"""Tests of minprune.plots under the Agg backend: every function returns a Figure with the expected axes labels
and lines, can be saved as PNG, and rejects unusable input with a clear error."""
import copy
import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from minprune import metrics, models, nn, plots, prune  # noqa: E402


@pytest.fixture(scope="module")
def pruned():
    model = models.LeNet300_100(rng=np.random.default_rng(0))
    baseline = copy.deepcopy(model)
    prune.prune_model(model, 0.9, scope="global")
    return baseline, model


def check(fig, xlabel, ylabel):
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith(xlabel) and ax.get_ylabel().startswith(ylabel)
    assert ax.get_title()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")
    return ax


def test_weight_histogram_before_and_after(pruned):
    baseline, model = pruned
    ax = check(plots.weight_histogram(baseline, model), "weight value", "count")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("before (266,200") and "239,580 zeros not shown" in labels[1]
    assert ax.get_yscale() == "log"
    ax = check(plots.weight_histogram(np.array([1.0, -2.0, 0.5]), log=False), "weight value", "count")
    assert ax.get_yscale() == "linear"


def test_mask_image_of_a_module_and_an_array(pruned):
    ax = check(plots.mask_image(pruned[1].fc1), "input", "output")
    assert ax.images[0].get_array().shape == (300, 784)
    conv = nn.Conv2d(2, 3, 2)
    prune.ln_structured(conv, "weight", 1, n=1, dim=0)
    ax = check(plots.mask_image(conv), "input", "output")
    assert ax.images[0].get_array().shape == (3, 8)  # (out, in·kh·kw)
    assert "33.3 % pruned" in ax.get_title()
    check(plots.mask_image(np.array([1, 0, 1]), title="a vector"), "input", "output")


def test_layer_sparsity_bars(pruned):
    ax = check(plots.layer_sparsity_bars(pruned[1]), "layer", "sparsity (%)")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fc1.weight", "fc2.weight", "fc3.weight"]
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, [100 * v for v in metrics.sparsity(pruned[1]).layers.values()])
    check(plots.layer_sparsity_bars({"a": 0.5, "b": 0.25}), "layer", "sparsity (%)")


def test_sparsity_accuracy_curve_and_sensitivity_scan():
    ax = check(plots.sparsity_accuracy_curve({"global": ([0, 0.5, 0.9], [0.98, 0.97, 0.9]),
                                              "local": ([0, 0.5, 0.9], [0.98, 0.96, 0.8])}, baseline=0.98),
               "sparsity (%)", "accuracy (%)")
    assert len(ax.lines) == 3  # two curves and the baseline
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[0, 98], [50, 97], [90, 90]])
    check(plots.sparsity_accuracy_curve(([0.1, 0.2], [0.9, 0.8])), "sparsity (%)", "accuracy (%)")
    ax = check(plots.sensitivity_scan({"fc1": ([0.5, 0.9], [0.97, 0.9]), "fc2": ([0.5, 0.9], [0.96, 0.7])}),
               "sparsity of the pruned layer", "accuracy (%)")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fc1", "fc2"]


def test_schedule_curve_from_pairs_callables_and_dicts():
    ax = check(plots.schedule_curve([(0, 0.1), (100, 0.2), (200, 0.3)]), "step", "target sparsity (%)")
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[0, 10], [100, 20], [200, 30]])
    assert ax.lines[0].get_drawstyle() == "steps-post"
    ax = check(plots.schedule_curve(lambda t: min(t / 10, 0.5), steps=20), "step", "target sparsity (%)")
    assert ax.lines[0].get_xydata()[-1].tolist() == [19, 50]
    ax = check(plots.schedule_curve({"a": [(0, 0.5)], "b": lambda t: 0.1}, steps=[0, 5]), "step", "target")
    assert len(ax.lines) == 2
    with pytest.raises(ValueError, match="needs steps"):
        plots.schedule_curve(lambda t: 0.5)
    with pytest.raises(ValueError, match="pairs"):
        plots.schedule_curve([(1, 2, 3)])


def test_latency_vs_sparsity_from_arrays_and_from_a_sweep():
    ax = check(plots.latency_vs_sparsity([0.5, 0.9], {"dense": 0.002, "CSR": [0.004, 0.001]}, crossover=0.9),
               "sparsity (%)", "time per batch (ms")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [2.0, 2.0])
    assert any("CSR wins from 90 %" in t.get_text() for t in ax.get_legend().get_texts())
    sweep = metrics.layer_speed_sweep(8, 8, [0.5, 0.9], batch_size=2, repeats=1)
    ax = check(plots.latency_vs_sparsity(sweep), "sparsity (%)", "time per batch")
    assert {line.get_label() for line in ax.lines} >= {"dense", "masked dense", "CSR"}


def test_figures_are_not_registered_with_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plots.layer_sparsity_bars({"a": 0.5})
    assert plt.get_fignums() == before
