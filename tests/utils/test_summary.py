"""print_summary: Keras 3's table, checked against text Keras 3.15 printed for the same models."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from annc.utils.summary_utils import print_summary, readable_memory_size, summary_lines


class FakeLayer:
    def __init__(self, name, weights_shapes=(), output_shape=None, built=True, trainable=True,
                 frozen_shapes=()):
        self.name = name
        self.built = built
        self.trainable = trainable
        self._output_shape = output_shape
        self.trainable_weights = [np.zeros(s, np.float32) for s in weights_shapes]
        self.non_trainable_weights = [np.zeros(s, np.float32) for s in frozen_shapes]

    @property
    def output_shape(self):
        if not self.built:
            raise ValueError("layer not built")
        return self._output_shape

    def count_params(self):
        return int(sum(w.size for w in self.trainable_weights + self.non_trainable_weights))


class Dense(FakeLayer):
    def __init__(self, name, n_in, units):
        super().__init__(name, [(n_in, units), (units,)], (None, units))


class BatchNormalization(FakeLayer):
    def __init__(self, name, n):
        super().__init__(name, [(n,), (n,)], (None, n), frozen_shapes=[(n,), (n,)])


class Dropout(FakeLayer):
    def __init__(self, name, n):
        super().__init__(name, [], (None, n))


class FakeOptimizer:
    def __init__(self, variables, built=True):
        self.variables = variables
        self.built = built


class FakeModel:
    def __init__(self, layers, name="sequential", optimizer=None):
        self.name = name
        self.layers = layers
        self.optimizer = optimizer

    @property
    def trainable_weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for layer in self.layers for w in layer.non_trainable_weights]


def mlp(**kwargs):
    return FakeModel([Dense("dense", 784, 100), Dense("dense_1", 100, 10)], **kwargs)


@pytest.fixture(autouse=True)
def terminal_80_columns(monkeypatch):
    # Keras sizes the default table from the terminal: min(88, columns - 4).
    monkeypatch.setenv("COLUMNS", "80")


KERAS_MLP_76 = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 100)            │        78,500 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │         1,010 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 79,510 (310.59 KB)
 Trainable params: 79,510 (310.59 KB)
 Non-trainable params: 0 (0.00 B)
"""

KERAS_MLP_50_TRAINABLE = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━┳━━━━┓
┃                   ┃               ┃ Param ┃    ┃
┃ Layer (type)      ┃ Output Shape  ┃     # ┃ T… ┃
┡━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━╇━━━━┩
│ dense (Dense)     │ (None, 100)   │ 78,5… │ Y  │
├───────────────────┼───────────────┼───────┼────┤
│ dense_1 (Dense)   │ (None, 10)    │ 1,010 │ Y  │
└───────────────────┴───────────────┴───────┴────┘
 Total params: 79,510 (310.59 KB)
 Trainable params: 79,510 (310.59 KB)
 Non-trainable params: 0 (0.00 B)
