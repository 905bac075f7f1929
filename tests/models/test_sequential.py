"""Sequential: API contract, executor gradients, training behaviour and input errors."""
from __future__ import annotations

import numpy as np
import pytest

import annc as keras
from annc import _core, config

from .reference import network_loss, numeric_grads


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield


def _data(n=40, d=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, classes, n)
    return x, y


# ---------------------------------------------------------------- structure and API

def test_program2_structure_and_defaults():
    model = keras.Sequential([keras.layers.Dense(100, activation="relu", input_shape=(784,)),
                              keras.layers.Dense(10, activation="softmax")])
    assert model.built
    assert [l.name.split("_")[0] for l in model.layers] == ["dense", "dense"]
    assert model.layers[0].kernel.shape == (784, 100)
    assert model.count_params() == 79510
    assert model.output_shape == (None, 10)
    w = model.get_weights()
    assert [a.shape for a in w] == [(784, 100), (100,), (100, 10), (10,)]
    assert all(a.dtype == np.float32 for a in w)
    # glorot_uniform kernel, zero bias
    limit = np.sqrt(6 / (784 + 100))
    assert np.abs(w[0]).max() <= limit and np.abs(w[0]).max() > 0.9 * limit
    assert not w[1].any()
    # get_weights returns copies
    w[0][...] = 0
    assert model.get_weights()[0].any()
    model.compile(loss="sparse_categorical_crossentropy", metrics="accuracy")
    assert type(model.optimizer).__name__ == "RMSprop"
    assert model.metrics_names == ["loss", "accuracy"]


def test_add_pop_input_and_errors():
    model = keras.Sequential()
    model.add(keras.Input(shape=(5,)))
    model.add(keras.layers.Dense(3))
    assert model.built and model.output_shape == (None, 3)
    model.add(keras.layers.Dense(2, activation="tanh"))
    assert model.output_shape == (None, 2)
    popped = model.pop()
    assert popped.units == 2 and model.output_shape == (None, 3)
    with pytest.raises(ValueError, match="Only instances of `keras.Layer`"):
        model.add("dense")


def test_weight_paths_name_the_model_that_built_them():
    # Keras 3: variables created while a model builds its layers carry the model's name
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d1")], name="net")
    assert [w.path for w in model.weights] == ["net/d1/kernel", "net/d1/bias"]
    alone = keras.layers.Dense(2, name="d2")
    alone.build((None, 3))
    assert [w.path for w in keras.Sequential([alone]).weights] == ["d2/kernel", "d2/bias"]
    later = keras.Sequential([keras.layers.Dense(4, name="d3")], name="lazy")
    later.build((None, 3))
    assert later.weights[0].path == "lazy/d3/kernel" and later.weights[0].name == "kernel"


def test_dtype_of_models_and_layers():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dropout(0.1)])
    assert model.dtype == "float32"
    assert [layer.dtype for layer in model.layers] == ["float32", "float32"]
    with pytest.raises(ValueError, match="float32"):
        keras.layers.Dense(3, dtype="float64")


def test_get_layer_by_name_or_index():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="hidden"),
                              keras.layers.Dense(2)])
    hidden, out = model.layers
    assert model.get_layer("hidden") is hidden
    assert model.get_layer(index=1) is out and model.get_layer(index=-1) is out
    with pytest.raises(ValueError, match=r"No such layer: nope. Existing layers are: "
                                         r"\['hidden', 'dense"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="at index 2 but model only has 2 layers"):
        model.get_layer(index=2)
    with pytest.raises(ValueError, match="only a layer name or a layer index"):
        model.get_layer("hidden", 0)
    with pytest.raises(ValueError, match="Provide either"):
        model.get_layer()


def test_train_and_test_on_batch_report_their_own_batch():
    # Keras 3 resets the metrics before each call: the values are the batch's own, not a
    # running mean over calls
    x, y = _data(30)
    model = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(6,))])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    for _ in range(3):
        before = model.evaluate(x[:10], y[:10], batch_size=10, verbose=0)
        assert model.test_on_batch(x[:10], y[:10]) == pytest.approx(before, rel=1e-6)
        reported = model.train_on_batch(x[:10], y[:10])
        # the step's loss is taken before its update: what evaluate gave just before
        assert reported == pytest.approx(before, rel=1e-5)
    logs = model.train_on_batch(x[10:12], y[10:12], return_dict=True)
    assert logs["accuracy"] in (0.0, 0.5, 1.0)  # two rows alone


def test_compiling_again_with_the_same_optimizer_keeps_its_state():
    # Keras keeps an optimizer's variables across compile(); a new optimizer starts afresh
    x, y = _data(64)

    def run(same):
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(6,))])
        opt = keras.optimizers.SGD(0.1, momentum=0.9)
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        model.compile(optimizer=opt if same else keras.optimizers.SGD(0.1, momentum=0.9),
                      loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        return model.get_weights(), model.optimizer

    (w_same, opt_same), (w_new, _) = run(True), run(False)
    assert int(opt_same.iterations) == 8
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(6,))])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(w_same, model.get_weights()):  # as if never recompiled
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(w_same, w_new))


def test_set_weights_validates_shapes():
    model = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
    with pytest.raises(ValueError, match="shape"):
        model.set_weights([np.zeros((3, 4)), np.zeros(3)])
    with pytest.raises(ValueError, match="length 1"):
        model.set_weights([np.zeros((4, 3))])
    model.set_weights([np.ones((4, 3)), np.arange(3)])
    np.testing.assert_array_equal(model.layers[0].bias.numpy(), [0, 1, 2])


def test_predict_call_and_layer_call_agree():
    x, _ = _data()
    model = keras.Sequential([keras.layers.Dense(7, activation="tanh", input_shape=(6,)),
                              keras.layers.Dense(3, activation="softmax")])
    p = model.predict(x, verbose=0)
    assert p.shape == (40, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(model(x), p)
    w1, b1, w2, b2 = [a.astype(np.float64) for a in model.get_weights()]
    h = np.tanh(x @ w1 + b1) @ w2 + b2
    ref = np.exp(h - h.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(p, ref, rtol=1e-5, atol=1e-6)
    # one sample and batch_size=1 agree with the batch
    np.testing.assert_allclose(model.predict(x[:1], verbose=0), p[:1], rtol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=1, verbose=0), p, rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x), p, rtol=1e-6)


