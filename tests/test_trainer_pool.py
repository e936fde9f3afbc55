"""Reusing traced models (seeded_keras._trainer_pool) changes no bit of any result.

Every case fits the same two folds twice: with ``SEEDED_KERAS_REUSE=0`` (each
fit builds, traces and trains its own model, one dispatch per step -- the
reference) and with reuse on (the first fold builds the cached trainer, the
second trains on it, every epoch in one execution where nothing needs Python
between epochs, else one epoch per execution).  Predictions, every variable
of ``model_``, the optimizer's state and the history must be identical bytes.
"""

from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest
from conftest import bits, small_net

from seeded_keras import _compat, _trainer_pool


class Counting(keras.callbacks.Callback):
    """Watches single batches: reuse must keep one step per execution."""

    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


class Scale(keras.layers.Layer):
    """A user-defined layer: such a model is never reused."""

    def call(self, x):
        return 2.0 * x


def custom_layer_net(meta, compile_kwargs, hidden_layer_sizes=(8,)):
    model = keras.Sequential(
        [keras.Input((meta["n_features_in_"],)), Scale(), keras.layers.Dense(1)]
    )
    model.compile(**compile_kwargs)
    return model


def batchnorm_net(meta, compile_kwargs, hidden_layer_sizes=(8,)):
    model = keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(hidden_layer_sizes[0]),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dense(meta["n_outputs_"]),
        ]
    )
    model.compile(**compile_kwargs)
    return model


def functional_net(meta, compile_kwargs, hidden_layer_sizes=(8,)):
    inputs = keras.Input((meta["n_features_in_"],))
    hidden = keras.layers.Dense(hidden_layer_sizes[0], activation="tanh")(inputs)
    skip = keras.layers.Concatenate()([inputs, hidden])
    model = keras.Model(inputs, keras.layers.Dense(1)(skip))
    model.compile(**compile_kwargs)
    return model


def custom_loss(y_true, y_pred):
    return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)


CASES = {
    "default": {},
    "dropout": dict(model__dropout=0.3),
    "early_stopping_holdout": dict(
        epochs=6,
        validation_fraction=0.25,
        callbacks=[
            keras.callbacks.EarlyStopping(
                patience=1, restore_best_weights=True, min_delta=1e9
            )
        ],
    ),
    "adagrad_metrics_batch_all": dict(
        optimizer="adagrad", metrics=["mae"], batch_size=-1
    ),
    "sgd_momentum_odd_batch": dict(
        optimizer="sgd", optimizer__momentum=0.9, batch_size=7
    ),
    "batchnorm": dict(model=batchnorm_net),
    "functional": dict(model=functional_net),
    "batch_callback": dict(callbacks=[Counting()]),
    "verbose": dict(verbose=1),
}
# the cases whose every epoch runs in one execution (no callback, no holdout,
# nothing printed)
ALL_EPOCHS_AT_ONCE = {
    "default",
    "dropout",
    "adagrad_metrics_batch_all",
    "sgd_momentum_odd_batch",
    "batchnorm",
    "functional",
}


def fit_twice(params, X, y, sample_weight=None, y2d=False):
    """Fit fold A then fold B; everything a fit leaves behind, as bytes."""
    folds = [np.arange(0, 120), np.arange(40, 160)]
    out = []
    for rows in folds:
        target = np.c_[y, -y][rows] if y2d else y[rows]
        fit_kw = {} if sample_weight is None else {"sample_weight": sample_weight[rows]}
        before = len(AT_ONCE)
        est = small_net(**{"epochs": 3, **params}).fit(X[rows], target, **fit_kw)
        out.append(
            dict(
                predict=bits(est.predict(X)),
                variables=[bits(v.numpy()) for v in est.model_.variables],
                optimizer=[bits(v.numpy()) for v in est.model_.optimizer.variables],
                history={k: [float(v) for v in h] for k, h in est.history_.items()},
                epochs=(est.n_epochs_, est.best_epoch_),
                reused=est._reuse_key is not None,
                at_once=len(AT_ONCE) > before,
            )
        )
    return out


