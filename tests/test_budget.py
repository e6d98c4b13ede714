"""Edge budgets (minprune/prune/budget.py): fit_budget must return a model whose deployed file and MACs are within
the budget it was given — measured here independently with deploy.export and metrics.flops — leave the original
untouched, and, when no width it can reach fits, raise an error naming the smallest configuration it found.

A small MobileNetMini (widths 4-8-8) and 64 validation digits keep every search to a second or two.
"""
import copy
import os

import numpy as np
import pytest

from minprune import data, deploy, metrics, models
from minprune.prune.budget import fit_budget


@pytest.fixture(scope="module")
def validation():
    digits = data.mnist("test", limit=64)
    return digits.x, digits.y


def small_mobilenet(widths=(4, 8, 8)):
    return models.MobileNetMini(widths=widths, rng=np.random.default_rng(0)).eval()


def exported_bytes(model, tmp_path, name="m.npz"):
    return os.path.getsize(deploy.export(model, tmp_path / name, "dense"))


def same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


def test_bytes_budget_is_respected_and_the_original_untouched(validation, tmp_path):
    model = small_mobilenet()
    original = copy.deepcopy(model)
    dense = exported_bytes(model, tmp_path)
    budget = dense - 1000                                        # a few channels must go
    small, report = fit_budget(model, validation, max_bytes=budget)
    assert exported_bytes(small, tmp_path, "small.npz") <= budget
    assert report["final"]["bytes"] == exported_bytes(small, tmp_path, "small2.npz")
    assert report["dense"]["bytes"] == dense and len(report["history"]) >= 2
    sizes = [h["bytes"] for h in report["history"]]
    assert all(a > b for a, b in zip(sizes, sizes[1:])), f"every step must shrink the model: {sizes}"
    assert same_state(model, original)
    assert small(validation[0][:2]).shape == (2, 10)


def test_mac_budget_is_respected(validation):
    model = small_mobilenet()
    dense = metrics.flops(model, (1, 1, 28, 28)).dense
    small, report = fit_budget(model, validation, max_flops=dense // 2)
    assert metrics.flops(small, (1, 1, 28, 28)).dense <= dense // 2
    assert report["final"]["macs"] == metrics.flops(small, (1, 1, 28, 28)).dense


def test_bytes_and_macs_together(validation, tmp_path):
    model = small_mobilenet()
    dense_macs = metrics.flops(model, (1, 1, 28, 28)).dense
    budget = exported_bytes(model, tmp_path) - 500
    small, _ = fit_budget(model, validation, max_bytes=budget, max_flops=int(0.3 * dense_macs))
    assert exported_bytes(small, tmp_path, "small.npz") <= budget
    assert metrics.flops(small, (1, 1, 28, 28)).dense <= 0.3 * dense_macs


def test_a_budget_the_model_already_meets_changes_nothing(validation, tmp_path):
    model = small_mobilenet()
    result, report = fit_budget(model, validation, max_bytes=10 ** 6, max_latency_ms=10 ** 4)
    assert len(report["history"]) == 1 and result is not model
    assert same_state(result, model) and result.config() == model.config()
    assert report["final"]["latency_ms"] > 0


def test_budget_below_any_reachable_size_names_the_smallest(validation, tmp_path):
    model = small_mobilenet()
    narrowest = exported_bytes(small_mobilenet((1, 1, 1)), tmp_path)        # one channel per group
    with pytest.raises(ValueError, match="smallest reached") as info:
        fit_budget(model, validation, max_bytes=narrowest - 1)
    assert f"'bytes': {narrowest}" in str(info.value)
    assert "max_bytes" in str(info.value)


def test_fine_tune_runs_once_on_the_result(validation):
    calls = []
    small, report = fit_budget(small_mobilenet(), validation, max_flops=8000, fine_tune=calls.append)
    assert calls == [small]
    assert "accuracy_after_fine_tune" in report["final"]


@pytest.mark.parametrize("kwargs", [{}, {"max_bytes": -5}, {"max_flops": 0}, {"max_latency_ms": "1ms"}])
def test_bad_budgets_raise(validation, kwargs):
    with pytest.raises(ValueError, match="max_bytes|max_latency_ms|max_flops"):
        fit_budget(small_mobilenet(), validation, **kwargs)
