"""What scikeras' KerasRegressor accepts, SeededKerasRegressor accepts -- seeded.

Each feature runs through plain ``KerasRegressor`` and ``SeededKerasRegressor``
side by side: ours must work, agree with scikeras where no seeding is
involved (``meta``, ``history_`` names, shapes), and be seeded where it is
(two fits with one ``random_state`` are bitwise equal; folds differ).
"""

import functools
import pickle
import warnings

import joblib
import keras
import numpy as np
import pytest
from conftest import bits
from scikeras.wrappers import KerasRegressor
from sequence_models import lstm

from seeded_keras import ReconciledSearchCV, SeededKerasRegressor

MSE = "neg_mean_squared_error"


@pytest.fixture(scope="module")
def data(diabetes):
    X, y = diabetes
    return X[:96].astype(np.float32), y[:96]


def both(**params):
    """Plain scikeras and ours, with the same parameters."""
    common = dict(verbose=0, epochs=2, **params)
    return KerasRegressor(**common), SeededKerasRegressor(random_state=0, **common)


def dense(meta, compile_kwargs):
    model = keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(4, activation="relu"),
            keras.layers.Dense(meta["n_outputs_"]),
        ]
    )
    model.compile(**compile_kwargs)
    return model


def instance(compiled):
    model = keras.Sequential(
        [keras.Input((10,)), keras.layers.Dense(4), keras.layers.Dense(1)]
    )
    if compiled:
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    return model


class TestPrebuiltInstance:
    @pytest.mark.parametrize("compiled", [True, False])
    def test_seeded_and_the_users_object_is_never_trained(self, data, compiled):
        X, y = data
        model = instance(compiled)
        before = [bits(w) for w in model.get_weights()]
        plain, _ = both(model=model, loss="mse", optimizer="adam")
        plain.fit(X, y)  # scikeras trains the user's object in place
        model = instance(compiled)
        before = [bits(w) for w in model.get_weights()]
        a = SeededKerasRegressor(model, loss="mse", epochs=2, random_state=3)
        b = SeededKerasRegressor(model, loss="mse", epochs=2, random_state=3)
        pa, pb = a.fit(X, y).predict(X[:8]), b.fit(X, y).predict(X[:8])
        assert bits(pa) == bits(pb)
        assert [bits(w) for w in model.get_weights()] == before
        assert a.model_ is not model and len(a.model_.layers) == len(model.layers)
        other_fold = SeededKerasRegressor(model, loss="mse", epochs=2, random_state=3)
        other_fold.fit(X[:80], y[:80])
        assert other_fold.seed_ != a.seed_
        first = a.model_.layers[0].get_weights()[0]
        assert bits(other_fold.model_.layers[0].get_weights()[0]) != bits(first)

    def test_random_state_none_is_recorded(self, data):
        X, y = data
        est = SeededKerasRegressor(instance(True), epochs=1).fit(X, y)
        assert isinstance(est.seed_, int) and isinstance(est.random_state_, int)

    def test_compiled_settings_are_kept(self, data):
        X, y = data
        est = SeededKerasRegressor(instance(True), epochs=1, random_state=0).fit(X, y)
        assert est.model_.optimizer.learning_rate.numpy() == np.float32(0.05)


class Subclassed(SeededKerasRegressor):
    def _keras_build_fn(self, meta, compile_kwargs):
        model = keras.Sequential(
            [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(3)]
            + [keras.layers.Dense(1)]
        )
        model.compile(**compile_kwargs)
        return model


class PlainSubclassed(KerasRegressor):
    _keras_build_fn = Subclassed._keras_build_fn


def test_subclass_build_fn_is_used(data):
    X, y = data
    plain = PlainSubclassed(loss="mse", epochs=1, verbose=0).fit(X, y)
    ours = Subclassed(epochs=1, random_state=0).fit(X, y)
    assert [type(x).__name__ for x in ours.model_.layers] == [
        type(x).__name__ for x in plain.model_.layers
    ]
    assert ours.model_.layers[0].units == 3


