"""Mistake: comparing the signed weight with the threshold (w >= threshold), which prunes every negative weight."""
import numpy as np


def threshold_mask(weight, threshold):
    return (np.asarray(weight) >= threshold).astype(np.float32)
