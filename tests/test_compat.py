"""Every private hook in seeded_keras._compat still does its job here.

One test per registered hook (``test_<hook name>``), on the installed
versions; ``test_every_hook_has_a_test`` keeps the list complete.  Hooks that
guard results also show that they fail loudly when the internal moves.
"""

import random
import sys
import threading
from numbers import Integral
from pathlib import Path

import boundary
import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import ROOT, bits, small_net
from scikeras.wrappers import KerasRegressor
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV

from seeded_keras import ReconciledSearchCV, SeededKerasRegressor, _compat
from seeded_keras._compat import _registry, _scikeras


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Forget which fallbacks already warned (they warn once per process)."""
    monkeypatch.setattr(_registry, "_warned", set())


def test_every_hook_has_a_test():
    tests = {n[len("test_") :] for n in dir(sys.modules[__name__]) if n[:5] == "test_"}
    assert set(_compat.HOOKS) <= tests, set(_compat.HOOKS) - tests
    for hook in _compat.HOOKS.values():
        assert hook.checked and hook.library in _compat.versions.CHECKED
        assert hook.on_failure == "error" or hook.on_failure.startswith("fallback: ")


def test_no_private_name_of_a_dependency_is_touched_outside_compat():
    assert boundary.offenders(Path(ROOT) / "seeded_keras") == []


PLANTED = """
from keras.src import backend  # a private module
from sklearn.model_selection import GridSearchCV


class Search(GridSearchCV):
    def _run_search(self, evaluate_candidates):  # overrides theirs
        pass

    def _own_step(self):  # ours: fine
        return self._own_state

    def set_up(self):
        self._own_state = 1


def callbacks(net):
    return net._fit_callbacks, getattr(net, "_skl_callbacks", None)


def theirs():
    return GridSearchCV._parameter_constraints
