"""Tests of minprune.deploy: round trips in every format for a pruned (masks), a compacted, a k-means-quantized and a
convolutional model with BatchNorm; the file size on disk = the predicted payload + the JSON header + numpy's
archive overhead (stated below, < 1 KB); a clear DeployError naming the file and the field for every kind of bad
file; nothing half-written when an export fails; and the PyTorch state dict (loaded into torch when installed)."""
import copy
import json
import os
from collections import OrderedDict

import numpy as np
import pytest

from minprune import deploy, metrics, nn, prune
from minprune.related import deep_compression as dc
from minprune.tensor import no_grad


def rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------- models
def mlp(seed=0):
    g = rng(seed)
    return nn.Sequential(OrderedDict(fc1=nn.Linear(20, 16, rng=g), relu=nn.ReLU(), fc2=nn.Linear(16, 5, rng=g)))


def pruned_model():
    model = mlp(1)
    prune.l1_unstructured(model.fc1, "weight", 0.7)
    prune.l1_unstructured(model.fc2, "weight", 0.5)
    return model


def compacted_model():
    model = mlp(2)
    prune.ln_structured(model.fc1, "weight", 0.5, n=2, dim=0)
    small, _ = prune.compact(model)
    assert small.fc1.out_features == 8
    return small


def kmeans_model():
    model = mlp(3)
    dc.deep_compression(model, 0.6, 3)
    return model


def conv_model():
    g = rng(4)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=g), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Dropout(0.5), nn.Flatten(), nn.Linear(64, 10, rng=g))
    bn = model[1]
    bn.weight.data[...] = g.uniform(0.5, 2, 4)
    bn.bias.data[...] = g.normal(size=4)
    bn.running_mean[...] = g.normal(size=4)
    bn.running_var[...] = g.uniform(0.5, 2, 4)
    prune.l1_unstructured(model[6], "weight", 0.4)
    return model.eval()


MODELS = {"pruned": pruned_model, "compacted": compacted_model, "kmeans": kmeans_model, "conv": conv_model}


def inputs(name):
    return rng(5).normal(size=(7, 1, 8, 8) if name == "conv" else (7, 20)).astype(np.float32)


def outputs(model, x):
    model.eval()
    with no_grad():
        return model(x).data


def weights(model):
    """The effective weights of every Linear/Conv2d, in chain order."""
    return [metrics.module_parameters(m)["weight"] for _, m in model.named_modules()
            if isinstance(m, (nn.Linear, nn.Conv2d))]


def one_d_values(model):
    return sum(a.size for a in metrics.inference_arrays(model).values() if a.ndim < 2)


# ---------------------------------------------------------------------- sizes
def archive_overhead(path):
    """numpy's ``savez`` layout, per array: a 128-byte .npy header, a zip local header (30 B + the name + a 20-byte
    zip64 extra field, numpy forces zip64) and a central-directory entry (46 B + the name); plus the 22-byte end
    record. For 2–3 arrays that is 512–758 bytes."""
    with np.load(path) as f:
        names = [name + ".npy" for name in f.files]
    return 22 + sum(128 + 30 + 20 + 46 + 2 * len(name) for name in names)


def header_length(path):
    with np.load(path) as f:
        return f["header"].size


def predicted_payload(model, fmt):
    if fmt == "dense":
        return metrics.model_size_bytes(model, "dense")
    if fmt == "sparse":
        return metrics.model_size_bytes(model, "csr")
    small = 4 * one_d_values(model)                               # biases, BatchNorm: float32
    if fmt == "int8":                                             # 1 byte per weight + a float32 scale per row
        return small + sum(w.size + 4 * w.shape[0] for w in weights(model))
    return small + sum(dc.encode_shared_weight(w).nbytes for w in weights(model))


CASES = [(m, f) for m in MODELS for f in ("dense", "sparse", "int8")] + [("kmeans", "deep_compression")]