def test_inference_follows_every_change_of_the_model():
    """model(x), predict(verbose=0) and predict_on_batch reuse the engine an earlier call set
    up: the answer must not depend on the input's dtype or layout, and must follow new
    weights, layers, a shared layer's move and thread counts."""
    x = np.random.default_rng(3).standard_normal((9, 6)).astype(np.float32)
    model = keras.Sequential([keras.layers.Dense(5, activation="relu", input_shape=(6,)),
                              keras.layers.Dense(3)])
    first = model(x)  # sets the engine up
    for call in (model, lambda v: model.predict(v, verbose=0), model.predict_on_batch):
        np.testing.assert_array_equal(call(x), first)
        np.testing.assert_array_equal(call(x.astype(np.float64)), first)  # general path
        np.testing.assert_array_equal(call(np.asfortranarray(x)), first)
    w = model.get_weights()
    model.set_weights([w[0], w[1], w[2] * 2, w[3] + 1])
    np.testing.assert_allclose(model(x), first * 2 + 1 - 2 * w[3] + w[3], rtol=1e-5, atol=1e-6)
    model.add(keras.layers.Dense(2))
    assert model(x).shape == (9, 2) and model.predict_on_batch(x).shape == (9, 2)
    with pytest.raises(ValueError, match="incompatible"):
        model(x[:, :5].copy())
    # a layer shared with another model: whichever model runs computes with the current weights
    other = keras.Sequential([model.layers[0], keras.layers.Dense(2)])
    other(x)
    model.layers[0].kernel.assign(np.zeros((6, 5), np.float32))
    model.layers[0].bias.assign(np.ones(5, np.float32))
    (w1, b1), (w2, b2) = (model.layers[i].get_weights() for i in (1, 2))
    reference = (np.ones((9, 5)) @ w1 + b1) @ w2 + b2
    np.testing.assert_allclose(model(x), reference, rtol=1e-5, atol=1e-6)  # before any slow path
    expected = model.predict(x.astype(np.float64), verbose=0)
    np.testing.assert_array_equal(model(x), expected)
    for threads in (1, 2):
        config.set_num_threads(threads)
        try:
            np.testing.assert_array_equal(model(x), expected)
        finally:
            config.set_num_threads(config.default_num_threads())


def test_ready_input_path_keeps_the_shape_contract():
    """model(x), predict(verbose=0) and predict_on_batch take a float32 C-contiguous matrix in
    one call into the binding; that must not accept what the general path refuses (a flat
    matrix for a model whose samples are 2-D) nor change what it returns."""
    rng = np.random.default_rng(4)
    flat = keras.Sequential([keras.Input((2, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
    x3 = rng.standard_normal((5, 2, 3)).astype(np.float32)
    expected = flat.predict(x3.astype(np.float64), verbose=0)
    for call in (flat, lambda v: flat.predict(v, verbose=0), flat.predict_on_batch):
        np.testing.assert_array_equal(call(x3), expected)
        with pytest.raises(ValueError, match="incompatible"):
            call(x3.reshape(5, 6))  # same width, wrong sample shape
    dense = keras.Sequential([keras.layers.Dense(3, input_shape=(6,))])
    for call in (dense, lambda v: dense.predict(v, verbose=0), dense.predict_on_batch):
        empty = call(np.zeros((0, 6), np.float32))
        assert empty.shape == (0, 3) and empty.dtype == np.float32
        one = call(np.ones((1, 6), np.float32))
        assert one.shape == (1, 3) and one.flags.c_contiguous and one.flags.writeable
        with pytest.raises(ValueError, match="incompatible"):
            call(np.ones((2, 5), np.float32))


# ---------------------------------------------------------------- executor gradients

GRAD_CASES = [
    # (hidden activation, output activation, loss, from_logits, out units)
    ("relu", "softmax", "sparse_categorical_crossentropy", False, 3),
    ("tanh", "softmax", "categorical_crossentropy", False, 3),
    ("sigmoid", "linear", "sparse_categorical_crossentropy", True, 3),
    ("elu", "linear", "categorical_crossentropy", True, 3),
    ("swish", "sigmoid", "binary_crossentropy", False, 2),
    ("gelu", "linear", "binary_crossentropy", True, 2),
    ("softplus", "linear", "mean_squared_error", False, 2),
    ("selu", "tanh", "mean_absolute_error", False, 2),
    ("leaky_relu", "linear", "huber", False, 2),
    ("softsign", "sigmoid", "mean_squared_error", False, 2),
]


@pytest.mark.parametrize("hidden,out_act,loss,from_logits,units", GRAD_CASES)
def test_executor_gradient_matches_finite_differences(hidden, out_act, loss, from_logits, units):
    rng = np.random.default_rng(7)
    n, d, h = 9, 5, 4
    x = rng.standard_normal((n, d)).astype(np.float32)
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, units, n)
    elif loss == "categorical_crossentropy":
        y = np.eye(units, dtype=np.float32)[rng.integers(0, units, n)]
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, (n, units)).astype(np.float32)
    else:
        y = rng.standard_normal((n, units)).astype(np.float32)
    reg = (0.01, 0.02)
    model = keras.Sequential([
        keras.layers.Dense(h, activation=hidden, input_shape=(d,),
                           kernel_regularizer=keras.regularizers.L1L2(l1=reg[0], l2=reg[1])),
        keras.layers.Dense(units, activation=out_act)])
    model.layers[1].set_weights([rng.standard_normal((h, units)).astype(np.float32) * 0.5,
                                 rng.standard_normal(units).astype(np.float32) * 0.1])
    model.layers[0].set_weights([model.layers[0].get_weights()[0],
                                 rng.standard_normal(h).astype(np.float32) * 0.1])
    loss_obj = keras.losses.get({"class_name": loss, "config": {"from_logits": from_logits}}) \
        if from_logits else loss
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=loss_obj)
    w0 = model.get_weights()
    reported = model.train_on_batch(x, y)
    w1 = model.get_weights()
    got = [a - b for a, b in zip(w0, w1)]

    params = [(w0[0].astype(np.float64), w0[1].astype(np.float64)),
              (w0[2].astype(np.float64), w0[3].astype(np.float64))]
    layers = [("dense", hidden, reg), ("dense", out_act, None)]
    yy = y.astype(np.float64)
    ref_loss = network_loss(layers, params, x.astype(np.float64), yy, loss, from_logits)
    np.testing.assert_allclose(reported, ref_loss, rtol=2e-5, atol=1e-6)
    ref = numeric_grads(layers, params, x.astype(np.float64), yy, loss, from_logits)
    for g, r in zip(got, [ref[0][0], ref[0][1], ref[1][0], ref[1][1]]):
        np.testing.assert_allclose(g, r, rtol=2e-3, atol=2e-6)


@pytest.mark.parametrize("out_act", ["softmax", "linear"])
def test_activity_regularizer_gradient_and_reported_loss(out_act):
    rng = np.random.default_rng(11)
    n, d, h, units = 8, 5, 4, 3
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, units, n)
    act_reg = (0.01, 0.03)
    loss = "sparse_categorical_crossentropy"
    model = keras.Sequential([
        keras.layers.Dense(h, activation="tanh", input_shape=(d,),
                           activity_regularizer=keras.regularizers.L1L2(*act_reg)),
        keras.layers.Dense(units, activation=out_act,
                           activity_regularizer=keras.regularizers.L2(0.02))])
    loss_obj = keras.losses.SparseCategoricalCrossentropy(from_logits=out_act == "linear")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=loss_obj)
    w0 = model.get_weights()
    params = [(w0[0].astype(np.float64), w0[1].astype(np.float64)),
              (w0[2].astype(np.float64), w0[3].astype(np.float64))]
    layers = [("dense", "tanh", None, act_reg), ("dense", out_act, None, (0.0, 0.02))]
    xx = x.astype(np.float64)
    ref_loss = network_loss(layers, params, xx, y, loss, out_act == "linear")
    # evaluate over one batch of n reports the same loss as the training step will
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=n, verbose=0), ref_loss,
                               rtol=2e-5)
    reported = model.train_on_batch(x, y)
    np.testing.assert_allclose(reported, ref_loss, rtol=2e-5)
    got = [a - b for a, b in zip(w0, model.get_weights())]
    ref = numeric_grads(layers, params, xx, y, loss, out_act == "linear")
    for g, r in zip(got, [ref[0][0], ref[0][1], ref[1][0], ref[1][1]]):
        np.testing.assert_allclose(g, r, rtol=2e-3, atol=2e-6)


