"""Mistake: forgetting the offset — a layer reading a concatenation would lose the channels of its *first* input
instead of the later one's (channel c at c·block + j, as if every group started at position 0)."""
import numpy as np


def channel_indices(channels, offset=0, block=1):
    channels = np.asarray(channels, dtype=np.int64)
    return (channels[:, None] * block + np.arange(block)[None, :]).ravel()
