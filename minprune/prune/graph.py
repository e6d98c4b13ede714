"""Dependency-aware structured pruning: which channels must go *together* (Fang et al. 2023, "DepGraph").

In a plain chain, removing filter c of one conv means removing input channel c of the next. Real networks
couple more: a residual add ties the channels of both operands (and so of every block in a stage), BatchNorm
follows its conv, a depthwise conv ties its input and output channels, a concatenation splits a consumer's
inputs among several producers, and Flatten maps one channel to a block of h·w features. Cut one member and
forget a coupled one, and the model breaks — with a shape error, or silently.

:class:`DependencyGraph` traces one forward pass through the autograd graph (every op knows its inputs;
parameters are attributed to modules by identity) and derives *pruning groups*: all ``(module, parameter,
dim, indices)`` that must be removed together, in the numbering of the group's channels.

    graph = DependencyGraph(model, example_input)
    group = graph.group(model.layer1[0].conv1, dim=0)   # the output channels of that conv
    print(group)                                        # every tied member, and why
    group.prune([0, 5])                                 # remove channels 0 and 5 everywhere, in place

How the trace works: each tensor derived from the input gets a *view* — a list of segments
``(space, offset, length, block)`` saying which channel space its channel axis (features, for a flattened
tensor) comes from. Pass-through ops (activations, pooling, BatchNorm, dropout, spatial means, scaling by a
constant) keep the view; a residual add merges its operands' spaces (union–find); a channel concatenation
concatenates segments; Flatten multiplies offsets and blocks by h·w; Linear and Conv2d start a new space.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..nn.module import Parameter
from ..tensor import Tensor, is_grad_enabled
from .base import trainable_parameter

_PASS_THROUGH_OPS = {"relu", "leaky_relu", "sigmoid", "tanh", "gelu", "dropout", "max_pool2d", "avg_pool2d",
                     "neg", "abs", "clip", "exp", "sqrt", "log", "pow"}
_ELEMENTWISE_BINARY = {"add", "sub", "mul", "div", "where"}


class _Spaces:
    """Union–find over channel spaces, with each space's channel count."""

    def __init__(self):
        self.parent, self.size = [], []

    def new(self, size: int) -> int:
        self.parent.append(len(self.parent))
        self.size.append(size)
        return len(self.parent) - 1

    def find(self, s: int) -> int:
        while self.parent[s] != s:
            self.parent[s] = self.parent[self.parent[s]]
            s = self.parent[s]
        return s

    def union(self, a: int, b: int):
        a, b = self.find(a), self.find(b)
        if a != b:
            if self.size[a] != self.size[b]:
                raise ValueError(f"cannot couple channel spaces of sizes {self.size[a]} and {self.size[b]}")
            self.parent[b] = a


def channel_indices(channels, offset: int = 0, block: int = 1) -> np.ndarray:
    """Positions, along a member's dim, of the given channels of its group.

    A conv or BatchNorm holds channel c at position c (offset 0, block 1). A layer reading a *concatenation*
    sees this group's channels after ``offset`` others; a Linear after *Flatten* sees channel c as the ``block``
    = h·w consecutive features c·h·w … c·h·w + h·w − 1. So channel c occupies
    ``offset + c·block + j`` for j = 0 … block − 1. Shapes: channels (k,) ints → (k·block,), sorted by channel.
    Example: channels [0, 2], offset 3, block 2 → [3, 4, 7, 8].
    """
    # BEGIN SOLUTION
    channels = np.asarray(channels, dtype=np.int64)
    return (offset + channels[:, None] * block + np.arange(block)[None, :]).ravel()
    # END SOLUTION


class Member:
    """One parameter slice (or a parameter-free layer) tied to a group: ``module.param`` along ``dim``; channel
    c of the group is ``indices_of(c)`` along that dim (several indices for a flattened consumer)."""

    def __init__(self, module_name: str, module, param: str | None, dim: int, offset: int, block: int, role: str):
        self.module_name, self.module, self.param, self.dim = module_name, module, param, dim
        self.offset, self.block, self.role = offset, block, role

    def indices_of(self, channels) -> np.ndarray:
        return channel_indices(channels, self.offset, self.block)

    def __repr__(self):
        where = f"{self.module_name}.{self.param}" if self.param else self.module_name
        span = "" if (self.offset, self.block) == (0, 1) else f" (offset {self.offset}, block {self.block})"
        return f"{where} dim {self.dim}{span}: {self.role}"


