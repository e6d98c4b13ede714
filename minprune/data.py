"""Datasets and data loading, in plain NumPy and the standard library.

The pieces, in the order a lesson meets them:

* **Datasets** are objects with ``len(ds)`` and ``ds[index] -> (x, y)``, where ``index`` may be an
  int, a slice or an array of indices. :class:`ArrayDataset` wraps two arrays, which is all MNIST
  and the synthetic sets need. Indexing with an array of indices ("fancy indexing") gathers a
  whole mini-batch in one NumPy call, so nothing below loops over samples in Python.
* **Bundled data** lives in ``minprune/datasets/<name>/`` next to its README (source, licence)
  and ``SHA256SUMS``. :func:`mnist` parses the four original IDX files of MNIST (60 000 training
  and 10 000 test digits); :func:`tiny_shakespeare` returns the 1.1 MB Tiny Shakespeare text, which
  :class:`CharTokenizer` turns into integer ids and :func:`get_batch` into (input, next-character)
  training pairs for a character-level language model.
* **Integrity.** Every file is checked against its sha256 *before* it is parsed: a truncated or
  corrupted file raises :class:`DataIntegrityError` naming the file and both checksums, instead
  of a puzzling reshape error deep inside NumPy. :func:`download` fetches a file with the same
  check and moves it into place atomically; :func:`verify_bundled` reports every bundled file.
* **Synthetic 2-D sets** :func:`moons`, :func:`spirals` and :func:`blobs` for quick experiments
  and decision-boundary plots.
* :class:`DataLoader` cuts a dataset into mini-batches, reshuffled every epoch if asked;
  :func:`subset` and :func:`random_split` make smaller or held-out sets.

Randomness always comes from a ``np.random.Generator`` passed as ``rng`` (``None`` means
``np.random.default_rng(0)``, an int is used as a seed), never from NumPy's global state, so the
same seed gives the same data and the same batch order.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import numbers
import os
import secrets
import urllib.request
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "DATASETS_DIR", "MNIST_MEAN", "MNIST_STD",
    "ArrayDataset", "DataLoader", "subset", "random_split",
    "mnist", "tiny_shakespeare", "CharTokenizer", "get_batch",
    "moons", "spirals", "blobs",
    "DataIntegrityError", "sha256_file", "download", "verify_bundled", "FileStatus",
]

#: Folder of the bundled data sets, one sub-folder each with README.md and SHA256SUMS.
DATASETS_DIR = Path(__file__).resolve().parent / "datasets"

#: Mean and standard deviation of all MNIST training pixels after scaling to [0, 1]; the usual
#: normalisation (as torchvision's examples), giving inputs of mean ~0 and std ~1.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

_MNIST_FILES = {  # split -> (images, labels), the names of the original distribution
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_SHAKESPEARE_FILE = "input.txt.gz"
# sha256 of the *uncompressed* text, from datasets/tinyshakespeare/README.md, which asks for this
# check: the .gz checksum in SHA256SUMS depends on the gzip settings, the text's does not.
_SHAKESPEARE_TEXT_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
_SHAKESPEARE_TRAIN_FRACTION = 0.9  # first 90 % of characters for training, as nanoGPT


# --------------------------------------------------------------------------- argument checks

def _check_int(name, value, minimum):
    """Return ``value`` as an int, or raise naming the argument (bools are not counts)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


def _check_nonnegative(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    if not value >= 0:  # written this way round so that NaN is rejected too
        raise ValueError(f"{name} must be >= 0, got {value}")
    return float(value)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _generator(rng):
    """``None`` -> ``default_rng(0)``, an int -> ``default_rng(seed)``, a Generator as it is."""
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a np.random.Generator, an int seed or None, got {rng!r} "
                    f"({type(rng).__name__})")


# --------------------------------------------------------------------------- datasets

