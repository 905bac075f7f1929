"""Fashion-MNIST: 70,000 28x28 grayscale images of 10 kinds of clothing (Zalando, MIT licence).

``load_data()`` returns what ``keras.datasets.fashion_mnist.load_data()`` returns:
``(x_train, y_train), (x_test, y_test)``, uint8 arrays of shapes (60000, 28, 28),
(60000,), (10000, 28, 28), (10000,).

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
7 Sneaker, 8 Bag, 9 Ankle boot.
"""

import os

from . import _loader

__all__ = ["load_data"]

#: Folder name under the cache (``$ANNC_HOME/datasets/``) and under an explicit root.
NAME = "fashion-mnist"

#: Where the official files are served (the same mirror Keras uses). ``$ANNC_DATASETS_URL``
#: overrides it.
BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

#: SHA-256 of each file's *decompressed* IDX content, checked on download. The content,
#: not the archive, is hashed because the same data ships in differently compressed
#: ``.gz`` files (Debian's package recompresses them). Computed from
#: ``/usr/share/datasets/fashion-mnist`` (dataset-fashion-mnist 0.0~git20200523.55506a9-1).
SHA256 = {
    TRAIN_IMAGES: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    TRAIN_LABELS: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    TEST_IMAGES: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    TEST_LABELS: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

#: Read-only system copies, tried after the cache (``apt-get install dataset-fashion-mnist``).
SYSTEM_DIRS = ("/usr/share/datasets/fashion-mnist",)

_OFFLINE_HINT = (
    "to load Fashion-MNIST without downloading, `apt-get install dataset-fashion-mnist`, or "
    "pass data_dir= / set ANNC_DATASETS to a directory holding the four IDX files"
)


def load_data(*, data_dir=None):
    """Load Fashion-MNIST as Keras does: ``(x_train, y_train), (x_test, y_test)``.

    Args:
        data_dir: a directory holding the four IDX files (``.gz`` or
            uncompressed), or a root holding a ``fashion-mnist/`` folder with
            them. Defaults to ``$ANNC_DATASETS``.

    The files are looked up in ``data_dir``/``$ANNC_DATASETS``, then the cache
    ``$ANNC_HOME/datasets/fashion-mnist`` (``~/.annc`` by default), then
    ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``);
    failing all of those they are downloaded from ``BASE_URL`` (or
    ``$ANNC_DATASETS_URL``) into the cache, SHA-256 verified.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes
        ``(60000, 28, 28)``, ``(60000,)``, ``(10000, 28, 28)``, ``(10000,)``.

    Raises:
        DatasetFormatError (a ValueError): a file is truncated, corrupt or
            not the expected IDX file; the message names it.
        DatasetHashError (a ValueError): a download's SHA-256 does not match.
        DatasetDownloadError (an OSError): a download failed.
        DatasetNotFoundError (a FileNotFoundError): ``data_dir`` holds only
            some of the files.
    """
    paths, missing = _loader.locate_idx_set(NAME, FILES, data_dir, SYSTEM_DIRS)
    if paths is None:
        url = _loader.base_url(BASE_URL)
        target = _loader.cache_dir(NAME)
        for fname in missing:
            _loader.download(
                url + fname,
                os.path.join(target, fname),
                SHA256[fname],
                hash_content=True,
                hint=_OFFLINE_HINT,
            )
        paths, missing = _loader.find_set(target, FILES)
    train = _loader.load_idx_split(paths[TRAIN_IMAGES], paths[TRAIN_LABELS])
    test = _loader.load_idx_split(paths[TEST_IMAGES], paths[TEST_LABELS])
    return train, test