"""


def test_the_boundary_check_catches_every_kind_of_touch(tmp_path, monkeypatch):
    package = tmp_path / "planted_pkg"
    (package / "_compat").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(PLANTED)
    (package / "_compat" / "__init__.py").write_text("")
    (package / "_compat" / "hooks.py").write_text(PLANTED)  # allowed there
    monkeypatch.syspath_prepend(str(tmp_path))
    assert boundary.offenders(package) == [
        "planted_pkg.mod.Search._run_search overrides "
        "sklearn.model_selection._search.GridSearchCV",
        "planted_pkg/mod.py:18 uses ._fit_callbacks",
        "planted_pkg/mod.py:18 uses ._skl_callbacks",
        "planted_pkg/mod.py:2 imports keras.src",
        "planted_pkg/mod.py:2 imports keras.src.backend",
        "planted_pkg/mod.py:22 reads GridSearchCV._parameter_constraints",
    ]


# ------------------------------------------------------------------- Keras
def test_keras_seed_source():
    random.seed(3)
    before = random.getstate()
    with _compat.keras_seed_source(random.Random(5)):
        seed = keras.initializers.GlorotUniform().seed
    assert seed == random.Random(5).randint(1, int(1e9))
    assert random.getstate() == before  # the global RNG was not touched
    # outside the block (and in other threads) Keras draws as it always did
    assert keras.initializers.GlorotUniform().seed == random.Random(3).randint(
        1, int(1e9)
    )


def test_keras_seed_source_fails_loudly_when_keras_moves_its_rng(monkeypatch):
    from keras.src.random import seed_generator

    monkeypatch.setattr(seed_generator, "python_random", object())
    with pytest.raises(_compat.CompatError, match="^seeded_keras cannot use keras"):
        with _compat.keras_seed_source(random.Random(0)):
            pass


def test_fresh_names():
    keras.layers.Dense(1)  # whatever the process counter is now
    after_outside = keras.layers.Dense(1).name
    for _ in range(2):
        with _compat.fresh_names():
            assert [keras.layers.Dense(1).name for _ in range(2)] == [
                "dense",
                "dense_1",
            ]
    n = int(after_outside.rpartition("_")[2] or 0)
    assert keras.layers.Dense(1).name == f"dense_{n + 1}"  # counter put back


def test_fresh_names_falls_back_with_a_warning(monkeypatch, fresh_warnings):
    from keras.src.utils import naming

    monkeypatch.setattr(naming, "uniquify", lambda name: name)
    with pytest.warns(_compat.CompatWarning, match="auto-names keep growing"):
        with _compat.fresh_names():
            pass


def test_iter_layers():
    inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    outer = keras.Sequential([keras.Input((2,)), inner, keras.layers.Dense(1)])
    layers = _compat.iter_layers(outer)
    assert layers[0] is outer and inner in layers and inner.layers[0] in layers
    with pytest.raises(_compat.CompatError, match="_flatten_layers"):
        _compat.iter_layers(object())


def test_validation_in_one_execution():
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with _compat.validation_in_one_execution():
            warnings.warn("Your input ran out of data; stop", UserWarning, stacklevel=1)
            warnings.warn("another warning", UserWarning, stacklevel=1)
        warnings.warn("Your input ran out of data; after", UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == [
        "another warning",
        "Your input ran out of data; after",
    ]


class _Halved(keras.metrics.MeanAbsoluteError):
    """A Mean with its own result: left to Keras by the quick path."""

    def result(self):
        return super().result() / 2


def _metric_model():
    seed = keras.initializers.GlorotUniform(seed=1)
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(1, kernel_initializer=seed)]
    )
    model.compile(optimizer="sgd", loss="mse", metrics=["mae", _Halved(name="half")])
    return model


def test_quick_metric_bookkeeping():
    from keras.src.trainers.trainer import Trainer

    X = np.linspace(-1, 1, 40, dtype="float32").reshape(20, 2)
    y = X @ np.array([1.5, -2.0], dtype="float32")
    histories = []
    for quick in (False, True):
        model = _metric_model()
        if quick:
            _compat.quick_metric_bookkeeping(model)
        hist = model.fit(X, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
        histories.append({k: np.array(v).tobytes() for k, v in hist.history.items()})
    assert histories[0] == histories[1]  # loss, mae and half, bit for bit
    assert set(histories[0]) == {"loss", "mae", "half"}
    # The model's metrics are mid-state after fit: read both ways, same bits.
    keras_says = Trainer.get_metrics_result(model)
    quick_says = model.get_metrics_result()
    assert list(quick_says) == list(keras_says)
    assert all(
        np.asarray(quick_says[k]).tobytes() == np.asarray(keras_says[k]).tobytes()
        for k in keras_says
    )
    model.reset_metrics()
    state = [v.numpy() for m in model.metrics for v in m.variables]
    assert state and all(not np.any(v) for v in state)


def test_compile_objects():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.Adam(0.01)
    model.compile(optimizer=optimizer, loss="mae")
    objects = _compat.compile_objects(model)
    assert objects["optimizer"] is optimizer and objects["loss"] == "mae"


def test_learning_rate_variable():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.25), loss="mse")
    model.optimizer.build(model.trainable_variables)
    lr = _compat.learning_rate_variable(model.optimizer)
    assert float(lr.numpy()) == 0.25
    lr.assign(0.5)  # the variable the traced step reads
    assert float(model.optimizer.learning_rate.numpy()) == 0.5
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    assert _compat.learning_rate_variable(keras.optimizers.SGD(schedule)) is None


# -------------------------------------------------------------- TensorFlow
def test_op_determinism_enabled():
    assert _compat.op_determinism_enabled() is False
    tf.config.experimental.enable_op_determinism()
    try:
        assert _compat.op_determinism_enabled() is True
    finally:
        _compat._tensorflow._tf_config().disable_op_determinism()


def test_op_determinism():
    inside = threading.Event()
    release = threading.Event()
    seen = []

    def other_fit():
        with _compat.op_determinism():
            inside.set()
            release.wait(10)
        seen.append(_compat.op_determinism_enabled())

    worker = threading.Thread(target=other_fit)
    with _compat.op_determinism():
        worker.start()
        inside.wait(10)
        seen.append(_compat.op_determinism_enabled())
    seen.append(_compat.op_determinism_enabled())  # the other fit still runs
    release.set()
    worker.join()
    assert seen == [True, True, False]
    assert not _compat.op_determinism_enabled()


def test_tf_global_seed():
    assert _compat.tf_global_seed() is None
    tf.random.set_seed(7)
    try:
        assert _compat.tf_global_seed() == 7
    finally:
        tf.random.set_seed(None)
    assert _compat.tf_global_seed() is None


def test_inline():
    data = tf.data.Dataset.range(5).map(lambda x: 2 * x)
    inlined = _compat.inline(data)
    options = inlined.options()
    assert options.autotune.enabled is False
    assert options.experimental_optimization.inject_prefetch is False
    assert [int(v) for v in inlined] == [int(v) for v in data]


def test_inline_changes_no_bit_of_a_fit(diabetes, monkeypatch):
    from sklearn.base import clone

    X, y = diabetes
    net = small_net(model__dropout=0.1, epochs=2)
    inlined = bits(clone(net).fit(X, y).predict(X[:20]))
    monkeypatch.setattr(_compat, "inline", lambda dataset: dataset)
    assert bits(clone(net).fit(X, y).predict(X[:20])) == inlined


# ---------------------------------------------------------- scikit-learn
def test_check_parameters():
    constraints = {"n": [_compat.Interval(Integral, 1, None, closed="left")]}
    _compat.check_parameters(constraints, {"n": 2}, "Thing")
    with pytest.raises(ValueError, match="The 'n' parameter of Thing must be"):
        _compat.check_parameters(constraints, {"n": 0}, "Thing")


def test_check_sample_weight():
    X = np.zeros((3, 2))
    assert _compat.check_sample_weight([1, 2, 3], X).dtype == np.float64
    assert _compat.check_sample_weight(None, X).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="sample_weight.shape == \\(2,\\)"):
        _compat.check_sample_weight([1, 2], X)


def test_safe_indexing():
    frame = pd.DataFrame({"a": [1, 2, 3]}, index=[10, 20, 30])
    assert _compat.safe_indexing(frame, [2, 0])["a"].tolist() == [3, 1]
    assert _compat.safe_indexing([5, 6, 7], np.array([1])) == [6]


def test_base_format_results():
    X, y = make_regression(40, 3, random_state=0)
    grid = {"alpha": [0.1, 1.0]}
    ours = ReconciledSearchCV(Ridge(), grid, cv=3).fit(X, y).cv_results_
    theirs = GridSearchCV(Ridge(), grid, cv=3).fit(X, y).cv_results_
    assert set(theirs) <= set(ours)
    for key, value in theirs.items():
        if "time" not in key and key != "params":
            np.testing.assert_array_equal(ours[key], value)


def test_fit_and_score_replaced():
    from sklearn.model_selection import _search

    original = _search._fit_and_score
    calls = []

    def counting(real):
        def run(*args, **kwargs):
            calls.append(1)
            return real(*args, **kwargs)

        return run

    X, y = make_regression(30, 2, random_state=0)
    with _compat.fit_and_score_replaced(counting):
        assert _search._fit_and_score is not original
        with pytest.raises(RuntimeError, match="another search with a journal"):
            with _compat.fit_and_score_replaced(counting):
                pass
        GridSearchCV(Ridge(), {"alpha": [1.0, 2.0]}, cv=3).fit(X, y)
    assert len(calls) == 6  # every fit went through the replacement
    assert _search._fit_and_score is original


def test_search_with():
    search = GridSearchCV(Ridge(), {"alpha": [1.0]}, cv=3)
    with pytest.raises(RuntimeError, match="inside"):
        with _compat.search_with(search, cv=5, estimator=None):
            assert (search.cv, search.estimator) == (5, None)
            raise RuntimeError("inside")
    assert search.cv == 3 and isinstance(search.estimator, Ridge)


# ---------------------------------------------------------------- scikeras
def test_route_params():
    params = {"fit__batch_size": 8, "epochs": 3, "verbose": 0, "model__x__y": 1}
    assert _scikeras.route_params(params, "fit", {"epochs"}) == {
        "batch_size": 8,
        "epochs": 3,
    }
    assert _scikeras.route_params(params, "model", set(), strict=True) == {}


def test_history_key():
    assert _scikeras.history_key("mse") == "mean_squared_error"
    assert _scikeras.history_key("val_mse") == "val_mse"
    assert _scikeras.history_key("loss") == "loss"
    assert _scikeras.history_key("my_custom_metric") == "my_custom_metric"


def test_ScikerasSteps():
    _scikeras.check_private_steps()  # the installed scikeras has and calls them

    class Moved(KerasRegressor):
        def _fit(self, *args, **kwargs):  # no longer calls _fit_keras_model
            pass

    with pytest.raises(
        _compat.CompatError, match="KerasRegressor._fit no longer calls _initialize"
    ):
        _scikeras.check_private_steps(Moved)


def _two_layer(meta, compile_kwargs):
    model = keras.Sequential(
        [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)]
    )
    model.compile(**compile_kwargs)
    return model


@pytest.fixture(scope="module")
def both(diabetes):
    """Plain scikeras and ours, fitted with the same settings."""
    X, y = diabetes
    common = dict(
        model=_two_layer,
        loss="mse",
        metrics=["mse", "mae"],
        epochs=2,
        validation_batch_size=-1,
        verbose=0,
    )
    plain = KerasRegressor(**common, validation_split=0.25).fit(X, y)
    ours = SeededKerasRegressor(**common, validation_fraction=0.25, random_state=0).fit(
        X, y
    )
    return plain, ours


class TestAgainstPlainKerasRegressor:
    """What scikeras' own steps did, our replacements still do."""

    def test_history_keys(self, both):
        plain, ours = both
        assert sorted(ours.history_) == sorted(plain.history_)
        assert type(ours.history_) is type(plain.history_)

    def test_validation_batch_size_minus_one(self, both):
        plain, ours = both
        assert len(ours.history_["val_loss"]) == len(plain.history_["val_loss"]) == 2

    def test_no_loss_is_scikeras_error(self, diabetes):
        X, y = diabetes
        net = SeededKerasRegressor(_two_layer, loss=[None], random_state=0)
        with pytest.raises(ValueError, match="^No valid loss function found"):
            net.fit(X, y)


