"""Layer configs as Keras 3.15 writes and reads them: annc reads a Keras config and writes the
same keys, so a config moves between the two."""
import copy
import json
import os

import numpy as np
import pytest

import annc as keras

POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
          "registered_name": None}
# keras.layers.Dense(2, activation="relu", kernel_regularizer="l2").get_config() in Keras 3.15.1
KERAS_DENSE = {
    "name": "dense", "trainable": True, "dtype": POLICY, "units": 2, "activation": "relu",
    "use_bias": True,
    "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                           "config": {"seed": None, "input_axes": None, "output_axes": None},
                           "registered_name": None},
    "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                         "registered_name": None},
    "kernel_regularizer": {"module": "keras.regularizers", "class_name": "L2",
                           "config": {"l2": 0.01}, "registered_name": None},
    "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
    "quantization_config": None,
}


def test_a_keras_dense_config_loads_and_comes_back_the_same():
    layer = keras.layers.Dense.from_config(copy.deepcopy(KERAS_DENSE))
    assert layer.units == 2 and layer.kernel_regularizer.l2 == pytest.approx(0.01)
    assert isinstance(layer.kernel_initializer, keras.initializers.GlorotUniform)
    assert layer.get_config() == KERAS_DENSE


def test_activity_regularizer_key_only_when_set():
    assert "activity_regularizer" not in keras.layers.Dense(3).get_config()
    cfg = keras.layers.Dense(3, activity_regularizer="l1").get_config()
    assert cfg["activity_regularizer"]["class_name"] == "L1"
    assert keras.layers.Dense.from_config(cfg).activity_regularizer.l1 == pytest.approx(0.01)


@pytest.mark.parametrize("layer", [keras.layers.Dropout(0.2), keras.layers.Activation("tanh"),
                                   keras.layers.Flatten()])
def test_other_layers_round_trip_with_the_policy_dtype(layer):
    cfg = layer.get_config()
    assert cfg["dtype"] == POLICY
    assert type(layer).from_config(cfg).get_config() == cfg


def test_dtype_spellings_and_refusals():
    for dtype in ("float32", np.float32, np.dtype("float32"), POLICY):
        assert keras.layers.Dense(2, dtype=dtype).dtype == "float32"
    for dtype in ("float64", {"class_name": "DTypePolicy", "config": {"name": "mixed_float16"}}):
        with pytest.raises(ValueError, match="float32"):
            keras.layers.Dense(2, dtype=dtype)
    with pytest.raises(NotImplementedError, match="quantization"):
        keras.layers.Dense(2, quantization_config={"mode": "int8"})


def test_input_layer_config_as_keras():
    cfg = keras.layers.InputLayer(shape=(3,), name="inp").get_config()
    assert cfg == {"batch_shape": (None, 3), "dtype": "float32", "sparse": False,
                   "ragged": False, "name": "inp", "optional": False}
    assert keras.layers.InputLayer.from_config(cfg).batch_shape == (None, 3)


# keras.Sequential([keras.Input((4,)), Dense(3, activation="relu"), Dropout(0.1), Dense(2)],
# name="net").get_config() in Keras 3.15.1, through JSON
with open(os.path.join(os.path.dirname(__file__), "keras_sequential_config.json")) as _f:
    KERAS_SEQUENTIAL = json.load(_f)


def test_sequential_config_is_keras_and_loads_both_ways():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu",
                                                                    name="dense"),
                              keras.layers.Dropout(0.1, name="dropout"),
                              keras.layers.Dense(2, name="dense_1")], name="net")
    model._input_layer.name = "input_layer"
    assert json.loads(json.dumps(model.get_config())) == KERAS_SEQUENTIAL
    loaded = keras.Sequential.from_config(copy.deepcopy(KERAS_SEQUENTIAL))
    assert [type(layer).__name__ for layer in loaded.layers] == ["Dense", "Dropout", "Dense"]
    assert loaded.input_shape == (None, 4) and loaded.count_params() == 23
    assert json.loads(json.dumps(loaded.get_config())) == KERAS_SEQUENTIAL


def test_sequential_config_without_input_and_unbuilt():
    lazy = keras.Sequential([keras.layers.Dense(5, activation="tanh")], name="lazy")
    assert "build_input_shape" not in lazy.get_config()
    assert not keras.Sequential.from_config(lazy.get_config()).built
    lazy.build((None, 7))
    clone = keras.Sequential.from_config(lazy.get_config())
    assert clone.built and clone.input_shape == (None, 7) and clone.count_params() == 40
    with pytest.raises(ValueError, match="unknown layer class 'Conv2D'"):
        keras.Sequential.from_config({"layers": [{"class_name": "Conv2D", "config": {}}]})