@pytest.mark.parametrize("name,fmt", CASES)
def test_file_size_is_payload_plus_header_plus_overhead(tmp_path, name, fmt):
    model = MODELS[name]()
    path = deploy.export(model, tmp_path / "model.mpz", fmt)
    overhead = archive_overhead(path)
    assert overhead < 1024
    assert os.path.getsize(path) == predicted_payload(model, fmt) + header_length(path) + overhead
    if fmt in ("int8", "deep_compression") and fmt in metrics.FORMATS:    # once metrics learns these formats
        assert metrics.model_size_bytes(model, fmt) == predicted_payload(model, fmt)


def test_sparse_file_is_smaller_than_dense_when_sparse_enough(tmp_path):
    model = mlp(6)
    prune.l1_unstructured(model.fc1, "weight", 0.9)
    prune.l1_unstructured(model.fc2, "weight", 0.9)
    dense = os.path.getsize(deploy.export(model, tmp_path / "d.mpz", "dense"))
    sparse = os.path.getsize(deploy.export(model, tmp_path / "s.mpz", "sparse"))
    int8 = os.path.getsize(deploy.export(model, tmp_path / "i.mpz", "int8"))
    assert sparse < dense and int8 < dense


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("fmt", ["dense", "sparse"])
def test_dense_and_sparse_round_trips_are_exact(tmp_path, name, fmt):
    model = MODELS[name]()
    x = inputs(name)
    loaded = deploy.load(deploy.export(model, tmp_path / "m.mpz", fmt))
    assert not loaded.training
    np.testing.assert_array_equal(outputs(loaded, x), outputs(model, x))
    for a, b in zip(weights(loaded), weights(model)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(MODELS))
def test_int8_weights_within_half_a_step(tmp_path, name):
    model = MODELS[name]()
    loaded = deploy.load(deploy.export(model, tmp_path / "m.mpz", "int8"))
    for got, w in zip(weights(loaded), weights(model)):
        rows = w.reshape(w.shape[0], -1).astype(np.float64)
        step = np.abs(rows).max(axis=1, keepdims=True) / 127.5          # symmetric per-output-channel scale
        error = np.abs(got.reshape(rows.shape) - rows)
        # half a step, plus the float32 rounding of the stored scale (≤ 128 · 2^−24 of a step at the range ends)
        assert np.all(error <= step / 2 + 128 * 2.0 ** -24 * step + 1e-9)
        np.testing.assert_array_equal(got[w == 0], 0.0)              # pruned weights stay exactly 0
    x = inputs(name)
    np.testing.assert_allclose(outputs(loaded, x), outputs(model, x), atol=0.05)


def test_int8_output_error_bound_for_one_layer(tmp_path):
    # y_i = Σ_j w_ij x_j + b_i: |Δy_i| ≤ Σ_j |x_j| · s_i / 2
    layer = nn.Linear(30, 6, rng=rng(7))
    x = rng(8).normal(size=(5, 30)).astype(np.float32)
    loaded = deploy.load(deploy.export(nn.Sequential(layer), tmp_path / "m.mpz", "int8"))
    step = np.abs(layer.weight.data).max(axis=1) / 127.5
    bound = np.abs(x).sum(axis=1, keepdims=True) * step[None, :] / 2
    error = np.abs(outputs(loaded, x) - outputs(nn.Sequential(layer), x))
    assert np.all(error <= bound * 1.0001 + 1e-5)


def test_deep_compression_round_trip_is_exact_to_the_shared_weights(tmp_path):
    model = mlp(9)
    table, encoded = dc.deep_compression(model, {"fc1": 0.8, "fc2": 0.5}, {"fc1": 4, "fc2": 3})
    path = deploy.export(model, tmp_path / "m.mpz", "deep_compression")
    loaded = deploy.load(path)
    for got, w in zip(weights(loaded), weights(model)):
        np.testing.assert_array_equal(got, w)
    x = inputs("mlp")
    np.testing.assert_array_equal(outputs(loaded, x), outputs(model, x))
    # the deployed streams are never bigger than the table's (whose codebooks also hold unused centroids)
    with np.load(path) as f:
        payload = sum(f[k].nbytes for k in f.files if k != "header")
    assert payload <= table.compressed_bytes


def test_deep_compression_format_needs_shared_weights(tmp_path):
    with pytest.raises(ValueError, match="deep_compression"):
        deploy.export(mlp(10), tmp_path / "m.mpz", "deep_compression")
    assert list(tmp_path.iterdir()) == []


