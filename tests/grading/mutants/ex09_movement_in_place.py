"""Mistake: updates the caller's score array in place (``scores -= ...``) and returns it."""


def movement_score_update(scores, weight, grad):
    scores -= grad * weight
    return scores
