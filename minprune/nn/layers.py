"""The layers of a convolutional network, with PyTorch's names, argument order, shapes and initialisation."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .. import init
from ..tensor import Tensor
from .module import Module, Parameter


def _check_input(layer: Module, x: Tensor, ndims: tuple, axis: int, size: int, what: str):
    """Raise a clear error when ``x`` does not fit ``layer`` (named by its repr)."""
    if x.ndim not in ndims or x.shape[axis] != size:
        raise ValueError(f"{layer!r}: expected input with {' or '.join(map(str, ndims))} dims and {what} = {size}, "
                         f"got shape {x.shape}")


def _reset(layer: Module, rng):
    """PyTorch's default initialisation of a Linear/Conv2d: W ~ kaiming-uniform(a=√5), i.e. U(±1/√fan_in),
    and b ~ U(±1/√fan_in)."""
    weight = layer._parameters["weight_orig" if "weight_orig" in layer._parameters else "weight"]
    weight.data[...] = init.kaiming_uniform(weight.shape, a=math.sqrt(5), rng=rng, dtype=weight.dtype)
    if layer._parameters.get("bias") is not None:
        fan_in = init.fan_in_and_fan_out(weight.shape)[0]
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        layer.bias.data[...] = init.uniform(layer.bias.shape, -bound, bound, rng, weight.dtype)


class Identity(Module):
    def forward(self, x):
        return x


class Linear(Module):
    """y = x Wᵀ + b. Weight (out_features, in_features), bias (out_features,); input (..., in_features).

    Initialised as PyTorch: W, b ~ U(−1/√in, 1/√in) (kaiming-uniform with a = √5).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng=None, dtype=np.float32):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty((out_features,), dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """Draw fresh initial values in place (also of ``weight_orig`` when the layer is pruned)."""
        _reset(self, rng)

    def forward(self, x):
        _check_input(self, x, tuple(range(1, 8)), -1, self.in_features, "last dim (in_features)")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution. Weight (out_channels, in_channels/groups, kh, kw), bias (out_channels,);
    input (N, in_channels, H, W) → (N, out_channels, Ho, Wo). ``groups=in_channels=out_channels`` is depthwise."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, groups: int = 1,
                 bias: bool = True, rng=None, dtype=np.float32):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding = F._pair(kernel_size), F._pair(stride), F._pair(padding)
        shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty((out_channels,), dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """Draw fresh initial values in place (also of ``weight_orig`` when the layer is pruned)."""
        _reset(self, rng)

    def forward(self, x):
        _check_input(self, x, (4,), 1, self.in_channels, "channels (dim 1)")
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        s += f", padding={self.padding}" if self.padding != (0, 0) else ""
        s += f", groups={self.groups}" if self.groups != 1 else ""
        return s + (", bias=False" if self.bias is None else "")


class _BatchNorm(Module):
    _ndims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype=np.float32):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.running_mean = self.running_var = None

    def forward(self, x):
        _check_input(self, x, self._ndims, 1, self.num_features, "channels (dim 1)")
        use_batch_stats = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked = self.num_batches_tracked + 1
        return F.batch_norm(x, self.running_mean if self.track_running_stats else None,
                            self.running_var if self.track_running_stats else None,
                            self.weight, self.bias, use_batch_stats, self.momentum, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs."""
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, per channel."""
    _ndims = (4,)


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Flatten(Module):
    """Flatten all dims from ``start_dim`` (default 1): (N, C, H, W) → (N, C·H·W)."""

    def __init__(self, start_dim: int = 1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride if stride is not None else kernel_size, padding

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class Dropout(Module):
    """Inverted dropout with probability ``p``; the mask is drawn from ``rng`` (default: minprune's generator)."""

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p, self.rng = p, rng

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.rng if self.rng is not None else init.default_generator)

    def extra_repr(self):
        return f"p={self.p}"


class Sequential(Module):
    """Modules applied in order; children are named "0", "1", … and indexable (``model[0]``, slices, len)."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(dict(items[index]))
        return items[index][1]

    def __setitem__(self, index: int, module: Module):
        self._modules[list(self._modules)[index]] = module

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module):
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


def leaf_layers(module: Module, prefix: str = ""):
    """Yield ``(dotted name, layer)`` for the chain of leaf layers of (nested) Sequentials, in order; a module
    that is not a Sequential is itself a leaf. Compaction and deployment walk sequential nets with this."""
    if isinstance(module, Sequential):
        for name, child in module.named_children():
            yield from leaf_layers(child, f"{prefix}.{name}" if prefix else name)
    else:
        yield prefix, module


class ModuleList(Module):
    """A list of modules registered as children "0", "1", …"""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module):
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, index: int):
        return list(self._modules.values())[index]

    def __setitem__(self, index: int, module: Module):
        self._modules[list(self._modules)[index]] = module

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())
