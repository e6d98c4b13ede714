"""Mistake: the wrong sign, S + g ⊙ W: it rewards weights moving *towards* zero (what magnitude pruning would
remove anyway), the opposite of movement pruning."""


def movement_score_update(scores, weight, grad):
    return scores + grad * weight