def test_meta_keys_agree(data):
    X, y = data
    seen = {}

    def recording(meta, compile_kwargs):
        seen.setdefault("plain" if not seen else "ours", sorted(meta))
        return dense(meta, compile_kwargs)

    plain, ours = both(model=recording, loss="mse")
    plain.fit(X, y)
    ours.fit(X, y)
    assert seen["ours"] == seen["plain"]


def test_routed_parameters_reach_their_targets(data):
    X, y = data
    params = dict(
        model=dense,
        loss=keras.losses.Huber,
        loss__delta=2.0,
        optimizer=keras.optimizers.SGD,
        optimizer__momentum=0.5,
        fit__batch_size=16,
        predict__batch_size=7,
        callbacks=keras.callbacks.EarlyStopping,
        callbacks__monitor="loss",
        callbacks__patience=5,
    )
    plain, ours = both(**params)
    plain.fit(X, y)
    ours.fit(X, y)
    for est in (plain, ours):
        huber = est.model_.loss(np.array([[0.0]]), np.array([[3.0]]))
        assert float(huber) == 4.0  # delta=2: 0.5 * 2**2 + 2 * (3 - 2)
        assert float(est.model_.optimizer.momentum) == 0.5
        assert est.predict(X[:9]).shape == (9,)


def test_history_names_and_multi_output(data):
    X, y = data
    Y = np.c_[y, 2 * y]
    plain, ours = both(model=dense, loss="mse", metrics=["mse", "mae"])
    plain.fit(X, Y)
    ours.fit(X, Y)
    assert sorted(ours.history_) == sorted(plain.history_)
    assert ours.predict(X[:5]).shape == plain.predict(X[:5]).shape == (5, 2)


def test_sample_weight_is_seeded(data):
    X, y = data
    w = np.linspace(0.5, 2.0, len(y))
    plain, ours = both(model=dense, loss="mse")
    plain.fit(X, y, sample_weight=w)
    again = SeededKerasRegressor(dense, loss="mse", epochs=2, random_state=0)
    pa = ours.fit(X, y, sample_weight=w).predict(X[:6])
    assert bits(pa) == bits(again.fit(X, y, sample_weight=w).predict(X[:6]))


def test_warm_start_partial_fit_and_initial_epoch(data):
    X, y = data
    plain, ours = both(model=dense, loss="mse", warm_start=True)
    for est in (plain, ours):
        est.fit(X, y)
        model = est.model_
        est.fit(X, y)
        assert est.model_ is model  # warm start keeps the model
    runs = []
    for _ in range(2):
        est = SeededKerasRegressor(dense, loss="mse", random_state=0)
        for _ in range(3):
            est.partial_fit(X, y)
        assert est.current_epoch == 3
        runs.append(bits(est.predict(X[:5])))
    assert runs[0] == runs[1]
    plain, ours = both(model=dense, loss="mse")
    plain.fit(X, y, initial_epoch=1, epochs=3)
    ours.fit(X, y, initial_epoch=1, epochs=3)
    assert len(ours.history_["loss"]) == len(plain.history_["loss"])


@keras.saving.register_keras_serializable(package="seeded_keras_tests")
class Doubling(keras.layers.Layer):
    """A registered custom layer."""

    def call(self, x):
        return 2.0 * x


class Halving(keras.layers.Layer):
    """An unregistered custom layer."""

    def call(self, x):
        return 0.5 * x


def with_layer(meta, compile_kwargs, layer):
    model = keras.Sequential(
        [keras.Input((meta["n_features_in_"],)), layer(), keras.layers.Dense(1)]
    )
    model.compile(**compile_kwargs)
    return model


def custom_loss(y_true, y_pred):
    """An unregistered custom loss."""
    return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)


@keras.saving.register_keras_serializable(package="seeded_keras_tests")
def registered_loss(y_true, y_pred):
    """A registered custom loss."""
    return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)


