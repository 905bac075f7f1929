"""Fixtures for the dataset tests: an isolated environment, IDX writers, a local HTTP server.

Every test runs with ``ANNC_HOME`` in a temporary directory, no ``ANNC_DATASETS``,
no system directories, and download URLs pointing at a closed port on 127.0.0.1,
so nothing here can read the user's cache or reach the internet by accident.
"""

import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest

from annc.datasets import fashion_mnist, mnist

UNREACHABLE_URL = "http://127.0.0.1:9/"  # discard port: connection refused at once

IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    home = tmp_path / "annc_home"
    monkeypatch.setenv("ANNC_HOME", str(home))
    monkeypatch.delenv("ANNC_DATASETS", raising=False)
    monkeypatch.setenv("ANNC_DATASETS_URL", UNREACHABLE_URL)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for module in (fashion_mnist, mnist):
        monkeypatch.setattr(module, "SYSTEM_DIRS", ())
        monkeypatch.setattr(module, "BASE_URL", UNREACHABLE_URL)
    return home


def idx_encode(array):
    """The IDX encoding of a uint8 array: magic 00 00 08 ndim, big-endian dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def make_split(rng, n):
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=n, dtype=np.uint8)
    return x, y


@pytest.fixture
def idx_bytes():
    return idx_encode


@pytest.fixture
def write_idx_set():
    """``write(directory, n_train=6, n_test=4, seed=0, compress=True)`` -> ((x, y), (xt, yt)).

    Writes the four official file names (gzip-compressed, or without ``.gz``
    when ``compress=False``) holding random small splits.
    """

    def write(directory, n_train=6, n_test=4, seed=0, compress=True):
        rng = np.random.default_rng(seed)
        train, test = make_split(rng, n_train), make_split(rng, n_test)
        directory.mkdir(parents=True, exist_ok=True)
        for name, array in zip(IDX_NAMES, (train[0], train[1], test[0], test[1])):
            data = idx_encode(array)
            if compress:
                (directory / name).write_bytes(gzip.compress(data))
            else:
                (directory / name[: -len(".gz")]).write_bytes(data)
        return train, test

    return write


def _fashion_payloads(seed=0, n_train=6, n_test=4):
    """The four IDX files as gzip bytes, the SHA-256 of their content, and the arrays."""
    rng = np.random.default_rng(seed)
    train, test = make_split(rng, n_train), make_split(rng, n_test)
    raw = [idx_encode(a) for a in (train[0], train[1], test[0], test[1])]
    files = {name: gzip.compress(data) for name, data in zip(IDX_NAMES, raw)}
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in zip(IDX_NAMES, raw)}
    return files, hashes, (train, test)


@pytest.fixture
def fashion_payloads():
    """``payloads(seed=0, n_train=6, n_test=4)`` -> (files, content hashes, ((x, y), (xt, yt)))."""
    return _fashion_payloads


@pytest.fixture
def mnist_npz_bytes(tmp_path):
    """``npz(seed=0)`` -> (bytes of a small Keras-style mnist.npz, ((x, y), (xt, yt)))."""

    def npz(seed=0):
        rng = np.random.default_rng(seed)
        train, test = make_split(rng, 5), make_split(rng, 3)
        path = tmp_path / f"served-{seed}.npz"
        np.savez(path, x_train=train[0], y_train=train[1], x_test=test[0], y_test=test[1])
        return path.read_bytes(), (train, test)

    return npz


@pytest.fixture
def idx_names():
    return IDX_NAMES


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path.lstrip("/"))
        if route is None:
            self.send_error(404, "Not Found")
            return
        body, declared = route
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(declared if declared is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if declared is not None and declared != len(body):
            self.close_connection = True

    def log_message(self, *args):
        pass


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 serving bytes the test registers."""

    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes = {}
        self.httpd.requests = []
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def requests(self):
        return self.httpd.requests

    def serve(self, name, body, declared_length=None):
        """Serve ``body`` at ``/name``; ``declared_length`` fakes a wrong Content-Length."""
        self.httpd.routes[name] = (bytes(body), declared_length)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    srv = LocalServer()
    try:
        yield srv
    finally:
        srv.close()
