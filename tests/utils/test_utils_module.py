"""annc.utils: to_categorical, normalize and set_random_seed."""
import numpy as np
import pytest

import annc as keras


def test_to_categorical_matches_keras():
    out = keras.utils.to_categorical([0, 2, 1, 2])
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1, 2]])
    assert out.dtype == np.float64  # Keras 3's NumPy path: np.zeros' default
    assert keras.utils.to_categorical(np.array([[1], [0]]), num_classes=4).shape == (2, 4)
    assert keras.utils.to_categorical(np.zeros((2, 3), int), num_classes=2).shape == (2, 3, 2)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        keras.utils.to_categorical([0, 2], num_classes=2)
    with pytest.raises(ValueError, match="integer"):
        keras.utils.to_categorical([0.5])


def test_normalize_unit_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    out = keras.utils.normalize(x)
    np.testing.assert_array_equal(out, [[0.6, 0.8], [0.0, 0.0]])  # float64 kept, as Keras 3
    assert out.dtype == np.float64
    assert keras.utils.normalize(x.astype(np.float32)).dtype == np.float32
    assert keras.utils.normalize([[3.0, 4.0]]).dtype == np.float32


def test_set_random_seed_reproduces_weights_and_numpy():
    keras.utils.set_random_seed(7)
    a = keras.layers.Dense(4, input_shape=(3,))
    a.build((None, 3))
    r1 = np.random.rand()
    keras.utils.set_random_seed(7)
    b = keras.layers.Dense(4, input_shape=(3,))
    b.build((None, 3))
    assert np.random.rand() == r1
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])
