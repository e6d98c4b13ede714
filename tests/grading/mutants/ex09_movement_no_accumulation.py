"""Mistake: returns this step's −g ⊙ W only, forgetting the scores accumulated so far."""


def movement_score_update(scores, weight, grad):
    return -grad * weight
