"""scikeras' own test suite, run against our wrappers.

scikeras' released packages do not ship their tests; a copy (commit e92a7dc,
the 0.13.0 line, with its MIT license) sits beside the project at
``../shared/peer-tests/scikeras/``.  It is copied into a temporary folder
whose ``conftest.py`` rebinds ``scikeras.wrappers.KerasRegressor`` and
``KerasClassifier`` to ours before scikeras' test modules import them, and
run whole, minus the deselections below -- each with its reason, and for a
deliberate difference a replacement test in this module.

Measured on this project's newest stack (TF 2.21, Keras 3.15, scikit-learn
1.9): plain scikeras passes 352 tests of the suite; with ours rebound, 341
pass and none fails once the deselections below are made (every test plain
scikeras passes that is not deselected passes), in about 80 s on 2 cores.
The oldest stack skips it: plain scikeras' own failures were measured here.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, bits, run_peer_suite
from sklearn.preprocessing import FunctionTransformer

from seeded_keras import SeededKerasClassifier, SeededKerasRegressor, mlp

pytestmark = pytest.mark.slow

SUITE = Path(ROOT).parent / "shared" / "peer-tests" / "scikeras" / "tests"

REBIND = '''"""Rebind scikeras' wrappers to seeded_keras' before its tests import them."""
import scikeras.wrappers as wrappers

from seeded_keras import SeededKerasClassifier, SeededKerasRegressor

wrappers.KerasRegressor = SeededKerasRegressor
wrappers.KerasClassifier = SeededKerasClassifier
'''

#: Modules that cannot be collected, for plain scikeras too.
UNCOLLECTABLE = {
    "test_compile_kwargs.py": (
        "imports keras.src.backend.common.variables.KerasVariable, which "
        "Keras 3.15 no longer has (plain scikeras fails to collect it too)"
    ),
}

#: Tests that need a network: no network at run time here.
DOWNLOADS = {
    "test_simple_autoencoder_mnist": "downloads MNIST",
    "test_custom_loss_function": "downloads a data set",
    "test_custom_model_registered": "downloads a data set",
    "test_custom_model_unregistered": "downloads a data set",
    "test_run_eagerly": "downloads a data set",
}

#: Tests plain scikeras 0.13 itself fails on this stack (measured; the
#: promise is to pass what plain scikeras passes).
_SKLEARN_CHECKS = "test_fully_compliant_estimators_low_precision and ({})".format(
    " or ".join(
        (
            "check_estimator_tags_renamed",
            "check_no_attributes_set_in_init",
            "check_n_features_in_after_fitting",
            "check_mixin_order",
            "check_sample_weight_equivalence_on_dense_data",
            "check_estimator_sparse_tag",
            "check_estimator_sparse_array",
            "check_estimator_sparse_matrix",
        )
    )
)
PLAIN_FAILS = {
    "TestAdvancedAPIFuncs and test_ensemble and MLPClassifier": "AdaBoost: "
    "a one-epoch base classifier is worse than random",
    "test_calibratedclassifiercv": "fails for plain scikeras on scikit-learn 1.9",
    "test_partial_fit_history_metric_names": "fails for plain scikeras on Keras 3.15",
    "test_sample_weights_all_zero": "its expected message changed in Keras 3",
    _SKLEARN_CHECKS: "scikit-learn 1.9's common checks that plain scikeras "
    "fails; ours run in tests/test_common.py, each failure with its reason",
}

#: Seed luck: decided on evidence, with a replacement test.
SEED_LUCK = {
    "TestPrebuiltModel and test_ensemble and MLPClassifier": (
        "AdaBoost of two one-epoch classifiers: with our seeds the first is "
        "worse than random and AdaBoost refuses it -- plain scikeras fails "
        "its twin (TestAdvancedAPIFuncs::test_ensemble[MLPClassifier]) with "
        "the same error: test_ensembles_of_trained_classifiers"
    ),
}

#: Checks plain scikeras never runs: its MRO hides its regressor/classifier
#: tags from scikit-learn, which then skips them.  Ours has the tags, so
#: scikit-learn runs them -- on scikeras' one-epoch, no-hidden-layer,
#: one-batch settings, which cannot train: check_regressors_train failed at
#: all 8 of random_state 0..7 with 1 epoch and passed at all 8 with 20
#: epochs (lr 0.1).  Replacement: tests/test_common.py runs these checks on
#: both wrappers at 20 epochs, and they pass.
NOT_RUN_FOR_PLAIN = {
    "test_fully_compliant_estimators_low_precision and ("
    "check_regressors_train or check_classifiers_train or "
    "check_class_weight_classifiers)": "one gradient step cannot train",
}

#: Where our wrappers differ on purpose; each has a replacement test below.
DELIBERATE = {
    "test_output_shapes_and_dtypes_against_sklearn_reg": (
        "predict returns float64 (every path reconciles on float64 copies of "
        "the outputs) and Keras is handed float32 batches from our seeded "
        "pipeline, not the caller's dtype: test_regressor_predicts_float64"
    ),
    "test_no_build_fn": (
        "model=None builds seeded_keras.mlp instead of raising: "
        "test_no_model_is_the_default_mlp"
    ),
    "test_exclude_parameters_with_further_routing or test_parameter_precedence": (
        "an unknown routed parameter (optimizer__this_should_not_pass__abc, "
        "fit__custom) is an error before training: "
        "test_unknown_routed_parameters_fail_before_training"
    ),
    "test_batch_size_all_fit_non_array or test_batch_size_all_predict_non_array": (
        "scikeras refuses batch_size=-1 when the feature encoder returns a "
        "list; ours takes the rows of its arrays: test_minus_one_batch_of_a_list"
    ),
    "test_class_weight_balanced": (
        "it patches model_.fit to read sample_weight; ours hands Keras the "
        "weights inside its dataset: test_class_weight_reaches_the_loss"
    ),
    "test_sample_weights_fit": (
        "equal weights of 0.5 are other training data than no weights, so "
        "another seed, as check_sample_weight_equivalence: "
        "test_sample_weight_is_part_of_the_seed"
    ),
    "test_callbacks_prefixes": (
        "callbacks are deep-copied for every fit (nothing carried from fold "
        "to fold), so the caller's object is never called: "
        "test_callbacks_are_copied_for_every_fit"
    ),
    "test_random_states and random_state2": (
        "a numpy RandomState gives each fit a new seed base (scikit-learn's "
        "meaning), not the same result on every fit; an int does: "
        "test_a_random_state_instance_is_drawn_from"
    ),
    "test_kwargs": (
        "it patches model_.fit to read batch_size; ours hands Keras batches "
        "already cut by the seeded pipeline: test_fit_kwargs_reach_the_batches"
    ),
    "test_target_dims_changes_incremental_fit or "
    "test_target_shape_changes_incremental_fit_clf": (
        "a column-vector y is raveled with a DataConversionWarning, as "
        "scikit-learn's classifiers do (check_supervised_y_2d): "
        "test_a_column_vector_y_is_raveled"
    ),
    "test_prebuilt_model and SeededKerasClassifier": (
        "a one-unit linear model on three classes: scikeras returns its raw "
        "outputs as probabilities; ours divides each row by its sum (the one "
        "log-loss rule): test_a_prebuilt_classifier_predicts_without_fitting"
    ),
}


def _deselected() -> str:
    names = {**DOWNLOADS, **PLAIN_FAILS, **SEED_LUCK, **NOT_RUN_FOR_PLAIN, **DELIBERATE}
    return " and ".join(f"not ({name})" for name in names)


@pytest.mark.skipif(not SUITE.is_dir(), reason=f"scikeras' tests not at {SUITE}")
def test_scikeras_suite_passes_with_our_wrappers(tmp_path):
    import shutil

    import keras

    if tuple(int(v) for v in keras.__version__.split(".")[:2]) < (3, 15):
        pytest.skip(
            "plain scikeras' own failures (PLAIN_FAILS) were measured on "
            "Keras 3.15; the oldest stack differs"
        )
    shutil.copytree(SUITE, tmp_path / "tests")
    (tmp_path / "conftest.py").write_text(REBIND)
    ignore = [f"--ignore=tests/{module}" for module in UNCOLLECTABLE]
    summary = run_peer_suite(tmp_path, *ignore, "tests", "-k", _deselected())
    assert int(re.search(r"(\d+) passed", summary).group(1)) >= 330  # 341 measured


# ------------------------------------------------- the replacement tests
@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


def test_regressor_predicts_float64(data):
    X, y = data
    reg = SeededKerasRegressor(random_state=0).fit(X, y.astype(np.uint8))
    pred = reg.predict(X)
    assert pred.dtype == np.float64
    raw = reg.model_.predict(X.astype(np.float32), verbose=0).ravel()
    assert bits(pred) == bits(raw.astype(np.float64))  # a float64 copy, no noise


def test_no_model_is_the_default_mlp(data):
    X, y = data
    for est in (
        SeededKerasRegressor(random_state=0),
        SeededKerasClassifier(random_state=0),
    ):
        assert est._build_function() is mlp
        assert est.fit(X, y).model_.layers[0].units == 16


def test_unknown_routed_parameters_fail_before_training(data):
    X, y = data
    clf = SeededKerasClassifier(optimizer__this_should_not_pass__abc=1)
    with pytest.raises(
        TypeError, match="^Unknown parameter 'optimizer__this_should_not_pass__abc'"
    ):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")


class ListFeatures(SeededKerasRegressor):
    @property
    def feature_encoder(self):
        return FunctionTransformer(lambda x: [x])


def test_minus_one_batch_of_a_list(data):
    import keras

    X, y = data
    rows = []

    class Rows(keras.callbacks.Callback):  # the rows of each training batch
        def on_train_batch_end(self, batch, logs=None):
            rows.append(batch)

    reg = ListFeatures(
        lambda meta, compile_kwargs: _one_input_model(compile_kwargs),
        batch_size=-1,
        predict__batch_size=-1,
        epochs=2,
        random_state=0,
        callbacks=[Rows()],
    ).fit(X, y)
    assert rows == [0, 0]  # one batch per epoch: all 120 rows in it
    assert reg.predict(X).shape == (120,)


def _one_input_model(compile_kwargs):
    import keras

    inputs = keras.Input((3,))
    model = keras.Model([inputs], keras.layers.Dense(1)(inputs))
    model.compile(**compile_kwargs)
    return model


def test_class_weight_reaches_the_loss(data):
    X, y = data
    plain = SeededKerasClassifier(random_state=0, epochs=3).fit(X, y)
    tilted = SeededKerasClassifier(
        random_state=0, epochs=3, class_weight={0: 1.0, 1: 20.0}
    ).fit(X, y)
    assert tilted.seed_ == plain.seed_  # the class weights are not data
    assert tilted.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()


def test_sample_weight_is_part_of_the_seed(data):
    X, y = data
    plain = SeededKerasClassifier(random_state=0).fit(X, y)
    halves = SeededKerasClassifier(random_state=0).fit(
        X, y, sample_weight=np.full(len(y), 0.5)
    )
    assert halves.seed_ != plain.seed_
    again = SeededKerasClassifier(random_state=0).fit(
        X, y, sample_weight=np.full(len(y), 0.5)
    )
    assert bits(again.predict_proba(X)) == bits(halves.predict_proba(X))


def test_callbacks_are_copied_for_every_fit(data):
    import keras

    class Counting(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def on_train_begin(self, logs=None):
            self.calls += 1

    mine = Counting()
    clf = SeededKerasClassifier(random_state=0, callbacks=[mine]).fit(
        X := data[0], data[1]
    )
    assert mine.calls == 0  # the caller's object is never trained with
    assert clf._keras_callbacks()[0] is not mine
    assert clf._keras_callbacks()[0].calls == 1 and X is data[0]


def test_ensembles_of_trained_classifiers():
    from sklearn.datasets import load_iris
    from sklearn.ensemble import AdaBoostClassifier, BaggingClassifier

    X, y = load_iris(return_X_y=True)
    base = SeededKerasClassifier(
        random_state=0, epochs=20, optimizer="adam", optimizer__learning_rate=0.05
    )
    for ensemble in (AdaBoostClassifier, BaggingClassifier):
        fitted = ensemble(estimator=base, n_estimators=2, random_state=0).fit(X, y)
        assert fitted.score(X, y) > 0.6


def test_a_random_state_instance_is_drawn_from(data):
    X, y = data
    state = np.random.RandomState(0)
    with pytest.warns(UserWarning, match="random_state is a numpy RandomState"):
        first = SeededKerasClassifier(random_state=state).fit(X, y)
        second = SeededKerasClassifier(random_state=state).fit(X, y)
    assert first.seed_ != second.seed_  # each fit drew its own base
    again = SeededKerasClassifier(random_state=first.random_state_).fit(X, y)
    assert bits(again.predict_proba(X)) == bits(first.predict_proba(X))


def test_fit_kwargs_reach_the_batches(data):
    X, y = data
    clf = SeededKerasClassifier(random_state=0, batch_size=128)
    clf.fit(X, y, batch_size=50, epochs=2)
    assert len(clf.history_["loss"]) == 2
    assert clf.model_.optimizer.iterations.numpy() == 2 * 3  # 120 rows by 50


def test_a_column_vector_y_is_raveled(data):
    from sklearn.exceptions import DataConversionWarning

    X, y = data
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
        clf = SeededKerasClassifier(random_state=0).fit(X, y.reshape(-1, 1))
    assert clf.predict(X).shape == (len(X),)
    assert clf.seed_ == SeededKerasClassifier(random_state=0).fit(X, y).seed_


def test_a_prebuilt_classifier_predicts_without_fitting(data):
    import keras

    X, y = data
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.fit(X, y, epochs=1, verbose=0)
    clf = SeededKerasClassifier(model=model).initialize(X, y)
    raw = model.predict(X, verbose=0).astype(np.float64)
    np.testing.assert_allclose(clf.predict_proba(X), raw, rtol=1e-6)
    assert clf.model_ is model  # the instance itself, as in scikeras
    refit = SeededKerasClassifier(model=model, random_state=0).fit(X, y)
    assert refit.model_ is not model  # fit trains a fresh seeded copy