def test_parallel_replaced(monkeypatch):
    from sklearn.model_selection import _search

    original = _search.Parallel
    built = []

    class Counting(original):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    X, y = make_regression(30, 2, random_state=0)
    with _compat.parallel_replaced(Counting):
        with _compat.parallel_replaced(Counting):  # counted, not locked
            assert _search.Parallel is Counting
        assert _search.Parallel is Counting  # the outer block still runs
        GridSearchCV(Ridge(), {"alpha": [1.0, 2.0]}, cv=3).fit(X, y)
    assert built == [1] and _search.Parallel is original


def test_parallel_replaced_falls_back_when_fit_moves(monkeypatch, fresh_warnings):
    from sklearn.model_selection import _search

    monkeypatch.delattr(_search, "Parallel")
    with pytest.warns(_compat.CompatWarning, match="one by one"):
        with _compat.parallel_replaced(object):
            assert not hasattr(_search, "Parallel")


def test_parallel_plan():
    import joblib

    assert _compat.parallel_plan(joblib.Parallel(n_jobs=2)) == ("loky", 2)
    assert _compat.parallel_plan(joblib.Parallel(n_jobs=1)) == ("sequential", 1)
    with joblib.parallel_backend("threading", n_jobs=3):
        assert _compat.parallel_plan(joblib.Parallel()) == ("threads", 3)
    with joblib.parallel_backend("multiprocessing", n_jobs=2):
        assert _compat.parallel_plan(joblib.Parallel()) == ("processes", 2)


