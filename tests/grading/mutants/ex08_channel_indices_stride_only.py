"""Mistake: treating the Flatten block as a stride only — returning the first feature of each channel,
offset + c·block, and forgetting the other block − 1 features of the channel."""
import numpy as np


def channel_indices(channels, offset=0, block=1):
    return offset + np.asarray(channels, dtype=np.int64) * block
