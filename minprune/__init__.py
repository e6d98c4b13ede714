"""minprune: a small, transparent, pure-NumPy deep-learning library with a complete model-pruning toolkit.

    import minprune as mp
    from minprune import nn, functional as F, optim, prune

Every random thing takes a ``np.random.Generator`` (``rng=``); see ``minprune.init`` for the default.
"""
from . import data, functional, init, metrics, models, nn, optim, prune, related, serialize, sparse, train
from .tensor import Tensor, concatenate, is_grad_enabled, maximum, no_grad, stack, tensor, where

__version__ = "0.1.0"
__all__ = ["Tensor", "tensor", "no_grad", "is_grad_enabled", "where", "maximum", "concatenate", "stack",
           "data", "functional", "init", "metrics", "models", "nn", "optim", "prune", "related", "serialize", "sparse",
           "train", "__version__"]