def test_parallel_plan_falls_back(fresh_warnings):
    class Moved:
        pass

    with pytest.warns(_compat.CompatWarning, match="one by one"):
        assert _compat.parallel_plan(Moved()) == (None, 1)


def test_loky_executor():
    import os

    executor = _compat.loky_executor(1)
    assert executor.submit(os.getpid).result() != os.getpid()  # a child process
    assert _compat.loky_executor(1) is executor  # reused: its workers stay warm
    later = _compat.loky_executor(1, start=False)  # nothing made until called
    assert callable(later) and later() is executor


def test_keep_worker_with_tensorflow(monkeypatch, fresh_warnings):
    import multiprocessing

    import psutil
    from joblib.externals.loky import process_executor

    assert not _compat.keep_worker_with_tensorflow()  # not in a worker
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    monkeypatch.setattr(process_executor, "_MAX_MEMORY_LEAK_SIZE", int(3e8))
    monkeypatch.setattr(process_executor, "_USE_PSUTIL", True)
    held = psutil.Process().memory_info().rss
    assert _compat.keep_worker_with_tensorflow()
    # read by loky's worker loop: 300 MB beyond what the worker holds now
    limit = process_executor._MAX_MEMORY_LEAK_SIZE
    assert held + int(3e8) <= limit <= psutil.Process().memory_info().rss + int(3e8)
    assert process_executor._USE_PSUTIL is True  # no gc.collect() every second
    monkeypatch.delattr(process_executor, "_MAX_MEMORY_LEAK_SIZE")
    with pytest.warns(_compat.CompatWarning, match="_MAX_MEMORY_LEAK_SIZE"):
        assert not _compat.keep_worker_with_tensorflow()