"""

KERAS_UNBUILT_40 = """\
Model: "unbuilt"
┏━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━┓
┃                 ┃ Output     ┃ Param ┃
┃ Layer (type)    ┃ Shape      ┃     # ┃
┡━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━┩
│ a_layer_with_a… │ ?          │     0 │
│ (Dense)         │            │ (unb… │
└─────────────────┴────────────┴───────┘
 Total params: 0 (0.00 B)
 Trainable params: 0 (0.00 B)
 Non-trainable params: 0 (0.00 B)
"""


def test_mlp_summary_matches_keras(capsys):
    print_summary(mlp())
    out = capsys.readouterr().out
    assert out == KERAS_MLP_76
    assert "dense (Dense)" in out and "│ (None, 100)" in out and "78,500 │" in out
    assert " Total params: 79,510 (310.59 KB)\n" in out


def test_print_fn_gets_the_whole_text_once():
    calls = []
    print_summary(mlp(), print_fn=calls.append)
    assert calls == [KERAS_MLP_76]


def test_narrow_table_with_trainable_column_matches_keras(capsys):
    print_summary(mlp(), line_length=50, show_trainable=True)
    assert capsys.readouterr().out == KERAS_MLP_50_TRAINABLE


def test_unbuilt_layer_and_wrapping_match_keras(capsys):
    layer = Dense("a_layer_with_a_long_name_that_wraps_around", 4, 3)
    layer.built = False
    layer.trainable_weights = []
    print_summary(FakeModel([layer], name="unbuilt"), line_length=40)
    assert capsys.readouterr().out == KERAS_UNBUILT_40


def test_default_width_follows_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    lines = summary_lines(mlp())
    assert {len(line) for line in lines[1:8]} == {88}  # Keras's default when there is room
    monkeypatch.setenv("COLUMNS", "60")
    assert {len(line) for line in summary_lines(mlp())[1:8]} == {56}


@pytest.mark.parametrize("line_length", [40, 65, 88, 120])
def test_every_table_line_has_the_requested_width(line_length):
    lines = summary_lines(mlp(), line_length=line_length)
    table = lines[1:-3]
    assert {len(line) for line in table} == {line_length}


def test_optimizer_params_line(capsys):
    # RMSprop on this model: one velocity per weight, plus iterations and learning rate.
    opt_vars = [np.zeros((784, 100), np.float32), np.zeros(100, np.float32),
                np.zeros((100, 10), np.float32), np.zeros(10, np.float32),
                np.zeros((), np.float32), np.zeros((), np.float32)]
    print_summary(mlp(optimizer=FakeOptimizer(opt_vars)))
    tail = capsys.readouterr().out.splitlines()[-4:]
    assert tail == [
        " Total params: 159,022 (621.18 KB)",
        " Trainable params: 79,510 (310.59 KB)",
        " Non-trainable params: 0 (0.00 B)",
        " Optimizer params: 79,512 (310.59 KB)",
    ]


def test_optimizer_without_variables_or_unbuilt_is_left_out(capsys):
    print_summary(mlp(optimizer=FakeOptimizer([])))
    print_summary(mlp(optimizer=FakeOptimizer([np.zeros(3)], built=False)))
    assert "Optimizer params" not in capsys.readouterr().out


def test_non_trainable_weights_and_layers_without_weights(capsys):
    model = FakeModel(
        [Dense("dense", 784, 300), BatchNormalization("batch_normalization", 300),
         Dropout("dropout", 300), Dense("dense_1", 300, 10)],
        name="bn_model",
    )
    model.layers[3].trainable = False
    print_summary(model, line_length=88, show_trainable=True)
    out = capsys.readouterr().out
    assert out.startswith('Model: "bn_model"\n')
    # too long for the 34-wide first column: wrapped onto a second line, as rich does
    assert "│ batch_normalization              │ (None, 300)  " in out
    assert "│ (BatchNormalization)             │              " in out
    assert " Total params: 239,710 (936.37 KB)\n" in out
    assert " Trainable params: 239,110 (934.02 KB)\n" in out
    assert " Non-trainable params: 600 (2.34 KB)\n" in out
    row = {line.split()[1]: line for line in out.splitlines() if line.startswith("│ ")}
    assert row["dense"].endswith("│   Y    │")
    assert row["batch_normalization"].endswith("│   Y    │")
    assert row["dropout"].endswith("│   -    │")  # no weights
    assert row["dense_1"].endswith("│   N    │")
    assert "┃ Train… ┃" in out


def test_layer_range(capsys):
    model = FakeModel([Dense("dense", 4, 8), Dense("hidden", 8, 8), Dense("out", 8, 2)])
    print_summary(model, layer_range=["hid", "out"])
    out = capsys.readouterr().out
    assert "dense (Dense)" not in out and "hidden (Dense)" in out and "out (Dense)" in out
    with pytest.raises(ValueError, match="does not match"):
        print_summary(model, layer_range=["nope", "out"])
    with pytest.raises(ValueError, match="two layer names"):
        print_summary(model, layer_range=["out"])


KERAS_NESTED_30 = """\
Model: "outer"
┏━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━┓
┃ Layer      ┃ Output  ┃ Pa… ┃
┃ (type)     ┃ Shape   ┃   # ┃
┡━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━┩
│ inner      │ (None,  │  20 │
│ (Sequenti… │ 4)      │     │
├────────────┼─────────┼─────┤
│    └       │ (None,  │  20 │
│ inner_den… │ 4)      │     │
│ (Dense)    │         │     │
├────────────┼─────────┼─────┤
│ head       │ (None,  │   5 │
│ (Dense)    │ 1)      │     │
└────────────┴─────────┴─────┘
 Total params: 25 (100.00 B)
 Trainable params: 25 (100.00 B)
 Non-trainable params: 0 (0.00 B)
"""


def nested_model():
    class Sequential(FakeModel):
        built = True
        output_shape = (None, 4)

        def count_params(self):
            return 20

    inner = Sequential([Dense("inner_dense", 4, 4)], name="inner")
    return FakeModel([inner, Dense("head", 4, 1)], name="outer")


def test_expand_nested(capsys):
    print_summary(nested_model(), line_length=80, expand_nested=True)
    out = capsys.readouterr().out
    assert "│ inner (Sequential)     " in out
    assert "│    └ inner_dense (Dense)     " in out
    print_summary(nested_model(), line_length=80)
    assert "inner_dense" not in capsys.readouterr().out


def test_expand_nested_narrow_matches_keras(capsys):
    print_summary(nested_model(), line_length=30, expand_nested=True)
    assert capsys.readouterr().out == KERAS_NESTED_30


def test_empty_model(capsys):
    print_summary(FakeModel([], name="empty"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == 'Model: "empty"'
    assert lines[3].startswith("┡") and lines[4].startswith("└")
    assert lines[5] == " Total params: 0 (0.00 B)"


def test_too_narrow_is_an_error():
    with pytest.raises(ValueError, match="Insufficient console width"):
        print_summary(mlp(), line_length=8)


@pytest.mark.parametrize(
    "size, text",
    [(0, "0.00 B"), (1023, "1023.00 B"), (1024, "1.00 KB"), (318040, "310.59 KB"),
     (5 * 1024 ** 2, "5.00 MB"), (3 * 1024 ** 3, "3.00 GB")],
)
def test_readable_memory_size(size, text):
    assert readable_memory_size(size) == text


def test_writes_to_current_stdout(monkeypatch):
    import io

    stream = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    print_summary(mlp())
    assert stream.getvalue() == KERAS_MLP_76
