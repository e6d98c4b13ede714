"""Mistake: |W| instead of W (S − g ⊙ |W|): a negative weight moving further from zero loses score."""
import numpy as np


def movement_score_update(scores, weight, grad):
    return scores - grad * np.abs(weight)