def test_steps_per_execution_for(diabetes, monkeypatch):
    from seeded_keras import _trainer_pool

    per = _compat.steps_per_execution_for(40)
    assert 40 % per == 0 and _compat.steps_per_execution_for(521) in (1, 521)
    # 160 rows in batches of 4: 40 steps per epoch, more than Keras 3.2 may
    # unroll in one execution; pooled or not, the same bits
    X, y = diabetes
    out = []
    for reuse in ("0", "1"):
        monkeypatch.setenv("SEEDED_KERAS_REUSE", reuse)
        _trainer_pool.clear()
        out.append(bits(small_net(batch_size=4).fit(X, y).predict(X)))
    assert out[0] == out[1]
    keyed = None if _compat.steps_read_at_run_time() else per
    assert [spe for (_, spe, _) in _trainer_pool.idle_trainers()] == [keyed]


def _counted_fits(counted: bool) -> list:
    """Fit on epochs of 3 steps, then of 5, with a holdout: weights, histories."""
    X = np.linspace(-1, 1, 80, dtype="float32").reshape(40, 2)
    y = X @ np.array([1.5, -2.0], dtype="float32")
    model = _metric_model()
    if counted:
        assert _compat.steps_read_at_run_time(model)
    out = []
    for n_rows, per_execution in ((20, 3), (40, 5)):
        if counted:
            model.steps_per_execution = per_execution
        data = tf.data.Dataset.from_tensor_slices((X[:n_rows], y[:n_rows]))
        hist = model.fit(
            data.batch(8).repeat(2),
            epochs=2,
            steps_per_epoch=per_execution,
            validation_data=data.batch(6),  # 4 or 7 batches: run out mid-loop
            shuffle=False,
            verbose=0,
        )
        out.append({k: np.array(v).tobytes() for k, v in hist.history.items()})
        out.append([bits(v.numpy()) for v in model.variables])
    return out


def test_steps_read_at_run_time():
    model = _metric_model()
    if not _compat.steps_read_at_run_time():  # Keras 3.2 unrolls its steps
        assert not _compat.steps_read_at_run_time(model)
        assert model.train_function is None
        pytest.skip("this Keras bakes the step count into an unrolled trace")
    assert _compat.steps_read_at_run_time(model)
    assert model.train_function is not None and model.test_function is not None
    # one model trained on epochs of 3 steps, then of 5, each in one execution
    counted = _counted_fits(counted=True)
    # Keras' own functions, one step per execution: the same bits
    assert counted == _counted_fits(counted=False)


def _epochs_of(model, data, at_once: bool) -> list:
    """Two fits of 2 epochs x 3 steps: histories and variables, as bytes."""
    out = []
    for _ in range(2):
        if at_once:
            logs = _compat.epochs_in_one_execution(model, data, 2)
        else:
            model.steps_per_execution = 3
            logs = model.fit(
                data.dataset, epochs=2, steps_per_epoch=3, shuffle=False, verbose=0
            ).history
        out.append({k: np.array(v).tobytes() for k, v in logs.items()})
        out.append([bits(v.numpy()) for v in model.variables])
    return out


