"""The lecture's Programs 1 and 2 on the real Fashion-MNIST, written as the slides write them
(only the import changed), with the accuracies the lecture quotes."""
from __future__ import annotations

import os

import numpy as np
import pytest

import annc as keras


def _load():
    try:
        return keras.datasets.fashion_mnist.load_data()
    except OSError as exc:  # not installed here and no network
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Fashion-MNIST unavailable ({exc}); apt-get install dataset-fashion-mnist")


@pytest.fixture(scope="module")
def fashion():
    (train_input, train_target), (test_input, test_target) = _load()
    train_scaled = (train_input / 255.0).reshape(-1, 28 * 28)
    test_scaled = (test_input / 255.0).reshape(-1, 28 * 28)
    return train_scaled, train_target, test_scaled, test_target


def test_program2_dnn_reaches_lecture_accuracy(fashion):
    train_scaled, train_target, test_scaled, test_target = fashion
    keras.utils.set_random_seed(0)
    dense1 = keras.layers.Dense(100, activation='relu', input_shape=(784,))
    dense2 = keras.layers.Dense(10, activation='softmax')
    model = keras.Sequential([dense1, dense2])
    model.compile(loss='sparse_categorical_crossentropy', metrics='accuracy')
    history = model.fit(train_scaled, train_target, epochs=5, verbose=0)
    loss, accuracy = model.evaluate(test_scaled, test_target, verbose=0)
    assert len(history.history["loss"]) == 5
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy >= 0.87, accuracy
    assert 0.30 < loss < 0.42


def test_program1_softmax_regression(fashion, capsys):
    train_scaled, train_target, test_scaled, test_target = fashion
    keras.utils.set_random_seed(0)
    dense = keras.layers.Dense(10, activation='softmax', input_shape=(784,))
    model = keras.Sequential([dense])
    model.compile(loss='sparse_categorical_crossentropy', metrics='accuracy')
    model.fit(train_scaled, train_target, epochs=5)
    loss, accuracy = model.evaluate(test_scaled, test_target)
    assert accuracy >= 0.83, accuracy
    pred_detail = model.predict(test_scaled, batch_size=1)
    out = capsys.readouterr().out
    assert "Epoch 5/5" in out and "10000/10000" in out
    assert pred_detail.shape == (10000, 10)
    np.testing.assert_allclose(pred_detail.sum(1), 1.0, rtol=1e-5)
    class_names = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                   'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
    assert class_names[np.argmax(pred_detail[0])] == 'Ankle boot'