@pytest.mark.parametrize(
    "layer,loss", [(Doubling, registered_loss), (Halving, custom_loss)]
)
def test_custom_layers_losses_and_pickling(data, layer, loss):
    X, y = data

    plain, ours = both(model=functools.partial(with_layer, layer=layer), loss=loss)
    plain.fit(X, y)
    ours.fit(X, y)
    if layer is Doubling:  # pickling needs registered objects, as in scikeras
        for est in (plain, ours):
            loaded = pickle.loads(pickle.dumps(est))
            assert bits(loaded.predict(X[:4])) == bits(est.predict(X[:4]))


def test_random_state_instance_is_accepted_with_a_warning(data):
    X, y = data
    est = SeededKerasRegressor(
        dense, loss="mse", epochs=1, random_state=np.random.RandomState(0)
    )
    with pytest.warns(UserWarning, match="Only an int .* gives every path"):
        est.fit(X, y)
    assert isinstance(est.seed_, int)


@pytest.fixture(scope="module")
def sequences(data):
    X, y = data
    return X.reshape(len(X), 5, 2), y


def test_nd_inputs_fit_and_are_seeded(sequences):
    X3, y = sequences
    plain, ours = both(model=lstm, loss="mse")
    plain.fit(X3, y)
    ours.fit(X3, y)
    again = SeededKerasRegressor(lstm, loss="mse", epochs=2, random_state=0)
    assert bits(ours.predict(X3[:4])) == bits(again.fit(X3, y).predict(X3[:4]))
    assert ours.predict(X3[:4]).shape == plain.predict(X3[:4]).shape


def sequence_search(**params):
    net = SeededKerasRegressor(lstm, loss="mse", optimizer="adam", epochs=2)
    return ReconciledSearchCV(
        net, {"model__units": [2, 4]}, scoring=MSE, cv=2, random_state=0, **params
    )


@pytest.fixture(scope="module")
def sequence_reference(sequences):
    X3, y = sequences
    search = sequence_search().fit(X3, y)
    return search, search.reconcile(X3, y)


class TestSequenceSearch:
    def test_reconciles_bitwise(self, sequence_reference):
        _, report = sequence_reference
        assert report.max_abs_diff == 0.0 and len(report.rows) == 4

    @pytest.mark.slow
    @pytest.mark.parametrize("backend", ["loky", "threading"])
    def test_backends_match(self, sequence_reference, sequences, backend):
        X3, y = sequences
        with joblib.parallel_backend(backend), warnings.catch_warnings():
            search = sequence_search(n_jobs=2).fit(X3, y)
        for i in range(2):
            key = f"split{i}_test_score"
            assert bits(search.cv_results_[key]) == bits(
                sequence_reference[0].cv_results_[key]
            )
        assert search.reconcile(X3, y).max_abs_diff == 0.0


def test_search_resolves_an_estimators_random_state_instance_once(data):
    X, y = data
    net = SeededKerasRegressor(
        dense, loss="mse", epochs=1, random_state=np.random.RandomState(0)
    )
    search = ReconciledSearchCV(
        net, {"optimizer__learning_rate": [0.01, 0.1]}, scoring=MSE, cv=2
    ).fit(X, y)
    assert isinstance(search.random_state_, int)
    assert search.reconcile(X, y).max_abs_diff == 0.0


def test_tuner_and_gap_take_nd_inputs(sequences, tmp_path):
    from seeded_keras import ReconciledTuner, explain_gap, grid_to_hyperparameters

    X3, y = sequences
    grid = {"model__units": [2, 4]}
    net = SeededKerasRegressor(lstm, loss="mse", optimizer="adam", epochs=2)
    search = ReconciledSearchCV(net, grid, scoring=MSE, cv=2, random_state=0)
    search.fit(X3[:64], y[:64])
    tuner = ReconciledTuner(
        net,
        grid_to_hyperparameters(grid),
        cv=search.splits_,
        random_state=0,
        directory=str(tmp_path),
    ).search(X3[:64], y[:64])
    search.reconcile(X3[:64], y[:64], tuner=tuner).assert_agree()
    gap = explain_gap(search, X3[64:], y[64:], X=X3[:64], y=y[:64], n_seeds=2)
    assert abs(gap.cv_mse + sum(gap.parts.values()) - gap.test_mse) < 1e-6