@pytest.mark.parametrize("out_act, loss", [("sigmoid", "binary_crossentropy"),
                                           ("softmax", "categorical_crossentropy")])
def test_activity_penalty_on_an_output_folded_into_its_loss(out_act, loss):
    # the loss takes the logits (as Keras's TF backend does) and the penalty the activation's
    # output: the gradient reaches the logits through the activation (finite differences)
    rng = np.random.default_rng(12)
    n, d, units = 8, 5, 3
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = ((rng.random((n, units)) > 0.5) if out_act == "sigmoid"
         else np.eye(units)[rng.integers(0, units, n)]).astype(np.float32)
    act_reg = (0.03, 0.05)
    model = keras.Sequential([keras.layers.Dense(units, activation=out_act, input_shape=(d,),
                                                 activity_regularizer=keras.regularizers.L1L2(
                                                     *act_reg))])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=loss)
    assert model._loss_spec()[3] == 1  # folded into the loss
    w0 = model.get_weights()
    params = [(w0[0].astype(np.float64), w0[1].astype(np.float64))]
    layers = [("dense", out_act, None, act_reg)]
    ref_loss = network_loss(layers, params, x.astype(np.float64), y, loss)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=n, verbose=0), ref_loss,
                               rtol=2e-5)
    np.testing.assert_allclose(model.train_on_batch(x, y), ref_loss, rtol=2e-5)
    got = [a - b for a, b in zip(w0, model.get_weights())]
    ref = numeric_grads(layers, params, x.astype(np.float64), y, loss)
    for g, r in zip(got, [ref[0][0], ref[0][1]]):
        np.testing.assert_allclose(g, r, rtol=2e-3, atol=2e-6)


def test_activity_penalty_on_softmax_output_keeps_the_loss_from_logits():
    # a true class at probability ~e-30: Keras's TF backend takes the cross-entropy from the
    # logits (about 69), where one from clipped probabilities would stop at -log(1e-7) = 16.1
    model = keras.Sequential([keras.layers.Dense(2, activation="softmax", input_shape=(1,),
                                                 kernel_initializer="ones",
                                                 activity_regularizer=keras.regularizers.L2(0.1))])
    model.set_weights([np.array([[35.0, -35.0]], np.float32), np.zeros(2, np.float32)])
    model.compile(loss="sparse_categorical_crossentropy")
    x = np.ones((1, 1), np.float32)
    p = np.array([1.0, np.exp(-70.0)])
    want = 70.0 + 0.1 * (p ** 2).sum()
    np.testing.assert_allclose(model.evaluate(x, np.array([1]), verbose=0), want, rtol=1e-5)


def test_activity_penalty_is_divided_by_the_batch_size_as_keras_3():
    # keras.regularizers' own example (Keras 3.15, keras-team/keras#22021): five rows of 2.0
    # through Dense(5, kernel 'ones', kernel L1(0.01), activity L2(0.01)) give losses summing
    # to 5.25: 0.01 * 25 for the kernel and 0.01 * 25 * 10^2 / 5 for the outputs
    m = keras.Sequential([keras.layers.Dense(5, input_shape=(5,), kernel_initializer="ones",
                                             kernel_regularizer=keras.regularizers.L1(0.01),
                                             activity_regularizer=keras.regularizers.L2(0.01))])
    m.compile(loss="mse")
    x = np.full((5, 5), 2.0, np.float32)
    y = np.full((5, 5), 10.0, np.float32)  # the outputs: a zero mean squared error
    np.testing.assert_allclose(m.evaluate(x, y, batch_size=5, verbose=0), 5.25, rtol=1e-6)
    # per batch the penalty over the batch / its size, reported weighted by the batch size: the
    # same total whatever the batch size
    for batch in (1, 2, 3):
        np.testing.assert_allclose(m.evaluate(x, y, batch_size=batch, verbose=0), 5.25,
                                   rtol=1e-6)


