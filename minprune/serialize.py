"""Saving and loading state dicts as ``.npz`` files — plain arrays, never pickled objects.

``np.save``/``np.load`` can store arbitrary Python objects with pickle, and unpickling a file runs code from
it. minprune refuses both ways: ``save`` rejects object arrays and ``load`` passes ``allow_pickle=False``.
A pruned model's state dict simply contains ``weight_orig`` and ``weight_mask`` arrays, so masks are saved too.

    >>> save(model, "lenet.npz")            # a Module or a dict of arrays
    >>> model.load_state_dict(load("lenet.npz"))
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np


def save(state, path, compressed: bool = False) -> str:
    """Write a state dict (or a Module's ``state_dict()``) to ``path`` as an ``.npz`` archive, atomically
    (a temporary file in the same folder, then a rename), and return the path."""
    if hasattr(state, "state_dict"):
        state = state.state_dict()
    arrays = OrderedDict()
    for key, value in state.items():
        array = np.asarray(value.data if hasattr(value, "data") and not isinstance(value, np.ndarray) else value)
        if array.dtype.kind == "O":
            raise TypeError(f"save: {key!r} is an object array; only numeric arrays can be saved without pickle")
        arrays[key] = array
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            (np.savez_compressed if compressed else np.savez)(f, **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def load(path) -> OrderedDict:
    """Read an ``.npz`` written by :func:`save` into an ordered dict of arrays (``allow_pickle=False``)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file {path!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return OrderedDict((key, archive[key]) for key in archive.files)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise ValueError(f"load: {path!r} is not a readable .npz state dict ({error})") from error
