"""Loading Fashion-MNIST and MNIST from local files: lookup order, formats, errors."""

import ast
import gzip
import os
import pathlib

import numpy as np
import pytest

import annc.datasets as datasets
from annc.datasets import DatasetFormatError, DatasetNotFoundError, _loader, fashion_mnist, mnist

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"


def assert_same(result, expected):
    (x, y), (xt, yt) = result
    (ex, ey), (ext, eyt) = expected
    for got, want in ((x, ex), (y, ey), (xt, ext), (yt, eyt)):
        assert got.dtype == np.uint8
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------------- the package


def test_package_exposes_keras_modules():
    assert datasets.fashion_mnist is fashion_mnist
    assert datasets.mnist is mnist
    assert callable(fashion_mnist.load_data) and callable(mnist.load_data)


def test_error_classes_are_standard_exceptions():
    assert issubclass(datasets.DatasetFormatError, ValueError)
    assert issubclass(datasets.DatasetHashError, ValueError)
    assert issubclass(datasets.DatasetDownloadError, OSError)
    assert issubclass(datasets.DatasetNotFoundError, FileNotFoundError)
    for cls in (DatasetFormatError, DatasetNotFoundError, datasets.DatasetDownloadError):
        assert issubclass(cls, datasets.DatasetError)


def test_datasets_package_imports_nothing_else_from_annc():
    """annc.datasets must work before the compiled core exists: only relative imports
    of its own modules, no absolute ``annc`` imports, no ``..`` imports."""
    package_dir = pathlib.Path(datasets.__file__).parent
    for source in sorted(package_dir.glob("*.py")):
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "annc" for a in node.names), source
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    assert (node.module or "").split(".")[0] != "annc", source
                else:
                    assert node.level == 1, f"{source}: imports from outside annc.datasets"


def test_errors_are_importable_from_the_package():
    assert datasets.DatasetFormatError.__module__ == "annc.datasets"


# ------------------------------------------------------------------------- lookup


def test_explicit_dir_argument(tmp_path, write_idx_set):
    expected = write_idx_set(tmp_path / "fm")
    result = fashion_mnist.load_data(data_dir=tmp_path / "fm")
    assert_same(result, expected)
    (x, y), (xt, yt) = result
    assert x.shape == (6, 28, 28) and y.shape == (6,)
    assert xt.shape == (4, 28, 28) and yt.shape == (4,)
    x[0, 0, 0] = 1  # arrays are writable, unlike views of an immutable buffer
    assert x.flags.writeable and y.flags.writeable


def test_explicit_dir_as_root_with_named_subfolder(tmp_path, write_idx_set):
    expected = write_idx_set(tmp_path / "root" / "fashion-mnist")
    assert_same(fashion_mnist.load_data(data_dir=str(tmp_path / "root")), expected)


def test_uncompressed_idx_files_are_accepted(tmp_path, write_idx_set):
    expected = write_idx_set(tmp_path / "plain", compress=False)
    assert_same(fashion_mnist.load_data(data_dir=tmp_path / "plain"), expected)


def test_env_var_directory(tmp_path, monkeypatch, write_idx_set):
    expected = write_idx_set(tmp_path / "env")
    monkeypatch.setenv("ANNC_DATASETS", str(tmp_path / "env"))
    assert_same(fashion_mnist.load_data(), expected)


def test_argument_beats_env_var(tmp_path, monkeypatch, write_idx_set):
    write_idx_set(tmp_path / "env", seed=1)
    expected = write_idx_set(tmp_path / "arg", seed=2)
    monkeypatch.setenv("ANNC_DATASETS", str(tmp_path / "env"))
    assert_same(fashion_mnist.load_data(data_dir=tmp_path / "arg"), expected)


def test_cache_under_annc_home(isolated, write_idx_set):
    expected = write_idx_set(isolated / "datasets" / "fashion-mnist")
    assert_same(fashion_mnist.load_data(), expected)