def _two_epochs(X, y, sample_weight=None):
    """The batches of a fit: 2 epochs x 3 shuffled batches of 7, 7 and 6."""
    from seeded_keras import _data

    return _data.training_data(
        X, y, sample_weight, 3, batch_size=7, shuffle=True, epochs=2, initial_epoch=0
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_epochs_in_one_execution(weighted):
    X = np.linspace(-1, 1, 80, dtype="float32").reshape(40, 2)[:20]
    y = X @ np.array([1.5, -2.0], dtype="float32")
    w = np.linspace(0.5, 2, 20) if weighted else None
    data = _two_epochs(X, y, w)
    if not _compat.steps_read_at_run_time():
        assert _compat.epochs_in_one_execution(_metric_model(), data, 1) is None
        pytest.skip("this Keras bakes the step count into an unrolled trace")
    runs = {}
    for at_once in (False, True):
        model = _metric_model()  # metrics built by neither before the fit
        assert _compat.steps_read_at_run_time(model)
        runs[at_once] = _epochs_of(model, data, at_once)
        assert int(model.optimizer.iterations.numpy()) == 2 * 2 * 3
    # loss, mae and a custom metric per epoch, and every variable: same bits
    # (the batches gathered in the graph are the dataset's)
    assert runs[True] == runs[False]
    assert set(runs[True][0]) == {"loss", "mae", "half"}
    assert "dataset" in vars(data)  # made for Keras' fit only


def test_epochs_in_one_execution_makes_no_dataset():
    data = _two_epochs(np.ones((20, 2), "float32"), np.ones(20, "float32"))
    if not _compat.steps_read_at_run_time():
        pytest.skip("this Keras bakes the step count into an unrolled trace")
    model = _metric_model()
    assert _compat.steps_read_at_run_time(model)
    assert set(_compat.epochs_in_one_execution(model, data, 2)) == {
        "loss",
        "mae",
        "half",
    }
    assert "dataset" not in vars(data)


def test_epochs_in_one_execution_falls_back_and_runs_nothing(
    fresh_warnings, monkeypatch
):
    from keras.src.trainers.trainer import Trainer

    if not _compat.steps_read_at_run_time():
        pytest.skip("this Keras bakes the step count into an unrolled trace")
    monkeypatch.delattr(Trainer, "_symbolic_build")
    model = _metric_model()
    assert _compat.steps_read_at_run_time(model)
    before = [bits(v.numpy()) for v in model.variables]
    data = _two_epochs(np.ones((20, 2), "float32"), np.ones(20, "float32"))
    with pytest.warns(_compat.CompatWarning, match="one execution per epoch"):
        assert _compat.epochs_in_one_execution(model, data, 2) is None
    assert [bits(v.numpy()) for v in model.variables] == before


def test_steps_read_at_run_time_calls_the_trace_directly():
    traced = tf.function(lambda it, n: it.get_next() * n)
    data = iter(tf.data.Dataset.range(4))
    n = tf.constant(10, tf.int64)
    again = _compat._keras_fit._direct_call(traced, data, n)
    assert [int(again()) for _ in range(3)] == [0, 10, 20]  # the same iterator

    class NoCallFlat:  # a TensorFlow without ConcreteFunction._call_flat
        def get_concrete_function(self, *args):
            return object()

        def __call__(self, it, n):
            return traced(it, n)

    fallback = _compat._keras_fit._direct_call(NoCallFlat(), data, n)
    assert int(fallback()) == 30


def test_steps_read_at_run_time_keeps_each_models_function_apart():
    # the direct call is kept on the iterator: another model's train
    # function pulling from the same iterator must run its own trace
    if not _compat.steps_read_at_run_time():
        pytest.skip("this Keras bakes the step count into an unrolled trace")
    X = np.linspace(-1, 1, 80, dtype="float32").reshape(40, 2)
    y = X @ np.array([1.5, -2.0], dtype="float32")
    first, second = _metric_model(), _metric_model()
    for model in (first, second):
        assert _compat.steps_read_at_run_time(model)
        model.steps_per_execution = 2
        model.fit(X[:8], y[:8], epochs=1, batch_size=8, verbose=0)  # builds it
    shared = iter(tf.data.Dataset.from_tensor_slices((X, y)).batch(8))
    before = [bits(v.numpy()) for v in second.trainable_variables]
    first.train_function(shared)
    second.train_function(shared)
    assert [bits(v.numpy()) for v in second.trainable_variables] != before


def test_steps_read_at_run_time_falls_back(monkeypatch, fresh_warnings):
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    if not hasattr(TensorFlowTrainer, "_make_function"):
        pytest.skip("this Keras bakes the step count into an unrolled trace")
    monkeypatch.setattr(TensorFlowTrainer, "_make_function", lambda self, f: f)
    _compat._keras_fit._counted_loop_parts.cache_clear()
    try:
        with pytest.warns(_compat.CompatWarning, match="get_next_as_optional"):
            assert not _compat.steps_read_at_run_time()
        model = _metric_model()
        assert not _compat.steps_read_at_run_time(model)
        assert model.train_function is None
    finally:
        _compat._keras_fit._counted_loop_parts.cache_clear()


# ------------------------------------------------------------ scikit-learn
def test_SearchSteps(diabetes):
    from sklearn.model_selection import RandomizedSearchCV

    from seeded_keras import ReconciledRandomizedSearchCV

    # scikit-learn's constraints, plus ours, on each twin
    for ours, theirs in (
        (ReconciledSearchCV, GridSearchCV),
        (ReconciledRandomizedSearchCV, RandomizedSearchCV),
    ):
        constraints = ours._parameter_constraints
        assert set(constraints) == set(theirs._parameter_constraints) | {
            "random_state",
            "n_seeds",
            "journal",
        }
    # _run_search hands _candidates to _evaluate_seeded; _format_results merges
    X, y = diabetes
    search = ReconciledSearchCV(Ridge(), {"alpha": [1.0, 2.0]}, cv=2, n_seeds=1)
    seen = []
    search._evaluate_seeded = lambda evaluate, candidates, ctx: seen.append(
        list(candidates)
    )
    search._run_search(lambda c: None)
    assert seen == [[{"alpha": 1.0}, {"alpha": 2.0}]]
    assert not search._sklearn_callbacks_set()


def test_check_search_parameters():
    with pytest.raises(
        ValueError, match="The 'n_seeds' parameter of ReconciledSearchCV must be"
    ):
        _compat.check_search_parameters(
            ReconciledSearchCV(Ridge(), {"alpha": [1.0]}, n_seeds=0)
        )


def test_fit_task():
    import inspect

    from sklearn.model_selection._validation import _fit_and_score

    names = set(inspect.signature(_fit_and_score).parameters)
    assert {"train", "test", "parameters", "return_parameters"} <= names
    train, test = np.arange(3), np.arange(3, 5)
    kwargs = {"train": train, "test": test, "parameters": {"a": 1}}
    assert _compat.fit_task(kwargs) == ({"a": 1}, train, test)
    assert _compat.fit_task({**kwargs, "parameters": None})[0] is None
    result = _compat.result_with_parameters({}, {**kwargs, "return_parameters": True})
    assert result == {"parameters": {"a": 1}}
    # the result keys we read are the ones scikit-learn's search returns
    X = np.arange(20.0).reshape(10, 2)
    out = _fit_and_score(
        Ridge(),
        X,
        X[:, 0],
        scorer=lambda est, X, y: 0.0,
        train=np.arange(6),
        test=np.arange(6, 10),
        verbose=0,
        parameters={"alpha": 1.0},
        fit_params=None,
        score_params=None,
        return_train_score=True,
        return_times=True,
        return_n_test_samples=True,
    )
    flat = _compat.FIT_RESULT
    assert {*flat["scores"], *flat["times"], flat["error"], flat["n_test"]} <= set(out)


def test_worker_died_error():
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    assert _compat.worker_died_error() is TerminatedWorkerError
