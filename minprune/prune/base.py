"""The pruning mechanism: masks as a re-parametrisation, exactly as ``torch.nn.utils.prune``.

Pruning ``module.weight`` does four things:

1. the *same* Parameter object moves to ``module.weight_orig`` (an optimizer built earlier keeps training it),
2. a float 0/1 mask is registered as the buffer ``module.weight_mask`` (saved in the state dict),
3. ``module.weight`` becomes a plain Tensor equal to ``weight_orig * weight_mask``,
4. a forward pre-hook (the pruning method object itself) recomputes ``module.weight`` before every forward.

Because the effective weight is a product with the mask, the gradient reaching ``weight_orig`` is masked and a
pruned entry's effective value is exactly 0 whatever the optimizer does (momentum, weight decay, Adam).
``remove(module, "weight")`` makes it permanent: a plain Parameter holding ``orig * mask`` again.

A method only decides *which* entries to zero: subclasses implement ``compute_mask(t, default_mask)``, given
the importance scores ``t`` (by default the current effective weight) and the mask so far. Pruning the same
parameter again chains methods in a :class:`PruningContainer`, which hands each new method only the entries
(or channels) still alive — so 50 % then 50 % gives 75 %, as in PyTorch.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..nn.module import Module, Parameter
from ..tensor import Tensor


def _array(value) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def validate_amount(amount) -> None:
    """Check a pruning amount when a method is built: an int ≥ 0 (a count) or a real in [0, 1] (a fraction)."""
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount!r} ({type(amount).__name__}). "
                        "Must be int (a count) or float (a fraction in [0, 1])")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and not 0.0 <= float(amount) <= 1.0):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def nparams_to_prune(amount, size: int) -> int:
    """How many of ``size`` entries (or channels) to prune: an int amount is a count; a float is the fraction
    ``round(amount · size)`` — Python's round, which rounds halves to even, as PyTorch. A count larger than
    ``size`` raises ValueError."""
    # BEGIN SOLUTION
    if isinstance(amount, numbers.Integral):
        if amount > size:
            raise ValueError(f"amount={amount} should be smaller than the number of parameters to prune={size}")
        return int(amount)
    return round(float(amount) * size)
    # END SOLUTION


def smallest_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Flat indices of the ``k`` smallest entries of ``scores``; among equal scores the lower index comes first.

    ``np.argpartition`` finds the k-th smallest value in O(n) but is not stable, so it cannot break ties by
    itself: take every entry strictly below the k-th value, then fill up with the tied entries in index order.
    Cost O(n) (no full sort).
    """
    flat = np.ravel(scores)
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    if k >= flat.size:
        return np.arange(flat.size)
    kth = np.partition(flat, k - 1)[k - 1]
    below = np.flatnonzero(flat < kth)
    ties = np.flatnonzero(flat == kth)[:k - below.size]
    return np.sort(np.concatenate([below, ties]))