def test_header_describes_the_model(tmp_path):
    path = deploy.export(pruned_model(), tmp_path / "m.mpz", "sparse")
    with np.load(path) as f:
        header = json.loads(f["header"].tobytes())
    assert (header["magic"], header["version"], header["format"]) == ("minprune", 1, "sparse")
    assert [(e["type"], e["name"]) for e in header["architecture"]] == [("Linear", "fc1"), ("ReLU", "relu"),
                                                                         ("Linear", "fc2")]
    assert header["architecture"][0]["in"] == 20 and header["architecture"][0]["out"] == 16


def test_export_rejects_bad_format_and_unsupported_layers(tmp_path):
    with pytest.raises(ValueError, match="format"):
        deploy.export(mlp(), tmp_path / "m.mpz", "float16")
    with pytest.raises(TypeError, match="supported"):
        deploy.export(nn.Sequential(nn.Linear(3, 2, rng=rng()), nn.Embedding(4, 3, rng=rng())), tmp_path / "m.mpz")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- nothing half-written
def test_export_into_a_missing_folder(tmp_path):
    target = tmp_path / "missing" / "model.mpz"
    with pytest.raises(FileNotFoundError, match="missing"):
        deploy.export(mlp(), target)
    assert list(tmp_path.iterdir()) == []


def test_failed_export_keeps_the_previous_file(tmp_path):
    target = tmp_path / "model.mpz"
    deploy.export(mlp(), target)
    before = target.read_bytes()
    with pytest.raises(ValueError):
        deploy.export(mlp(11), target, "deep_compression")            # not k-means shared: fails while encoding
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.mpz"]      # no temporary file left behind


