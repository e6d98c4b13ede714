"""Mistake: squaring instead of taking the absolute value, (w · ∂L/∂w)² — the per-filter form of Molchanov et al.
2019 applied to single weights; same order, but not the first-order loss change the docstring asks for."""
import numpy as np


def taylor_scores(weight, grad):
    return (np.asarray(weight) * np.asarray(grad)) ** 2
