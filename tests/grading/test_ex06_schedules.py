"""Grader for exercise 06 (lesson 06, schedules and fine-tuning): the polynomial-decay sparsity of gradual
pruning (Zhu & Gupta 2017; TF-MOT's PolynomialDecay).

Every expected value is computed here in float64 from the formula written out:

    p = clip((step − begin) / (end − begin), 0, 1),    s = final + (initial − final) · (1 − p)^power

An implementation in float32 (as TensorFlow and the library) or in float64 both pass: values are compared
with a relative tolerance of 1e-6.
"""
import numbers

import pytest

pytestmark = pytest.mark.ex06


def formula(step, initial, final, begin, end, power=3):
    p = min(1.0, max(0.0, (step - begin) / (end - begin)))
    return final + (initial - final) * (1.0 - p) ** power


def check(impl, step, initial, final, begin, end, power=None):
    got = impl.polynomial_decay_sparsity(step, initial, final, begin, end) if power is None else \
        impl.polynomial_decay_sparsity(step, initial, final, begin, end, power)
    assert isinstance(got, numbers.Real), f"return a number, got {type(got).__name__}"
    expected = formula(step, initial, final, begin, end, 3 if power is None else power)
    assert float(got) == pytest.approx(expected, rel=1e-6, abs=1e-7), \
        f"polynomial_decay_sparsity(step={step}, initial={initial}, final={final}, begin={begin}, end={end}" \
        f"{'' if power is None else f', power={power}'}) = {got}, expected {expected:.7f}"


def test_polynomial_decay_sparsity_half_way_power_3(impl):
    # p = 0.5: s = 0.9 + (0 − 0.9) · 0.5³ = 0.7875 (linear would give 0.45)
    check(impl, 50, 0.0, 0.9, 0, 100)


@pytest.mark.parametrize("step", [0, 1, 10, 25, 33, 50, 75, 90, 99, 100])
def test_polynomial_decay_sparsity_along_the_ramp(impl, step):
    check(impl, step, 0.0, 0.8, 0, 100, 3)


@pytest.mark.parametrize("step", [10, 11, 17, 30, 49, 50])
def test_polynomial_decay_sparsity_begin_not_zero(impl, step):
    # p = (step − 10) / 40: an implementation using step / end alone is wrong here
    check(impl, step, 0.1, 0.7, 10, 50, 3)


def test_polynomial_decay_sparsity_at_begin_is_initial(impl):
    check(impl, 20, 0.25, 0.9, 20, 80, 3)


def test_polynomial_decay_sparsity_at_end_is_final(impl):
    check(impl, 80, 0.25, 0.9, 20, 80, 3)


@pytest.mark.parametrize("step", [0, 5, 19])
def test_polynomial_decay_sparsity_before_begin_stays_initial(impl, step):
    # p is clipped at 0: without the clip p < 0 and (1 − p)³ > 1 overshoots below the initial sparsity
    check(impl, step, 0.25, 0.9, 20, 80, 3)


@pytest.mark.parametrize("step", [81, 100, 200, 10_000])
def test_polynomial_decay_sparsity_after_end_stays_final(impl, step):
    # p is clipped at 1: without the clip (1 − p)³ < 0 and the sparsity goes past the final value
    check(impl, step, 0.25, 0.9, 20, 80, 3)


@pytest.mark.parametrize("power", [1, 2, 3, 1 / 3, 0.5])
@pytest.mark.parametrize("step", [3, 7, 12])
def test_polynomial_decay_sparsity_uses_the_power(impl, power, step):
    check(impl, step, 0.0, 0.6, 2, 14, power)


def test_polynomial_decay_sparsity_default_power_is_3(impl):
    check(impl, 4, 0.0, 0.9, 0, 10)


@pytest.mark.parametrize("step", [0, 3, 5, 8, 10])
def test_polynomial_decay_sparsity_decreasing_schedule(impl, step):
    # initial > final is allowed (the formula does not care): a swapped initial/final shows up here too
    check(impl, step, 0.6, 0.2, 0, 10, 2)


@pytest.mark.parametrize("step", [1, 2, 3, 6])
def test_polynomial_decay_sparsity_p_is_a_real_fraction(impl, step):
    # (step − begin) / (end − begin) with ints: 3 / 7 must be 0.43, not 0 (integer division)
    check(impl, step, 0.0, 0.5, 0, 7, 3)