class BasePruningMethod:
    """Base class of pruning methods; subclasses implement :meth:`compute_mask` and set ``PRUNING_TYPE``
    ("unstructured" | "structured" | "global"). Instances are the forward pre-hooks of pruned modules."""

    PRUNING_TYPE = "unstructured"
    _tensor_name: str | None = None

    def __call__(self, module: Module, inputs):
        # forward pre-hook: refresh the effective weight from the (trained) original and the mask
        setattr(module, self._tensor_name, self.apply_mask(module))

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        """Return a new 0/1 mask of ``t``'s shape, combining ``default_mask`` with this method's choice."""
        raise NotImplementedError

    def apply_mask(self, module: Module) -> Tensor:
        """The effective parameter ``orig * mask`` (a Tensor whose gradient reaches ``orig`` masked)."""
        if self._tensor_name is None:
            raise RuntimeError(f"{type(self).__name__} has not been applied to a module yet")
        orig = getattr(module, self._tensor_name + "_orig")
        return orig * getattr(module, self._tensor_name + "_mask")

    @classmethod
    def apply(cls, module: Module, name: str, *args, importance_scores=None, **kwargs):
        """Prune ``module.<name>`` with a new ``cls(*args, **kwargs)``; chain it with earlier pruning.

        Validation happens before anything changes; if ``compute_mask`` raises, the module is restored exactly.
        """
        if not isinstance(module, Module):
            raise TypeError(f"module must be a minprune Module, got {type(module).__name__}")
        old = _find_method(module, name)
        current = current_value(module, name)  # AttributeError / TypeError before anything changes
        scores = current if importance_scores is None else _array(importance_scores)
        if scores.shape != current.shape:
            raise ValueError(f"importance_scores for {name!r} must have the parameter's shape {current.shape}, "
                             f"got {scores.shape}")
        method = cls(*args, **kwargs)
        method._tensor_name = name
        hook = method
        if old is not None:
            # as PyTorch, the chain grows by one method (a container is extended, not nested); a *new*
            # container is built so that the registered hook is untouched if compute_mask raises
            hook = PruningContainer(*old) if isinstance(old, PruningContainer) else PruningContainer(old)
            hook.add_pruning_method(method)
            default_mask = np.array(getattr(module, name + "_mask"), copy=True)
        else:
            default_mask = np.ones(current.shape, dtype=current.dtype if current.dtype.kind == "f" else np.float32)
        mask = hook.compute_mask(scores, default_mask=default_mask)  # raises before anything has changed
        if old is None:
            module.register_parameter(name + "_orig", module._parameters[name])
            del module._parameters[name]
        else:
            _remove_hook(module, old)
        module.register_buffer(name + "_mask", np.asarray(mask, dtype=default_mask.dtype))
        setattr(module, name, hook.apply_mask(module))
        module.register_forward_pre_hook(hook)
        return hook

    def prune(self, t, default_mask=None, importance_scores=None) -> np.ndarray:
        """``t`` pruned by this method (without touching any module): ``t * compute_mask(scores, mask)``."""
        t = _array(t)
        scores = t if importance_scores is None else _array(importance_scores)
        if scores.shape != t.shape:
            raise ValueError(f"importance_scores must have shape {t.shape}, got {scores.shape}")
        mask = np.ones_like(t) if default_mask is None else _array(default_mask)
        return t * self.compute_mask(scores, default_mask=mask)

    def remove(self, module: Module):
        """Make pruning permanent: ``module.<name>`` becomes a Parameter holding ``orig * mask``; the original
        Parameter object is kept (so optimizers still hold it), ``_orig``, ``_mask`` and the hook disappear."""
        name = self._tensor_name
        if name is None:
            raise ValueError(f"Module {module} has to be pruned before pruning can be removed")
        weight = self.apply_mask(module).data
        module.__dict__.pop(name, None)
        orig = module._parameters.pop(name + "_orig")
        orig.data = weight
        del module._buffers[name + "_mask"]
        module.register_parameter(name, orig)

    def __repr__(self):
        fields = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "rng"}
        args = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        return f"{type(self).__name__}({args})"


class PruningContainer(BasePruningMethod):
    """A sequence of pruning methods applied one after the other to the same parameter (iterative pruning).

    Each new method sees only what is still alive: unstructured methods the unpruned entries (as a 1-D array),
    structured methods the channels along their ``dim`` that are not entirely pruned, global methods all.
    """

    def __init__(self, *methods):
        self._pruning_methods = ()
        for method in methods:
            self.add_pruning_method(method)

    def add_pruning_method(self, method: BasePruningMethod):
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method).__name__} is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name is not None and method._tensor_name != self._tensor_name:
            raise ValueError(f"Can only add pruning methods acting on the parameter named {self._tensor_name!r} "
                             f"to PruningContainer, got {method._tensor_name!r}")
        if method is not None:
            self._tensor_name = method._tensor_name
            self._pruning_methods += (method,)

    def __len__(self):
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, index):
        return self._pruning_methods[index]

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        """Apply the newest method to the still-alive part of ``t`` and write its decision into the mask."""
        method = self._pruning_methods[-1]
        new_mask = np.array(default_mask, dtype=default_mask.dtype, copy=True)
        if method.PRUNING_TYPE == "unstructured":
            alive = default_mask == 1
        elif method.PRUNING_TYPE == "structured":
            dim = _check_dim(t, method.dim)
            other_axes = tuple(d for d in range(t.ndim) if d != dim)
            keep = default_mask.sum(axis=other_axes) != 0
            alive = tuple(keep if d == dim else slice(None) for d in range(t.ndim))
        elif method.PRUNING_TYPE == "global":
            alive = (slice(None),) * t.ndim
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE!r}")
        new_mask[alive] = method.compute_mask(t[alive], default_mask=default_mask[alive])
        return new_mask

    def __repr__(self):
        return f"PruningContainer({', '.join(map(repr, self._pruning_methods))})"