def test_crash_while_writing_leaves_nothing_half_written(tmp_path, monkeypatch):
    target = tmp_path / "model.mpz"
    deploy.export(mlp(), target)
    before = target.read_bytes()

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        deploy.export(mlp(11), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.mpz"]


# ---------------------------------------------------------------------- bad files
def saved(tmp_path, fmt="dense"):
    return deploy.export(mlp(12), tmp_path / "model.mpz", fmt)


def rewrite(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def arrays_of(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def edit_header(path, change):
    arrays = arrays_of(path)
    header = json.loads(arrays["header"].tobytes())
    change(header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    rewrite(path, arrays)


def expect_error(path, *fragments):
    with pytest.raises(deploy.DeployError) as info:
        deploy.load(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_wrong_magic(tmp_path):
    path = saved(tmp_path)
    edit_header(path, lambda h: h.update(magic="notminprune"))
    expect_error(path, "'magic'", "notminprune")


def test_wrong_version(tmp_path):
    path = saved(tmp_path)
    edit_header(path, lambda h: h.update(version=99))
    expect_error(path, "'version'", "99")


def test_unknown_format(tmp_path):
    path = saved(tmp_path)
    edit_header(path, lambda h: h.update(format="float16"))
    expect_error(path, "'format'")


def test_missing_header(tmp_path):
    path = saved(tmp_path)
    arrays = arrays_of(path)
    del arrays["header"]
    rewrite(path, arrays)
    expect_error(path, "'header'", "missing")


def test_header_not_json(tmp_path):
    path = saved(tmp_path)
    arrays = arrays_of(path)
    arrays["header"] = np.frombuffer(b"{not json", np.uint8)
    rewrite(path, arrays)
    expect_error(path, "'header'", "JSON")


def test_truncated_blob(tmp_path):
    # the float32 blob holds fc1.weight, fc1.bias, fc2.weight, fc2.bias in that order: one value short → fc2.bias
    path = saved(tmp_path)
    arrays = arrays_of(path)
    arrays["blob<f4"] = arrays["blob<f4"][:-1]
    rewrite(path, arrays)
    expect_error(path, "'fc2.bias'", "truncated")


def test_truncated_file(tmp_path):
    path = saved(tmp_path)
    content = path.read_bytes()
    path.write_bytes(content[:len(content) // 2])
    expect_error(path, "not a readable")


def test_layer_shape_disagrees_with_the_json(tmp_path):
    path = saved(tmp_path)
    edit_header(path, lambda h: h["architecture"][0].update({"in": 21}))
    expect_error(path, "'fc1.weight'", "(16, 21)")


def test_array_shape_disagrees_with_the_json(tmp_path):
    path = saved(tmp_path)
    edit_header(path, lambda h: h["architecture"][0]["weight"]["dense"].update(shape=[16, 19]))
    expect_error(path, "'fc1.weight'")


def test_bias_shape_disagrees_with_the_json(tmp_path):
    path = saved(tmp_path)
    edit_header(path, lambda h: h["architecture"][2]["bias_data"].update(shape=[4]))
    expect_error(path, "'fc2.bias'")


def test_sparse_arrays_disagree_with_the_json(tmp_path):
    path = saved(tmp_path, "sparse")
    edit_header(path, lambda h: h["architecture"][0]["weight"]["row_ptr"].update(shape=[16]))
    expect_error(path, "'fc1.weight'", "CSR")


def test_missing_field_in_a_layer(tmp_path):
    path = saved(tmp_path)
    edit_header(path, lambda h: h["architecture"][2].pop("weight"))
    expect_error(path, "architecture[2]", "fc2")


def test_missing_architecture(tmp_path):
    path = saved(tmp_path)
    edit_header(path, lambda h: h.pop("architecture"))
    expect_error(path, "'architecture'")


@pytest.mark.parametrize("content", [b"not a zip file at all", b""])
def test_not_a_zip(tmp_path, content):
    path = tmp_path / "model.mpz"
    path.write_bytes(content)
    expect_error(path, "not a readable")


def test_a_bare_npy_array(tmp_path):
    path = tmp_path / "model.mpz"
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    expect_error(path, "not a readable")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        deploy.load(tmp_path / "nothing.mpz")


# ---------------------------------------------------------------------- PyTorch
def lenet_like(seed=13):
    g = rng(seed)
    model = nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc1=nn.Linear(64, 32, rng=g), relu1=nn.ReLU(),
                                      fc2=nn.Linear(32, 10, rng=g)))
    prune.l1_unstructured(model.fc1, "weight", 0.8)
    return model


def test_torch_state_dict_names_shapes_and_values():
    model = lenet_like()
    state = deploy.to_torch_state_dict(model)
    assert sorted(state) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]    # no _orig, no _mask
    assert {k: v.shape for k, v in state.items()} == {"fc1.weight": (32, 64), "fc1.bias": (32,),
                                                      "fc2.weight": (10, 32), "fc2.bias": (10,)}
    np.testing.assert_array_equal(state["fc1.weight"], model.fc1.weight_orig.data * model.fc1.weight_mask)
    assert all(v.dtype == np.float32 for v in state.values())


def test_torch_state_dict_of_batchnorm():
    state = deploy.to_torch_state_dict(conv_model())
    assert sorted(state) == sorted(["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                    "1.num_batches_tracked", "6.weight", "6.bias"])
    assert state["1.num_batches_tracked"].dtype == np.int64 and state["1.num_batches_tracked"].shape == ()
    assert state["6.weight"].shape == (10, 64)


def test_torch_loads_it_and_computes_the_same():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    cases = [
        (lenet_like(), tnn.Sequential(OrderedDict(flatten=tnn.Flatten(), fc1=tnn.Linear(64, 32), relu1=tnn.ReLU(),
                                                  fc2=tnn.Linear(32, 10))), (6, 1, 8, 8)),
        (conv_model(), tnn.Sequential(tnn.Conv2d(1, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(), tnn.MaxPool2d(2),
                                      tnn.Dropout(0.5), tnn.Flatten(), tnn.Linear(64, 10)), (6, 1, 8, 8)),
    ]
    for ours, theirs, shape in cases:
        theirs.load_state_dict({k: torch.from_numpy(v) for k, v in deploy.to_torch_state_dict(ours).items()})
        theirs.eval()
        x = rng(14).normal(size=shape).astype(np.float32)
        with torch.no_grad():
            expected = theirs(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(outputs(ours, x), expected, rtol=1e-5, atol=1e-5)


def test_exported_model_is_not_modified(tmp_path):
    model = pruned_model()
    state = copy.deepcopy(model.state_dict())
    deploy.export(model, tmp_path / "m.mpz", "int8")
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
