"""Shared test helpers: gradients by central finite differences, in float64.

``numerical_grad(f, x)`` estimates ∂f/∂x for a scalar function of one array with the central difference

    ∂f/∂x_i ≈ (f(x + ε·e_i) − f(x − ε·e_i)) / 2ε,

whose error is O(ε²) (the O(ε) terms cancel). With ε = 1e-6 and float64 arithmetic, the truncation error
(≈ ε²·f‴) and the rounding error (≈ 1e-16·|f| / ε) are both far below 1e-7, so an autograd gradient that
agrees to ~1e-6 is right, and a wrong formula (a missing factor, a transposed matrix, an unsummed broadcast)
is off by O(1).

``gradcheck(fn, *tensors)`` compares every ``.grad`` that ``backward()`` computes against that estimate. A
non-scalar output ``y`` is contracted with a fixed random array ``R`` (loss = Σ y ⊙ R), so each output element
enters with its own weight and a gradient that mixes up output positions cannot pass by symmetry.
"""
from __future__ import annotations

import numpy as np

import minprune as mp


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference estimate of ∂f/∂x; ``f()`` reads ``x`` (perturbed in place, restored afterwards)."""
    if x.dtype != np.float64:
        raise TypeError(f"numerical_grad: x must be float64 for a meaningful estimate, got {x.dtype}")
    grad = np.zeros_like(x)
    flat, flat_grad = x.reshape(-1), grad.reshape(-1)  # views (x must be contiguous, checked below)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_grad: x must be a contiguous array (it is perturbed in place)")
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = float(f())
        flat[i] = original - eps
        minus = float(f())
        flat[i] = original
        flat_grad[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(fn, *tensors, wrt=None, eps: float = 1e-6, atol: float = 1e-6, rtol: float = 1e-5, seed: int = 0):
    """Assert that autograd's gradients of ``fn(*tensors)`` match central finite differences.

    Args:
        fn: function of the tensors returning a Tensor of any shape (recomputed from ``.data`` on every call).
        tensors: float64 Tensors; gradients are checked for those in ``wrt`` (default: all that require grad).
        wrt: optional list of tensors to check (e.g. a few parameters of a model).
    Returns the autograd gradients (list, in the order of ``wrt``) for further checks.
    """
    wrt = [t for t in tensors if t.requires_grad] if wrt is None else list(wrt)
    if not wrt:
        raise ValueError("gradcheck: no tensor requires grad")
    for t in wrt:
        if t.dtype != np.float64:
            raise TypeError(f"gradcheck: tensors must be float64, got {t.dtype} of shape {t.shape}")
        t.grad = None
    out = fn(*tensors)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    (out * weights).sum().backward()
    analytic = [t.grad for t in wrt]

    def loss():
        with mp.no_grad():
            return (fn(*tensors).data * weights).sum()

    for k, (t, got) in enumerate(zip(wrt, analytic)):
        assert got is not None, f"gradcheck: input {k} (shape {t.shape}) received no gradient"
        assert got.shape == t.shape, f"gradcheck: input {k}: grad shape {got.shape} != tensor shape {t.shape}"
        assert got.dtype == np.float64, f"gradcheck: input {k}: grad dtype {got.dtype}, expected float64"
        expected = numerical_grad(loss, t.data, eps)
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol,
                                   err_msg=f"gradcheck: input {k} of shape {t.shape}")
    return analytic


def t64(array, requires_grad: bool = True) -> mp.Tensor:
    """A float64 tensor (copied, contiguous) that requires grad: the usual gradcheck input."""
    return mp.tensor(np.array(array, dtype=np.float64, copy=True), requires_grad=requires_grad)


def separated(shape, rng: np.random.Generator, low: float = -2.0, high: float = 2.0, gap: float = 1e-3):
    """Distinct random values at least ``gap`` apart, none within ``gap`` of 0 (float64).

    Finite differences are meaningless at a kink (relu/abs at 0, the arg-max of max/max_pool switching), so
    inputs of piecewise-linear ops keep every value ≥ gap ≫ ε away from kinks and ties.
    """
    size = int(np.prod(shape))
    grid = np.linspace(low, high, max(size * 4, 8))
    grid = grid[np.abs(grid) >= gap]
    if len(grid) < size or np.min(np.diff(grid)) < gap:
        raise ValueError(f"separated: cannot fit {size} values {gap} apart in [{low}, {high}]")
    return rng.permutation(grid)[:size].reshape(shape)
