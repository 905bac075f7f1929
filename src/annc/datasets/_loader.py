"""Shared machinery for the bundled datasets: lookup, download, IDX and npz parsing.

Pure Python + NumPy; imports nothing else from annc, so ``annc.datasets`` works
before (or without) the compiled core.

Lookup order used by every loader (see :func:`locate_idx_set`):

1. the explicit directory: the ``data_dir`` argument, else ``$ANNC_DATASETS``;
   either a folder holding the files or a root holding a ``<name>/`` folder;
2. the cache, ``$ANNC_HOME/datasets/<name>`` (``ANNC_HOME`` defaults to ``~/.annc``);
3. system folders (Debian's ``/usr/share/datasets/fashion-mnist``);
4. a download from ``$ANNC_DATASETS_URL`` or the module's ``BASE_URL`` into the
   cache, SHA-256 verified before it is moved into place with ``os.replace``.
"""

import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib

import numpy as np

__all__ = [
    "DatasetError",
    "DatasetFormatError",
    "DatasetHashError",
    "DatasetDownloadError",
    "DatasetNotFoundError",
]

_CHUNK = 1 << 22  # 4 MiB: read/hash granularity (never per element)
_DOWNLOAD_TIMEOUT_S = 60.0
_IDX_UINT8 = 0x08


class DatasetError(Exception):
    """Base class of every error raised by ``annc.datasets``."""


class DatasetFormatError(DatasetError, ValueError):
    """A dataset file is truncated, corrupt, or not the file it should be."""

    def __init__(self, path, problem):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DatasetHashError(DatasetFormatError):
    """A downloaded file's SHA-256 is not the one annc expects."""

    def __init__(self, path, expected, actual, what="SHA-256"):
        self.expected = expected
        self.actual = actual
        super().__init__(
            path,
            f"{what} mismatch: expected {expected}, got {actual}; the download is "
            "corrupt or not the official file, so it was discarded",
        )


class DatasetDownloadError(DatasetError, OSError):
    """A dataset file could not be fetched."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """An explicitly given dataset directory holds only part of a dataset."""


for _cls in (
    DatasetError,
    DatasetFormatError,
    DatasetHashError,
    DatasetDownloadError,
    DatasetNotFoundError,
):
    _cls.__module__ = "annc.datasets"  # where users import them from
del _cls


# --------------------------------------------------------------------------- lookup


def annc_home():
    """``$ANNC_HOME`` or ``~/.annc``."""
    return os.path.expanduser(os.environ.get("ANNC_HOME") or os.path.join("~", ".annc"))


def cache_dir(name):
    """Where downloads of dataset ``name`` are kept: ``$ANNC_HOME/datasets/<name>``."""
    return os.path.join(annc_home(), "datasets", name)


def explicit_dir(data_dir):
    """The ``data_dir`` argument, else ``$ANNC_DATASETS``, else None."""
    if data_dir is not None:
        return os.path.expanduser(os.fspath(data_dir))
    env = os.environ.get("ANNC_DATASETS")
    return os.path.expanduser(env) if env else None


def expand_explicit(directory, name):
    """An explicit directory may hold the files itself or a ``<name>/`` folder."""
    if directory is None:
        return []
    return [os.path.join(directory, name), directory]


def base_url(module_default):
    """``$ANNC_DATASETS_URL`` when set, else the module's ``BASE_URL``; ends with '/'."""
    url = os.environ.get("ANNC_DATASETS_URL") or module_default
    return url if url.endswith("/") else url + "/"


def find_file(directory, fname):
    """``directory/fname`` or its uncompressed form (``fname`` minus ``.gz``), or None."""
    path = os.path.join(directory, fname)
    if os.path.isfile(path):
        return path
    if fname.endswith(".gz"):
        plain = path[: -len(".gz")]
        if os.path.isfile(plain):
            return plain
    return None


def find_set(directory, fnames):
    """Paths of all ``fnames`` in ``directory`` as a dict, and the names missing."""
    found, missing = {}, []
    for fname in fnames:
        path = find_file(directory, fname)
        if path is None:
            missing.append(fname)
        else:
            found[fname] = path
    return found, missing