class ArrayDataset:
    """Samples ``x[i]`` with targets ``y[i]``: the simplest dataset, two arrays of equal length.

    ``ds[index]`` returns ``(x[index], y[index])`` for an int, a slice or an integer array, so a
    whole mini-batch is one fancy-indexing call. ``x`` and ``y`` are kept as given (no copy).
    """

    def __init__(self, x, y):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError(f"x and y must be arrays with a leading sample axis; got shapes "
                             f"{x.shape} and {y.shape}")
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length (one target per sample); "
                             f"got len(x)={len(x)} and len(y)={len(y)}")
        self.x = x
        self.y = y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return self.x[index], self.y[index]

    def __repr__(self):
        return (f"ArrayDataset(n={len(self)}, x: {self.x.dtype}{list(self.x.shape)}, "
                f"y: {self.y.dtype}{list(self.y.shape)})")


def _as_dataset(dataset):
    """Accept an ``(x, y)`` tuple as shorthand for ``ArrayDataset(x, y)``."""
    if isinstance(dataset, tuple) and len(dataset) == 2:
        return ArrayDataset(*dataset)
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TypeError(f"dataset must be an ArrayDataset, an (x, y) tuple of arrays or an object "
                        f"with __len__ and __getitem__; got {type(dataset).__name__}")
    return dataset


class DataLoader:
    """Iterate over a dataset in mini-batches ``(xb, yb)``.

    Each batch is ``dataset[indices]`` for an array of ``batch_size`` indices: one vectorised
    gather, never a Python loop over samples. With ``shuffle=True`` every epoch (every ``for``
    loop over the loader) draws a fresh permutation from ``rng``, so each sample is seen exactly
    once per epoch, in a new order each time, and the same seed replays the same orders.

    Args:
        dataset: an :class:`ArrayDataset`, an ``(x, y)`` tuple of arrays, or any object with
            ``__len__`` and a ``__getitem__`` that accepts an integer index array.
        batch_size: samples per batch (positive int); the last batch may be smaller ...
        drop_last: ... unless this is True, which drops it (every batch then has the same size).
        shuffle: reshuffle at the start of every epoch.
        rng: ``np.random.Generator`` (or an int seed) for the shuffling; ``None`` means
            ``default_rng(0)``.

    ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, rng=None):
        self.dataset = _as_dataset(dataset)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.rng = _generator(rng)

    def __len__(self):
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)  # -(-n // b) is ceil(n / b) in integers

    def __iter__(self):
        n = len(self.dataset)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self.dataset[order[start:start + self.batch_size]]

    def __repr__(self):
        return (f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, batches={len(self)})")


def subset(dataset, n, rng=None):
    """A smaller :class:`ArrayDataset` of ``n`` samples of ``dataset`` (items must be ``(x, y)``).

    With ``rng=None`` the first ``n`` samples (deterministic, the usual "quick run" subset);
    with a Generator (or int seed) ``n`` distinct samples drawn at random without replacement.
    The samples are copied, so the subset is independent of the original arrays.
    """
    dataset = _as_dataset(dataset)
    n = _check_int("n", n, 0)
    if n > len(dataset):
        raise ValueError(f"n must be at most len(dataset)={len(dataset)}, got {n}")
    if rng is None:
        indices = np.arange(n)
    else:
        indices = _generator(rng).choice(len(dataset), size=n, replace=False)
    return ArrayDataset(*dataset[indices])


def random_split(dataset, lengths, rng=None):
    """Split ``dataset`` into non-overlapping random :class:`ArrayDataset` parts.

    ``lengths`` are sample counts summing to ``len(dataset)``, or fractions summing to 1 (as
    PyTorch's ``random_split``: each part gets ``floor(f * N)`` samples, and the remaining few
    go one each to the first parts). ``rng`` (Generator or int seed; ``None`` ->
    ``default_rng(0)``) draws one permutation that is then cut into consecutive pieces.
    """
    dataset = _as_dataset(dataset)
    total = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("lengths must contain at least one length, got an empty sequence")
    if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in lengths):
        counts = np.array(lengths, dtype=np.int64)
        if (counts < 0).any() or counts.sum() != total:
            raise ValueError(f"lengths must be non-negative and sum to len(dataset)={total}; "
                             f"got {lengths} (sum {sum(lengths)})")
    else:
        fractions = np.array(lengths, dtype=np.float64)
        if (fractions < 0).any() or not np.isclose(fractions.sum(), 1.0):
            raise ValueError(f"lengths given as fractions must be >= 0 and sum to 1; got {lengths}")
        counts = np.floor(fractions * total).astype(np.int64)
        counts[: total - counts.sum()] += 1
    order = _generator(rng).permutation(total)
    return [ArrayDataset(*dataset[part]) for part in np.split(order, np.cumsum(counts)[:-1])]


# --------------------------------------------------------------------------- integrity

class DataIntegrityError(ValueError):
    """A file's sha256 differs from the expected one: it is truncated, corrupted or replaced.

    Attributes ``path``, ``expected`` and ``actual`` (hex digests) name what failed; the message
    also says how to get an intact file back.
    """

    def __init__(self, path, expected, actual, hint, what="file"):
        self.path, self.expected, self.actual = str(path), expected, actual
        super().__init__(f"sha256 checksum mismatch for the {what} {path}\n"
                         f"  expected: {expected}\n"
                         f"  actual:   {actual}\n"
                         f"{hint}")


def sha256_file(path):
    """Hex sha256 digest of a file, read in 1 MiB chunks (memory stays flat for big files)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _restore_hint(path):
    """How to get an intact copy back: from git for a bundled file, else from the source."""
    path, bundled = Path(path).resolve(), DATASETS_DIR.resolve()
    if bundled in path.parents:
        relative = path.relative_to(bundled.parent.parent).as_posix()
        return ("The bundled file is damaged (truncated, edited, or only a Git LFS pointer). "
                f"Restore it: in a clone of the repository run `git checkout -- {relative}`; "
                "for an installed copy, reinstall minprune.")
    return ("The file is damaged (truncated, edited or incompletely copied). Replace it with an "
            "intact copy; the README.md in the same folder gives its source and checksums.")