def test_activation_and_dropout_layers_in_executor():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    model = keras.Sequential([keras.layers.Dense(5, input_shape=(4,)),
                              keras.layers.Activation("tanh"),
                              keras.layers.Dropout(0.0),
                              keras.layers.Dense(3),
                              keras.layers.Activation("softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0),
                  loss="sparse_categorical_crossentropy")
    w0 = model.get_weights()
    model.train_on_batch(x, y)
    got = [a - b for a, b in zip(w0, model.get_weights())]
    params = [(w0[0].astype(np.float64), w0[1].astype(np.float64)),
              (w0[2].astype(np.float64), w0[3].astype(np.float64))]
    layers = [("dense", "linear", None), ("act", "tanh", None), ("dense", "linear", None),
              ("act", "softmax", None)]
    ref = numeric_grads(layers, params, x.astype(np.float64), y, "sparse_categorical_crossentropy")
    for g, r in zip(got, [ref[0][0], ref[0][1], ref[1][0], ref[1][1]]):
        np.testing.assert_allclose(g, r, rtol=2e-3, atol=2e-6)


def test_dropout_trains_and_is_identity_at_inference():
    x, y = _data(200, 6, 3)
    model = keras.Sequential([keras.layers.Dense(16, activation="relu", input_shape=(6,)),
                              keras.layers.Dropout(0.5),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    p0 = model.predict(x, verbose=0)
    np.testing.assert_array_equal(p0, model.predict(x, verbose=0))
    hist = model.fit(x, y, epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    out = model(x, training=True)
    assert not np.allclose(out, model(x))


# ---------------------------------------------------------------- training behaviour

def test_fit_history_and_evaluate_contract():
    x, y = _data(100)
    model = keras.Sequential([keras.layers.Dense(8, activation="relu", input_shape=(6,)),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=3, batch_size=16, verbose=0, validation_split=0.2)
    assert hist is model.history
    assert sorted(hist.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 3 for v in hist.history.values())
    assert hist.epoch == [0, 1, 2]
    assert model.optimizer.iterations == 3 * 5  # 80 training samples / 16
    res = model.evaluate(x, y, verbose=0)
    assert isinstance(res, list) and len(res) == 2
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert d == pytest.approx({"accuracy": res[1], "loss": res[0]})
    model.compile(loss="sparse_categorical_crossentropy")
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_evaluate_matches_numpy_loss_and_accuracy():
    x, y = _data(50)
    model = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(6,))])
    model.compile(loss="sparse_categorical_crossentropy", metrics="accuracy")
    loss, acc = model.evaluate(x, y, verbose=0)
    p = model.predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(loss, -np.log(p[np.arange(50), y]).mean(), rtol=1e-5)
    assert acc == pytest.approx(np.mean(p.argmax(1) == y))


def test_training_reduces_loss_for_each_optimizer():
    x, y = _data(256, 6, 3, seed=1)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)
    for name in ["sgd", "rmsprop", "adam", "adamw", "adagrad", "adamax", "nadam"]:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.layers.Dense(16, activation="relu", input_shape=(6,)),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer=name, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        h = model.fit(x, y, epochs=8, verbose=0)
        assert h.history["loss"][-1] < h.history["loss"][0], name


def test_learning_rate_schedule_is_applied_per_step():
    x, y = _data(64)
    sched = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model = keras.Sequential([keras.layers.Dense(3, input_shape=(6,), activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=sched),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    assert model.optimizer.iterations == 1
    assert model.optimizer.learning_rate == pytest.approx(0.05)


def test_xor_needs_a_hidden_layer():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.float32)
    keras.utils.set_random_seed(3)
    mlp = keras.Sequential([keras.layers.Dense(4, activation="tanh", input_shape=(2,)),
                            keras.layers.Dense(1, activation="sigmoid")])
    mlp.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy",
                metrics=["accuracy"])
    mlp.fit(x, y, epochs=300, batch_size=4, verbose=0)
    assert mlp.evaluate(x, y, verbose=0)[1] == 1.0
    single = keras.Sequential([keras.layers.Dense(1, activation="sigmoid", input_shape=(2,))])
    single.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy",
                   metrics=["accuracy"])
    single.fit(x, y, epochs=300, batch_size=4, verbose=0)
    # a line separates at most 3 of XOR's 4 points
    assert single.evaluate(x, y, verbose=0)[1] <= 0.75


def test_same_seed_same_weights_and_thread_count_independent():
    x, y = _data(300)

    def train(threads):
        config.set_num_threads(threads)
        try:
            keras.utils.set_random_seed(42)
            m = keras.Sequential([keras.layers.Dense(64, activation="relu", input_shape=(6,)),
                                  keras.layers.Dropout(0.2),
                                  keras.layers.Dense(3, activation="softmax")])
            m.compile(loss="sparse_categorical_crossentropy")
            m.fit(x, y, epochs=2, verbose=0)
            return m.get_weights()
        finally:
            config.set_num_threads(config.default_num_threads())

    a, b, c = train(1), train(1), train(2)
    for u, v, w in zip(a, b, c):
        np.testing.assert_array_equal(u, v)
        np.testing.assert_array_equal(u, w)


def _per_thread_count(run, counts=(1, 2, 3)):
    """run() under each thread count in turn (the default restored after each); the results."""
    results = []
    for threads in counts:
        config.set_num_threads(threads)
        try:
            results.append(run())
        finally:
            config.set_num_threads(config.default_num_threads())
    return results


def _assert_identical_training(results):
    """(weights, history) of each run: every history and weight equal to the first, bit for
    bit."""
    weights, hist = results[0]
    for other_weights, other_hist in results[1:]:
        assert other_hist == hist
        for a, b in zip(weights, other_weights):
            np.testing.assert_array_equal(a, b)


def _wide_net(kind):
    """Layers wide enough that the executor splits their columns among threads (split ->
    split gradients, pending kernel updates, split element-wise layers), odd widths so the
    thread boundaries fall inside vectors."""
    reg = keras.regularizers.l1_l2(1e-5, 1e-4)
    layers = [keras.layers.Dense(254, activation="tanh", input_shape=(200,),
                                 kernel_regularizer=reg, bias_regularizer=reg),
              keras.layers.Dropout(0.25),
              keras.layers.Dense(130, activation="elu", activity_regularizer=reg),
              keras.layers.Activation("swish"),
              keras.layers.Dense(7, activation="softmax")]
    if kind == "sigmoid_head":
        layers[-1] = keras.layers.Dense(7, activation="sigmoid")
    return keras.Sequential(layers)


@pytest.mark.parametrize("kind, opt, loss", [
    ("softmax", lambda: keras.optimizers.RMSprop(), "sparse_categorical_crossentropy"),
    ("softmax", lambda: keras.optimizers.Adam(clipvalue=0.01), "sparse_categorical_crossentropy"),
    ("softmax", lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True, clipnorm=0.5),
     "sparse_categorical_crossentropy"),
    ("sigmoid_head", lambda: keras.optimizers.Nadam(global_clipnorm=1.0), "binary_crossentropy"),
    # a softmax the loss does not absorb, forward and backward on thread 0 (no tail by rows:
    # two split layers)
    ("softmax", lambda: keras.optimizers.RMSprop(), "mean_squared_error"),
])
def test_split_layers_give_thread_count_independent_weights(kind, opt, loss):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((230, 200)).astype(np.float32)
    labels = rng.integers(0, 7, 230)
    y = labels if loss.startswith("sparse") else np.eye(7, dtype=np.float32)[labels]

    def train():
        keras.utils.set_random_seed(7)
        m = _wide_net(kind)
        m.compile(optimizer=opt(), loss=loss, metrics=["accuracy"])
        h = m.fit(x, y, batch_size=32, epochs=2, verbose=0)
        return m.get_weights(), h.history

    results = _per_thread_count(train)
    w1, h1 = results[0]
    assert np.isfinite(h1["loss"]).all()
    _assert_identical_training(results)
    # training moved every kernel
    fresh = _wide_net(kind).get_weights()
    assert all(not np.array_equal(a, f) for a, f in zip(w1[::2], fresh[::2]))


