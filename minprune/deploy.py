"""Deploy a compressed model (the seed §4 step 5): one self-describing file, and a loader that rebuilds it.

    deploy.export(model, "lenet.mpz", format="sparse")      # "dense" | "sparse" | "int8" | "deep_compression"
    served = deploy.load("lenet.mpz")                        # an inference-only nn.Sequential

The file is an ``.npz`` archive (never pickled) holding a JSON header — ``magic`` = "minprune", ``version``,
``format``, the ``architecture`` (one entry per layer) and where each array lives — and one flat *blob* per
dtype (all float32 values together, all int32 indices together, …), so the archive adds a few hundred bytes
whatever the number of layers. The payload is exactly what :func:`minprune.metrics.model_size_bytes` counts:

- "dense": every array in float32;
- "sparse": each weight (≥ 2-D) as the CSR of its 2-D view (float32 values, int32 column indices and row
  pointers), 1-D arrays dense;
- "int8": each weight symmetric per-output-channel int8 (1 byte each) + one float32 scale per row;
- "deep_compression": each weight k-means-shared (≤ 2^8 distinct non-zero values) and Huffman-encoded with
  relative indices (:mod:`minprune.related.deep_compression`).

Supported: chains of layers (nested ``Sequential``s, e.g. the LeNets, ``models.mlp`` and compacted models).
``to_torch_state_dict`` hands the weights to PyTorch.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from . import nn
from .nn.module import Parameter
from .related import deep_compression as dc
from .related.quantize import calibrate, qrange, quantize
from .sparse import csr_from_dense

MAGIC, VERSION = "minprune", 1
FORMATS = ("dense", "sparse", "int8", "deep_compression")
_SIMPLE = {"ReLU": nn.ReLU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "Identity": nn.Identity}


class DeployError(ValueError):
    """A deployment file that cannot be read: names the file and the field at fault."""


def _effective(module, name):
    mask = module._buffers.get(name + "_mask")
    key = name + "_orig" if mask is not None else name
    param = module._parameters.get(key)
    return None if param is None else (param.data if mask is None else param.data * mask).astype(np.float32)


def _describe(name, layer) -> dict:
    kind = type(layer).__name__
    if isinstance(layer, nn.Linear):
        return {"type": "Linear", "name": name, "in": layer.in_features, "out": layer.out_features,
                "bias": layer.bias is not None}
    if isinstance(layer, nn.Conv2d):
        return {"type": "Conv2d", "name": name, "in": layer.in_channels, "out": layer.out_channels,
                "kernel": list(layer.kernel_size), "stride": list(layer.stride), "padding": list(layer.padding),
                "groups": layer.groups, "bias": layer.bias is not None}
    if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return {"type": kind, "name": name, "features": layer.num_features, "eps": layer.eps}
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
        return {"type": kind, "name": name, "kernel": layer.kernel_size, "stride": layer.stride,
                "padding": layer.padding}
    if isinstance(layer, nn.AdaptiveAvgPool2d):
        return {"type": kind, "name": name, "output_size": layer.output_size}
    if isinstance(layer, nn.Flatten):
        return {"type": kind, "name": name, "start_dim": layer.start_dim}
    if isinstance(layer, nn.LeakyReLU):
        return {"type": kind, "name": name, "negative_slope": layer.negative_slope}
    if isinstance(layer, nn.Dropout):
        return {"type": "Identity", "name": name}       # inference: dropout is the identity
    if kind in _SIMPLE:
        return {"type": kind, "name": name}
    raise TypeError(f"deploy.export: layer {name!r} ({kind}) is not supported; export chains of Linear, Conv2d, "
                    "BatchNorm, activations, pooling, Flatten and Dropout")


class _Blobs:
    """Arrays appended to one flat blob per dtype; each gets a (dtype, offset, shape) entry for the header."""

    def __init__(self):
        self.parts = {}

    def add(self, array) -> dict:
        array = np.ascontiguousarray(array)
        parts = self.parts.setdefault(array.dtype.str, [])
        offset = sum(p.size for p in parts)
        parts.append(array.ravel())
        return {"dtype": array.dtype.str, "offset": int(offset), "shape": list(array.shape)}

    def arrays(self) -> dict:
        return {f"blob{dtype}": np.concatenate(parts) for dtype, parts in self.parts.items()}


def _encode_weight(weight, fmt, blobs) -> dict:
    if fmt == "dense":
        return {"dense": blobs.add(weight)}
    matrix = weight.reshape(weight.shape[0], -1)
    if fmt == "sparse":
        values, cols, rows = csr_from_dense(matrix)
        return {"values": blobs.add(values.astype(np.float32)), "col_idx": blobs.add(cols), "row_ptr": blobs.add(rows)}
    if fmt == "int8":
        scale, _ = calibrate(matrix, bits=8, symmetric=True, axis=0)
        qmin, qmax = qrange(8, True)
        return {"q": blobs.add(quantize(matrix, scale, 0, qmin, qmax, axis=0).astype(np.int8)),
                "scale": blobs.add(np.asarray(scale, np.float32))}
    try:
        layer = dc.encode_shared_weight(weight)
    except ValueError as error:
        raise ValueError(f"deploy.export: format 'deep_compression': {error}") from None
    return {"codebook": blobs.add(layer.codebook), "weight_lengths": blobs.add(layer.weight_lengths),
            "index_lengths": blobs.add(layer.index_lengths),
            "weights": blobs.add(np.frombuffer(layer.weights, np.uint8)),
            "index": blobs.add(np.frombuffer(layer.index, np.uint8)),
            "bits": [layer.weight_bits, layer.index_bits_used, layer.count]}


def _is_chain(model) -> bool:
    try:
        for name, layer in nn.leaf_layers(model):
            _describe(name, layer)
        return True
    except TypeError:
        return False


def _export_by_config(model, format, blobs) -> dict:
    """A model class of ``minprune.models`` with a ``config()``: store the class, its config, and every
    inference array by name (weights ≥ 2-D in ``format``, the rest dense)."""
    from . import models
    from .metrics import inference_arrays

    if not hasattr(model, "config") or getattr(models, type(model).__name__, None) is not type(model):
        raise TypeError(f"deploy.export: {type(model).__name__} is neither a chain of supported layers nor a "
                        "minprune.models class with a config() method")
    arrays = {}
    for name, array in inference_arrays(model).items():
        array = np.asarray(array, dtype=np.float32)
        arrays[name] = _encode_weight(array, format, blobs) if array.ndim >= 2 else {"dense": blobs.add(array)}
        arrays[name]["shape"] = list(array.shape)
    return {"class": type(model).__name__, "config": model.config(), "arrays": arrays}


def export(model, path, format: str = "dense") -> Path:
    """Write ``model`` (eval-mode values; pruning masks applied) to ``path`` in ``format``; returns the path.
    Chains of layers are described layer by layer; ``minprune.models`` classes with a ``config()`` (e.g. a
    structurally pruned MobileNetMini) by class, config and named arrays. Written to a temporary file in the
    same folder, then renamed, so a failure leaves nothing half-written."""
    if format not in FORMATS:
        raise ValueError(f"deploy.export: format must be one of {FORMATS}, got {format!r}")
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"deploy.export: the folder {str(folder)!r} of {str(path)!r} does not exist")
    blobs = _Blobs()
    architecture = [] if _is_chain(model) else _export_by_config(model, format, blobs)
    for name, layer in nn.leaf_layers(model) if isinstance(architecture, list) else ():
        entry = _describe(name, layer)
        if entry["type"] in ("Linear", "Conv2d"):
            entry["weight"] = _encode_weight(_effective(layer, "weight"), format, blobs)
            if entry["bias"]:
                entry["bias_data"] = blobs.add(_effective(layer, "bias"))
        elif entry["type"].startswith("BatchNorm"):
            for key in ("weight", "bias"):
                entry[key] = blobs.add(_effective(layer, key))
            for key in ("running_mean", "running_var"):
                entry[key] = blobs.add(layer._buffers[key].astype(np.float32))
        architecture.append(entry)
    header = {"magic": MAGIC, "version": VERSION, "format": format, "architecture": architecture}
    arrays = blobs.arrays()
    arrays["header"] = np.frombuffer(json.dumps(header, separators=(",", ":")).encode(), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def _take(archive, ref, path, field) -> np.ndarray:
    key = f"blob{ref['dtype']}"
    if key not in archive:
        raise DeployError(f"{path}: field {field!r} refers to missing array {key!r}")
    blob = archive[key]
    size = int(np.prod(ref["shape"], dtype=np.int64))
    if ref["offset"] + size > blob.size:
        raise DeployError(f"{path}: field {field!r} needs {size} values at offset {ref['offset']}, "
                          f"but {key!r} holds only {blob.size} (truncated file?)")
    return blob[ref["offset"]:ref["offset"] + size].reshape(ref["shape"])


def _decode_weight(archive, spec, shape, fmt, path, field) -> np.ndarray:
    rows = shape[0]
    cols = int(np.prod(shape[1:]))
    if fmt == "dense":
        weight = _take(archive, spec["dense"], path, field)
    elif fmt == "sparse":
        values, col_idx, row_ptr = (_take(archive, spec[k], path, f"{field}.{k}") for k in ("values", "col_idx", "row_ptr"))
        if (len(row_ptr) != rows + 1 or row_ptr[0] != 0 or np.any(np.diff(row_ptr) < 0)
                or row_ptr[-1] != len(values) or len(col_idx) != len(values)
                or (col_idx.size and (col_idx.min() < 0 or col_idx.max() >= cols))):
            raise DeployError(f"{path}: field {field!r}: CSR arrays do not match the shape {tuple(shape)} in the JSON")
        weight = np.zeros((rows, cols), np.float32)
        weight[np.repeat(np.arange(rows), np.diff(row_ptr)), col_idx] = values
    elif fmt == "int8":
        q = _take(archive, spec["q"], path, f"{field}.q").astype(np.float32)
        scale = _take(archive, spec["scale"], path, f"{field}.scale")
        if q.shape != (rows, cols) or scale.shape != (rows,):
            raise DeployError(f"{path}: field {field!r}: int8 values {q.shape} and scales {scale.shape} do not match "
                              f"the shape {tuple(shape)} in the JSON")
        weight = q * scale[:, None]
    else:
        weight_bits, index_bits, count = spec["bits"]
        layer = dc.EncodedLayer(tuple(shape), _take(archive, spec["codebook"], path, field),
                                _take(archive, spec["weight_lengths"], path, field),
                                _take(archive, spec["index_lengths"], path, field),
                                _take(archive, spec["weights"], path, field).tobytes(), weight_bits,
                                _take(archive, spec["index"], path, field).tobytes(), index_bits, count)
        try:
            weight = dc.decode_layer(layer)
        except (IndexError, ValueError) as error:
            raise DeployError(f"{path}: field {field!r}: the Huffman streams do not decode ({error})") from error
    if weight.size != rows * cols:
        raise DeployError(f"{path}: field {field!r} has {weight.size} values, the JSON shape {tuple(shape)} needs "
                          f"{rows * cols}")
    return weight.reshape(shape).astype(np.float32)


def _build(entry, archive, fmt, path):
    kind, field = entry["type"], entry.get("name", "?")
    if kind == "Linear":
        layer = nn.Linear(entry["in"], entry["out"], bias=entry["bias"])
        shape = (entry["out"], entry["in"])
    elif kind == "Conv2d":
        layer = nn.Conv2d(entry["in"], entry["out"], tuple(entry["kernel"]), tuple(entry["stride"]),
                          tuple(entry["padding"]), entry["groups"], bias=entry["bias"])
        shape = layer.weight.shape
    elif kind in ("BatchNorm1d", "BatchNorm2d"):
        layer = getattr(nn, kind)(entry["features"], eps=entry["eps"])
        for key in ("weight", "bias", "running_mean", "running_var"):
            value = _take(archive, entry[key], path, f"{field}.{key}").copy()
            if value.shape != (entry["features"],):
                raise DeployError(f"{path}: field '{field}.{key}' has shape {value.shape}, the JSON says "
                                  f"({entry['features']},)")
            if key in ("weight", "bias"):
                setattr(layer, key, Parameter(value))
            else:
                layer._buffers[key] = value
        return layer
    elif kind in ("MaxPool2d", "AvgPool2d"):
        return getattr(nn, kind)(entry["kernel"], entry["stride"], entry["padding"])
    elif kind == "AdaptiveAvgPool2d":
        return nn.AdaptiveAvgPool2d(entry["output_size"])
    elif kind == "Flatten":
        return nn.Flatten(entry["start_dim"])
    elif kind == "LeakyReLU":
        return nn.LeakyReLU(entry["negative_slope"])
    elif kind in _SIMPLE:
        return _SIMPLE[kind]()
    else:
        raise DeployError(f"{path}: field 'architecture' has an unknown layer type {kind!r}")
    layer.weight = Parameter(_decode_weight(archive, entry["weight"], shape, fmt, path, f"{field}.weight"))
    if entry["bias"]:
        bias = _take(archive, entry["bias_data"], path, f"{field}.bias")
        if bias.shape != (entry["out"],):
            raise DeployError(f"{path}: field '{field}.bias' has shape {bias.shape}, the JSON says ({entry['out']},)")
        layer.bias = Parameter(bias.astype(np.float32))
    return layer


def load(path) -> nn.Sequential:
    """Rebuild an inference model (eval mode) from a file written by :func:`export`. Outputs equal the exported
    model's exactly for "dense" and "sparse"; for "int8" within the quantization error (each weight within half
    a step, scale/2, of its value); for "deep_compression" exactly those of the k-means-shared model."""
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not hasattr(loaded, "files"):            # a bare .npy array, not an archive
            raise ValueError("a single .npy array, not an .npz archive")
        with loaded:
            archive = {key: loaded[key] for key in loaded.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise DeployError(f"{path}: not a readable minprune deployment file ({error})") from error
    if "header" not in archive:
        raise DeployError(f"{path}: field 'header' is missing")
    try:
        header = json.loads(archive["header"].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DeployError(f"{path}: field 'header' is not valid JSON ({error})") from error
    if not isinstance(header, dict):
        raise DeployError(f"{path}: field 'header' is not a JSON object")
    if header.get("magic") != MAGIC:
        raise DeployError(f"{path}: field 'magic' is {header.get('magic')!r}, expected {MAGIC!r}")
    if header.get("version") != VERSION:
        raise DeployError(f"{path}: field 'version' is {header.get('version')!r}, this minprune reads {VERSION}")
    fmt = header.get("format")
    if fmt not in FORMATS:
        raise DeployError(f"{path}: field 'format' is {fmt!r}, expected one of {FORMATS}")
    architecture = header.get("architecture")
    if isinstance(architecture, dict):
        return _load_by_config(architecture, archive, fmt, path)
    if not isinstance(architecture, list):
        raise DeployError(f"{path}: field 'architecture' is missing or not a list")
    layers = {}
    for i, entry in enumerate(architecture):
        name = str(entry.get("name", i)) if isinstance(entry, dict) else str(i)
        try:
            layers[name.replace(".", "_")] = _build(entry, archive, fmt, path)
        except DeployError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            raise DeployError(f"{path}: field 'architecture[{i}]' (layer {name!r}) is malformed: "
                              f"{type(error).__name__}: {error}") from error
    return nn.Sequential(layers).eval()


def _load_by_config(architecture, archive, fmt, path):
    """Rebuild a ``minprune.models`` class from its stored config and named arrays."""
    from . import models

    cls = getattr(models, str(architecture.get("class", "")), None)
    if not isinstance(cls, type) or not hasattr(cls, "config"):
        raise DeployError(f"{path}: field 'architecture.class' is {architecture.get('class')!r}, not a minprune model")
    try:
        model = cls(**architecture["config"])
        state = {name: (_decode_weight(archive, spec, tuple(spec["shape"]), fmt, path, name)
                        if len(spec["shape"]) >= 2 else _take(archive, spec["dense"], path, name))
                 for name, spec in architecture["arrays"].items()}
    except (KeyError, TypeError) as error:
        raise DeployError(f"{path}: field 'architecture' is malformed: {type(error).__name__}: {error}") from error
    for name, value in model.state_dict().items():
        if name.endswith("num_batches_tracked"):   # bookkeeping, not stored for inference
            state.setdefault(name, value)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise DeployError(f"{path}: field 'architecture.arrays' does not match {cls.__name__}: {error}") from error
    return model.eval()


def to_torch_state_dict(model) -> dict:
    """``{name: array}`` with PyTorch's names and shapes (pruning merged: ``weight`` = orig · mask; BatchNorm's
    ``num_batches_tracked`` as int64), for the same architecture written in PyTorch:

        torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_state_dict(model).items()})
    """
    state = {}
    for prefix, module in model.named_modules():
        dotted = (lambda n: f"{prefix}.{n}") if prefix else (lambda n: n)
        for name in list(module._parameters):
            if module._parameters[name] is None:
                continue
            base = name[:-len("_orig")] if name.endswith("_orig") else name
            state[dotted(base)] = np.ascontiguousarray(_effective(module, base))
        for name, buffer in module._buffers.items():
            if buffer is not None and not name.endswith("_mask"):
                state[dotted(name)] = np.array(buffer, dtype=np.int64 if name == "num_batches_tracked" else buffer.dtype)
    return state
