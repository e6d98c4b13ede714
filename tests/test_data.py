"""Tests for minprune.data: bundled datasets, integrity checks, loaders, synthetic sets, download."""

import gzip
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from minprune import data
from minprune.data import (
    ArrayDataset, CharTokenizer, DataIntegrityError, DataLoader, blobs, download, get_batch,
    mnist, moons, random_split, spirals, subset, tiny_shakespeare, verify_bundled,
)

# Class counts of digits 0..9, from minprune/datasets/mnist/README.md.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
T10K_IMAGES = "t10k-images-idx3-ubyte.gz"
T10K_LABELS = "t10k-labels-idx1-ubyte.gz"
T10K_IMAGES_SHA256 = "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"


@pytest.fixture
def mnist_copy(tmp_path):
    """A private, writable copy of the bundled MNIST folder (test split only, to stay fast)."""
    root = tmp_path / "mnist"
    root.mkdir()
    for name in ("SHA256SUMS", T10K_IMAGES, T10K_LABELS):
        shutil.copyfile(data.DATASETS_DIR / "mnist" / name, root / name)
    return root


def rewrite_gz(root, name, payload):
    """Replace ``root/name`` with gzip(payload) and update SHA256SUMS so the checksum passes."""
    (root / name).write_bytes(gzip.compress(payload, compresslevel=1))  # fast
    sums = (root / "SHA256SUMS").read_text().splitlines()
    digest = hashlib.sha256((root / name).read_bytes()).hexdigest()
    sums = [f"{digest}  {name}" if line.endswith(name) else line for line in sums]
    (root / "SHA256SUMS").write_text("\n".join(sums) + "\n")


# --------------------------------------------------------------------------- MNIST

