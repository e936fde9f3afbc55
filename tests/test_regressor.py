"""SeededKerasRegressor: the seeding contract, callbacks, conformance, bad input."""

import os
import pickle
import random
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import ROOT, bits, fresh_python, inter_op_threads, small_net
from sklearn.base import clone, is_regressor
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import StackingRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from seeded_keras import SeededKerasRegressor, _compat


def global_state():
    return (
        random.getstate(),
        bits(np.random.get_state()[1]),
        _compat.tf_global_seed(),
        os.environ.get("TF_DETERMINISTIC_OPS"),
        _compat.op_determinism_enabled(),
    )


def variable_paths(net):
    model = net.model_
    return [
        ",".join(v.path for v in vs)
        for vs in (model.variables, model.optimizer.variables)
    ]


@pytest.fixture(scope="module")
def fitted(diabetes):
    X, y = diabetes
    net = small_net(model__dropout=0.1).fit(X, y)
    return net, net.predict(X[:20])


class TestDeterminism:
    def test_same_fit_same_bits(self, diabetes, fitted):
        X, y = diabetes
        net, pred = fitted
        again = clone(net).fit(X, y)
        assert again.seed_ == net.seed_
        assert bits(again.predict(X[:20])) == bits(pred)

    def test_unrelated_fits_first_change_nothing(self, diabetes, fitted):
        X, y = diabetes
        net, pred = fitted
        small_net(epochs=1, random_state=99).fit(X[:50], y[:50])
        tf.random.set_seed(1234)  # also a user touching TF's global seed
        try:
            again = clone(net).fit(X, y)
        finally:
            tf.random.set_seed(None)
        assert bits(again.predict(X[:20])) == bits(pred)

    def test_two_concurrent_threads_match_sequential(self, diabetes):
        X, y = diabetes
        jobs = [(slice(0, 120), 0), (slice(40, 160), 1)]

        def run(job):
            rows, rs = job
            net = small_net(random_state=rs, model__dropout=0.1)
            return bits(net.fit(X[rows], y[rows]).predict(X[:20]))

        sequential = [run(j) for j in jobs]
        with ThreadPoolExecutor(2) as pool:
            concurrent = list(pool.map(run, jobs))
        assert concurrent == sequential

    def test_other_threads_using_global_rngs_change_nothing(self, diabetes, fitted):
        import threading

        X, y = diabetes
        net, pred = fitted
        stop = threading.Event()

        def hammer():  # like a dask worker's event loop drawing jitter
            while not stop.is_set():
                random.random()
                np.random.random()

        thread = threading.Thread(target=hammer)
        thread.start()
        try:
            again = clone(net).fit(X, y)
        finally:
            stop.set()
            thread.join()
        assert bits(again.predict(X[:20])) == bits(pred)

    @pytest.mark.slow
    def test_fresh_interpreter_gives_same_bits(self, diabetes, fitted):
        # The fresh interpreter also runs two inter-op threads (the user's
        # setting, kept) against this process's one: speed only, same bits.
        net, pred = fitted
        here = inter_op_threads()  # None where TensorFlow's threads are unnamed
        if here is not None:
            assert here == int(os.environ["TF_NUM_INTEROP_THREADS"])
        script = textwrap.dedent(
            """
            import sys
            sys.path.insert(0, "tests")
            from conftest import small_net, bits, inter_op_threads
            from sklearn.datasets import load_diabetes
            X, y = load_diabetes(return_X_y=True)
            X, y = X[:160], y[:160]
            net = small_net(model__dropout=0.1).fit(X, y)
            print(inter_op_threads())
            print(net.seed_, bits(net.predict(X[:20])))
            print(",".join(v.path for v in net.model_.variables))
            print(",".join(v.path for v in net.model_.optimizer.variables))
            """
        )
        out = fresh_python(script, TF_NUM_INTEROP_THREADS="2").split()
        there = "None" if here is None else "2"
        assert out == [there, str(net.seed_), bits(pred), *variable_paths(net)]

    @pytest.mark.slow
    def test_warns_once_when_tensorflow_started_first(self):
        script = textwrap.dedent(
            """
            import warnings
            import numpy as np
            import tensorflow as tf
            tf.constant(1.0) + 1.0  # the runtime starts with its own thread count
            import seeded_keras
            X, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20.0)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for _ in range(2):
                    seeded_keras.SeededKerasRegressor(random_state=0).fit(X, y)
            print(sum("initialised before seeded_keras" in str(w.message)
                      for w in caught))
            """
        )
        env = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTRAOP_THREADS"}
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
        assert out.split()[-1] == "1"

    @pytest.mark.slow
    @pytest.mark.parametrize("tensorflow_first", [False, True])
    def test_one_thread_of_each_kind_unless_the_user_chose(self, tensorflow_first):
        # Imported (not started) before seeded_keras, TensorFlow still gets
        # both counts: through its API rather than the environment.
        script = textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, "tests")
            {"import tensorflow as tf" if tensorflow_first else ""}
            import seeded_keras
            import tensorflow as tf
            from conftest import inter_op_threads
            tf.constant(1.0) + 1.0
            import os
            print(os.environ["TF_NUM_INTRAOP_THREADS"], inter_op_threads())
            """
        )
        unset = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
        env = {k: v for k, v in os.environ.items() if k not in unset}
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
            cwd=ROOT,
        ).stdout
        intra, inter = out.split()
        if inter == "None":
            pytest.skip("this TensorFlow does not name its inter-op threads")
        assert [intra, inter] == ["1", "1"]

    def test_every_fit_names_its_objects_as_a_fresh_interpreter(self, diabetes):
        # Kernel-cache entries are keyed on variable names: stable names are
        # what keeps a long sweep's memory flat (see _compat.fresh_names).
        X, y = diabetes
        last = [keras.layers.Dense(2).name for _ in range(2)][-1]  # "dense_<k>"
        nets = [small_net(epochs=1, random_state=rs).fit(X, y) for rs in (0, 1)]
        assert variable_paths(nets[0]) == variable_paths(nets[1])
        model_paths = variable_paths(nets[0])[0].split(",")
        assert model_paths[:2] == ["sequential/dense/kernel", "sequential/dense/bias"]
        # This thread's own counter goes on where it was, untouched by the fits.
        assert keras.layers.Dense(2).name == f"dense_{int(last.split('_')[-1]) + 1}"

    def test_checking_optimizer_parameters_makes_no_named_optimizer(self, diabetes):
        # Checking optimizer__learning_rate used to make a throwaway, auto-named
        # optimizer in every fit: about 70 KB of native memory per fit, kept
        # for the life of the process.
        X, y = diabetes
        first, last = (keras.optimizers.Adam().name for _ in range(2))  # "adam_<k>"
        if first == last:
            pytest.skip("this Keras (3.2) does not number optimizer names")
        for rs in (0, 1):
            small_net(epochs=1, random_state=rs, optimizer__learning_rate=0.01).fit(
                X, y
            )
        assert keras.optimizers.Adam().name == f"adam_{int(last.split('_')[-1]) + 1}"

    def test_cpu_pinning_never_touches_the_main_process(self, monkeypatch):
        from seeded_keras import _threads

        monkeypatch.setenv(_threads.PIN_ENV_VAR, "1")
        before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        assert _threads.pin_worker_to_a_cpu() is None
        if before is not None:
            assert os.sched_getaffinity(0) == before

    def test_global_state_is_restored(self, diabetes):
        X, y = diabetes
        random.seed(5)
        np.random.seed(5)
        before = global_state()
        small_net(epochs=1).fit(X, y)
        assert global_state() == before

    def test_global_state_restored_when_determinism_was_on(self, diabetes):
        X, y = diabetes
        tf.config.experimental.enable_op_determinism()
        tf.random.set_seed(3)
        try:
            before = global_state()
            small_net(epochs=1).fit(X, y)
            assert global_state() == before
        finally:
            tf.random.set_seed(None)
            _compat._tensorflow._tf_config().disable_op_determinism()

    def test_op_determinism_is_on_while_fitting(self, diabetes):
        X, y = diabetes
        seen = []

        class Probe(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                seen.append(_compat.op_determinism_enabled())

        assert not _compat.op_determinism_enabled()
        small_net(epochs=1, callbacks=[Probe()]).fit(X, y)
        assert seen == [True]
        assert not _compat.op_determinism_enabled()

    def test_random_state_none_is_recorded_and_replayable(self, diabetes):
        X, y = diabetes
        a = small_net(random_state=None).fit(X, y)
        b = small_net(random_state=None).fit(X, y)
        assert a.seed_ != b.seed_
        replay = clone(a).set_params(random_state=a.random_state_).fit(X, y)
        assert replay.seed_ == a.seed_
        assert bits(replay.predict(X)) == bits(a.predict(X))

    def test_random_state_instance(self, diabetes):
        X, y = diabetes
        a = small_net(random_state=np.random.RandomState(1), epochs=1).fit(X, y)
        b = small_net(random_state=np.random.RandomState(1), epochs=1).fit(X, y)
        assert a.seed_ == b.seed_

    def test_repeat_changes_seed_and_model(self, diabetes, fitted):
        X, y = diabetes
        net, pred = fitted
        other = clone(net).set_params(repeat=1).fit(X, y)
        assert other.seed_ != net.seed_
        assert bits(other.predict(X[:20])) != bits(pred)


class TestSeeds:
    def test_kfold_folds_get_distinct_seeds(self, diabetes):
        X, y = diabetes
        seeds = [
            small_net(epochs=1).fit(X[train], y[train]).seed_
            for train, _ in KFold(5).split(X)
        ]
        assert len(set(seeds)) == 5

    def test_seed_ignores_container_dtype_and_order(self, diabetes, fitted):
        X, y = diabetes
        net, _ = fitted
        variants = [
            (X.tolist(), list(y)),
            (X.astype(np.float32), y),
            (np.asfortranarray(X), y),
            (pd.DataFrame(X), pd.Series(y)),
        ]
        for Xv, yv in variants:
            assert clone(net).set_params(epochs=1).fit(Xv, yv).seed_ == net.seed_

    def test_pipeline_in_front_gives_the_same_seed(self, diabetes):
        X, y = diabetes
        pipe = make_pipeline(StandardScaler(), small_net(epochs=1)).fit(X, y)
        direct = small_net(epochs=1).fit(StandardScaler().fit_transform(X), y)
        assert pipe[-1].seed_ == direct.seed_
        assert pipe[-1].fingerprint_ == direct.fingerprint_


class TestEarlyStopping:
    def test_validation_fraction_and_early_stopping(self, diabetes):
        X, y = diabetes
        es = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1)
        net = small_net(epochs=30, validation_fraction=0.25, callbacks=[es])
        net.fit(X, y)
        assert "val_loss" in net.history_
        assert net.n_epochs_ == len(net.history_["loss"]) <= 30
        assert 1 <= net.best_epoch_ <= net.n_epochs_
        assert es.model is None  # the user's instance was never attached
        again = clone(net).fit(X, y)
        assert again.history_["val_loss"] == net.history_["val_loss"]

    def test_no_early_stopping_means_no_best_epoch(self, fitted):
        net, _ = fitted
        assert net.best_epoch_ is None
        assert net.n_epochs_ == 2

    def test_validation_split_warns(self, diabetes):
        X, y = diabetes
        with pytest.warns(UserWarning, match="Use validation_fraction instead"):
            small_net(epochs=1, validation_split=0.2).fit(X, y)

    def test_initialize_builds_the_seeded_model_without_training(self, diabetes):
        # scikeras' documented way to predict without fitting
        X, y = diabetes
        net = small_net().initialize(X, y)
        fitted = small_net().fit(X, y)
        assert net.seed_ == fitted.seed_
        assert net.predict(X[:5]).shape == (5,)
        assert not hasattr(net, "history_")

    @pytest.mark.parametrize(
        "params,message",
        [
            ({"validation_split": 0.2}, "Use validation_fraction instead"),
            ({"random_state": np.random.RandomState(1)}, "is a numpy RandomState"),
        ],
        ids=["validation_split", "RandomState"],
    )
    @pytest.mark.parametrize("method", ["fit", "partial_fit", "initialize"])
    def test_warnings_point_at_the_users_call(self, diabetes, params, message, method):
        X, y = diabetes
        net = small_net(epochs=1, **params)
        with pytest.warns(UserWarning, match=message) as seen:
            getattr(net, method)(X, y)
        ours = [w for w in seen if message in str(w.message)]
        assert [w.filename for w in ours] == [__file__]


class TestConformance:
    def test_is_regressor(self):
        assert is_regressor(SeededKerasRegressor())

    def test_clone_and_get_params(self, fitted):
        net, _ = fitted
        params = net.get_params()
        assert not [k for k in params if k.endswith("_")]
        assert clone(net).get_params().keys() == params.keys()
        assert params["optimizer__learning_rate"] == 0.05
        assert params["repeat"] == 0 and params["validation_fraction"] is None

    def test_pickle_round_trip(self, diabetes, fitted):
        X, _ = diabetes
        net, pred = fitted
        loaded = pickle.loads(pickle.dumps(net))
        assert bits(loaded.predict(X[:20])) == bits(pred)
        assert loaded.seed_ == net.seed_

    def test_score_is_r2_and_predict_float64(self, diabetes, fitted):
        from sklearn.metrics import r2_score

        X, y = diabetes
        net, pred = fitted
        assert pred.dtype == np.float64
        assert net.score(X, y) == r2_score(y, net.predict(X))

    def test_composes_with_sklearn(self, diabetes):
        X, y = diabetes
        ttr = TransformedTargetRegressor(
            small_net(epochs=1), transformer=StandardScaler()
        )
        assert ttr.fit(X, y).predict(X).shape == y.shape
        stack = StackingRegressor(
            [("net", small_net(epochs=1)), ("ridge", Ridge())], cv=2
        )
        assert stack.fit(X, y).predict(X).shape == y.shape
        assert cross_val_predict(small_net(epochs=1), X, y, cv=2).shape == y.shape


BAD_INPUT = [
    (
        "nan X",
        lambda X, y: (np.where(X == X[0, 0], np.nan, X), y),
        ValueError,
        "Input X contains NaN",
    ),
    (
        "inf y",
        lambda X, y: (X, np.r_[np.inf, y[1:]]),
        ValueError,
        "Input y contains infinity",
    ),
    (
        "length mismatch",
        lambda X, y: (X, y[:-1]),
        ValueError,
        "inconsistent numbers of samples: \\[160, 159\\]",
    ),
    ("empty X", lambda X, y: (X[:0], y[:0]), ValueError, "Found array with 0 sample"),
    (
        "3-D X for the default MLP",
        lambda X, y: (X[:, :, None], y),
        ValueError,
        "^mlp takes X of shape \\(n_samples, n_features\\); got \\(160, 10, 1\\)",
    ),
    (
        "1-D X",
        lambda X, y: (X[:, 0], y),
        ValueError,
        "Expected 2D array, got 1D array",
    ),
    (
        "3-D y",
        lambda X, y: (X, y[:, None, None]),
        ValueError,
        "y must be 1-D .* got an array with 3 dimensions",
    ),
    (
        "string X",
        lambda X, y: (np.full(X.shape, "a"), y),
        ValueError,
        "needs numeric X, but X contains strings",
    ),
    (
        "object X of strings",
        lambda X, y: (pd.DataFrame({"a": ["1.0"] * len(y)}), y),
        ValueError,
        "needs numeric X",
    ),
    (
        "y None",
        lambda X, y: (X, None),
        ValueError,
        "requires y to be passed, but the target y is None",
    ),
]


class TestBadInput:
    @pytest.mark.parametrize(
        "case,make,exc,msg", BAD_INPUT, ids=[c[0] for c in BAD_INPUT]
    )
    def test_bad_data(self, diabetes, case, make, exc, msg):
        X, y = diabetes
        net = small_net()
        before = global_state()
        with pytest.raises(exc, match=msg):
            net.fit(*make(X, y))
        assert not hasattr(net, "model_")  # nothing was built or trained
        assert global_state() == before

    @pytest.mark.parametrize(
        "params,msg",
        [
            (
                {"random_state": "abc"},
                "The 'random_state' parameter of SeededKerasRegressor must be",
            ),
            (
                {"validation_fraction": 1.5},
                "The 'validation_fraction' parameter of SeededKerasRegressor must be",
            ),
            ({"validation_fraction": 0.0}, "The 'validation_fraction' parameter"),
            (
                {"validation_fraction": 0.999},
                "validation_fraction=0.999 leaves no training row out of 160",
            ),
            ({"repeat": -1}, "The 'repeat' parameter"),
            (
                {"optimizer__learnig_rate": 0.1},
                "Unknown parameter 'optimizer__learnig_rate' for the optimizer Adam; "
                "did you mean 'optimizer__learning_rate'\\?",
            ),
            (
                {"fit__batchsize": 8},
                "Unknown parameter 'fit__batchsize'.*did you mean 'fit__batch_size'",
            ),
            (
                {"model__hiden_layer_sizes": (4,)},
                "did you mean 'model__hidden_layer_sizes'",
            ),
            (
                {"validation_fraction": 0.2, "validation_split": 0.2},
                "either validation_fraction or Keras' validation_split",
            ),
        ],
    )
    def test_bad_params(self, diabetes, params, msg):
        X, y = diabetes
        net = small_net(**params)
        before = global_state()
        with pytest.raises(ValueError, match=msg):
            net.fit(X, y)
        assert not hasattr(net, "model_")
        assert global_state() == before

    def test_a_build_function_without_the_routed_argument_is_a_type_error(
        self, diabetes
    ):
        # scikeras (and Python) raise TypeError for an argument the build
        # function does not take; ours says which and suggests, before any fit
        X, y = diabetes
        net = small_net(model__hiden_layer_sizes=(4,))
        with pytest.raises(TypeError, match="^Unknown parameter 'model__hiden_"):
            net.fit(X, y)
        assert not hasattr(net, "model_")

    def test_meta_is_scikeras_own_in_every_build(self, diabetes):
        # the fit's build, the pool's twin (built after model_) and a refit
        X, y = diabetes
        seen = []

        def build(meta, compile_kwargs):
            seen.append(set(meta))
            model = keras.Sequential(
                [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)]
            )
            model.compile(**compile_kwargs)
            return model

        net = SeededKerasRegressor(build, random_state=0)
        net.fit(X, y).fit(X[:100], y[:100])
        expected = {
            "X_shape_",
            "n_outputs_expected_",
            "X_dtype_",
            "n_outputs_",
            "y_dtype_",
            "y_ndim_",
            "n_features_in_",
            "target_type_",
            "feature_encoder_",
            "target_encoder_",
        }
        assert len(seen) >= 2 and all(keys == expected for keys in seen)

    def test_routed_optimizer_ignored_by_own_compile_is_an_error(self, diabetes):
        X, y = diabetes

        def build(meta):
            model = keras.Sequential(
                [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)]
            )
            model.compile(optimizer="sgd", loss="mse")
            return model

        net = SeededKerasRegressor(
            build, optimizer="adam", optimizer__learning_rate=0.1
        )
        with pytest.raises(
            ValueError, match="would be ignored: the build function compiles"
        ):
            net.fit(X, y)

    def test_wrong_feature_count_at_predict(self, diabetes, fitted):
        X, _ = diabetes
        net, _ = fitted
        with pytest.raises(
            ValueError,
            match="X has 3 features, but SeededKerasRegressor is expecting 10 "
            "features as input",
        ):
            net.predict(X[:, :3])
