"""Reference models of the course, with the layer names of PyTorch's reference implementations.

The classic nets are ``Sequential`` subclasses with *named* children (``fc1``, ``relu1``, ``fc2``, …): the
layer order is explicit (compaction and surgery walk it) and the names match PyTorch code, shipped weights,
graders and per-layer pruning dicts such as ``{"fc1.weight": 0.5}``.

``pretrained(name)`` loads a trained baseline shipped with the package (made by ``tools/make_pretrained.py``),
checking its sha256 first, so lessons start from a trained network instead of training for minutes.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

from . import nn, serialize

PRETRAINED_DIR = Path(__file__).parent / "pretrained"


def mlp(sizes, rng=None, flatten: bool = True) -> nn.Sequential:
    """A multilayer perceptron: Linear layers of the given sizes with ReLU between them.

    ``mlp([784, 300, 100, 10])`` is LeNet-300-100 as a plain Sequential (children "0", "1", …), preceded by a
    Flatten when ``flatten`` so it accepts (N, 1, 28, 28) images.
    """
    if len(sizes) < 2:
        raise ValueError(f"mlp: sizes needs at least an input and an output size, got {sizes}")
    layers = [nn.Flatten()] if flatten else []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out, rng=rng))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SeedNet(nn.Sequential):
    """The seed's §8 ``Net``: fc1 Linear(100, 50) → ReLU → fc2 Linear(50, 10)."""

    def __init__(self, rng=None):
        super().__init__(OrderedDict(fc1=nn.Linear(100, 50, rng=rng), relu=nn.ReLU(), fc2=nn.Linear(50, 10, rng=rng)))


class LeNet300_100(nn.Sequential):
    """LeNet-300-100 (LeCun et al. 1998; the MLP of Han et al. 2015): 784 → 300 → 100 → 10, 266 610 parameters."""

    def __init__(self, rng=None):
        super().__init__(OrderedDict(
            flatten=nn.Flatten(),
            fc1=nn.Linear(784, 300, rng=rng), relu1=nn.ReLU(),
            fc2=nn.Linear(300, 100, rng=rng), relu2=nn.ReLU(),
            fc3=nn.Linear(100, 10, rng=rng)))


class LeNet5(nn.Sequential):
    """LeNet-5 for 1×28×28 inputs: conv1 (1→6, 5×5, pad 2) → ReLU → maxpool 2 → conv2 (6→16, 5×5) → ReLU →
    maxpool 2 → flatten (16·5·5 = 400) → fc1 400→120 → fc2 120→84 → fc3 84→10; 61 706 parameters."""

    def __init__(self, rng=None):
        super().__init__(OrderedDict(
            conv1=nn.Conv2d(1, 6, 5, padding=2, rng=rng), relu1=nn.ReLU(), pool1=nn.MaxPool2d(2),
            conv2=nn.Conv2d(6, 16, 5, rng=rng), relu2=nn.ReLU(), pool2=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            fc1=nn.Linear(400, 120, rng=rng), relu3=nn.ReLU(),
            fc2=nn.Linear(120, 84, rng=rng), relu4=nn.ReLU(),
            fc3=nn.Linear(84, 10, rng=rng)))


class BasicBlock(nn.Module):
    """The residual block of ResNet (He et al. 2016): out = ReLU(x + BN(conv(ReLU(BN(conv(x)))))).

    Two 3×3 convolutions (no bias: BatchNorm follows) and an identity skip; when the width or the resolution
    changes, the skip is a 1×1 convolution + BatchNorm projection (``downsample``), as torchvision names it.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, rng=None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False, rng=rng)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False, rng=rng)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False, rng=rng),
                                            nn.BatchNorm2d(out_channels))
        else:
            self.downsample = None

    def preserves_shape(self) -> bool:
        """True when the block can be replaced by an identity (no projection shortcut)."""
        return self.downsample is None

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu(out + skip)


class ResNetMini(nn.Module):
    """A small ResNet for 1×28×28 digits: a stride-2 stem conv (→ 14×14), ``blocks`` residual blocks of
    ``channels`` channels with identity skips, global average pooling and a linear classifier.

    Names follow torchvision: conv1, bn1, relu, layer1 (blocks "0", "1", …), avgpool, fc.

    With ``wide_blocks > 0`` a second stage ``layer2`` follows: its first block doubles the width and halves the
    resolution through a 1×1-conv + BatchNorm projection shortcut, the others use identity skips. The default
    (one stage) is what the shipped weights and lesson 04 use.
    """

    def __init__(self, channels: int = 16, blocks: int = 3, num_classes: int = 10, wide_blocks: int = 0, rng=None):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=2, padding=1, bias=False, rng=rng)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(*[BasicBlock(channels, channels, rng=rng) for _ in range(blocks)])
        width = channels
        if wide_blocks:
            width = 2 * channels
            self.layer2 = nn.Sequential(BasicBlock(channels, width, stride=2, rng=rng),
                                        *[BasicBlock(width, width, rng=rng) for _ in range(wide_blocks - 1)])
        else:
            self.layer2 = None
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width, num_classes, rng=rng)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        if self.layer2 is not None:
            x = self.layer2(x)
        return self.fc(self.flatten(self.avgpool(x)))


class DepthwiseSeparable(nn.Module):
    """MobileNet's block (Howard et al. 2017): a 3×3 depthwise conv (one filter per channel, groups = C) and a
    1×1 pointwise conv mixing channels, each followed by BatchNorm and ReLU — ~8–9× fewer multiply-adds than
    a full 3×3 convolution."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, rng=None):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels,
                                   bias=False, rng=rng)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False, rng=rng)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn2(self.pointwise(self.relu(self.bn1(self.depthwise(x))))))