AT_ONCE = []  # one entry per fit whose epochs ran in one execution


def fit_both_ways(monkeypatch, params, X, y, **kw):
    at_once = _compat.epochs_in_one_execution

    def counted(*args):
        logs = at_once(*args)
        if logs is not None:
            AT_ONCE.append(logs)
        return logs

    monkeypatch.setattr(_compat, "epochs_in_one_execution", counted)
    monkeypatch.setenv("SEEDED_KERAS_REUSE", "0")
    reference = fit_twice(params, X, y, **kw)
    monkeypatch.setenv("SEEDED_KERAS_REUSE", "1")
    _trainer_pool.clear()
    reused = fit_twice(params, X, y, **kw)
    return reference, reused


@pytest.mark.parametrize("case", list(CASES))
def test_reuse_changes_no_bit(monkeypatch, diabetes, case):
    X, y = diabetes
    reference, reused = fit_both_ways(monkeypatch, CASES[case], X, y)
    assert [r.pop("reused") for r in reference] == [False, False]
    assert [r.pop("reused") for r in reused] == [True, True]
    assert [r.pop("at_once") for r in reference] == [False, False]
    at_once = case in ALL_EPOCHS_AT_ONCE and _compat.steps_read_at_run_time()
    assert [r.pop("at_once") for r in reused] == [at_once, at_once]
    assert reused == reference


def test_reuse_with_sample_weight_and_2d_target(monkeypatch, diabetes):
    X, y = diabetes
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    reference, reused = fit_both_ways(monkeypatch, {}, X, y, sample_weight=w, y2d=True)
    assert [r.pop("reused") for r in reused] == [True, True]
    at_once = _compat.steps_read_at_run_time()
    assert [r.pop("at_once") for r in reused] == [at_once, at_once]
    [(r.pop("reused"), r.pop("at_once")) for r in reference]
    assert reused == reference


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_reuse_continues_training_identically(monkeypatch, diabetes, how):
    X, y = diabetes
    results = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("SEEDED_KERAS_REUSE", flag)
        _trainer_pool.clear()
        est = small_net(warm_start=how == "warm_start")
        for _ in range(3):
            est.fit(X, y) if how == "warm_start" else est.partial_fit(X, y)
        results[flag] = (
            bits(est.predict(X)),
            [bits(v.numpy()) for v in est.model_.optimizer.variables],
            est.history_,
        )
    assert results["1"] == results["0"]
    assert int(est.model_.optimizer.iterations.numpy()) == 3 * 5 * (
        2 if how == "warm_start" else 1
    )


def test_one_epoch_per_execution_unless_batches_are_watched(diabetes):
    X, y = diabetes
    _trainer_pool.clear()
    small_net().fit(X, y)  # 160 rows, batches of 32: 5 steps per epoch
    counting = Counting()
    assert idle_steps_per_execution() == [5]
    est = small_net(callbacks=[counting]).fit(X, y)
    # a trainer that reads its step count per call serves both fits
    counted = _compat.steps_read_at_run_time()
    assert idle_steps_per_execution() == ([1] if counted else [1, 5])
    assert est.callbacks[0].batches == 0  # copied afresh for the fit
    assert est.n_epochs_ == 2


def idle_steps_per_execution() -> list:
    """The step count each idle trainer was last lent with."""
    with _trainer_pool._lock:
        trainers = [t for ts in _trainer_pool._idle.values() for t in ts]
    return sorted(t.steps_per_execution for t in trainers)


def without_and_with_reuse(monkeypatch, run) -> dict:
    """``run()`` with ``SEEDED_KERAS_REUSE=0``, then with 1 from an empty pool."""
    results = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("SEEDED_KERAS_REUSE", flag)
        _trainer_pool.clear()
        results[flag] = run()
    return results