@pytest.mark.parametrize("din, widths, batch, n, act, opt", [
    (784, [100], 5, 97, "tanh", "sgd"),            # small batches and a short last one
    (161, [400, 129, 66], 64, 300, "gelu", "adamw"),  # three split layers in a row
    (500, [250], 250, 1000, "relu", "adadelta"),   # a large batch
])
def test_training_is_thread_count_independent_across_shapes(din, widths, batch, n, act, opt):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((n, din)).astype(np.float32)
    y = rng.integers(0, 5, n)

    def train():
        keras.utils.set_random_seed(3)
        layers = [keras.layers.Dense(widths[0], activation=act, input_shape=(din,))]
        for w in widths[1:]:
            layers += [keras.layers.Dropout(0.1), keras.layers.Dense(w, activation=act)]
        model = keras.Sequential(layers + [keras.layers.Dense(5, activation="softmax")])
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, y, batch_size=batch, epochs=2, verbose=0)
        return model.get_weights(), history.history

    results = _per_thread_count(train)
    assert np.isfinite(results[0][1]["loss"]).all()
    _assert_identical_training(results)


def test_one_softmax_layer_split_among_threads_is_thread_count_independent():
    """Program 1's shape: a single Dense(10, softmax) on 784 inputs is split among the threads
    (its K blocks, then the tail by rows from that same layer), with the same results."""
    rng = np.random.default_rng(4)
    x = rng.random((200, 784), dtype=np.float32)
    y = rng.integers(0, 10, 200)

    def train():
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.layers.Dense(10, activation="softmax",
                                                     input_shape=(784,))])
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=2, verbose=0)
        return model.get_weights(), history.history

    results = _per_thread_count(train)
    assert results[0][1]["loss"][1] < results[0][1]["loss"][0]
    _assert_identical_training(results)