def _check_dim(t: np.ndarray, dim: int) -> int:
    if not -t.ndim <= dim < t.ndim:
        raise IndexError(f"Invalid index {dim} for tensor of size {t.shape}")
    return dim % t.ndim


def current_value(module: Module, name: str) -> np.ndarray:
    """The current value of the prunable parameter ``module.<name>`` as an array, with PyTorch's errors.

    While pruned it is ``<name>_orig · <name>_mask``, recomputed here: the attribute ``module.<name>`` is only
    refreshed by the forward pre-hook, so after an optimizer step it is stale until the next forward.
    An unknown name raises AttributeError (naming the module's parameters), a name that is not a Parameter
    (``bias`` of ``Linear(bias=False)``, a buffer) raises TypeError, as PyTorch.
    """
    if _find_method(module, name) is not None:
        return _array(getattr(module, name + "_orig")) * getattr(module, name + "_mask")
    try:
        value = getattr(module, name)
    except AttributeError:
        raise AttributeError(f"{type(module).__name__} has no parameter or attribute {name!r}; its parameters "
                             f"are {[n for n, _ in module.named_parameters(recurse=False)]}") from None
    if not isinstance(value, Parameter) or name not in module._parameters:
        raise TypeError(f"{type(module).__name__}.{name} is {type(value).__name__}, not a Parameter: only "
                        "parameters can be pruned")
    return value.data


def _find_method(module: Module, name: str) -> BasePruningMethod | None:
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            return hook
    return None


def _remove_hook(module: Module, method: BasePruningMethod):
    for key, hook in list(module._forward_pre_hooks.items()):
        if hook is method:
            del module._forward_pre_hooks[key]


def remove(module: Module, name: str) -> Module:
    """Make the pruning of ``module.<name>`` permanent (see :meth:`BasePruningMethod.remove`)."""
    method = _find_method(module, name)
    if method is None:
        raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")
    method.remove(module)
    _remove_hook(module, method)
    return module


def is_pruned(module: Module) -> bool:
    """True when ``module`` or any of its submodules carries a pruning hook."""
    return any(isinstance(hook, BasePruningMethod)
               for m in module.modules() for hook in m._forward_pre_hooks.values())


def load_pruned_state_dict(model: Module, state: dict) -> Module:
    """Load a state dict saved from a *pruned* model (with ``<name>_orig`` / ``<name>_mask`` keys) into a fresh
    model of the same architecture: the masks are re-applied (``custom_from_mask``), then every array is loaded
    bit-exactly. PyTorch requires you to prune the new model by hand first; this does it for you.

    Everything is tried on a copy first, so on any error (unknown layer, shape mismatch, missing keys) the model
    is left unchanged.
    """
    import copy

    def restore(target: Module):
        modules = dict(target.named_modules())
        for key in state:
            if not key.endswith("_mask") or key[:-len("_mask")] + "_orig" not in state:
                continue
            path, _, attr = key[:-len("_mask")].rpartition(".")
            if path not in modules:
                raise KeyError(f"load_pruned_state_dict: {key!r} names module {path!r}, which the model lacks")
            module = modules[path]
            if _find_method(module, attr) is None:
                from .unstructured import custom_from_mask
                custom_from_mask(module, attr, np.ones(np.shape(state[key]), dtype=np.float32))
        target.load_state_dict(state)
        for module in target.modules():  # module.<name> = orig · mask with the loaded arrays, not the old ones
            for hook in module._forward_pre_hooks.values():
                if isinstance(hook, BasePruningMethod):
                    setattr(module, hook._tensor_name, hook.apply_mask(module))

    restore(copy.deepcopy(model))
    restore(model)
    return model


def trainable_parameter(module: Module, name: str) -> Parameter:
    """The Parameter trained for ``module.<name>``: ``<name>_orig`` while pruned, else ``<name>`` itself."""
    params = module._parameters
    return params[name + "_orig"] if name + "_orig" in params else params[name]