def test_a_refit_on_more_rows_trains_on_the_folds_trainer(monkeypatch, diabetes):
    """Folds of 120 rows (4 steps per epoch), then a refit on 160 (5 steps)."""
    X, y = diabetes
    results = without_and_with_reuse(
        monkeypatch,
        lambda: [
            bits(small_net(epochs=3).fit(X[rows], y[rows]).predict(X))
            for rows in (slice(0, 120), slice(40, 160), slice(0, 160))
        ],
    )
    assert results["1"] == results["0"]
    if _compat.steps_read_at_run_time():  # one trainer, traced once
        assert list(_trainer_pool.idle_trainers().values()) == [1]
        assert idle_steps_per_execution() == [5]
    else:  # Keras 3.2: the step count is part of a trainer's trace
        assert list(_trainer_pool.idle_trainers().values()) == [1, 1]


def test_predict_traces_once_for_any_number_of_rows(diabetes):
    # Keras' predict traces again per batches-per-execution and per shape of
    # the last batch; the pooled predict traces one step per input spec
    X, y = diabetes
    _trainer_pool.clear()
    est = small_net(batch_size=8).fit(X, y)
    pooled = [est.predict(X[:n]) for n in (160, 147, 148, 5, 1)]
    assert [len(steps) for steps in _trainer_pool._predict_steps.values()] == [1]
    for n, got in zip((160, 147, 148, 5, 1), pooled):
        own = est.model_.predict(X[:n], batch_size=8, verbose=0)
        assert bits(got) == bits(np.asarray(own, dtype=np.float64).ravel())


def test_predict_groups_at_most_16_batches_per_execution(diabetes, monkeypatch):
    # 160 rows in batches of 4: a trainer of 40 steps per execution; Keras
    # unrolls a multi-step predict when tracing it, so predict caps it (the
    # path of a predict with a progress bar or callbacks)
    X, y = diabetes
    _trainer_pool.clear()
    est = small_net(batch_size=4).fit(X, y)
    with _trainer_pool.borrow_predictor(est._reuse_key) as twin:
        assert twin.steps_per_execution == _compat.steps_per_execution_for(40)
        seen = []
        original = type(twin).predict

        def spy(self, *args, **kwargs):
            seen.append(self.steps_per_execution)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(type(twin), "predict", spy)
    pooled = est.predict(X, verbose=2)
    assert seen == [_trainer_pool.PREDICT_STEPS_PER_EXECUTION] == [16]
    with _trainer_pool.borrow_predictor(est._reuse_key) as twin:
        assert twin.steps_per_execution == _compat.steps_per_execution_for(40)
    own = est.model_.predict(X, batch_size=4, verbose=0)  # no pool, no grouping
    assert bits(pooled) == bits(np.asarray(own, dtype=np.float64).ravel())


def test_fitted_models_stay_independent(diabetes):
    X, y = diabetes
    _trainer_pool.clear()
    first = small_net().fit(X[:100], y[:100])
    before = bits(first.predict(X))
    weights = [bits(w) for w in first.model_.get_weights()]
    second = small_net().fit(X[60:], y[60:])
    assert first._reuse_key == second._reuse_key
    trainers = [t for pool in _trainer_pool._idle.values() for t in pool]
    assert len(trainers) == 1
    assert first.model_ is not second.model_
    assert all(t is not first.model_ and t is not second.model_ for t in trainers)
    assert bits(first.predict(X)) == before
    assert [bits(w) for w in first.model_.get_weights()] == weights

    # With no idle trainer, predict uses model_ itself: the same bits.
    _trainer_pool.clear()
    assert bits(first.predict(X)) == before


def test_concurrent_fits_borrow_their_own_trainers(diabetes):
    X, y = diabetes
    folds = [np.arange(i, i + 120) for i in range(0, 40, 10)]

    def fit_predict(rows):
        return bits(small_net().fit(X[rows], y[rows]).predict(X))

    _trainer_pool.clear()
    sequential = [fit_predict(rows) for rows in folds]
    _trainer_pool.clear()
    with ThreadPoolExecutor(2) as pool:
        concurrent = list(pool.map(fit_predict, folds))
    assert concurrent == sequential
    assert 1 <= sum(_trainer_pool.idle_trainers().values()) <= 2


