"""Datasets with Keras's ``load_data()`` API: ``fashion_mnist`` and ``mnist``.

Pure Python + NumPy; imports nothing else from annc, so it works without the compiled core.
"""

from . import fashion_mnist, mnist
from ._loader import (
    DatasetDownloadError,
    DatasetError,
    DatasetFormatError,
    DatasetHashError,
    DatasetNotFoundError,
)

__all__ = [
    "fashion_mnist",
    "mnist",
    "DatasetError",
    "DatasetFormatError",
    "DatasetHashError",
    "DatasetDownloadError",
    "DatasetNotFoundError",
]