@pytest.mark.parametrize("hidden", [[100], []])  # Program 2's shape, Program 1's
def test_first_layer_blocks_taken_over_give_the_same_weights(hidden):
    """In the fused update a thread that is done takes the last blocks of another thread's run
    (train.c: block claims), and the tail's rows go to the threads by their recent rates.
    Whoever forms a block, the sums add it in its place, and whoever takes a row computes it
    alike: forced to take the others' blocks first and to share the tail 1 : 3 (mode 2), on two
    and three threads, training gives the weights and history of one thread, bit for bit, with
    zero-skipping on mostly-zero pixels."""
    rng = np.random.default_rng(8)
    x = rng.random((320, 784), dtype=np.float32) * (rng.random((320, 784)) < 0.5)
    y = rng.integers(0, 10, 320)

    def train():
        keras.utils.set_random_seed(2)
        layers = [keras.layers.Dense(w, activation="relu") for w in hidden]
        model = keras.Sequential([keras.Input((784,)), *layers,
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        h = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
        return model.get_weights(), h.history

    results = _per_thread_count(train, counts=(1,))
    try:
        for mode in (2, 0, 1):
            _core.set_block_sharing(mode)
            before = _core.blocks_taken_over()
            results += _per_thread_count(train, counts=(2, 3))
            if mode == 2:  # every step's blocks but the first's change hands
                assert _core.blocks_taken_over() - before >= 2 * 19
            elif mode == 0:
                assert _core.blocks_taken_over() == before
    finally:
        _core.set_block_sharing(1)
    _assert_identical_training(results)


@pytest.mark.parametrize("first_trainable", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
def test_epoch_loss_with_frozen_weights_equals_evaluate(first_trainable, threads):
    """With a zero learning rate nothing moves, so the mean training loss over an epoch is the
    evaluate() loss: every step's forward pass (including products formed ahead during the
    previous step's update) sees the current weights and its own batch."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((320, 300)).astype(np.float32)
    y = rng.integers(0, 5, 320)
    config.set_num_threads(threads)
    try:
        first = keras.layers.Dense(200, activation="relu", input_shape=(300,))
        first.trainable = first_trainable
        model = keras.Sequential([first, keras.layers.Dense(5, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
        history = model.fit(x, y, epochs=1, verbose=0)
        assert history.history["loss"][0] == pytest.approx(model.evaluate(x, y, verbose=0),
                                                           rel=1e-6)
    finally:
        config.set_num_threads(config.default_num_threads())


def test_predict_over_many_chunks_is_thread_count_independent():
    """Several chunks run one per thread; each chunk's products are the one-thread products,
    so any thread count, and the same rows predicted chunk by chunk, give the same bits."""
    from annc.models import sequential as seq

    rng = np.random.default_rng(4)
    model = keras.Sequential([keras.layers.Dense(130, activation="tanh", input_shape=(70,)),
                              keras.layers.Dropout(0.3),
                              keras.layers.Dense(7, activation="softmax")])
    x = rng.standard_normal((3 * seq._PREDICT_ROWS + 5, 70)).astype(np.float32)
    outs = _per_thread_count(lambda: model.predict(x, verbose=0))
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])
    step = seq._PREDICT_ROWS
    pieces = np.concatenate([np.asarray(model(x[i:i + step])) for i in range(0, len(x), step)])
    np.testing.assert_array_equal(outs[0], pieces)
    np.testing.assert_allclose(outs[0].sum(axis=1), 1.0, rtol=1e-5)
    # each thread keeps a kernel's packing for a whole call, never into the next one
    model.set_weights([w * 0.5 for w in model.get_weights()])
    pieces = np.concatenate([np.asarray(model(x[i:i + step])) for i in range(0, len(x), step)])
    assert not np.array_equal(pieces, outs[0])
    for out in _per_thread_count(lambda: model.predict(x, verbose=0), counts=(1, 2)):
        np.testing.assert_array_equal(out, pieces)


def test_weights_and_optimizer_slots_start_on_cache_lines():
    model = keras.Sequential([keras.layers.Dense(13, input_shape=(7,)),
                              keras.layers.Dense(5, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = _data(40, d=7, classes=5)
    model.fit(x, y, epochs=1, verbose=0)
    assert all(w.value.ctypes.data % 64 == 0 for w in model.weights)
    slots = model.optimizer.variables
    assert slots and all(np.asarray(v).ctypes.data % 64 == 0 for v in slots
                         if np.asarray(v).ndim > 0)


def _tail_net(kind):
    """One split layer, then a tail that runs by batch rows on several threads."""
    first = keras.layers.Dense(120, activation={"dropout": "relu", "mse": "sigmoid",
                                                "sigmoid": "gelu"}[kind], input_shape=(300,),
                               kernel_regularizer=keras.regularizers.l2(1e-4),
                               bias_regularizer=keras.regularizers.l1(1e-4),
                               activity_regularizer=keras.regularizers.l2(1e-5))
    if kind == "dropout":  # dropout, a narrow layer with an activity penalty, softmax apart
        return [first, keras.layers.Dropout(0.3),
                keras.layers.Dense(9, activity_regularizer=keras.regularizers.l1(1e-3)),
                keras.layers.Activation("softmax")], "sparse_categorical_crossentropy", ["accuracy"]
    if kind == "mse":  # a softmax the loss does not absorb: its backward pass by rows
        return ([first, keras.layers.Dense(9, activation="softmax")], "mse",
                ["mae", "categorical_accuracy"])
    # sigmoid folded into the loss: MAE/MSE metrics need the probabilities (scratch buffer)
    return ([first, keras.layers.Dense(9, activation="sigmoid")], "binary_crossentropy",
            ["mae", "mse", "binary_accuracy"])


@pytest.mark.parametrize("kind", ["dropout", "mse", "sigmoid"])
def test_tail_by_rows_gives_thread_count_independent_training(kind):
    """After the last split layer each thread takes its rows of the batch through the narrow
    layers, the loss and back; kernel and bias gradients, loss, penalties and metrics are summed
    by thread 0 in row order. Weights and every History number must not depend on the thread
    count, including a short last batch (150 = 4 x 32 + 22) and a 3-way split of 32 rows."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((150, 300)).astype(np.float32)
    labels = rng.integers(0, 9, 150)

    def train():
        keras.utils.set_random_seed(4)
        layers, loss, metrics = _tail_net(kind)
        model = keras.Sequential(layers)
        model.compile(optimizer="rmsprop", loss=loss, metrics=metrics)
        y = labels if loss.startswith("sparse") else np.eye(9, dtype=np.float32)[labels]
        history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
        return model.get_weights(), history.history

    results = _per_thread_count(train)
    hist = results[0][1]
    assert np.isfinite(hist["loss"]).all() and len(hist) == 1 + len(_tail_net(kind)[2])
    _assert_identical_training(results)


def test_executor_reports_a_broken_invariant_from_any_thread_count():
    """Labels are validated in Python; if a bad one reached the executor anyway, the C loss
    refuses it and every thread leaves the chunk together (no hang), for 1 and 2 threads."""
    from annc.models import sequential as seq

    rng = np.random.default_rng(8)
    x = rng.standard_normal((96, 300)).astype(np.float32)
    every = np.full(96, 99, dtype=np.int32)
    # one bad label in the second step's last row: another thread's share when the tail of the
    # step runs by rows
    one = np.zeros(96, dtype=np.int32)
    one[63] = 99
    for threads, bad in [(1, every), (2, every), (1, one), (2, one), (3, one)]:
        config.set_num_threads(threads)
        try:
            model = keras.Sequential([keras.layers.Dense(200, activation="relu",
                                                         input_shape=(300,)),
                                      keras.layers.Dense(3, activation="softmax")])
            model.compile(loss="sparse_categorical_crossentropy")
            eng = model._engine(32, True)
            seq.Sequential._set_optimizer(eng, model.optimizer)
            eng.bind(x, bad, np.arange(96, dtype=np.int64))
            with pytest.raises(RuntimeError, match="failed"):
                eng.run_steps(0, 3, 32, 0.001, 1, 0, np.zeros(1))
        finally:
            config.set_num_threads(config.default_num_threads())


def test_progress_output_is_plain_when_not_a_terminal(capsys):
    x, y = _data(64)
    model = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(6,))])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out
    lines = [l for l in out.splitlines() if l]
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("2/2 ━━━━━━━━━━━━━━━━━━━━ ")
    assert " - accuracy: " in lines[1] and lines[1].index("accuracy") < lines[1].index("loss")
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------- errors

def _compiled(d=6, out=3, **kw):
    m = keras.Sequential([keras.layers.Dense(out, activation="softmax", input_shape=(d,))])
    m.compile(loss="sparse_categorical_crossentropy", **kw)
    return m


def test_fit_before_compile():
    x, y = _data()
    m = keras.Sequential([keras.layers.Dense(3, input_shape=(6,))])
    with pytest.raises(ValueError, match="compile"):
        m.fit(x, y, verbose=0)


def test_wrong_input_width():
    m = _compiled()
    with pytest.raises(ValueError, match=r"expected shape=\(None, 6\), found shape=\(None, 5\)"):
        m.fit(np.zeros((4, 5)), np.zeros(4), verbose=0)
    with pytest.raises(ValueError, match="incompatible"):
        m.predict(np.zeros((4, 7)), verbose=0)


def test_labels_out_of_range_and_one_hot_with_sparse_loss():
    m = _compiled()
    x, y = _data()
    y = y.copy()
    y[5] = 3
    with pytest.raises(ValueError, match=r"\[0, 3\).*\[5\] = 3"):
        m.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        m.fit(x, -np.ones(40), verbose=0)
    with pytest.raises(ValueError, match="one-hot"):
        m.fit(x, np.eye(3)[np.zeros(40, int)], verbose=0)