def test_annc_home_defaults_to_dot_annc(tmp_path, monkeypatch, write_idx_set):
    monkeypatch.delenv("ANNC_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    expected = write_idx_set(tmp_path / "user" / ".annc" / "datasets" / "fashion-mnist")
    assert_same(fashion_mnist.load_data(), expected)


def test_precedence_explicit_then_cache_then_system(tmp_path, isolated, monkeypatch, write_idx_set):
    explicit = write_idx_set(tmp_path / "explicit", seed=1)
    cached = write_idx_set(isolated / "datasets" / "fashion-mnist", seed=2)
    system = write_idx_set(tmp_path / "system", seed=3)
    monkeypatch.setattr(
        fashion_mnist, "SYSTEM_DIRS", (str(tmp_path / "missing"), str(tmp_path / "system"))
    )
    monkeypatch.setenv("ANNC_DATASETS", str(tmp_path / "explicit"))

    assert_same(fashion_mnist.load_data(), explicit)
    monkeypatch.delenv("ANNC_DATASETS")
    assert_same(fashion_mnist.load_data(), cached)
    for name in os.listdir(isolated / "datasets" / "fashion-mnist")[:1]:
        os.remove(isolated / "datasets" / "fashion-mnist" / name)  # an incomplete cache is no hit
    assert_same(fashion_mnist.load_data(), system)


def test_missing_explicit_dir_falls_through_to_cache(tmp_path, isolated, write_idx_set):
    cached = write_idx_set(isolated / "datasets" / "fashion-mnist")
    assert_same(fashion_mnist.load_data(data_dir=tmp_path / "nothing-here"), cached)


def test_partial_explicit_dir_is_an_error(tmp_path, write_idx_set):
    write_idx_set(tmp_path / "part")
    os.remove(tmp_path / "part" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DatasetNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        fashion_mnist.load_data(data_dir=tmp_path / "part")


# ------------------------------------------------------------------ corrupt files


def _rewrite(directory, name, data, compress=True):
    (directory / name).write_bytes(gzip.compress(data) if compress else data)
    return str(directory / name)


def test_truncated_gzip(tmp_path, write_idx_set):
    d = tmp_path / "d"
    write_idx_set(d)
    path = d / "train-images-idx3-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetFormatError, match="corrupt or truncated gzip") as info:
        fashion_mnist.load_data(data_dir=d)
    assert str(path) in str(info.value)
    assert info.value.path == str(path)


def test_gzip_crc_corruption(tmp_path, write_idx_set):
    d = tmp_path / "d"
    write_idx_set(d)
    path = d / "train-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[-8] ^= 0xFF  # CRC32 in the gzip trailer
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetFormatError, match="gzip") as info:
        fashion_mnist.load_data(data_dir=d)
    assert str(path) in str(info.value)


def test_truncated_payload(tmp_path, write_idx_set, idx_bytes):
    d = tmp_path / "d"
    (x, _), _ = write_idx_set(d)
    path = _rewrite(d, "train-images-idx3-ubyte.gz", idx_bytes(x)[:-100])
    with pytest.raises(DatasetFormatError, match="truncated") as info:
        fashion_mnist.load_data(data_dir=d)
    assert path in str(info.value)
    assert "4704 bytes" in str(info.value)  # 6 * 28 * 28 declared


def test_trailing_bytes(tmp_path, write_idx_set, idx_bytes):
    d = tmp_path / "d"
    (_, y), _ = write_idx_set(d)
    path = _rewrite(d, "train-labels-idx1-ubyte.gz", idx_bytes(y) + b"\x00\x01")
    with pytest.raises(DatasetFormatError, match="more follow") as info:
        fashion_mnist.load_data(data_dir=d)
    assert path in str(info.value)


def test_wrong_magic(tmp_path, write_idx_set, idx_bytes):
    d = tmp_path / "d"
    (x, _), _ = write_idx_set(d)
    data = bytearray(idx_bytes(x))
    data[0:2] = b"PK"
    path = _rewrite(d, "train-images-idx3-ubyte.gz", bytes(data))
    with pytest.raises(DatasetFormatError, match="magic") as info:
        fashion_mnist.load_data(data_dir=d)
    assert path in str(info.value)


def test_wrong_element_type(tmp_path, write_idx_set, idx_bytes):
    d = tmp_path / "d"
    (x, _), _ = write_idx_set(d)
    data = bytearray(idx_bytes(x))
    data[2] = 0x0D  # float32
    path = _rewrite(d, "train-images-idx3-ubyte.gz", bytes(data))
    with pytest.raises(DatasetFormatError, match="0x0d") as info:
        fashion_mnist.load_data(data_dir=d)
    assert path in str(info.value)


def test_labels_and_images_swapped(tmp_path, write_idx_set):
    d = tmp_path / "d"
    write_idx_set(d)
    images = (d / "train-images-idx3-ubyte.gz").read_bytes()
    labels = (d / "train-labels-idx1-ubyte.gz").read_bytes()
    (d / "train-images-idx3-ubyte.gz").write_bytes(labels)
    (d / "train-labels-idx1-ubyte.gz").write_bytes(images)
    with pytest.raises(DatasetFormatError, match="1 dimensions, expected 3"):
        fashion_mnist.load_data(data_dir=d)


def test_wrong_image_size(tmp_path, write_idx_set, idx_bytes):
    d = tmp_path / "d"
    write_idx_set(d)
    path = _rewrite(d, "t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((4, 32, 32), np.uint8)))
    with pytest.raises(DatasetFormatError, match=r"\(4, 32, 32\), expected \(n, 28, 28\)") as info:
        fashion_mnist.load_data(data_dir=d)
    assert path in str(info.value)


def test_label_image_count_mismatch(tmp_path, write_idx_set, idx_bytes):
    d = tmp_path / "d"
    write_idx_set(d)
    _rewrite(d, "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(
        DatasetFormatError, match="4 images but .*t10k-labels.* holds 3 labels"
    ) as info:
        fashion_mnist.load_data(data_dir=d)
    assert str(d / "t10k-images-idx3-ubyte.gz") in str(info.value)


def test_label_out_of_range(tmp_path, write_idx_set, idx_bytes):
    d = tmp_path / "d"
    write_idx_set(d)
    path = _rewrite(
        d, "train-labels-idx1-ubyte.gz", idx_bytes(np.array([0, 1, 2, 3, 4, 200], np.uint8))
    )
    with pytest.raises(DatasetFormatError, match="200") as info:
        fashion_mnist.load_data(data_dir=d)
    assert path in str(info.value)


def test_empty_and_non_gzip_files(tmp_path, write_idx_set):
    d = tmp_path / "d"
    write_idx_set(d)
    (d / "train-labels-idx1-ubyte.gz").write_bytes(b"")
    with pytest.raises(DatasetFormatError, match="too short"):
        fashion_mnist.load_data(data_dir=d)
    (d / "train-labels-idx1-ubyte.gz").write_bytes(b"<html>404 not found</html>")
    with pytest.raises(DatasetFormatError, match="magic"):
        fashion_mnist.load_data(data_dir=d)


# --------------------------------------------------------------------------- MNIST


def _save_npz(path, train, test, **overrides):
    arrays = {"x_train": train[0], "y_train": train[1], "x_test": test[0], "y_test": test[1]}
    arrays.update(overrides)
    np.savez(path, **arrays)


def test_mnist_npz_in_explicit_dir(tmp_path):
    rng = np.random.default_rng(5)
    train = (
        rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 5, dtype=np.uint8),
    )
    test = (
        rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 2, dtype=np.uint8),
    )
    (tmp_path / "m").mkdir()
    _save_npz(tmp_path / "m" / "mnist.npz", train, test)
    assert_same(mnist.load_data(data_dir=tmp_path / "m"), (train, test))
    _save_npz(tmp_path / "m" / "other.npz", test, train)
    assert_same(mnist.load_data("other.npz", data_dir=tmp_path / "m"), (test, train))
    assert_same(mnist.load_data(path=str(tmp_path / "m" / "other.npz")), (test, train))


