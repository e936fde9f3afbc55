"""The independent witness: every fit replayed by plain keras.Model.fit.

The search trains on pooled, already traced twins through our own data
pipeline; plain_fit trains a freshly built model with keras.Model.fit on a
Python generator of NumPy batches.  Bit for bit the same MSE is the claim.
"""

import keras
import numpy as np
import pytest
from conftest import bits, fresh_python, small_net
from sequence_models import lstm
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from seeded_keras import (
    PlainKerasFit,
    ReconciledSearchCV,
    SeededKerasRegressor,
    _trainer_pool,
    plain_fit,
)


def _early_stopped_pipe():
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=1, min_delta=70.0, restore_best_weights=True
    )
    net = small_net(
        epochs=6, validation_fraction=0.25, callbacks=[stop], model__dropout=0.1
    )
    return Pipeline([("scale", StandardScaler()), ("net", net)])


@pytest.fixture(scope="module")
def pipe_search(diabetes):
    X, y = diabetes
    w = np.linspace(0.5, 2.0, len(y))
    search = ReconciledSearchCV(
        _early_stopped_pipe(),
        {"net__optimizer__learning_rate": [0.01, 0.05]},
        scoring="neg_mean_squared_error",
        cv=3,
        n_seeds=2,
        random_state=0,
    ).fit(X, y, net__sample_weight=w)
    return search, X, y, w


def test_pipeline_early_stopping_weights_and_seeds_replay_bitwise(pipe_search):
    search, X, y, w = pipe_search
    assert _trainer_pool.enabled()  # the search trained on pooled twins
    report = search.reconcile(X, y, witness="keras", net__sample_weight=w)
    assert report.witness == "keras"
    assert len(report.rows) == 2 * 3 * 2
    assert report.max_abs_diff == 0.0
    report.assert_agree()
    # early stopping really stopped some fits, and both paths saw the same
    stopped = [r["n_epochs"] for r in report.rows]
    assert min(stopped) < 6
    assert "max |search - plain Keras| over 12 fits: 0.0" in report.summary()


def test_the_witness_trains_without_our_machinery(diabetes, monkeypatch):
    X, y = diabetes

    def refuse(*args, **kwargs):
        raise AssertionError("the witness used seeded_keras' training path")

    from seeded_keras import _data

    monkeypatch.setattr(_trainer_pool, "lend_to_fit", refuse)
    monkeypatch.setattr(_trainer_pool, "predict", refuse)
    monkeypatch.setattr(_data, "training_data", refuse)
    monkeypatch.setattr(_data, "prediction_batches", refuse)
    fitted = plain_fit(_early_stopped_pipe(), X[:120], y[:120])
    assert isinstance(fitted, PlainKerasFit)
    assert fitted.predict(X[120:]).dtype == np.float64


def _witness_diff(estimator, grid, X, y, **params):
    """Largest |search - plain Keras| over every fit of a 2-fold search."""
    search = ReconciledSearchCV(
        estimator,
        grid,
        scoring="neg_mean_squared_error",
        cv=2,
        random_state=0,
        **params,
    ).fit(X, y)
    return search.reconcile(X, y, witness="keras").max_abs_diff


def test_lstm_on_3d_inputs_replays_bitwise():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5, 3))
    y = X.sum(axis=(1, 2)) + rng.normal(scale=0.1, size=60)
    net = SeededKerasRegressor(
        lstm, loss="mse", optimizer="adam", epochs=2, batch_size=16, random_state=0
    )
    assert _witness_diff(net, {"model__units": [2, 4]}, X, y) == 0.0


def test_two_outputs_replay_bitwise(diabetes):
    X, y = diabetes
    Y = np.c_[y, y / 3.0]
    grid = {"optimizer__learning_rate": [0.01, 0.05]}
    assert _witness_diff(small_net(), grid, X, Y, n_seeds=2) == 0.0


def test_keras_validation_split_replays_bitwise(diabetes):
    X, y = diabetes
    Y = np.c_[y, y / 3.0]
    net = small_net(validation_split=0.2)
    with pytest.warns(UserWarning, match="validation_split"):
        ours = clone(net).fit(X[:120], Y[:120]).predict(X[120:])
        plain = plain_fit(net, X[:120], Y[:120]).predict(X[120:])
    assert ours.shape == (40, 2)
    assert bits(ours) == bits(plain)


def test_witness_in_a_fresh_interpreter_matches_this_process(diabetes):
    X, y = diabetes
    here = plain_fit(small_net(), X[:100], y[:100]).predict(X[100:])
    there = fresh_python(
        """
        from sklearn.datasets import load_diabetes
        from conftest import small_net
        from seeded_keras import plain_fit
        X, y = load_diabetes(return_X_y=True)
        X, y = X[:160], y[:160]
        print(plain_fit(small_net(), X[:100], y[:100]).predict(X[100:]).tobytes().hex())
        """,
        PYTHONPATH="tests",
    )
    assert there.strip() == bits(here)


def test_bad_witness_is_refused_before_any_training(pipe_search):
    search, X, y, _ = pipe_search
    with pytest.raises(
        ValueError, match="^witness must be 'loop' or 'keras'; got 'tf'.$"
    ):
        search.reconcile(X, y, witness="tf")


def test_a_search_without_a_keras_regressor_has_no_keras_witness(diabetes):
    X, y = diabetes
    search = ReconciledSearchCV(
        Ridge(), {"alpha": [1.0]}, scoring="neg_mean_squared_error", cv=2
    ).fit(X, y)
    with pytest.raises(TypeError, match="replays a SeededKerasRegressor.*got Ridge"):
        search.reconcile(X, y, witness="keras")


def test_warm_start_cannot_be_replayed(diabetes):
    X, y = diabetes
    with pytest.raises(ValueError, match="warm_start=True continues an earlier one"):
        plain_fit(small_net(warm_start=True), X, y)


def test_whole_set_batches_replay_bitwise(diabetes):
    X, y = diabetes
    net = small_net(batch_size=-1)  # scikeras' -1: every row in one batch
    ours = clone(net).fit(X[:120], y[:120]).predict(X[120:])
    assert bits(ours) == bits(plain_fit(net, X[:120], y[:120]).predict(X[120:]))


class _CountsBatches(keras.callbacks.Callback):
    """Watches single batches: the pool then runs one step per execution."""

    def on_train_batch_end(self, batch, logs=None):
        self.seen = getattr(self, "seen", 0) + 1


def _prebuilt():
    return keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(6, activation="tanh"),
            keras.layers.Dense(1),
        ]
    )


@pytest.mark.parametrize(
    "params",
    [
        {"shuffle": False},
        {"validation_fraction": 0.3, "validation_batch_size": 7},
        {"callbacks": [_CountsBatches()]},
        {"model": _prebuilt(), "loss": "mse"},
        {"model__dropout": 0.3, "batch_size": 10, "epochs": 3},
    ],
    ids=["no-shuffle", "validation-batches", "batch-callback", "prebuilt", "dropout"],
)
def test_each_documented_option_replays_bitwise(diabetes, params):
    X, y = diabetes
    net = small_net(**params)
    if "model" in params:  # a model instance takes no routed model__ parameters
        kept = {
            k: v for k, v in net.get_params().items() if not k.startswith("model__")
        }
        net = type(net)(**kept)
    ours = clone(net).fit(X[:120], y[:120]).predict(X[120:])
    assert bits(ours) == bits(plain_fit(net, X[:120], y[:120]).predict(X[120:]))
