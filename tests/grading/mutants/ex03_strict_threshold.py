"""Mistake: keeping only |w| > threshold, so a weight exactly at the threshold is pruned (the rule is: prune
|w| < threshold, keep |w| >= threshold)."""
import numpy as np


def threshold_mask(weight, threshold):
    return (np.abs(weight) > threshold).astype(np.float32)