def test_mnist_idx_files_in_explicit_dir_and_cache(tmp_path, isolated, monkeypatch, write_idx_set):
    expected = write_idx_set(tmp_path / "m", seed=7)
    assert_same(mnist.load_data(data_dir=tmp_path / "m"), expected)
    cached = write_idx_set(isolated / "datasets" / "mnist", seed=8)
    assert_same(mnist.load_data(), cached)
    monkeypatch.setenv("ANNC_DATASETS", str(tmp_path / "m"))
    assert_same(mnist.load_data(), expected)


def test_mnist_npz_in_cache(isolated):
    rng = np.random.default_rng(9)
    train = (
        rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 3, dtype=np.uint8),
    )
    test = (
        rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 2, dtype=np.uint8),
    )
    (isolated / "datasets" / "mnist").mkdir(parents=True)
    _save_npz(isolated / "datasets" / "mnist" / "mnist.npz", train, test)
    assert_same(mnist.load_data(), (train, test))


def test_mnist_bad_npz(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    x = np.zeros((2, 28, 28), np.uint8)
    y = np.zeros(2, np.uint8)
    np.savez(d / "mnist.npz", x_train=x, y_train=y, x_test=x)
    with pytest.raises(DatasetFormatError, match="missing arrays") as info:
        mnist.load_data(data_dir=d)
    assert str(d / "mnist.npz") in str(info.value)
    _save_npz(d / "mnist.npz", (x, y), (x, y), y_test=np.zeros(2, np.int64))
    with pytest.raises(DatasetFormatError, match="expected uint8"):
        mnist.load_data(data_dir=d)
    _save_npz(d / "mnist.npz", (x, y), (x, np.zeros(3, np.uint8)))
    with pytest.raises(DatasetFormatError, match="y_test has shape"):
        mnist.load_data(data_dir=d)
    (d / "mnist.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(DatasetFormatError, match="not a readable .npz") as info:
        mnist.load_data(data_dir=d)
    assert str(d / "mnist.npz") in str(info.value)


def test_mnist_partial_idx_dir_is_an_error(tmp_path, write_idx_set):
    write_idx_set(tmp_path / "m")
    os.remove(tmp_path / "m" / "train-images-idx3-ubyte.gz")
    with pytest.raises(DatasetNotFoundError, match="train-images-idx3-ubyte.gz"):
        mnist.load_data(data_dir=tmp_path / "m")


# ------------------------------------------------------------------ the real data


@pytest.mark.skipif(
    not os.path.isdir(DEBIAN_DIR),
    reason=f"{DEBIAN_DIR} not present (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist_from_debian(monkeypatch):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIRS", (DEBIAN_DIR,))
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10000,) and y_test.dtype == np.uint8
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    classes, counts = np.unique(y_train, return_counts=True)
    assert classes.tolist() == list(range(10))
    assert counts.tolist() == [6000] * 10
    assert y_test[0] == 9  # the lecture's "Ankle boot"
    assert np.bincount(y_test, minlength=10).tolist() == [1000] * 10
    assert x_train.max() == 255 and x_train.min() == 0
    # The packaged files are the ones the download hashes describe.
    for name, digest in fashion_mnist.SHA256.items():
        assert _loader.file_sha256(os.path.join(DEBIAN_DIR, name), decompress=True) == digest
