"""``Module`` and ``Parameter``: the containers every layer and model is built from (as ``torch.nn.Module``).

A Module keeps three registries, filled automatically by attribute assignment:

- ``_parameters``: trainable :class:`Parameter` tensors (``self.weight = Parameter(...)``),
- ``_buffers``: plain NumPy arrays that are state but not trained (BatchNorm's running statistics, pruning masks),
- ``_modules``: child modules (``self.fc1 = Linear(...)``), which gives the dotted names ``"fc1.weight"``.

Forward pre-hooks run before ``forward`` and may replace its inputs; pruning uses one to recompute
``module.weight = weight_orig * weight_mask`` before every forward pass, exactly as PyTorch does.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a trainable parameter of a Module (``requires_grad=True``)."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class RemovableHandle:
    """Returned by ``register_*_hook``; ``handle.remove()`` unregisters the hook."""

    def __init__(self, hooks: dict, key: int):
        self.hooks, self.key = hooks, key

    def remove(self):
        self.hooks.pop(self.key, None)


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of all layers and models. Subclasses set attributes in ``__init__`` and define ``forward``."""

    _hook_counter = 0

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ attribute registry
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() was called")
        params, modules, buffers = self._parameters, self._modules, self._buffers
        if isinstance(value, Parameter):
            self.__dict__.pop(name, None)
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            self.__dict__.pop(name, None)
            params.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                "(a Parameter or None is expected)")
            params[name] = None
        elif name in buffers:
            buffers[name] = None if value is None else np.asarray(value)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # only called when normal lookup fails: look in the registries
        for registry in ("_parameters", "_buffers", "_modules"):
            items = self.__dict__.get(registry)
            if items is not None and name in items:
                return items[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None):
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name: str, array):
        """Register a NumPy array as state that is saved in ``state_dict`` but not trained."""
        if name in self._parameters or name in self._modules:
            raise KeyError(f"attribute {name!r} already exists")
        self.__dict__.pop(name, None)
        self._buffers[name] = None if array is None else np.asarray(array)

    def add_module(self, name: str, module: Module | None):
        self._modules[name] = module

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix: str = "", memo: set | None = None):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self):
        return (m for _, m in self.named_children())

    def _named_members(self, registry: str, recurse: bool):
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{prefix}.{name}" if prefix else name), value

    def named_parameters(self, recurse: bool = True):
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse: bool = True):
        return (p for _, p in self.named_parameters(recurse))

    def named_buffers(self, recurse: bool = True):
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse: bool = True):
        return (b for _, b in self.named_buffers(recurse))

    def get_submodule(self, target: str) -> Module:
        """The module at a dotted path such as ``"features.0"`` (``""`` is the model itself)."""
        module = self
        for part in filter(None, target.split(".")):
            if part not in module._modules:
                names = [n for n, _ in self.named_modules() if n]
                raise AttributeError(f"{type(self).__name__} has no submodule {target!r}; modules are: {names}")
            module = module._modules[part]
        return module

    def apply(self, fn):
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes, grads, dtype
    def train(self, mode: bool = True):
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def to(self, dtype):
        """Convert every floating parameter and buffer to ``dtype`` in place (the Parameter objects stay)."""
        for module in self.modules():
            for p in module._parameters.values():
                if p is not None:
                    p.data = p.data.astype(dtype)
                    p.grad = None
            for name, b in module._buffers.items():
                if b is not None and b.dtype.kind == "f":
                    module._buffers[name] = b.astype(dtype)
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> OrderedDict:
        """Every parameter and buffer as a copied NumPy array, keyed by dotted name."""
        state = OrderedDict()
        for prefix, module in self.named_modules():
            for registry in (module._parameters, module._buffers):
                for name, value in registry.items():
                    if value is not None:
                        data = value.data if isinstance(value, Tensor) else value
                        state[f"{prefix}.{name}" if prefix else name] = np.array(data, copy=True)
        return state

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into this model's parameters and buffers, in place.

        Everything is checked first — missing keys, unexpected keys (when ``strict``) and shape mismatches are
        all listed in one ``RuntimeError`` — so a failed load leaves the model exactly as it was.
        """
        own = {}
        for prefix, module in self.named_modules():
            for kind, registry in (("param", module._parameters), ("buffer", module._buffers)):
                for name, value in registry.items():
                    if value is not None:
                        own[f"{prefix}.{name}" if prefix else name] = (module, kind, name, value)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = [f"{k}: model {np.shape(own[k][3].data if own[k][1] == 'param' else own[k][3])}, "
                      f"state_dict {np.shape(state_dict[k])}"
                      for k in own if k in state_dict and np.shape(state_dict[k]) != np.shape(
                          own[k][3].data if own[k][1] == "param" else own[k][3])]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if mismatched:
            problems.append("shape mismatches: " + "; ".join(mismatched))
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}: " + ". ".join(problems))
        for key, (module, kind, name, value) in own.items():
            if key in state_dict:
                if kind == "param":
                    value.data[...] = state_dict[key]
                else:
                    module._buffers[name] = np.array(state_dict[key], dtype=value.dtype, copy=True)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ hooks and calling
    def _add_hook(self, registry: OrderedDict, hook) -> RemovableHandle:
        Module._hook_counter += 1
        registry[Module._hook_counter] = hook
        return RemovableHandle(registry, Module._hook_counter)

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """``hook(module, inputs)`` runs before ``forward``; if it returns a value, that replaces the inputs."""
        return self._add_hook(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook) -> RemovableHandle:
        """``hook(module, inputs, output)`` runs after ``forward``; if it returns a value, that is the output."""
        return self._add_hook(self._forward_hooks, hook)

    def __call__(self, *inputs, **kwargs):
        inputs = tuple(Tensor(x) if isinstance(x, np.ndarray) else x for x in inputs)
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, inputs)
            if result is not None:
                inputs = result if isinstance(result, tuple) else (result,)
        output = self.forward(*inputs, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, inputs, output)
            if result is not None:
                output = result
        return output

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ")" if not lines else head + "\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return list(super().__dir__()) + list(self._parameters) + list(self._buffers) + list(self._modules)