def locate_idx_set(name, fnames, data_dir, system_dirs):
    """Find a complete set of IDX files without downloading anything.

    Returns ``(paths, missing_in_cache)``: ``paths`` maps every name in
    ``fnames`` to a file when a complete set was found (explicit directory,
    then cache, then ``system_dirs``), else None; ``missing_in_cache`` lists
    the names the cache still lacks (what a download must fetch).
    An explicit directory holding only part of the set is an error rather
    than a silent fall-through, since the user pointed at it.
    """
    for directory in expand_explicit(explicit_dir(data_dir), name):
        found, missing = find_set(directory, fnames)
        if not missing:
            return found, []
        if found:
            raise DatasetNotFoundError(
                f"{directory} holds {sorted(found)} but lacks {missing}: "
                f"a {name} directory needs all of {list(fnames)}"
            )
    found, cache_missing = find_set(cache_dir(name), fnames)
    if not cache_missing:
        return found, []
    for directory in system_dirs:
        sys_found, sys_missing = find_set(directory, fnames)
        if not sys_missing:
            return sys_found, []
    return None, cache_missing


# ------------------------------------------------------------------------- download


def _stream_sha256(fileobj):
    digest = hashlib.sha256()
    while True:
        chunk = fileobj.read(_CHUNK)
        if not chunk:
            return digest.hexdigest()
        digest.update(chunk)


def file_sha256(path, decompress=False):
    """SHA-256 of a file's bytes, or of its gzip-decompressed content."""
    try:
        with open(path, "rb") as raw:
            if not decompress:
                return _stream_sha256(raw)
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                return _stream_sha256(gz)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DatasetFormatError(path, f"not a valid gzip file ({exc})") from None