def test_mnist_train_shapes_dtypes_ranges_statistics_and_class_counts():
    ds = mnist("train", normalize=True)
    assert len(ds) == 60000
    assert ds.x.shape == (60000, 1, 28, 28) and ds.x.dtype == np.float32
    assert ds.y.shape == (60000,) and ds.y.dtype == np.int64
    assert np.bincount(ds.y, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    # Pixel 0 and 255 both occur; after (v - 0.1307) / 0.3081 they land here:
    assert np.isclose(ds.x.min(), -0.1307 / 0.3081) and np.isclose(ds.x.max(), 0.8693 / 0.3081)
    # 0.1307 / 0.3081 are the training pixels' own mean / std, so the result is standardised.
    rows = ds.x.reshape(len(ds), -1)
    mean = float(rows.mean(dtype=np.float64))
    # Per-image sums of squares (784 float32 terms each: accurate), then a float64 total.
    mean_square = np.einsum("ij,ij->i", rows, rows).sum(dtype=np.float64) / rows.size
    std = float(np.sqrt(mean_square - mean**2))
    assert abs(mean) < 1e-3 and abs(std - 1.0) < 1e-3


def test_mnist_test_split_class_counts_and_normalize_off():
    ds = mnist("test")  # [0, 1] is the default (DESIGN §2)
    assert ds.x.shape == (10000, 1, 28, 28) and ds.y.shape == (10000,)
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    assert np.bincount(ds.y, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert ds.x.min() == 0.0 and ds.x.max() == 1.0
    # Pixels are exactly k / 255 in float32; the top-left pixel of a digit image is background.
    levels = np.arange(256, dtype=np.float32) / np.float32(255)
    assert np.isin(ds.x[:500], levels).all()
    assert ds.x[0, 0, 0, 0] == 0.0
    np.testing.assert_allclose(mnist("test", normalize=True).x, (ds.x - 0.1307) / 0.3081, rtol=1e-5, atol=1e-5)


def test_mnist_limit_takes_the_first_samples():
    full = mnist("test")
    small = mnist("test", limit=100)
    assert len(small) == 100
    np.testing.assert_array_equal(small.x, full.x[:100])
    np.testing.assert_array_equal(small.y, full.y[:100])
    assert len(mnist("test", limit=10**6)) == 10000
    with pytest.raises(ValueError, match="limit"):
        mnist("test", limit=-1)
    with pytest.raises(TypeError, match="limit"):
        mnist("test", limit=1.5)


def test_mnist_is_cached_and_read_only():
    mnist("test")
    hits = data._load_mnist.cache_info().hits
    again = mnist("test")
    assert data._load_mnist.cache_info().hits == hits + 1
    assert not again.x.flags.writeable and not again.y.flags.writeable
    with pytest.raises(ValueError):
        again.x[0, 0, 0, 0] = 1.0
    # Mini-batches are copies the caller owns.
    xb, yb = next(iter(DataLoader(again, batch_size=8)))
    assert xb.flags.writeable and not np.shares_memory(xb, again.x)


@pytest.mark.parametrize("split", ["validation", "Train", None])
def test_mnist_unknown_split_names_the_value(split):
    with pytest.raises(ValueError, match="split") as info:
        mnist(split)
    assert repr(split) in str(info.value) and "'train'" in str(info.value)


def test_mnist_truncated_file_raises_integrity_error_naming_file_and_checksums(mnist_copy):
    path = mnist_copy / T10K_IMAGES
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataIntegrityError) as info:
        mnist("test", root=mnist_copy)
    message = str(info.value)
    assert str(path) in message
    assert T10K_IMAGES_SHA256 in message
    assert hashlib.sha256(raw[: len(raw) // 2]).hexdigest() in message
    assert "intact copy" in message  # says how to restore it
    assert isinstance(info.value, ValueError)
    assert info.value.expected == T10K_IMAGES_SHA256


def test_mnist_byte_flip_raises_integrity_error(mnist_copy):
    path = mnist_copy / T10K_LABELS
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one bit: same size, still "looks" fine
    path.write_bytes(bytes(raw))
    with pytest.raises(DataIntegrityError, match=T10K_LABELS) as info:
        mnist("test", root=mnist_copy)
    assert info.value.path == str(path)
    assert "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6" in str(info.value)


def test_bundled_restore_hint_points_at_git():
    bundled = data.DATASETS_DIR / "mnist" / T10K_IMAGES
    assert "git checkout -- minprune/datasets/mnist/" + T10K_IMAGES in data._restore_hint(bundled)


def test_mnist_bad_magic_number_raises_value_error_naming_file(mnist_copy):
    labels = gzip.decompress((mnist_copy / T10K_LABELS).read_bytes())
    bad = (2051).to_bytes(4, "big") + labels[4:]  # an image magic number in a label file
    rewrite_gz(mnist_copy, T10K_LABELS, bad)
    with pytest.raises(ValueError, match=rf"{T10K_LABELS}.*magic number is 2051, expected 2049"):
        mnist("test", root=mnist_copy)


def test_mnist_header_count_mismatch_raises_value_error(mnist_copy):
    images = gzip.decompress((mnist_copy / T10K_IMAGES).read_bytes())
    bad = images[:4] + (10001).to_bytes(4, "big") + images[8:]  # announces one image too many
    rewrite_gz(mnist_copy, T10K_IMAGES, bad)
    with pytest.raises(ValueError, match=rf"{T10K_IMAGES}.*\(10001, 28, 28\)"):
        mnist("test", root=mnist_copy)


def test_mnist_too_short_header_and_image_label_mismatch(mnist_copy):
    labels = gzip.decompress((mnist_copy / T10K_LABELS).read_bytes())
    rewrite_gz(mnist_copy, T10K_LABELS, labels[:6])
    with pytest.raises(ValueError, match="too short for an IDX header"):
        mnist("test", root=mnist_copy)
    shorter = (2049).to_bytes(4, "big") + (9999).to_bytes(4, "big") + labels[8:-1]
    rewrite_gz(mnist_copy, T10K_LABELS, shorter)
    with pytest.raises(ValueError, match="10000 images but .* 9999 labels"):
        mnist("test", root=mnist_copy)


def test_mnist_loads_from_a_valid_copy(mnist_copy):
    copy = mnist("test", root=mnist_copy)
    np.testing.assert_array_equal(copy.y, mnist("test").y)


# --------------------------------------------------------------------------- bundled files

def test_verify_bundled_lists_every_checksummed_file_and_all_are_ok():
    report = verify_bundled()
    names = {entry.name for entry in report}
    assert names == {
        "mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz",
        "mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz",
        "tinyshakespeare/input.txt.gz",
    }
    for name, path, expected, actual, ok in report:
        assert ok and expected == actual and Path(path).is_file(), name


def test_bundled_checksums_match_the_readme():
    for folder in ("mnist", "tinyshakespeare"):
        readme = (data.DATASETS_DIR / folder / "README.md").read_text()
        for entry in verify_bundled():
            if entry.name.startswith(folder + "/"):
                assert entry.expected in readme


# --------------------------------------------------------------------------- ArrayDataset

def test_array_dataset_indexing_and_length_check():
    x, y = np.arange(20).reshape(10, 2), np.arange(10) * 10
    ds = ArrayDataset(x, y)
    assert len(ds) == 10 and ds.x is x and ds.y is y
    xi, yi = ds[3]
    assert xi.tolist() == [6, 7] and yi == 30
    xs, ys = ds[2:4]
    assert xs.shape == (2, 2) and ys.tolist() == [20, 30]
    xf, yf = ds[np.array([9, 0, 9])]
    assert xf.tolist() == [[18, 19], [0, 1], [18, 19]] and yf.tolist() == [90, 0, 90]
    with pytest.raises(ValueError, match=r"len\(x\)=10 and len\(y\)=9"):
        ArrayDataset(x, y[:9])


# --------------------------------------------------------------------------- DataLoader

def _collect(loader):
    batches = list(loader)
    return batches, np.concatenate([yb for _, yb in batches]) if batches else np.array([])


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_dataloader_each_sample_once_per_epoch(shuffle, drop_last):
    n, batch = 103, 10
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n)  # y is each sample's index, to track it
    loader = DataLoader((x, y), batch_size=batch, shuffle=shuffle, drop_last=drop_last,
                        rng=np.random.default_rng(1))
    expected_batches = n // batch if drop_last else -(-n // batch)
    assert len(loader) == expected_batches
    for _epoch in range(3):
        batches, seen = _collect(loader)
        assert len(batches) == expected_batches
        for xb, yb in batches:
            assert xb.shape[1:] == (3,) and xb.dtype == np.float32
            np.testing.assert_array_equal(xb[:, 0], yb * 3)  # x and y stay paired
        sizes = [len(yb) for _, yb in batches]
        if drop_last:
            assert sizes == [batch] * (n // batch)
            assert len(np.unique(seen)) == len(seen) == n - n % batch
        else:
            assert sizes == [batch] * (n // batch) + [n % batch]
            assert sorted(seen.tolist()) == list(range(n))
        if not shuffle:
            np.testing.assert_array_equal(seen, np.arange(len(seen)))


def test_dataloader_new_order_each_epoch_and_reproducible_from_seed():
    ds = ArrayDataset(np.zeros((50, 1)), np.arange(50))
    loader = DataLoader(ds, batch_size=7, shuffle=True, rng=np.random.default_rng(123))
    first, second = _collect(loader)[1], _collect(loader)[1]
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, np.arange(50))
    replay = DataLoader(ds, batch_size=7, shuffle=True, rng=np.random.default_rng(123))
    np.testing.assert_array_equal(_collect(replay)[1], first)
    np.testing.assert_array_equal(_collect(replay)[1], second)
    # rng=None is documented as default_rng(0): reproducible too.
    a = _collect(DataLoader(ds, batch_size=7, shuffle=True))[1]
    b = _collect(DataLoader(ds, batch_size=7, shuffle=True))[1]
    np.testing.assert_array_equal(a, b)


def test_dataloader_uses_one_fancy_index_per_batch():
    class Recorder:
        def __init__(self):
            self.calls = []

        def __len__(self):
            return 25

        def __getitem__(self, index):
            self.calls.append(index)
            return np.asarray(index) * 2, np.asarray(index)

    ds = Recorder()
    batches = list(DataLoader(ds, batch_size=10))
    assert len(ds.calls) == 3 and all(isinstance(c, np.ndarray) for c in ds.calls)
    assert [len(yb) for _, yb in batches] == [10, 10, 5]


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (2.0, TypeError),
                                         ("8", TypeError), (True, TypeError), (None, TypeError)])
def test_dataloader_rejects_bad_batch_size(bad, error):
    with pytest.raises(error, match="batch_size") as info:
        DataLoader((np.zeros(4), np.zeros(4)), batch_size=bad)
    assert repr(bad) in str(info.value) or str(bad) in str(info.value)


def test_dataloader_rejects_non_datasets_and_bad_rng():
    with pytest.raises(TypeError, match="dataset"):
        DataLoader(42)
    with pytest.raises(ValueError, match="len"):
        DataLoader((np.zeros(4), np.zeros(5)))
    with pytest.raises(TypeError, match="rng"):
        DataLoader((np.zeros(4), np.zeros(4)), shuffle=True, rng="seed")


def test_subset_and_random_split():
    ds = ArrayDataset(np.arange(100) * 2, np.arange(100))
    first = subset(ds, 10)
    assert first.y.tolist() == list(range(10))
    rand = subset(ds, 10, rng=np.random.default_rng(0))
    assert len(np.unique(rand.y)) == 10 and rand.y.tolist() != list(range(10))
    np.testing.assert_array_equal(rand.x, rand.y * 2)
    np.testing.assert_array_equal(subset(ds, 10, rng=np.random.default_rng(0)).y, rand.y)
    with pytest.raises(ValueError, match="101"):
        subset(ds, 101)

    parts = random_split(ds, [70, 20, 10], rng=np.random.default_rng(0))
    assert [len(p) for p in parts] == [70, 20, 10]
    assert sorted(np.concatenate([p.y for p in parts]).tolist()) == list(range(100))
    assert [len(p) for p in random_split(ds, [0.85, 0.15])] == [85, 15]
    assert [len(p) for p in random_split(ArrayDataset(np.zeros(10), np.zeros(10)),
                                         [1 / 3, 1 / 3, 1 / 3])] == [4, 3, 3]
    with pytest.raises(ValueError, match="sum"):
        random_split(ds, [50, 49])


# --------------------------------------------------------------------------- synthetic sets

@pytest.mark.parametrize("make, kwargs, classes", [
    (moons, dict(n=201), 2),
    (spirals, dict(n=301, classes=4), 4),
    (blobs, dict(n=299, centers=5), 5),
])
def test_synthetic_sizes_classes_and_determinism(make, kwargs, classes):
    ds = make(**kwargs, rng=np.random.default_rng(7))
    n = kwargs["n"]
    assert ds.x.shape == (n, 2) and ds.x.dtype == np.float32
    assert ds.y.shape == (n,) and ds.y.dtype == np.int64
    counts = np.bincount(ds.y)
    assert len(counts) == classes and counts.max() - counts.min() <= 1  # balanced
    same = make(**kwargs, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(ds.x, same.x)
    np.testing.assert_array_equal(ds.y, same.y)
    other = make(**kwargs, rng=np.random.default_rng(8))
    assert not np.array_equal(ds.x, other.x)
    np.testing.assert_array_equal(make(**kwargs).x, make(**kwargs, rng=0).x)  # None = seed 0


def test_synthetic_geometry():
    clean = moons(n=400, noise=0.0)
    upper, lower = clean.x[clean.y == 0], clean.x[clean.y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0, atol=1e-6)        # on the unit circle
    np.testing.assert_allclose(np.hypot(*(lower - [1, 0.5]).T), 1.0, atol=1e-6)
    assert (upper[:, 1] >= 0).all() and (lower[:, 1] <= 0.5).all()
    assert (np.hypot(*spirals(n=300).x.T) <= 1.0 + 1e-6).all()             # radius in [0, 1]
    b = blobs(n=3000, centers=3, std=0.5, dim=5, rng=np.random.default_rng(0))
    assert b.x.shape == (3000, 5)
    within = np.mean([b.x[b.y == k].std(axis=0).mean() for k in range(3)])
    assert abs(within - 0.5) < 0.05
    with pytest.raises(ValueError, match="noise"):
        moons(noise=-0.1)
    with pytest.raises(TypeError, match="classes"):
        spirals(classes=2.5)


# --------------------------------------------------------------------------- download

def test_download_from_file_url(tmp_path):
    source = tmp_path / "server" / "blob.bin"
    source.parent.mkdir()
    payload = os.urandom(3 << 20)  # more than one 1 MiB chunk
    source.write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    target = tmp_path / "cache" / "sub" / "blob.bin"
    result = download(source.as_uri(), target, digest)
    assert Path(result) == target and target.read_bytes() == payload
    assert sorted(os.listdir(target.parent)) == ["blob.bin"]  # no temporary file left
    # Already present with the right checksum: nothing is fetched (the URL is not even valid).
    assert Path(download((tmp_path / "missing").as_uri(), target, digest.upper())) == target


def test_download_with_wrong_checksum_leaves_nothing(tmp_path):
    source = tmp_path / "blob.bin"
    source.write_bytes(b"payload")
    target_dir = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(DataIntegrityError) as info:
        download(source.as_uri(), target_dir / "blob.bin", wrong)
    message = str(info.value)
    assert str(target_dir / "blob.bin") in message and wrong in message
    assert hashlib.sha256(b"payload").hexdigest() in message
    assert os.listdir(target_dir) == []  # neither the target nor a temporary file


def test_download_replaces_a_corrupt_file_and_keeps_it_on_failure(tmp_path):
    source = tmp_path / "blob.bin"
    source.write_bytes(b"good data")
    target = tmp_path / "cache" / "blob.bin"
    target.parent.mkdir()
    target.write_bytes(b"old")
    with pytest.raises(DataIntegrityError):
        download(source.as_uri(), target, "1" * 64)
    assert target.read_bytes() == b"old"  # the failed download did not touch it
    download(source.as_uri(), target, hashlib.sha256(b"good data").hexdigest())
    assert target.read_bytes() == b"good data"
    assert os.listdir(target.parent) == ["blob.bin"]


def test_download_validates_checksum_and_reports_missing_source(tmp_path):
    with pytest.raises(ValueError, match="sha256"):
        download("file:///nowhere", tmp_path / "x", "abc")
    with pytest.raises(OSError):
        download((tmp_path / "missing").as_uri(), tmp_path / "out" / "x", "0" * 64)
    assert os.listdir(tmp_path / "out") == []


# --------------------------------------------------------------------------- Tiny Shakespeare

def test_tiny_shakespeare_text_and_splits():
    text = tiny_shakespeare()
    assert isinstance(text, str) and len(text) == 1115394
    assert len(set(text)) == 65
    assert text.startswith("First Citizen:")
    train, val = tiny_shakespeare("train"), tiny_shakespeare("val")
    assert len(train) == int(0.9 * len(text)) == 1003854 and len(val) == 111540
    assert train + val == text
    with pytest.raises(ValueError, match="'test'"):
        tiny_shakespeare("test")


@pytest.fixture
def shakespeare_copy(tmp_path):
    root = tmp_path / "tinyshakespeare"
    shutil.copytree(data.DATASETS_DIR / "tinyshakespeare", root)
    for path in root.iterdir():
        path.chmod(0o644)
    return root


def test_tiny_shakespeare_truncated_gz_raises(shakespeare_copy):
    path = shakespeare_copy / "input.txt.gz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataIntegrityError, match="input.txt.gz") as info:
        tiny_shakespeare(root=shakespeare_copy)
    assert "bed00f18e91cda6838950656f0a95e07e0f4dbe8649a4b959f7602a7e53fbc6e" in str(info.value)


def test_tiny_shakespeare_checks_the_uncompressed_text(shakespeare_copy):
    # A consistent .gz + SHA256SUMS for a *different* text: only the text checksum catches it.
    text = gzip.decompress((shakespeare_copy / "input.txt.gz").read_bytes())
    rewrite_gz(shakespeare_copy, "input.txt.gz", text.replace(b"Citizen", b"Citizan", 1))
    with pytest.raises(DataIntegrityError, match="uncompressed") as info:
        tiny_shakespeare(root=shakespeare_copy)
    assert "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed" in str(info.value)
    assert str(shakespeare_copy / "input.txt.gz") in str(info.value)


def test_char_tokenizer_round_trip_and_errors():
    text = tiny_shakespeare()
    tok = CharTokenizer(text)
    assert tok.vocab_size == 65 == len(tok.stoi) == len(tok.itos)
    assert list(tok.stoi) == sorted(tok.stoi)  # sorted vocabulary
    assert all(tok.itos[i] == ch for ch, i in tok.stoi.items())
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert ids.min() == 0 and ids.max() == 64
    assert tok.decode(ids) == text
    assert tok.encode("hi!").tolist() == [tok.stoi["h"], tok.stoi["i"], tok.stoi["!"]]
    assert tok.decode([tok.stoi["a"]]) == "a" and tok.decode([]) == ""
    assert CharTokenizer("héllo wörld").decode(CharTokenizer("héllo wörld").encode("wöh")) == "wöh"
    with pytest.raises(ValueError, match=r"'\{'"):
        tok.encode("a{b")
    with pytest.raises(ValueError, match="'é'"):
        tok.encode("café")
    with pytest.raises(ValueError, match="65"):
        tok.decode([65])


def test_get_batch_targets_are_inputs_shifted_by_one():
    tok = CharTokenizer(tiny_shakespeare())
    ids = tok.encode(tiny_shakespeare("val"))
    x, y = get_batch(ids, batch_size=16, context=32, rng=np.random.default_rng(0))
    assert x.shape == y.shape == (16, 32) and x.dtype == y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    # Every row is a real window of the data, and y's last token is the one after x's last.
    val = tiny_shakespeare("val")
    for row_x, row_y in zip(x, y):
        start = val.find(tok.decode(row_x) + tok.decode(row_y[-1:]))
        assert start >= 0
    again = get_batch(ids, 16, 32, np.random.default_rng(0))
    np.testing.assert_array_equal(again[0], x)
    # Windows may end at the very last token but never run past it.
    tiny = np.arange(5)
    xs, ys = get_batch(tiny, 200, 4, np.random.default_rng(1))
    assert set(xs[:, 0].tolist()) == {0} and ys.max() == 4
    with pytest.raises(ValueError, match="context"):
        get_batch(tiny, 2, 5, np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        get_batch(tiny, 2, 3, None)