@pytest.mark.parametrize(
    "params",
    [
        dict(model=custom_layer_net),
        dict(loss=custom_loss),
    ],
    ids=["custom_layer", "custom_loss"],
)
def test_custom_objects_train_on_their_own_model(diabetes, params):
    X, y = diabetes
    est = small_net(**params).fit(X, y)
    assert est._reuse_key is None
    assert np.isfinite(est.predict(X)).all()


def test_large_models_train_on_their_own_model(diabetes, monkeypatch):
    X, y = diabetes
    monkeypatch.setattr(_trainer_pool, "MAX_PARAMS", 97)
    assert small_net().fit(X, y)._reuse_key is not None  # 97 parameters
    assert small_net(model__hidden_layer_sizes=9).fit(X, y)._reuse_key is None


def test_a_model_instance_trains_a_fresh_copy_pooled_or_not(diabetes, monkeypatch):
    from seeded_keras import SeededKerasRegressor

    X, y = diabetes
    model = keras.Sequential([keras.Input((X.shape[1],)), keras.layers.Dense(1)])
    results = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("SEEDED_KERAS_REUSE", flag)
        _trainer_pool.clear()
        est = SeededKerasRegressor(model, loss="mse", epochs=2, random_state=0)
        est.fit(X, y)
        assert est.model_ is not model  # the user's object is a template only
        assert (est._reuse_key is not None) == (flag == "1")
        results[flag] = bits(est.predict(X[:10]))
    assert results["0"] == results["1"]


def test_routed_model_parameter_for_a_model_instance(diabetes):
    from seeded_keras import SeededKerasRegressor

    X, y = diabetes
    model = keras.Sequential([keras.Input((X.shape[1],)), keras.layers.Dense(1)])
    est = SeededKerasRegressor(model, model__units=3)
    with pytest.raises(ValueError, match="^'model__units' is routed to the build"):
        est.fit(X, y)


class TestSignature:
    def build(self, seed=0, **kw):
        from seeded_keras import _seeding, mlp

        meta = {"n_features_in_": 10, "n_outputs_": 1}
        compile_kwargs = dict(
            optimizer=keras.optimizers.Adam(kw.pop("learning_rate", 0.01)),
            loss="mse",
        )
        with _seeding.seeded_build(seed):
            return mlp(meta, compile_kwargs, **kw)

    def test_same_architecture_other_seed(self):
        a, b = self.build(seed=0), self.build(seed=1)
        assert _trainer_pool.signature(a) == _trainer_pool.signature(b) is not None
        assert bits(a.get_weights()[0]) != bits(b.get_weights()[0])

    @pytest.mark.parametrize(
        "change",
        [
            dict(hidden_layer_sizes=(9,)),
            dict(activation="tanh"),
            dict(dropout=0.1),
        ],
    )
    def test_any_other_setting_is_another_signature(self, change):
        assert _trainer_pool.signature(self.build()) != _trainer_pool.signature(
            self.build(**change)
        )

    def test_learning_rate_is_a_variable_not_a_signature(self):
        a, b = self.build(), self.build(learning_rate=0.02)
        assert _trainer_pool.signature(a) == _trainer_pool.signature(b)
        assert a.optimizer.learning_rate.numpy() != b.optimizer.learning_rate.numpy()

    def test_an_int_is_one_hidden_layer(self):
        one = _trainer_pool.signature(self.build(hidden_layer_sizes=8))
        assert one is not None
        assert one == _trainer_pool.signature(self.build(hidden_layer_sizes=(8,)))

    def test_uncompiled_model_has_none(self):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        assert _trainer_pool.signature(model) is None


def test_candidates_differing_in_learning_rate_share_a_trainer(monkeypatch, diabetes):
    """lr is read from an optimizer variable: reusing across it changes no bit."""
    X, y = diabetes
    results = without_and_with_reuse(
        monkeypatch,
        lambda: [
            bits(small_net(optimizer__learning_rate=lr).fit(X, y).predict(X))
            for lr in (0.05, 0.001, 0.05)
        ],
    )
    assert list(_trainer_pool.idle_trainers().values()) == [1]  # with reuse
    assert results["1"] == results["0"]
    assert results["0"][0] != results["0"][1]