def download(url, dest, expected_sha256, *, hash_content=False, hint="", quiet=False):
    """Fetch ``url`` to ``dest`` atomically, verifying its SHA-256 first.

    The bytes go to a temporary file in ``dest``'s directory; only when the
    transfer is complete and the hash matches is it renamed onto ``dest``
    (``os.replace``). On any failure the temporary file is removed, so the
    cache never holds a partial or unverified file.

    ``hash_content=True`` hashes the gzip-decompressed content instead of the
    archive bytes: the IDX payload is what matters, and it is the same whoever
    recompressed the archive (Debian's ``.gz`` files differ from upstream's).
    ``hint`` is appended to a :class:`DatasetDownloadError`'s message.
    """
    hint = f" ({hint})" if hint else ""
    directory = os.path.dirname(os.path.abspath(dest))
    os.makedirs(directory, exist_ok=True)
    if not quiet:
        print(f"Downloading data from {url}", file=sys.stderr, flush=True)
    fd, tmp = tempfile.mkstemp(
        prefix="." + os.path.basename(dest) + ".", suffix=".part", dir=directory
    )
    try:
        with os.fdopen(fd, "wb") as out:
            received = 0
            try:
                with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as resp:
                    length = resp.headers.get("Content-Length")
                    while True:
                        chunk = resp.read(_CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        received += len(chunk)
            except urllib.error.HTTPError as exc:
                raise DatasetDownloadError(
                    f"could not download {url}: HTTP {exc.code} {exc.reason}{hint}"
                ) from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise DatasetDownloadError(f"could not download {url}: {reason}{hint}") from None
            if length is not None and length.isdigit() and int(length) != received:
                raise DatasetDownloadError(
                    f"could not download {url}: transfer ended after {received} of {length} bytes"
                    f"{hint}"
                )
            out.flush()
            os.fsync(out.fileno())
        actual = file_sha256(tmp, decompress=hash_content)
        if actual != expected_sha256:
            what = "SHA-256 of the decompressed content" if hash_content else "SHA-256"
            raise DatasetHashError(url, expected_sha256, actual, what=what)
        os.replace(tmp, dest)
        tmp = None
    except DatasetFormatError as exc:
        if isinstance(exc, DatasetHashError):
            raise
        raise DatasetFormatError(url, exc.problem) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    return dest


# ------------------------------------------------------------------------ parsing


def _open_maybe_gzip(path):
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def read_idx(path, ndim, tail_shape=None, max_value=None):
    """Read one uint8 IDX file (gzip or plain) into a writable NumPy array.

    Validates the magic number (two zero bytes, type 0x08 = uint8, ``ndim``),
    the dimensions (``tail_shape`` for every axis after the first, when
    given), that the payload holds exactly the declared number of bytes, and
    (``max_value``) that no value exceeds it. Any problem raises
    :class:`DatasetFormatError` naming ``path``.
    """
    path = os.fspath(path)
    try:
        with _open_maybe_gzip(path) as f:
            header = f.read(4)
            if len(header) < 4:
                raise DatasetFormatError(
                    path, f"file too short for an IDX header ({len(header)} bytes)"
                )
            if header[0] != 0 or header[1] != 0:
                raise DatasetFormatError(
                    path,
                    f"bad IDX magic number 0x{header.hex()} (IDX files start with two zero bytes)",
                )
            if header[2] != _IDX_UINT8:
                raise DatasetFormatError(
                    path, f"IDX element type 0x{header[2]:02x}, expected 0x08 (unsigned byte)"
                )
            if header[3] != ndim:
                raise DatasetFormatError(
                    path,
                    f"IDX file has {header[3]} dimensions, expected {ndim} (magic {header.hex()})",
                )
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DatasetFormatError(path, "file ends inside the IDX dimension header")
            dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
            if tail_shape is not None and dims[1:] != tuple(tail_shape):
                raise DatasetFormatError(
                    path, f"IDX dimensions {dims}, expected (n, {', '.join(map(str, tail_shape))})"
                )
            expected = int(np.prod(dims, dtype=np.int64))
            # Grow a bytearray chunk by chunk: memory stays bounded by the real
            # content even if a corrupt header declares an absurd size.
            buf = bytearray()
            while len(buf) < expected:
                chunk = f.read(min(_CHUNK, expected - len(buf)))
                if not chunk:
                    break
                buf += chunk
            if len(buf) < expected:
                raise DatasetFormatError(
                    path,
                    f"truncated: the header declares {dims} = {expected} bytes of data "
                    f"but the file holds only {len(buf)}",
                )
            if f.read(1):
                raise DatasetFormatError(
                    path, f"{expected} bytes of data declared by the header {dims}, but more follow"
                )
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DatasetFormatError(path, f"corrupt or truncated gzip data ({exc})") from None
    array = np.frombuffer(buf, dtype=np.uint8).reshape(dims)
    if max_value is not None and array.size and int(array.max()) > max_value:
        raise DatasetFormatError(
            path, f"holds value {int(array.max())}, but labels must lie in 0..{max_value}"
        )
    return array


def load_idx_split(images_path, labels_path, image_shape=(28, 28), num_classes=10):
    """Images and labels of one split, checking that their counts agree."""
    x = read_idx(images_path, 3, tail_shape=image_shape)
    y = read_idx(labels_path, 1, max_value=num_classes - 1)
    if x.shape[0] != y.shape[0]:
        raise DatasetFormatError(
            images_path,
            f"{x.shape[0]} images but {labels_path} holds {y.shape[0]} labels",
        )
    return x, y


def load_npz(path, image_shape=(28, 28), num_classes=10):
    """Read a Keras-style ``mnist.npz`` (x_train, y_train, x_test, y_test) and validate it."""
    path = os.fspath(path)
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise DatasetFormatError(
                    path,
                    f"missing arrays {missing}; an mnist.npz holds {list(keys)}, found {f.files}",
                )
            arrays = {k: f[k] for k in keys}
    except DatasetFormatError:
        raise
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as exc:
        raise DatasetFormatError(path, f"not a readable .npz file ({exc})") from None
    for split in ("train", "test"):
        x, y = arrays["x_" + split], arrays["y_" + split]
        if x.dtype != np.uint8 or y.dtype != np.uint8:
            raise DatasetFormatError(
                path, f"x_{split}/y_{split} have dtypes {x.dtype}/{y.dtype}, expected uint8"
            )
        if x.ndim != 3 or x.shape[1:] != tuple(image_shape):
            raise DatasetFormatError(
                path,
                f"x_{split} has shape {x.shape}, expected (n, {', '.join(map(str, image_shape))})",
            )
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DatasetFormatError(
                path, f"y_{split} has shape {y.shape}, expected ({x.shape[0]},) to match x_{split}"
            )
        if y.size and int(y.max()) >= num_classes:
            raise DatasetFormatError(
                path,
                f"y_{split} holds label {int(y.max())}, labels must lie in 0..{num_classes - 1}",
            )
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
