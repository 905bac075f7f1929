"""MNIST: 70,000 28x28 grayscale images of handwritten digits (LeCun & Cortes, CC BY-SA 3.0).

``load_data()`` returns what ``keras.datasets.mnist.load_data()`` returns:
``(x_train, y_train), (x_test, y_test)``, uint8 arrays of shapes (60000, 28, 28),
(60000,), (10000, 28, 28), (10000,).
"""

import os

from . import _loader

__all__ = ["load_data"]

#: Folder name under the cache (``$ANNC_HOME/datasets/``) and under an explicit root.
NAME = "mnist"

#: Where ``mnist.npz`` is served (the mirror Keras uses). ``$ANNC_DATASETS_URL`` overrides it.
BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

#: The file fetched from ``BASE_URL``.
NPZ_FILE = "mnist.npz"

#: SHA-256 of ``mnist.npz`` as served at ``BASE_URL``: the ``file_hash`` Keras checks
#: (keras/src/datasets/mnist.py).
NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
#: The official IDX files, accepted (``.gz`` or uncompressed) in place of ``mnist.npz``.
IDX_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

#: System copies tried after the cache; none is packaged for MNIST today.
SYSTEM_DIRS = ()

_OFFLINE_HINT = (
    "to load MNIST without downloading, pass data_dir= or set ANNC_DATASETS to a directory "
    "holding mnist.npz or the four official IDX files"
)


def _load_idx(paths):
    train = _loader.load_idx_split(paths[TRAIN_IMAGES], paths[TRAIN_LABELS])
    test = _loader.load_idx_split(paths[TEST_IMAGES], paths[TEST_LABELS])
    return train, test


def _in_dir(directory, path):
    """``(kind, location)`` for MNIST in ``directory``: the npz, else a full IDX set."""
    npz = os.path.join(directory, path)
    if os.path.isfile(npz):
        return "npz", npz
    found, missing = _loader.find_set(directory, IDX_FILES)
    if not missing:
        return "idx", found
    return None, (found, missing)


def load_data(path="mnist.npz", *, data_dir=None):
    """Load MNIST as Keras does: ``(x_train, y_train), (x_test, y_test)``.

    Args:
        path: name of the ``.npz`` file, relative to the cache directory
            ``$ANNC_HOME/datasets/mnist`` (as Keras's is relative to
            ``~/.keras/datasets``); an absolute path is used as is.
        data_dir: a directory holding ``path`` or the four official IDX files
            (``.gz`` or uncompressed), or a root holding an ``mnist/`` folder
            with them. Defaults to ``$ANNC_DATASETS``.

    Lookup: ``data_dir``/``$ANNC_DATASETS``, then the cache, then
    ``SYSTEM_DIRS``; failing those, ``mnist.npz`` is downloaded from
    ``BASE_URL`` (or ``$ANNC_DATASETS_URL``) to the cache, SHA-256 verified.

    Raises the same errors as :func:`annc.datasets.fashion_mnist.load_data`.
    """
    path = os.fspath(path)
    explicit = _loader.explicit_dir(data_dir)
    for directory in _loader.expand_explicit(explicit, NAME):
        kind, where = _in_dir(directory, path)
        if kind == "npz":
            return _loader.load_npz(where)
        if kind == "idx":
            return _load_idx(where)
        found, missing = where
        if found:
            raise _loader.DatasetNotFoundError(
                f"{directory} holds {sorted(found)} but lacks {missing}: an mnist directory "
                f"needs {path} or all of {list(IDX_FILES)}"
            )
    for directory in (_loader.cache_dir(NAME),) + tuple(SYSTEM_DIRS):
        kind, where = _in_dir(directory, path)
        if kind == "npz":
            return _loader.load_npz(where)
        if kind == "idx":
            return _load_idx(where)
    target = os.path.join(_loader.cache_dir(NAME), path)
    url = _loader.base_url(BASE_URL) + NPZ_FILE
    _loader.download(url, target, NPZ_SHA256, hint=_OFFLINE_HINT)
    return _loader.load_npz(target)
