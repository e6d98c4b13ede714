"""Mistake: scoring by the gradient alone, |∂L/∂w| (the plain gradient criterion), forgetting the weight."""
import numpy as np


def taylor_scores(weight, grad):
    return np.abs(np.asarray(grad, dtype=np.float64))