@pytest.mark.parametrize("metric", ["mae", "mse", "binary_accuracy", "categorical_accuracy"])
def test_metric_that_needs_one_value_per_output_refuses_class_ids(metric):
    # Keras fails on these with a shape error (categorical_accuracy gives a meaningless value);
    # the executor would have read the int32 class ids as float targets
    m = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(6,))])
    m.compile(loss="sparse_categorical_crossentropy", metrics=[metric])
    x, y = _data()
    for call in (lambda: m.fit(x, y, verbose=0), lambda: m.evaluate(x, y, verbose=0),
                 lambda: m.train_on_batch(x, y), lambda: m.test_on_batch(x, y),
                 lambda: m.fit(x[:20], y[:20], validation_data=(x, y), verbose=0)):
        with pytest.raises(ValueError, match=f"Metric '{metric}'.*class id"):
            call()
    one_hot = np.eye(3, dtype=np.float32)[y]
    m.compile(loss="categorical_crossentropy", metrics=[metric])  # the same metric, fitting y
    logs = m.evaluate(x, one_hot, verbose=0, return_dict=True)
    assert np.isfinite(logs[metric])


@pytest.mark.parametrize("loss, out, act, explicit", [
    ("sparse_categorical_crossentropy", 3, "softmax", "sparse_categorical_accuracy"),
    ("categorical_crossentropy", 3, "softmax", "categorical_accuracy"),
    ("binary_crossentropy", 1, "sigmoid", "binary_accuracy"),
    ("binary_crossentropy", 4, "sigmoid", "categorical_accuracy"),  # Keras 3: by shape
    ("mse", 1, None, "binary_accuracy"),
    ("mse", 3, None, "categorical_accuracy"),
])
def test_accuracy_resolves_by_shape_as_keras_3(loss, out, act, explicit):
    # Keras 3 (compile_utils.get_metric) looks at the shapes only: one output -> binary, class
    # ids -> sparse categorical, else categorical (Keras 2 went by the loss: binary for a
    # binary cross-entropy over several outputs)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 5)).astype(np.float32)
    if loss.startswith("sparse"):
        y = rng.integers(0, out, 60)
    elif loss.startswith("categorical"):
        y = np.eye(out, dtype=np.float32)[rng.integers(0, out, 60)]
    else:
        y = (rng.random((60, out)) > 0.5).astype(np.float32)
    m = keras.Sequential([keras.layers.Dense(out, activation=act, input_shape=(5,))])
    m.compile(loss=loss, metrics=["accuracy", explicit])
    logs = m.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["accuracy"] == logs[explicit]
    hist = m.fit(x, y, epochs=1, verbose=0).history
    assert hist["accuracy"] == hist[explicit]


def test_sparse_accuracy_refuses_one_hot_targets():
    m = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(6,))])
    m.compile(loss="categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    x, y = _data()
    with pytest.raises(ValueError, match="sparse_categorical_accuracy.*3 values per sample"):
        m.fit(x, np.eye(3, dtype=np.float32)[y], verbose=0)
    m.compile(loss="categorical_crossentropy", metrics=["accuracy"])  # resolved to categorical
    assert np.isfinite(m.evaluate(x, np.eye(3, dtype=np.float32)[y], verbose=0)[1])


def test_executor_refuses_metrics_that_cannot_read_the_targets():
    """Behind the Python check: the C executor itself refuses a metric whose targets come in
    the other form (class ids for an element-wise metric, rows for sparse accuracy)."""
    from annc import metrics as M
    from annc.models import sequential as seq

    x, y = _data(64)
    model = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(6,))])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["mae"])
    eng = model._engine(32, True)
    seq.Sequential._set_optimizer(eng, model.optimizer)
    eng.bind(x, y.astype(np.int32), np.arange(64, dtype=np.int64))
    with pytest.raises(RuntimeError, match="failed"):
        eng.run_steps(0, 2, 32, 0.001, 1, 0, np.zeros(2))
    with pytest.raises(RuntimeError, match="failed"):
        eng.evaluate(x, y.astype(np.int32), np.zeros(2))
    assert M.MAE in [mid for _, mid in model._resolved_metrics()]


def test_empty_data_is_a_clear_error_and_predicts_no_rows():
    m = _compiled()
    x, y = _data()
    with pytest.raises(ValueError, match="no training samples"):
        m.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="No samples to evaluate"):
        m.evaluate(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="No samples to evaluate"):
        m.fit(x, y, validation_data=(x[:0], y[:0]), verbose=0)
    assert m.predict(x[:0], verbose=0).shape == (0, 3)
    images = keras.Sequential([keras.Input((2, 3)), keras.layers.Flatten(),
                               keras.layers.Dense(4)])
    assert images.predict(np.zeros((0, 2, 3), np.float32), verbose=0).shape == (0, 4)


def test_length_mismatch_nan_and_batch_size():
    m = _compiled()
    x, y = _data()
    with pytest.raises(ValueError, match="'x' sizes: 40 'y' sizes: 39"):
        m.fit(x, y[:39], verbose=0)
    xn = x.copy()
    xn[7, 2] = np.nan
    with pytest.raises(ValueError, match="NaN at sample 7"):
        m.fit(xn, y, verbose=0)
    for bad in (0, -3):
        with pytest.raises(ValueError, match="batch_size"):
            m.fit(x, y, batch_size=bad, verbose=0)


def test_unknown_names():
    with pytest.raises(ValueError, match="relux"):
        keras.layers.Dense(3, activation="relux")
    m = keras.Sequential([keras.layers.Dense(3, input_shape=(6,))])
    with pytest.raises(ValueError, match="adamm"):
        m.compile(optimizer="adamm", loss="mse")
    with pytest.raises(ValueError, match="msee"):
        m.compile(loss="msee")
    with pytest.raises(ValueError, match="accurracy"):
        m.compile(loss="mse", metrics=["accurracy"])


def test_softmax_output_with_from_logits_warns():
    m = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(6,))])
    m.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _data()
    with pytest.warns(UserWarning, match="from_logits=True"):
        m.fit(x, y, verbose=0)


def test_summary_matches_keras_before_and_after_fit(capsys):
    model = keras.Sequential([keras.layers.Dense(100, activation="relu", input_shape=(784,)),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    before = capsys.readouterr().out
    assert "│ (None, 100)            │        78,500 │" in before
    assert " Total params: 79,510 (310.59 KB)" in before and "Optimizer" not in before
    model.fit(np.zeros((4, 784)), np.zeros(4), verbose=0)
    model.summary()
    after = capsys.readouterr().out
    # Keras 3 counts the optimizer's iterations and learning rate with the Adam slots
    assert " Total params: 238,532 (931.77 KB)" in after
    assert " Optimizer params: 159,022 (621.18 KB)" in after


def test_partial_last_batch_and_batch_hooks_every_step():
    x, y = _data(50)
    model = _compiled(metrics=["accuracy"])
    calls = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: calls.append(b))
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[cb])
    assert calls == [0, 1, 0, 1]  # a callback with batch hooks sees every step
    assert model.optimizer.iterations == 4