class Group:
    """Channels that must be removed together, with every member that holds them, and the ops that tie them."""

    def __init__(self, size: int, members: list, prunable: bool, reason: str = "", ties=()):
        self.size, self.members, self.prunable, self.reason = size, members, prunable, reason
        self.ties = list(ties)     # the elementwise ops (residual adds, …) that merged channel spaces
        self._graph_members = []   # every member of the traced graph: pruning shifts offsets that follow

    def __iter__(self):
        return iter(self.members)

    def __len__(self):
        return len(self.members)

    def __repr__(self):
        head = f"Group of {self.size} channels" + ("" if self.prunable else f" (not prunable: {self.reason})")
        rows = []   # one row per layer and dim: "bn1.weight/bias/running_mean/running_var dim 0: …"
        for m in self.members:
            if rows and rows[-1][0].module is m.module and (rows[-1][0].dim, rows[-1][0].offset,
                                                              rows[-1][0].block) == (m.dim, m.offset, m.block):
                rows[-1][1].append(m.param)
            else:
                rows.append((m, [m.param]))
        lines = []
        for m, params in rows:
            where = m.module_name + ("." + "/".join(params) if params != [None] else "")
            span = "" if (m.offset, m.block) == (0, 1) else f" (offset {m.offset}, block {m.block})"
            lines.append(f"\n  {where} dim {m.dim}{span}: {m.role}")
        tied = f"\n  tied by: {', '.join(self.ties)}" if self.ties else ""
        return head + "".join(lines) + tied

    def prune(self, indices):
        """Remove channels ``indices`` (group numbering) from every member, in place; the rest keep their order.
        Pruning every channel, an out-of-range index or a non-prunable group → ValueError, model unchanged."""
        indices = np.unique(np.asarray(indices, dtype=np.int64))
        if not self.prunable:
            raise ValueError(f"this group cannot be pruned: {self.reason}")
        if indices.size and (indices.min() < 0 or indices.max() >= self.size):
            raise ValueError(f"channel indices must be in [0, {self.size - 1}], got {indices.tolist()}")
        if indices.size >= self.size:
            raise ValueError(f"cannot prune all {self.size} channels of a group (the network would be cut)")
        # A parameter can hold several segments (a concatenation of a group with itself): delete them in one go.
        by_array = {}
        for member in self.members:
            by_array.setdefault((id(member.module), member.param, member.dim), []).append(member)
        for (_, _, dim), members in by_array.items():
            idx = np.concatenate([m.indices_of(indices) for m in members])
            _remove(members[0], idx)
            # Members of *other* groups reading the same parameter after these segments (a concatenation's
            # later inputs) now start earlier: shift their offsets by the positions removed before them.
            for other in self._graph_members:
                if other.module is members[0].module and (other.param, other.dim) == (members[0].param, dim):
                    other.offset -= int(np.count_nonzero(idx < other.offset))
        self.size -= indices.size


def _remove(member: Member, idx: np.ndarray):
    """Delete ``idx`` along the member's dim from its parameter (and, while pruned, from ``_orig`` and ``_mask``)."""
    module, dim, name = member.module, member.dim, member.param
    if name is None:                         # a parameter-free layer (BatchNorm without γ, β or statistics)
        module.num_features -= len(idx)
        return
    if name in module._buffers:
        module._buffers[name] = np.delete(module._buffers[name], idx, axis=dim)
    else:
        pruned = name + "_orig" in module._parameters
        key = name + "_orig" if pruned else name
        old = module._parameters[key]
        module._parameters[key] = Parameter(np.delete(old.data, idx, axis=dim), requires_grad=old.requires_grad)
        if pruned:
            mask = module._buffers[name + "_mask"] = np.delete(module._buffers[name + "_mask"], idx, axis=dim)
            module.__dict__[name] = module._parameters[key] * mask
    _update_sizes(module)


