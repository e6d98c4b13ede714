"""A reverse-mode automatic-differentiation engine on NumPy arrays.

A :class:`Tensor` wraps an ``np.ndarray`` (``.data``) and, when it was produced by an operation on tensors
that require gradients, remembers its parents and a ``_backward`` function. ``loss.backward()`` visits the
graph in reverse topological order and calls each ``_backward(g)``, which receives the gradient of the loss
with respect to that tensor's output and returns the gradients for each parent (chain rule).

Each operation below is written micrograd-style: the forward computation and its backward formula side by side.
Broadcasting is handled once, in :func:`unbroadcast`: a gradient flowing back to an input that was broadcast
is summed over the broadcast dimensions so it has the input's shape again.

Example::

    >>> import minprune as mp
    >>> x = mp.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
"""
from __future__ import annotations

import contextlib
import numbers

import numpy as np

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Context manager in which operations do not record a graph (as ``torch.no_grad``)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    return _grad_enabled


def _as_array(data, dtype=None) -> np.ndarray:
    """Python numbers and lists become float32 (integers int64); NumPy arrays keep their dtype."""
    if isinstance(data, np.ndarray):
        return data if dtype is None else data.astype(dtype, copy=False)
    array = np.asarray(data, dtype=dtype)
    if dtype is None and array.dtype == np.float64:
        array = array.astype(np.float32)
    return array


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the dimensions that broadcasting added or stretched, so it has ``shape``.

    If ``x`` of shape (3, 1) was broadcast against (4, 3, 5), every element of ``x`` was used 4 × 5 times,
    so its gradient is the sum of the (4, 3, 5) gradient over the new leading axis and the stretched last axis.

    Example: ``unbroadcast(np.ones((4, 3, 5)), (3, 1))`` is ``np.full((3, 1), 20.0)``.
    """
    # BEGIN SOLUTION
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    stretched = tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    return grad.sum(axis=tuple(range(extra)) + stretched, keepdims=True).reshape(shape)
    # END SOLUTION


def matmul_backward(a: np.ndarray, b: np.ndarray, grad: np.ndarray) -> tuple:
    """Gradients of ``C = a @ b`` with respect to ``a`` and ``b``, given ``grad`` = dL/dC.

    For 2-D matrices, ``C_ij = Σ_k a_ik b_kj``, hence ``dL/da = grad @ bᵀ`` and ``dL/db = aᵀ @ grad``.
    For stacks of matrices (batched matmul, shapes (..., n, k) @ (..., k, m)) the same formula applies to the
    last two axes (swap them to transpose), and a batch dimension that was broadcast must be summed away so
    each gradient has its input's shape (use :func:`unbroadcast`).

    Shapes: a (..., n, k), b (..., k, m), grad (..., n, m) → (shape of a, shape of b).
    """
    # BEGIN SOLUTION
    grad_a = grad @ np.swapaxes(b, -1, -2)
    grad_b = np.swapaxes(a, -1, -2) @ grad
    return unbroadcast(grad_a, a.shape), unbroadcast(grad_b, b.shape)
    # END SOLUTION


class Tensor:
    """An n-dimensional array that records the operations applied to it, for automatic differentiation.

    Args:
        data: array-like. Python floats/lists become float32; a NumPy array keeps its dtype (float64 stays float64).
        requires_grad: whether ``backward()`` should compute ``.grad`` for this tensor.
        dtype: optional dtype to convert to.
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_retain", "op", "__weakref__")
    __array_priority__ = 100  # so ``ndarray * Tensor`` calls Tensor.__rmul__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _as_array(data, dtype)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._backward = None
        self._retain = False
        self.op = ""

    # ------------------------------------------------------------------ plumbing
    @staticmethod
    def _wrap(value, like: "Tensor" | None = None) -> "Tensor":
        """Wrap a number or array as a constant Tensor. Next to a floating tensor ``like``, numbers and integer
        arrays take its dtype (so ``x * 2`` stays float32). Next to an integer tensor, NumPy's promotion picks
        the dtype of a number (``labels * 0.5`` is float64; casting 0.5 to int64 would make it 0)."""
        if isinstance(value, Tensor):
            return value
        dtype = None
        if like is not None and isinstance(value, numbers.Number):
            dtype = like.data.dtype if like.data.dtype.kind == "f" else np.result_type(like.data, value)
        elif like is not None and isinstance(value, np.ndarray) and value.dtype.kind != "f":
            dtype = like.data.dtype if like.data.dtype.kind == "f" else None
        return Tensor(value, dtype=dtype)

    def _result(self, data: np.ndarray, parents: tuple, backward, op: str) -> "Tensor":
        """Make the output tensor of an op; record the graph only when some parent needs a gradient."""
        out = Tensor.__new__(Tensor)
        out.data, out.grad, out._retain, out.op = data, None, False, op
        out.requires_grad = _grad_enabled and any(p.requires_grad for p in parents)
        out._parents = parents if out.requires_grad else ()
        out._backward = backward if out.requires_grad else None
        return out

    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def __getstate__(self):
        # a copied or pickled tensor is a leaf: the graph (closures) is not part of its value
        return {"data": self.data, "grad": self.grad, "requires_grad": self.requires_grad}

    def __setstate__(self, state):
        self.data, self.grad, self.requires_grad = state["data"], state["grad"], state["requires_grad"]
        self._parents, self._backward, self._retain, self.op = (), None, False, ""

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}{grad})"

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self):
        return self.data.item()

    def detach(self) -> "Tensor":
        return Tensor(self.data)

    def zero_grad(self):
        self.grad = None

    def retain_grad(self):
        """Keep ``.grad`` on this intermediate tensor after ``backward()`` (leaves always keep theirs)."""
        self._retain = True

    # ------------------------------------------------------------------ backward pass
    def backward(self, grad=None):
        """Backpropagate from this tensor: ``grad`` defaults to 1 for a scalar.

        The graph is ordered with an iterative depth-first search (no recursion limit on long chains), then
        each node's gradient is handed to its ``_backward``, which returns one gradient per parent.
        Gradients accumulate into ``.grad`` of leaves (and of tensors that called ``retain_grad``).
        """
        if not self.requires_grad:
            raise RuntimeError("backward() called on a tensor that does not require grad (no graph was recorded)")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs, got shape {self.shape}")
            grad = np.ones_like(self.data)
        grad = np.asarray(_data(grad), dtype=self.data.dtype).reshape(self.shape)

        order, visited, stack = [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node._parents if id(p) not in visited)

        grads = {id(self): grad}
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if not node._parents or node._retain:
                # .grad keeps the tensor's own dtype, even when g was computed against a float64 operand
                own = g.astype(node.data.dtype, copy=node.grad is None)
                node.grad = own if node.grad is None else node.grad + own
            if node._backward is None:
                continue
            for parent, pg in zip(node._parents, node._backward(g)):
                if pg is None or not parent.requires_grad:
                    continue
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        other = Tensor._wrap(other, self)
        def backward(g):
            return unbroadcast(g, self.shape), unbroadcast(g, other.shape)
        return self._result(self.data + other.data, (self, other), backward, "add")

    def __sub__(self, other):
        other = Tensor._wrap(other, self)
        def backward(g):
            return unbroadcast(g, self.shape), unbroadcast(-g, other.shape)
        return self._result(self.data - other.data, (self, other), backward, "sub")

    def __mul__(self, other):
        other = Tensor._wrap(other, self)
        def backward(g):
            return unbroadcast(g * other.data, self.shape), unbroadcast(g * self.data, other.shape)
        return self._result(self.data * other.data, (self, other), backward, "mul")

    def __truediv__(self, other):
        other = Tensor._wrap(other, self)
        def backward(g):
            return (unbroadcast(g / other.data, self.shape),
                    unbroadcast(-g * self.data / (other.data * other.data), other.shape))
        return self._result(self.data / other.data, (self, other), backward, "div")

    def __neg__(self):
        return self._result(-self.data, (self,), lambda g: (-g,), "neg")

    def __pow__(self, exponent):
        if not isinstance(exponent, numbers.Number):
            raise TypeError(f"Tensor ** exponent: exponent must be a number, got {type(exponent).__name__}")
        def backward(g):
            return (g * exponent * self.data ** (exponent - 1),)
        return self._result(self.data ** exponent, (self,), backward, "pow")

    def __radd__(self, other):
        return Tensor._wrap(other, self) + self

    def __rsub__(self, other):
        return Tensor._wrap(other, self) - self

    def __rmul__(self, other):
        return Tensor._wrap(other, self) * self

    def __rtruediv__(self, other):
        return Tensor._wrap(other, self) / self

    def __matmul__(self, other):
        """Matrix product; batched over leading dimensions with broadcasting, as ``np.matmul``.
        For C = A @ B: dA = dC @ Bᵀ and dB = Aᵀ @ dC (then summed over broadcast batch dims)."""
        other = Tensor._wrap(other, self)
        a, b = self.data, other.data
        if a.ndim < 2 or b.ndim < 2:
            raise ValueError(f"matmul needs tensors with at least 2 dims, got shapes {a.shape} and {b.shape}")
        return self._result(a @ b, (self, other), lambda g: matmul_backward(a, b, g), "matmul")

    def __rmatmul__(self, other):
        return Tensor._wrap(other, self) @ self

    # comparisons give plain boolean arrays (no gradient flows through a comparison)
    def __lt__(self, other): return self.data < _data(other)
    def __le__(self, other): return self.data <= _data(other)
    def __gt__(self, other): return self.data > _data(other)
    def __ge__(self, other): return self.data >= _data(other)

    # ------------------------------------------------------------------ reductions
    def sum(self, axis=None, keepdims=False):
        def backward(g):
            if not keepdims and axis is not None:
                g = np.expand_dims(g, axis)
            return (np.broadcast_to(g, self.shape),)
        return self._result(self.data.sum(axis=axis, keepdims=keepdims), (self,), backward, "sum")

    def mean(self, axis=None, keepdims=False):
        count = self.data.size if axis is None else np.prod([self.shape[a] for a in np.atleast_1d(axis)])
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count)

    def var(self, axis=None, keepdims=False, unbiased=False):
        """Variance; ``unbiased=False`` divides by n (as BatchNorm's normalisation), True by n − 1."""
        centred = self - self.mean(axis=axis, keepdims=True)
        count = self.data.size if axis is None else np.prod([self.shape[a] for a in np.atleast_1d(axis)])
        return (centred * centred).sum(axis=axis, keepdims=keepdims) * (1.0 / (count - int(unbiased)))

    def _extreme(self, reduce, axis, keepdims, op):
        out = reduce(self.data, axis=axis, keepdims=True)
        def backward(g):
            if not keepdims and axis is not None:
                g = np.expand_dims(g, axis)
            elif axis is None:
                g = np.reshape(g, out.shape)
            hit = self.data == out  # ties share the gradient equally, as torch.amax
            return (hit * (g / hit.sum(axis=axis, keepdims=True)),)
        value = out if keepdims else (out.reshape(()) if axis is None else np.squeeze(out, axis=axis))
        return self._result(value, (self,), backward, op)

    def max(self, axis=None, keepdims=False):
        return self._extreme(np.max, axis, keepdims, "max")

    def min(self, axis=None, keepdims=False):
        return self._extreme(np.min, axis, keepdims, "min")

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return self._result(self.data.reshape(shape), (self,), lambda g: (g.reshape(self.shape),), "reshape")

    def transpose(self, *axes):
        """Permute dimensions (``axes`` as ``np.transpose``); with no axes, reverse them.
        The backward applies the inverse permutation."""
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else (axes or None)
        out = self.data.transpose(axes)  # validates the axes
        # argsort inverts a permutation of 0..ndim−1, so negative axes are made non-negative first
        inverse = None if axes is None else tuple(np.argsort([a % self.ndim for a in axes]))
        return self._result(out, (self,), lambda g: (g.transpose(inverse),), "transpose")

    permute = transpose

    @property
    def T(self):
        return self.transpose()

    def __getitem__(self, index):
        """Indexing and slicing. The backward scatters the gradient back; ``np.add.at`` accumulates repeated
        integer indices (gather-style backward), plain slices use direct assignment."""
        index = index.data if isinstance(index, Tensor) else index
        def backward(g):
            full = np.zeros_like(self.data)
            if _is_basic_index(index):
                full[index] = g
            else:
                np.add.at(full, index, g)
            return (full,)
        return self._result(self.data[index], (self,), backward, "getitem")

    # ------------------------------------------------------------------ elementwise functions
    def exp(self):
        out = np.exp(self.data)
        return self._result(out, (self,), lambda g: (g * out,), "exp")

    def log(self):
        return self._result(np.log(self.data), (self,), lambda g: (g / self.data,), "log")

    def sqrt(self):
        out = np.sqrt(self.data)
        return self._result(out, (self,), lambda g: (g * 0.5 / out,), "sqrt")

    def tanh(self):
        out = np.tanh(self.data)
        return self._result(out, (self,), lambda g: (g * (1 - out * out),), "tanh")

    def sigmoid(self):
        # the two branches avoid overflow of exp for large |x|
        x = self.data
        out = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
        out = out.astype(x.dtype, copy=False)
        return self._result(out, (self,), lambda g: (g * out * (1 - out),), "sigmoid")

    def relu(self):
        positive = self.data > 0
        return self._result(self.data * positive, (self,), lambda g: (g * positive,), "relu")

    def abs(self):
        return self._result(np.abs(self.data), (self,), lambda g: (g * np.sign(self.data),), "abs")

    def clip(self, low=None, high=None):
        inside = np.ones(self.shape, dtype=bool)
        if low is not None:
            inside &= self.data >= low
        if high is not None:
            inside &= self.data <= high
        return self._result(np.clip(self.data, low, high), (self,), lambda g: (g * inside,), "clip")