def test_validation_data_and_early_stopping_restores_best():
    x, y = _data(120)
    xv, yv = _data(40, seed=5)
    model = keras.Sequential([keras.layers.Dense(16, activation="relu", input_shape=(6,)),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    snapshots = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: snapshots.append((logs["val_loss"], model.get_weights())))
    stop = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    hist = model.fit(x, y, epochs=40, validation_data=(xv, yv), verbose=0,
                     callbacks=[record, stop])
    assert "val_loss" in hist.history and "val_accuracy" in hist.history
    best_loss, best_w = min(snapshots, key=lambda t: t[0])
    for a, b in zip(model.get_weights(), best_w):
        np.testing.assert_array_equal(a, b)
    assert model.evaluate(xv, yv, verbose=0)[0] == pytest.approx(best_loss, rel=1e-6)


def test_verbose_2_prints_one_line_per_epoch(capsys):
    x, y = _data(64)
    model = _compiled(metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=2)
    lines = [l for l in capsys.readouterr().out.splitlines() if l]
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert lines[1].startswith("2/2 - ") and "/step - accuracy: " in lines[1]


@pytest.mark.parametrize("clip", [{"clipnorm": 0.05}, {"global_clipnorm": 0.05},
                                  {"clipvalue": 0.002}])
def test_gradient_clipping_in_executor_matches_keras_rules(clip):
    from annc.optimizers.base import clip_by_global_norm, clip_by_norm

    x, y = _data(32)

    def step(**kw):
        keras.utils.set_random_seed(5)
        m = keras.Sequential([keras.layers.Dense(8, activation="tanh", input_shape=(6,)),
                              keras.layers.Dense(3, activation="softmax")])
        m.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0, **kw),
                  loss="sparse_categorical_crossentropy")
        w0 = m.get_weights()
        m.train_on_batch(x, y)
        return [a - b for a, b in zip(w0, m.get_weights())]

    raw = step()
    got = step(**clip)
    if "clipnorm" in clip:
        want = [clip_by_norm(g, clip["clipnorm"]) for g in raw]
    elif "global_clipnorm" in clip:
        want = clip_by_global_norm(raw, clip["global_clipnorm"])
    else:
        want = [np.clip(g, -clip["clipvalue"], clip["clipvalue"]) for g in raw]
    assert any(not np.allclose(r, w) for r, w in zip(raw, want))  # clipping was active
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)


def test_layers_shared_between_models_share_current_weights():
    x, y = _data(64)
    base = keras.layers.Dense(8, activation="relu", input_shape=(6,))
    m1 = keras.Sequential([base, keras.layers.Dense(3, activation="softmax")])
    m1.compile(loss="sparse_categorical_crossentropy")
    m1.fit(x, y, epochs=1, verbose=0)
    m2 = keras.Sequential([base, keras.layers.Dense(2, activation="softmax")])  # transfer
    m2.compile(loss="sparse_categorical_crossentropy")
    before = base.get_weights()[0].copy()
    m2.fit(x, y % 2, epochs=2, verbose=0)
    after = base.get_weights()[0]
    assert not np.array_equal(before, after)
    # m1 now sees the shared layer's trained weights, as in Keras
    w1 = m1.get_weights()
    np.testing.assert_array_equal(w1[0], after)
    h = np.maximum(x @ w1[0] + w1[1], 0) @ w1[2] + w1[3]
    ref = np.exp(h - h.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(m1.predict(x, verbose=0), ref, rtol=1e-5, atol=1e-6)
    m1.fit(x, y, epochs=1, verbose=0)  # and trains them in turn
    assert not np.array_equal(base.get_weights()[0], after)


def test_concurrent_predict_from_python_threads():
    import threading

    rng = np.random.default_rng(2)
    model = keras.Sequential([keras.layers.Dense(64, activation="relu", input_shape=(32,)),
                              keras.layers.Dense(5, activation="softmax")])
    inputs = [rng.standard_normal((n, 32)).astype(np.float32) for n in (1, 3, 50, 300, 700)]
    expected = [model.predict(a, verbose=0) for a in inputs]
    errors = []

    def worker(k):
        for i in range(40):
            j = (k + i) % len(inputs)
            if not np.array_equal(model.predict(inputs[j], verbose=0), expected[j]):
                errors.append(j)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_fit_validation_runs_the_test_hooks_of_fits_callbacks(capsys):
    x, y = _data(80)
    model = _compiled(metrics=["accuracy"])
    events = []
    cb = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: events.append(("epoch_end", sorted(logs))))
    cb.on_test_begin = lambda logs=None: events.append(("test_begin",))
    cb.on_test_batch_end = lambda batch, logs=None: events.append(("test_batch_end", batch))
    cb.on_test_end = lambda logs=None: events.append(("test_end", sorted(logs)))
    model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=1, callbacks=[cb])
    # 20 validation rows in batches of 16: two test batches, as Keras calls them
    one_epoch = [("test_begin",), ("test_batch_end", 0), ("test_batch_end", 1),
                 ("test_end", ["accuracy", "loss"]),
                 ("epoch_end", ["accuracy", "loss", "val_accuracy", "val_loss"])]
    assert events == one_epoch * 2
    out = capsys.readouterr().out
    # the validation pass prints no bar of its own inside fit: one line per epoch
    assert out.count("━") == 2 * 20 and "val_loss" in out


def test_validation_freq_int_and_list():
    x, y = _data(80)
    model = _compiled(metrics=["accuracy"])
    seen = []
    cb = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: seen.append("val_loss" in logs))
    model.fit(x, y, epochs=4, validation_split=0.25, validation_freq=2, verbose=0,
              callbacks=[cb])
    assert seen == [False, True, False, True]
    seen.clear()
    model.fit(x, y, epochs=4, validation_split=0.25, validation_freq=[1, 4], verbose=0,
              callbacks=[cb])
    assert seen == [True, False, False, True]


_FORK_STATE = {}


def _predict_in_child(queue):
    model, x = _FORK_STATE["model"], _FORK_STATE["x"]
    queue.put(model.predict(x, verbose=0))


def test_predict_in_forked_child():
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    x, _ = _data(300)
    model = _compiled()
    expected = model.predict(x, verbose=0)  # the parent has used its engine and threads
    _FORK_STATE.update(model=model, x=x)
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_predict_in_child, args=(queue,))
    child.start()
    got = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    np.testing.assert_allclose(got, expected, rtol=1e-6)
