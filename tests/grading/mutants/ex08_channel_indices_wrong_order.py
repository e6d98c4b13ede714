"""Mistake: the right positions in the wrong order — position-major (the first feature of every channel, then
the second, …) instead of channel after channel, so the result no longer lines up with the channels."""
import numpy as np


def channel_indices(channels, offset=0, block=1):
    channels = np.asarray(channels, dtype=np.int64)
    return (offset + channels[None, :] * block + np.arange(block)[:, None]).ravel()
