"""Downloads against a local HTTP server on 127.0.0.1 only: verification, atomic caching, errors."""

import hashlib
import os

import numpy as np
import pytest

from annc.datasets import (
    DatasetDownloadError,
    DatasetFormatError,
    DatasetHashError,
    fashion_mnist,
    mnist,
)


def listing(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def assert_same(result, expected):
    for got, want in zip((*result[0], *result[1]), (*expected[0], *expected[1])):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


@pytest.fixture
def fashion_cache(isolated):
    return isolated / "datasets" / "fashion-mnist"


def test_download_verified_cached_then_reused(
    server,
    monkeypatch,
    fashion_cache,
    fashion_payloads,
    idx_names,
):
    files, hashes, expected = fashion_payloads()
    for name, body in files.items():
        server.serve(name, body)
    monkeypatch.setattr(fashion_mnist, "SHA256", hashes)
    monkeypatch.setenv("ANNC_DATASETS_URL", server.url)

    assert_same(fashion_mnist.load_data(), expected)
    assert sorted(server.requests) == sorted("/" + n for n in idx_names)
    assert listing(fashion_cache) == sorted(idx_names)  # no temporary files left behind
    for name, body in files.items():
        assert (fashion_cache / name).read_bytes() == body

    server.requests.clear()
    assert_same(fashion_mnist.load_data(), expected)
    assert server.requests == []  # served from the cache


def test_module_base_url_and_env_override(
    server,
    monkeypatch,
    fashion_cache,
    fashion_payloads,
    idx_names,
):
    files, hashes, expected = fashion_payloads(seed=3)
    for name, body in files.items():
        server.serve(name, body)
    monkeypatch.setattr(fashion_mnist, "SHA256", hashes)
    monkeypatch.delenv("ANNC_DATASETS_URL")
    monkeypatch.setattr(fashion_mnist, "BASE_URL", server.url.rstrip("/"))  # slash added
    assert_same(fashion_mnist.load_data(), expected)

    for name in idx_names:
        os.remove(fashion_cache / name)
    monkeypatch.setattr(fashion_mnist, "BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("ANNC_DATASETS_URL", server.url)  # the env var wins over the attribute
    assert_same(fashion_mnist.load_data(), expected)


def test_partial_cache_downloads_only_missing_files(
    server,
    monkeypatch,
    fashion_cache,
    fashion_payloads,
    idx_names,
):
    files, hashes, expected = fashion_payloads(seed=4)
    fashion_cache.mkdir(parents=True)
    for name in idx_names[:2]:
        (fashion_cache / name).write_bytes(files[name])
    for name in idx_names[2:]:
        server.serve(name, files[name])
    monkeypatch.setattr(fashion_mnist, "SHA256", hashes)
    monkeypatch.setenv("ANNC_DATASETS_URL", server.url)
    assert_same(fashion_mnist.load_data(), expected)
    assert sorted(server.requests) == sorted("/" + n for n in idx_names[2:])


def test_hash_mismatch_leaves_nothing_in_cache(
    server,
    monkeypatch,
    fashion_cache,
    fashion_payloads,
):
    files, hashes, _ = fashion_payloads()
    for name, body in files.items():
        server.serve(name, body)
    wrong = dict(hashes)
    wrong["train-images-idx3-ubyte.gz"] = "0" * 64
    monkeypatch.setattr(fashion_mnist, "SHA256", wrong)
    monkeypatch.setenv("ANNC_DATASETS_URL", server.url)

    with pytest.raises(DatasetHashError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert "0" * 64 in message
    assert hashes["train-images-idx3-ubyte.gz"] in message  # the actual hash
    assert isinstance(info.value, ValueError)
    assert "train-images-idx3-ubyte.gz" not in listing(fashion_cache)
    assert not any(n.endswith(".part") for n in listing(fashion_cache))


def test_404_is_a_clear_error(server, monkeypatch, fashion_cache):
    monkeypatch.setenv("ANNC_DATASETS_URL", server.url)
    with pytest.raises(DatasetDownloadError, match="404") as info:
        fashion_mnist.load_data()
    assert server.url + "train-images-idx3-ubyte.gz" in str(info.value)
    assert isinstance(info.value, OSError)
    assert listing(fashion_cache) == []


def test_connection_refused_is_a_clear_error(fashion_cache):
    with pytest.raises(DatasetDownloadError, match="could not download http://127.0.0.1:9/"):
        fashion_mnist.load_data()
    assert listing(fashion_cache) == []


def test_short_transfer_leaves_nothing_in_cache(
    server,
    monkeypatch,
    fashion_cache,
    fashion_payloads,
):
    files, hashes, _ = fashion_payloads()
    for name, body in files.items():
        server.serve(name, body)
    server.serve(
        "train-images-idx3-ubyte.gz",
        files["train-images-idx3-ubyte.gz"][:200],
        declared_length=len(files["train-images-idx3-ubyte.gz"]),
    )
    monkeypatch.setattr(fashion_mnist, "SHA256", hashes)
    monkeypatch.setenv("ANNC_DATASETS_URL", server.url)
    with pytest.raises(DatasetDownloadError, match="train-images-idx3-ubyte.gz"):
        fashion_mnist.load_data()
    assert "train-images-idx3-ubyte.gz" not in listing(fashion_cache)
    assert not any(n.endswith(".part") for n in listing(fashion_cache))


def test_non_gzip_download_is_rejected(server, monkeypatch, fashion_cache, fashion_payloads):
    files, hashes, _ = fashion_payloads()
    for name, body in files.items():
        server.serve(name, body)
    server.serve("train-images-idx3-ubyte.gz", b"<html>captive portal</html>")
    monkeypatch.setattr(fashion_mnist, "SHA256", hashes)
    monkeypatch.setenv("ANNC_DATASETS_URL", server.url)
    with pytest.raises(DatasetFormatError, match="gzip") as info:
        fashion_mnist.load_data()
    assert "train-images-idx3-ubyte.gz" in str(info.value)
    assert "train-images-idx3-ubyte.gz" not in listing(fashion_cache)
    assert not any(n.endswith(".part") for n in listing(fashion_cache))


# --------------------------------------------------------------------------- MNIST


def test_mnist_npz_download(server, monkeypatch, isolated, mnist_npz_bytes):
    body, expected = mnist_npz_bytes()
    server.serve("mnist.npz", body)
    monkeypatch.setattr(mnist, "NPZ_SHA256", hashlib.sha256(body).hexdigest())
    monkeypatch.setenv("ANNC_DATASETS_URL", server.url)
    assert_same(mnist.load_data(), expected)
    assert listing(isolated / "datasets" / "mnist") == ["mnist.npz"]
    server.requests.clear()
    assert_same(mnist.load_data(), expected)
    assert server.requests == []

    # Keras's `path`: the name the download is cached under.
    assert_same(mnist.load_data(path="digits.npz"), expected)
    assert listing(isolated / "datasets" / "mnist") == ["digits.npz", "mnist.npz"]
    assert server.requests == ["/mnist.npz"]


def test_mnist_npz_hash_mismatch(server, monkeypatch, isolated, mnist_npz_bytes):
    body, _ = mnist_npz_bytes()
    server.serve("mnist.npz", body)
    monkeypatch.setenv("ANNC_DATASETS_URL", server.url)
    with pytest.raises(DatasetHashError) as info:
        mnist.load_data()  # the real Keras hash cannot match this small file
    message = str(info.value)
    assert "mnist.npz" in message
    assert mnist.NPZ_SHA256 in message
    assert hashlib.sha256(body).hexdigest() in message
    assert listing(isolated / "datasets" / "mnist") == []


def test_mnist_404(server, monkeypatch, isolated):
    monkeypatch.setenv("ANNC_DATASETS_URL", server.url)
    with pytest.raises(DatasetDownloadError, match="HTTP 404"):
        mnist.load_data()
    assert listing(isolated / "datasets" / "mnist") == []