def _data(value):
    return value.data if isinstance(value, Tensor) else value


def _is_basic_index(index) -> bool:
    """True when ``index`` selects each element at most once (ints, slices, None, Ellipsis)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, numbers.Integral)) for p in parts)


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Create a Tensor (as ``torch.tensor``)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def where(condition, a, b) -> Tensor:
    """Elementwise ``a if condition else b``; the gradient goes to the branch that was chosen."""
    condition = np.asarray(_data(condition), dtype=bool)
    a = Tensor._wrap(a)
    b = Tensor._wrap(b, a)
    def backward(g):
        return unbroadcast(np.where(condition, g, 0), a.shape), unbroadcast(np.where(condition, 0, g), b.shape)
    return a._result(np.where(condition, a.data, b.data), (a, b), backward, "where")


def maximum(a, b) -> Tensor:
    """Elementwise maximum; on ties the gradient goes to ``a``."""
    a = Tensor._wrap(a)
    b = Tensor._wrap(b, a)
    return where(a.data >= b.data, a, b)


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis; the backward splits the gradient at the same offsets."""
    tensors = [Tensor._wrap(t) for t in tensors]
    offsets = np.cumsum([t.shape[axis] for t in tensors])[:-1]
    def backward(g):
        return tuple(np.split(g, offsets, axis=axis))
    return tensors[0]._result(np.concatenate([t.data for t in tensors], axis=axis), tuple(tensors), backward, "cat")


def stack(tensors, axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    tensors = [Tensor._wrap(t) for t in tensors]
    def backward(g):
        return tuple(np.moveaxis(g, axis, 0))
    return tensors[0]._result(np.stack([t.data for t in tensors], axis=axis), tuple(tensors), backward, "stack")
