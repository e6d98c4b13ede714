"""Mistake: ranks *all* entries by |weight| and builds the mask from scratch, so a pruned entry whose
weight_orig is large comes back (pruned weights must stay pruned)."""
import numpy as np


def imp_step(weight, mask, initial, rate):
    alive = int(np.sum(mask))
    keep = alive - round(rate * alive)
    order = np.argsort(-np.abs(np.ravel(weight)), kind="stable")
    new_mask = np.zeros(np.size(mask), dtype=np.float32)
    new_mask[order[:keep]] = 1.0
    new_mask = new_mask.reshape(np.shape(mask))
    return new_mask, np.asarray(initial) * new_mask
