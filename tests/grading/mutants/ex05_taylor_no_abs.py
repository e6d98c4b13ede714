"""Mistake: forgetting the absolute value — the signed first-order term w · ∂L/∂w, so a weight whose removal
would raise the loss a lot can score negative and be pruned first."""
import numpy as np


def taylor_scores(weight, grad):
    return np.asarray(weight) * np.asarray(grad)