def _read_checksums(sums_path):
    """Parse a ``sha256sum``-style file: ``<hex digest>  <file name>`` lines, ``#`` comments."""
    checksums = {}
    for number, line in enumerate(Path(sums_path).read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().lstrip("*")  # "*name" marks binary mode in sha256sum's format
        if len(digest) != 64 or not name:
            raise ValueError(f"{sums_path}, line {number}: expected '<sha256 hex>  <file name>', "
                             f"got {line!r}")
        checksums[name] = digest.lower()
    return checksums


def _expected_sha256(folder, name):
    sums_path = Path(folder) / "SHA256SUMS"
    checksums = _read_checksums(sums_path)
    if name not in checksums:
        raise ValueError(f"{sums_path} has no checksum for {name!r} (it lists {sorted(checksums)})")
    return checksums[name]


def _read_verified(path, expected):
    """The bytes of ``path``, after checking their sha256 against ``expected``.

    Hashing the very bytes we then parse (rather than hashing the file and reading it again)
    means what was verified is exactly what gets used.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} is missing. {_restore_hint(path)}")
    raw = path.read_bytes()
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise DataIntegrityError(path, expected, actual, _restore_hint(path))
    return raw


class FileStatus(NamedTuple):
    """One line of :func:`verify_bundled`: ``actual`` is None when the file is missing."""
    name: str
    path: str
    expected: str
    actual: str | None
    ok: bool


def verify_bundled():
    """Check every file listed in a bundled ``SHA256SUMS``; a list of :class:`FileStatus`.

    Used by ``python -m minprune info``. Never raises for a bad file: it reports it, with
    ``ok=False``. (:func:`tiny_shakespeare` additionally checks the uncompressed text on load.)
    """
    report = []
    for sums_path in sorted(DATASETS_DIR.glob("*/SHA256SUMS")):
        folder = sums_path.parent
        for name, expected in _read_checksums(sums_path).items():
            path = folder / name
            actual = sha256_file(path) if path.is_file() else None
            report.append(FileStatus(f"{folder.name}/{name}", str(path), expected, actual,
                                     actual == expected))
    return report


def download(url, path, sha256, timeout=60.0):
    """Fetch ``url`` into the file ``path`` if it is not already there, verified by ``sha256``.

    Safe to interrupt and to repeat: the data goes to a temporary file in the target's own
    folder, is hashed while it streams, and only a complete file with the right checksum is
    renamed onto ``path`` with ``os.replace`` (atomic within one file system). So ``path`` is
    either absent, or the old file, or the full verified new one, never half a download. On a
    checksum mismatch the temporary file is deleted and :class:`DataIntegrityError` is raised.
    If ``path`` already exists with the right checksum, nothing is fetched.

    Works with ``http(s)://`` and ``file://`` URLs (the tests use the latter, offline).
    Returns ``path`` as a ``pathlib.Path``.
    """
    expected = str(sha256).lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ValueError(f"sha256 must be a 64-character hex digest, got {sha256!r}")
    path = Path(path)
    if path.is_file() and sha256_file(path) == expected:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # A random suffix so that two concurrent downloads never write to the same temporary file.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "xb") as out:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())  # data on disk before the rename makes it visible
        actual = digest.hexdigest()
        if actual != expected:
            raise DataIntegrityError(
                path, expected, actual,
                f"The data downloaded from {url} does not match, so it was discarded and {path} "
                "was left as it was. The transfer may have been cut short, or the URL serves a "
                "different version: check both the URL and the expected checksum.",
                what="download of")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a no-op after a successful os.replace
    return path


# --------------------------------------------------------------------------- MNIST

def _parse_idx(raw, path, magic, ndim):
    """Decode one decompressed IDX file into a uint8 array (a view of ``raw``, no copy).

    IDX layout: a big-endian int32 magic number, then ``ndim`` big-endian int32 sizes, then the
    values, one unsigned byte each. The magic number's third byte is the value type (0x08 =
    unsigned byte) and its fourth the number of dimensions: 0x0803 = 2051 for images
    (count, rows, cols), 0x0801 = 2049 for labels (count).
    """
    header_size = 4 * (1 + ndim)
    if len(raw) < header_size:
        raise ValueError(f"{path}: {len(raw)} bytes is too short for an IDX header "
                         f"({header_size} bytes)")
    header = np.frombuffer(raw, dtype=">i4", count=1 + ndim)
    if header[0] != magic:
        raise ValueError(f"{path}: IDX magic number is {header[0]}, expected {magic}; "
                         "this is not the expected MNIST file")
    shape = tuple(int(size) for size in header[1:])
    if min(shape) < 0 or len(raw) - header_size != np.prod(shape):
        raise ValueError(f"{path}: the header announces shape {shape} "
                         f"({np.prod(shape)} values) but the file holds "
                         f"{len(raw) - header_size} values after the header")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


@functools.lru_cache(maxsize=None)
def _load_mnist(root, split, normalize):
    """Verified, parsed, scaled ``(x float32 (N, 1, 28, 28), y int64 (N,))`` of one split.

    ``root`` is the folder (a str, so that it can be a cache key) holding the four files and
    SHA256SUMS. The result is cached for the life of the process: a second :func:`mnist` call
    skips hashing, ~0.2 s of decompression and, above all, allocating and filling 188 MB for
    the training images. The arrays are made read-only, so nobody changes the cache by accident.
    """
    image_name, label_name = _MNIST_FILES[split]
    image_path, label_path = Path(root, image_name), Path(root, label_name)
    image_bytes = gzip.decompress(_read_verified(image_path, _expected_sha256(root, image_name)))
    label_bytes = gzip.decompress(_read_verified(label_path, _expected_sha256(root, label_name)))
    images = _parse_idx(image_bytes, image_path, magic=2051, ndim=3)
    labels = _parse_idx(label_bytes, label_path, magic=2049, ndim=1)
    if len(images) != len(labels):
        raise ValueError(f"{image_path} holds {len(images)} images but {label_path} holds "
                         f"{len(labels)} labels; they must match one to one")
    x = images[:, None].astype(np.float32)  # (N, 1, 28, 28): one channel, as Conv2d expects
    # In place, so the 60 000-image set needs one float32 buffer and no temporaries.
    x /= 255.0
    if normalize:
        x -= MNIST_MEAN
        x /= MNIST_STD
    y = labels.astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def mnist(split="train", normalize=False, limit=None, root=None):
    """The MNIST handwritten digits, from the bundled original files.

    Args:
        split: ``"train"`` (60 000 images) or ``"test"`` (10 000 images).
        normalize: if True, standardise pixels as ``(v - 0.1307) / 0.3081`` (``MNIST_MEAN``,
            ``MNIST_STD``: mean and std of the training pixels), else keep ``v`` in [0, 1].
        limit: keep only the first ``limit`` samples (all if ``limit`` >= N), for quick runs.
        root: folder holding the four ``.gz`` files and ``SHA256SUMS``; default the bundled copy.

    Returns:
        :class:`ArrayDataset` with ``x`` float32 of shape (N, 1, 28, 28) (``v`` = pixel / 255,
        one channel, ready for ``Conv2d``; ``x.reshape(len(x), -1)`` for an MLP) and ``y`` int64
        (N,) with digits 0-9. Both are read-only views of a per-process cache, so calling
        ``mnist()`` again is instant and costs no memory; ``.copy()`` them to modify in place.
        (Mini-batches from a :class:`DataLoader` are fresh, writable copies.)

    Raises:
        DataIntegrityError: a file does not match its sha256 in ``SHA256SUMS``.
        ValueError: unknown ``split``, or a file whose IDX header is inconsistent.
    """
    _check_choice("split", split, tuple(_MNIST_FILES))
    if limit is not None:
        limit = _check_int("limit", limit, 0)
    root = DATASETS_DIR / "mnist" if root is None else Path(root)
    x, y = _load_mnist(str(root.resolve()), split, bool(normalize))
    return ArrayDataset(x[:limit], y[:limit])  # [:None] keeps everything


# --------------------------------------------------------------------------- Tiny Shakespeare

@functools.lru_cache(maxsize=None)
def _load_shakespeare(root):
    """The verified text: the .gz against SHA256SUMS, then the text against its own sha256."""
    path = Path(root, _SHAKESPEARE_FILE)
    raw = gzip.decompress(_read_verified(path, _expected_sha256(root, _SHAKESPEARE_FILE)))
    actual = hashlib.sha256(raw).hexdigest()
    if actual != _SHAKESPEARE_TEXT_SHA256:
        raise DataIntegrityError(path, _SHAKESPEARE_TEXT_SHA256, actual, _restore_hint(path),
                                 what="uncompressed text of")
    return raw.decode("ascii")


def tiny_shakespeare(split=None, root=None):
    """The Tiny Shakespeare corpus as one string (1 115 394 characters, 65 distinct).

    ``split``: ``None`` for all of it, ``"train"`` for the first 90 % of the characters,
    ``"val"`` for the last 10 % (the split of nanoGPT's ``shakespeare_char``). The text is
    verified against its sha256 on load and cached afterwards. ``root`` overrides the folder
    holding ``input.txt.gz`` and ``SHA256SUMS`` (default: the bundled copy).
    """
    _check_choice("split", split, (None, "train", "val"))
    root = DATASETS_DIR / "tinyshakespeare" if root is None else Path(root)
    text = _load_shakespeare(str(root.resolve()))
    cut = int(_SHAKESPEARE_TRAIN_FRACTION * len(text))
    return {None: text, "train": text[:cut], "val": text[cut:]}[split]


class CharTokenizer:
    """Character-level tokenizer: each distinct character of ``text`` gets an integer id.

    The vocabulary is the sorted set of characters, so the ids do not depend on where a
    character first appears. ``stoi`` maps character -> id, ``itos`` id -> character.

    ``encode`` and ``decode`` are vectorised: the string is viewed as an array of Unicode code
    points (``str.encode("utf-32-le")``, 4 bytes per character) and mapped through a lookup
    table, so a million characters take milliseconds, not a Python loop.
    """

    def __init__(self, text):
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if not text:
            raise ValueError("text must be a non-empty str to build a vocabulary from, got ''")
        chars = sorted(set(text))
        self.itos = dict(enumerate(chars))
        self.stoi = {ch: i for i, ch in self.itos.items()}
        self.vocab_size = len(chars)
        self._codepoints = _codepoints("".join(chars))  # id -> code point
        self._ids = np.full(int(self._codepoints.max()) + 1, -1, dtype=np.int64)
        self._ids[self._codepoints] = np.arange(self.vocab_size)  # code point -> id, -1 = unknown

    def encode(self, text):
        """``str`` -> int64 array of ids, shape (len(text),)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        points = _codepoints(text)
        # Code points beyond the table are unknown too; clip them in, then mark them -1.
        ids = np.where(points < len(self._ids),
                       self._ids[np.minimum(points, len(self._ids) - 1)], -1)
        unknown = np.flatnonzero(ids < 0)
        if unknown.size:
            position = int(unknown[0])
            raise ValueError(f"character {text[position]!r} (position {position}) is not in the "
                             f"vocabulary of {self.vocab_size} characters")
        return ids

    def decode(self, ids):
        """1-D sequence of ids -> ``str``."""
        ids = np.atleast_1d(np.asarray(ids))
        if ids.size == 0:
            return ""
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids must be a 1-D sequence of ints, got dtype {ids.dtype} and "
                             f"shape {ids.shape} (decode a batch row by row)")
        bad = np.flatnonzero((ids < 0) | (ids >= self.vocab_size))
        if bad.size:
            raise ValueError(f"id {int(ids[bad[0]])} (position {int(bad[0])}) is outside the "
                             f"vocabulary range 0..{self.vocab_size - 1}")
        return self._codepoints[ids].tobytes().decode("utf-32-le")

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def _codepoints(text):
    """The Unicode code points of ``text`` as a uint32 array (one per character)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def get_batch(data, batch_size, context, rng):
    """Random training windows for next-token prediction (as nanoGPT's ``get_batch``).

    Picks ``batch_size`` random start positions ``s`` in the 1-D id sequence ``data`` and returns
    the windows ``x = data[s : s + context]`` and the same windows shifted by one,
    ``y = data[s + 1 : s + context + 1]``, so ``y[b, t]`` is the token that follows ``x[b, :t+1]``.
    Both are int64 of shape (batch_size, context), gathered with one fancy index: a
    (batch_size, context) grid of positions.

    ``rng`` is required: a default seed here would return the same batch at every step.
    """
    data = np.asarray(data)
    if data.ndim != 1 or not np.issubdtype(data.dtype, np.integer):
        raise ValueError(f"data must be a 1-D array of token ids, got dtype {data.dtype} and "
                         f"shape {data.shape}")
    batch_size = _check_int("batch_size", batch_size, 1)
    context = _check_int("context", context, 1)
    if len(data) <= context:
        raise ValueError(f"data must be longer than context={context} (one extra token for the "
                         f"targets), got {len(data)} tokens")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a np.random.Generator, got {type(rng).__name__}")
    starts = rng.integers(0, len(data) - context, size=batch_size)  # last start: len - context - 1
    positions = starts[:, None] + np.arange(context)                # (batch_size, context)
    return data[positions].astype(np.int64), data[positions + 1].astype(np.int64)


# --------------------------------------------------------------------------- synthetic 2-D sets

def _balanced_labels(n, classes, rng):
    """``n`` labels with class sizes differing by at most one, in random order."""
    return rng.permutation(np.arange(n) % classes)


def moons(n=200, noise=0.1, rng=None):
    """Two interleaving half circles, classes 0 and 1 (as scikit-learn's ``make_moons``).

    Class 0 lies on the upper unit half circle ``(cos t, sin t)``, ``t`` uniform in [0, pi];
    class 1 is that arc mirrored through (0.5, 0.25): ``(1 - cos t, 0.5 - sin t)``. Gaussian
    noise of standard deviation ``noise`` is added to both coordinates. Not linearly separable,
    but easy for a small MLP: the classic toy problem for decision-boundary plots.

    Returns :class:`ArrayDataset` with ``x`` float32 (n, 2) and ``y`` int64 (n,).
    """
    n = _check_int("n", n, 1)
    noise = _check_nonnegative("noise", noise)
    rng = _generator(rng)
    y = _balanced_labels(n, 2, rng)
    t = rng.uniform(0.0, np.pi, size=n)
    x = np.stack([np.cos(t), np.sin(t)], axis=1)
    x[y == 1] = np.array([1.0, 0.5]) - x[y == 1]
    x += noise * rng.standard_normal((n, 2))
    return ArrayDataset(x.astype(np.float32), y.astype(np.int64))


def spirals(n=300, classes=3, noise=0.2, rng=None):
    """``classes`` interleaved spiral arms (the CS231n spiral data set).

    A point at radius ``r`` (uniform in [0, 1]) on arm ``k`` sits at angle
    ``t = 4 r + 2 pi k / classes + noise * N(0, 1)``: each arm turns 4 radians outward and the
    arms start evenly spaced around the circle; the noise is on the angle, in radians.
    Needs a non-linear model with a few hidden units.

    Returns :class:`ArrayDataset` with ``x`` float32 (n, 2) and ``y`` int64 (n,) in 0..classes-1.
    """
    n = _check_int("n", n, 1)
    classes = _check_int("classes", classes, 1)
    noise = _check_nonnegative("noise", noise)
    rng = _generator(rng)
    y = _balanced_labels(n, classes, rng)
    r = rng.uniform(0.0, 1.0, size=n)
    t = 4.0 * r + 2.0 * np.pi * y / classes + noise * rng.standard_normal(n)
    x = r[:, None] * np.stack([np.sin(t), np.cos(t)], axis=1)
    return ArrayDataset(x.astype(np.float32), y.astype(np.int64))


def blobs(n=300, centers=3, std=1.0, dim=2, rng=None):
    """Isotropic Gaussian clusters (as scikit-learn's ``make_blobs``).

    ``centers`` cluster means are drawn uniformly from the box [-10, 10]^dim; each sample is its
    cluster's mean plus Gaussian noise of standard deviation ``std`` in every coordinate.

    Returns :class:`ArrayDataset` with ``x`` float32 (n, dim) and ``y`` int64 (n,) in
    0..centers-1 (the cluster index).
    """
    n = _check_int("n", n, 1)
    centers = _check_int("centers", centers, 1)
    std = _check_nonnegative("std", std)
    dim = _check_int("dim", dim, 1)
    rng = _generator(rng)
    means = rng.uniform(-10.0, 10.0, size=(centers, dim))
    y = _balanced_labels(n, centers, rng)
    x = means[y] + std * rng.standard_normal((n, dim))
    return ArrayDataset(x.astype(np.float32), y.astype(np.int64))
