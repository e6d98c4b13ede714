"""Mistake: adding the block's range to the channel number without scaling it by the block size
(offset + c + j), so the blocks of neighbouring channels overlap."""
import numpy as np


def channel_indices(channels, offset=0, block=1):
    channels = np.asarray(channels, dtype=np.int64)
    return (offset + channels[:, None] + np.arange(block)[None, :]).ravel()