def _update_sizes(module):
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        arrays = [a for a in (module._parameters.get("weight"), module._parameters.get("weight_orig"),
                              module._buffers.get("running_mean")) if a is not None]
        module.num_features = len(arrays[0].data if isinstance(arrays[0], Tensor) else arrays[0])
        return
    weight = trainable_parameter(module, "weight")
    if isinstance(module, nn.Linear):
        module.out_features, module.in_features = weight.shape
    elif isinstance(module, nn.Conv2d):
        module.out_channels = weight.shape[0]
        if module.groups > 1:  # depthwise: groups follow the channels
            module.groups = module.in_channels = weight.shape[0]
        else:
            module.in_channels = weight.shape[1]


class DependencyGraph:
    """Trace ``model`` on ``example_input`` and build its pruning groups (see the module docstring).

    Supported: Linear, Conv2d (groups=1 or depthwise), BatchNorm, elementwise ops and activations, residual
    add, channel concatenation, Flatten/reshape of a channel-major tensor, pooling and spatial means. Anything
    else in the data path raises a ValueError naming the op and the module it ran in — never a wrong group.
    """

    def __init__(self, model, example_input):
        self.model = model
        self.names = {id(m): n for n, m in model.named_modules()}
        self.param_owner = {}
        for name, module in model.named_modules():
            for pname, p in module._parameters.items():
                if p is not None:
                    self.param_owner[id(p)] = (module, pname.removesuffix("_orig"))
        self._trace(example_input)

    # ------------------------------------------------------------------ tracing
    def _describe(self, module) -> str:
        if module is None:
            return "an unknown place"
        name = self.names.get(id(module), "?")
        kind = type(module).__name__
        return f"module {name!r} ({kind})" if name else f"the forward of the model itself ({kind})"

    def _param(self, node):
        """The (module, name) of a weight/bias node: a Parameter, or a pruned weight orig · mask."""
        if id(node) in self.param_owner:
            return self.param_owner[id(node)]
        if node.op == "mul":
            for parent in node._parents:
                if id(parent) in self.param_owner:
                    return self.param_owner[id(parent)]
        return None

    def _trace(self, example_input):
        if not is_grad_enabled():
            raise ValueError("DependencyGraph reads the autograd graph of one forward pass: build it outside "
                             "`with no_grad():`")
        x = Tensor(np.asarray(example_input.data if isinstance(example_input, Tensor) else example_input),
                   requires_grad=True)
        calls, handles = [], []

        def remember(module, inputs, output):
            if isinstance(output, Tensor):
                calls.append((module, {id(t) for t in inputs if isinstance(t, Tensor)}, output))

        for module in self.model.modules():
            handles.append(module.register_forward_hook(remember))
        was_training = self.model.training
        self.model.eval()
        try:
            output = self.model(x)
        finally:
            self.model.train(was_training)
            for h in handles:
                h.remove()
        if not isinstance(output, Tensor):
            raise ValueError(f"DependencyGraph: the model must return one Tensor, got {type(output).__name__}")
        # Which module ran each op: the innermost module whose forward created it. Forward hooks fire inner
        # modules first, so walking back from each module's output to its inputs, the first claim wins.
        self._op_module = {}
        for module, inputs, out in calls:
            stack, visited = [out], set(inputs)
            while stack:
                node = stack.pop()
                if id(node) not in visited:
                    visited.add(id(node))
                    self._op_module.setdefault(id(node), module)
                    stack.extend(node._parents)
        order, seen, stack = [], set(), [(output, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node._parents)
        self.spaces = _Spaces()
        self.views = {id(x): [(self.spaces.new(x.shape[1]), 0, x.shape[1], 1)]}
        self.input_space = self.views[id(x)][0][0]
        self._members = []           # (space, Member)
        self._ties = []              # (space, "op 'add' in module …"): why two spaces became one
        self._layers_seen = set()
        for node in order:
            if id(node) not in self.views and node._parents:
                self._visit(node)
        if id(output) not in self.views:
            raise ValueError("the model's output does not depend on its input")
        self.output_spaces = {s for s, *_ in self.views[id(output)]}
        self._groups = None

    def _view(self, node):
        return self.views.get(id(node))

    def _add(self, space, module, param, dim, offset, block, role):
        name = self.names.get(id(module), "?")
        self._members.append((space, Member(name, module, param, dim, offset, block, role)))

    def _visit(self, node):
        op, parents = node.op, node._parents
        views = [self._view(p) for p in parents]
        if all(v is None for v in views):
            return                                   # parameters only: not on the data path
        where = f"op {op!r} in {self._describe(self._op_module.get(id(node)))}"
        if op in ("linear", "conv2d"):
            self._layer(node, views[0], where)
        elif op == "batch_norm":
            self._batch_norm(node, views[0], where)
        elif op in _PASS_THROUGH_OPS:
            self.views[id(node)] = views[0]
        elif op in _ELEMENTWISE_BINARY:
            data_views = [v for v in views if v is not None]
            if len(data_views) == 2:
                self._merge(data_views[0], data_views[1], where)
            elif parents[0].ndim > 1 and any(p.ndim > 1 and p.shape[1] > 1 and v is None
                                             for p, v in zip(parents, views)):
                raise ValueError(f"{where}: a per-channel constant operand is not supported by the tracer")
            self.views[id(node)] = data_views[0]
        elif op == "sum":
            self._reduce(node, views[0], where)
        elif op == "reshape":
            self._reshape(node, parents[0], views[0], where)
        elif op == "cat":
            self._concat(node, parents, views, where)
        else:
            raise ValueError(f"DependencyGraph: unsupported {where}; it supports Linear, Conv2d, BatchNorm, "
                             "activations, pooling, residual add, concatenation and flatten")

    def _layer(self, node, view, where):
        owner = self._param(node._parents[1])
        if owner is None:
            raise ValueError(f"{where}: its weight is not a parameter of the model")
        module, _ = owner
        if id(module) in self._layers_seen:
            raise ValueError(f"{where}: the layer is called more than once (shared weights are not supported)")
        self._layers_seen.add(id(module))
        is_depthwise = isinstance(module, nn.Conv2d) and module.groups > 1
        if isinstance(module, nn.Conv2d) and module.groups > 1 and not (
                module.groups == module.in_channels == module.out_channels):
            raise ValueError(f"{where}: grouped convolutions other than depthwise are not supported "
                             f"(groups={module.groups}, in_channels={module.in_channels}, "
                             f"out_channels={module.out_channels})")
        if isinstance(module, nn.Linear) and node.ndim != 2:
            raise ValueError(f"{where}: Linear on a {node.ndim}-D input is not supported by the tracer")
        if is_depthwise:
            self.views[id(node)] = view
            self._couple_view(view, module, "weight", 0, "depthwise filter of its channel")
            if module.bias is not None:
                self._couple_view(view, module, "bias", 0, "bias of its channel")
            return
        self._couple_view(view, module, "weight", 1, "consumer: reads these channels")
        out = self.spaces.new(node.shape[1])
        self.views[id(node)] = [(out, 0, self.spaces.size[out], 1)]
        self._add(out, module, "weight", 0, 0, 1, "producer: computes these channels")
        if module._parameters.get("bias") is not None or module._parameters.get("bias_orig") is not None:
            self._add(out, module, "bias", 0, 0, 1, "producer's bias")

    def _batch_norm(self, node, view, where):
        bn = self._op_module.get(id(node))
        if not isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)):
            raise ValueError(f"{where}: batch_norm is supported inside a BatchNorm module only")
        if id(bn) in self._layers_seen:
            raise ValueError(f"{where}: the layer is called more than once (shared weights are not supported)")
        self._layers_seen.add(id(bn))
        self.views[id(node)] = view
        held = [p for p in ("weight", "bias") if bn._parameters.get(p) is not None
                or bn._parameters.get(p + "_orig") is not None]
        for param in held:
            self._couple_view(view, bn, param, 0, "normalised with its channels")
        stats = [b for b in ("running_mean", "running_var") if bn._buffers.get(b) is not None]
        for buffer in stats:
            self._couple_view(view, bn, buffer, 0, "statistics of its channels")
        if not held and not stats:   # nothing per channel to slice, but num_features must follow
            self._couple_view(view, bn, None, 0, "normalises these channels")

    def _couple_view(self, view, module, param, dim, role):
        for space, offset, length, block in view:
            self._add(space, module, param, dim, offset, block, role)

    def _merge(self, a, b, where):
        if [(o, n, k) for _, o, n, k in a] != [(o, n, k) for _, o, n, k in b]:
            raise ValueError(f"{where}: the two operands' channels are laid out differently")
        for (sa, *_), (sb, *_) in zip(a, b):
            self.spaces.union(sa, sb)
            self._ties.append((sa, where))

    def _reduce(self, node, view, where):
        parent = node._parents[0]
        spatial = parent.ndim == 4 and node.shape[:2] == parent.shape[:2]
        if spatial and (node.shape[2:] == (1, 1) or node.ndim == 2):
            self.views[id(node)] = view              # global average pooling: one value per channel
        else:
            raise ValueError(f"{where}: only a spatial mean/sum over (H, W) is supported, got "
                             f"{parent.shape} → {node.shape}")

    def _reshape(self, node, parent, view, where):
        if node.ndim == 2 and parent.ndim >= 2 and node.shape[0] == parent.shape[0]:
            block = int(np.prod(parent.shape[2:])) if parent.ndim > 2 else 1
            self.views[id(node)] = [(s, o * block, n * block, k * block) for s, o, n, k in view]
        elif node.shape[:2] == parent.shape[:2]:
            self.views[id(node)] = view
        else:
            raise ValueError(f"{where}: only flattening (N, C, …) → (N, C·…) is supported, got "
                             f"{parent.shape} → {node.shape}")

    def _concat(self, node, parents, views, where):
        if any(v is None for v in views) or node.ndim < 2 or sum(p.shape[1] for p in parents) != node.shape[1]:
            raise ValueError(f"{where}: only concatenation of traced tensors along the channel axis is supported")
        combined, offset = [], 0
        for parent, view in zip(parents, views):
            combined.extend((s, offset + o, n, k) for s, o, n, k in view)
            offset += parent.shape[1]
        self.views[id(node)] = combined

    # ------------------------------------------------------------------ groups
    def groups(self) -> list:
        """Every pruning group (prunable or not), in the order their producers ran."""
        if self._groups is None:
            by_root, ties = {}, {}
            for space, member in self._members:
                by_root.setdefault(self.spaces.find(space), []).append(member)
            for space, where in self._ties:
                ties.setdefault(self.spaces.find(space), []).append(where)
            outputs = {self.spaces.find(s) for s in self.output_spaces}
            self._groups = []
            for root, members in by_root.items():
                reason = ("the model's outputs" if root in outputs else
                          "the model's inputs" if root == self.spaces.find(self.input_space) else "")
                self._groups.append(Group(self.spaces.size[root], _unique(members), not reason, reason,
                                          dict.fromkeys(ties.get(root, ()))))
            everyone = [m for g in self._groups for m in g]
            for g in self._groups:
                g._graph_members = everyone
        return self._groups

    def group(self, module, dim: int = 0) -> Group:
        """The group of ``module``'s output channels (``dim=0``) or input channels (``dim=1``)."""
        if dim not in (0, 1):
            raise ValueError(f"dim must be 0 (output channels) or 1 (input channels), got {dim}")
        for group in self.groups():
            for member in group:
                if member.module is module and member.param == "weight" and member.dim == dim:
                    return group
                if member.module is module and dim == 1 and member.dim == 0 and getattr(module, "groups", 1) > 1:
                    return group
        name = self.names.get(id(module), type(module).__name__)
        raise ValueError(f"no group holds dim {dim} of {name!r} (is it used in the forward pass?)")


def _unique(members):
    seen, result = set(), []
    for m in members:
        key = (id(m.module), m.param, m.dim, m.offset, m.block)
        if key not in seen:
            seen.add(key)
            result.append(m)
    return result