class MobileNetMini(nn.Module):
    """A small MobileNet for 1×28×28 digits: a stride-2 stem conv, depthwise-separable blocks of widths
    ``widths`` (stride 2 where the width grows), global average pooling and a linear classifier."""

    def __init__(self, widths=(16, 32, 32, 64), num_classes: int = 10, rng=None):
        super().__init__()
        self.conv1 = nn.Conv2d(1, widths[0], 3, stride=2, padding=1, bias=False, rng=rng)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        self.features = nn.Sequential(*[
            DepthwiseSeparable(a, b, stride=2 if b > a else 1, rng=rng) for a, b in zip(widths[:-1], widths[1:])])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(widths[-1], num_classes, rng=rng)

    def config(self) -> dict:
        """Constructor arguments that rebuild this architecture — widths read off the layers, so they describe
        a structurally pruned copy too (``deploy`` uses this)."""
        widths = [self.conv1.out_channels] + [block.pointwise.out_channels for block in self.features]
        return {"widths": widths, "num_classes": self.fc.out_features}

    def forward(self, x):
        x = self.features(self.relu(self.bn1(self.conv1(x))))
        return self.fc(self.flatten(self.avgpool(x)))


class TinyGPT(nn.Module):
    """A tiny character-level GPT (Radford et al. 2019, as nanoGPT): token + position embeddings, ``n_layers``
    pre-LayerNorm causal transformer blocks, a final LayerNorm and a linear head.

    Input: int64 token ids (N, L) with L ≤ ``context``; output: logits (N, L, vocab_size).
    Names: tok_emb, pos_emb, blocks ("0", "1", …, each ln1, attn, ln2, mlp.fc1/fc2), ln_f, head.
    """

    def __init__(self, vocab_size: int, d_model: int = 64, n_heads: int = 4, n_layers: int = 2, context: int = 64,
                 rng=None):
        super().__init__()
        self.vocab_size, self.context = vocab_size, context
        self.tok_emb = nn.Embedding(vocab_size, d_model, rng=rng)
        self.pos_emb = nn.Embedding(context, d_model, rng=rng)
        for embedding in (self.tok_emb, self.pos_emb):
            embedding.weight.data *= 0.02   # GPT-2's N(0, 0.02²) embeddings train faster than N(0, 1)
        self.blocks = nn.ModuleList([nn.TransformerBlock(d_model, n_heads, rng=rng) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, rng=rng)

    def forward(self, ids):
        ids = np.asarray(ids.data if hasattr(ids, "data") and not isinstance(ids, np.ndarray) else ids)
        if ids.ndim != 2 or ids.shape[1] > self.context:
            raise ValueError(f"TinyGPT: expected token ids (N, L) with L <= {self.context}, got shape {ids.shape}")
        x = self.tok_emb(ids) + self.pos_emb(np.arange(ids.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def lm_loss(logits, targets, reduction: str = "mean"):
    """Next-token cross-entropy of logits (N, L, V) against targets (N, L): F.cross_entropy on (N·L, V)."""
    from . import functional as F
    targets = np.asarray(targets)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction=reduction)


def generate(model, prompt, n: int, temperature: float = 1.0, rng=None) -> np.ndarray:
    """Sample ``n`` tokens after ``prompt`` (int ids (L,)): each step feeds the last ``model.context`` tokens,
    divides the last logits by ``temperature`` and samples from the softmax with ``rng``. Returns all ids."""
    from .tensor import no_grad

    if temperature <= 0:
        raise ValueError(f"generate: temperature must be > 0, got {temperature}")
    rng = rng if rng is not None else np.random.default_rng(0)
    ids = np.asarray(prompt, dtype=np.int64).ravel()
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for _ in range(n):
                logits = model(ids[None, -model.context:]).data[0, -1] / temperature
                p = np.exp(logits - logits.max())
                ids = np.append(ids, rng.choice(len(p), p=p / p.sum()))
    finally:
        model.train(was_training)
    return ids


MODELS = {"seednet": SeedNet, "lenet300_100": LeNet300_100, "lenet5": LeNet5, "resnet_mini": ResNetMini, "mobilenet_mini": MobileNetMini}
TINYGPT_CONFIG = {"vocab_size": 65, "d_model": 64, "n_heads": 4, "n_layers": 2, "context": 64}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _expected_checksums() -> dict:
    sums = PRETRAINED_DIR / "SHA256SUMS"
    if not sums.exists():
        return {}
    return {name: digest for digest, name in (line.split() for line in sums.read_text().splitlines() if line.strip())}


def pretrained(name: str):
    """A trained baseline shipped with minprune, e.g. ``pretrained("lenet300_100")``.

    The weights file's sha256 is checked against ``pretrained/SHA256SUMS`` before it is loaded (no pickle).
    The returned model is in eval mode.
    """
    checksums = _expected_checksums()
    filename = f"{name}.npz"
    if (name not in MODELS and name != "tinygpt") or filename not in checksums:
        available = sorted(f[:-4] for f in checksums)
        raise ValueError(f"pretrained: unknown model {name!r}; available: {available}")
    path = PRETRAINED_DIR / filename
    if not path.exists() or _sha256(path) != checksums[filename]:
        actual = _sha256(path) if path.exists() else "missing"
        raise ValueError(f"pretrained: {path} is corrupted or missing (sha256 {actual}, expected "
                         f"{checksums[filename]}); regenerate it with `python tools/make_pretrained.py {name}` "
                         "or restore it from the repository")
    model = TinyGPT(**TINYGPT_CONFIG) if name == "tinygpt" else MODELS[name](rng=np.random.default_rng(0))
    model.load_state_dict(serialize.load(path))
    return model.eval()
