"""SeededKerasClassifier: the regressor's seeding contract, for labels.

Classification searches reconcile on log-loss and accuracy bit for bit, with
stratified folds frozen and the classes fixed once per search, under
n_jobs=1, loky, threads, dask and in a fresh interpreter.
"""

import json
import textwrap

import joblib
import numpy as np
import pytest
from conftest import bits, fresh_python, on_dask, small_clf
from sklearn.base import clone, is_classifier
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from seeded_keras import (
    ReconciledRandomizedSearchCV,
    ReconciledSearchCV,
    ReconciledTuner,
    grid_to_hyperparameters,
    plain_fit,
)
from seeded_keras._metrics import LOG_LOSS

SCORING = {"ll": "neg_log_loss", "acc": "accuracy"}


@pytest.fixture(scope="module")
def cancer():
    """Breast cancer, binary (first 150 rows: both classes)."""
    X, y = load_breast_cancer(return_X_y=True)
    return X[:150], y[:150]


def rare_data():
    """Multiclass with string labels and one rare class (6 of 106 rows:
    one in each stratified test fold)."""
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    keep = np.r_[0:100, 144:150]
    return X[keep], names[keep]


@pytest.fixture(scope="module")
def rare():
    return rare_data()


def grid_search(estimator, grid, **params):
    defaults = dict(scoring=SCORING, refit="ll", cv=5, n_seeds=2, random_state=0)
    defaults.update(params)
    return ReconciledSearchCV(estimator, grid, **defaults)


def seed_scores(search):
    r = search.cv_results_
    keys = [k for k in r if k.startswith("split") and "_test_" in k]
    assert keys
    return {k: bits(r[k]) for k in [*keys, "mean_test_log_loss"]}


def pipe(**params):
    return Pipeline([("scale", StandardScaler()), ("net", small_clf(**params))])


GRID = {"net__model__hidden_layer_sizes": [4, 8]}  # ints: a Keras Tuner space


@pytest.fixture(scope="module")
def binary_search(cancer):
    X, y = cancer
    return grid_search(pipe(), GRID).fit(X, y)


@pytest.fixture(scope="module")
def rare_search(rare):
    X, y = rare
    return grid_search(pipe(), GRID).fit(X, y)


# ------------------------------------------------------------ the estimator
class TestEstimator:
    def test_same_seed_same_bits_and_a_classifier(self, cancer):
        X, y = cancer
        a = small_clf().fit(X, y)
        b = small_clf().fit(X, y)
        assert a.seed_ == b.seed_
        assert bits(a.predict_proba(X)) == bits(b.predict_proba(X))
        assert is_classifier(a) and is_classifier(make_pipeline(StandardScaler(), a))
        assert small_clf(repeat=1).fit(X, y).seed_ != a.seed_

    def test_probabilities_are_float64_rows_summing_to_one(self, cancer):
        X, y = cancer
        clf = small_clf().fit(X, y)
        proba = clf.predict_proba(X)
        assert proba.dtype == np.float64 and proba.shape == (len(X), 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-15)
        assert clf.model_.layers[-1].units == 1  # one sigmoid unit
        np.testing.assert_array_equal(
            clf.predict(X), clf.classes_[proba.argmax(axis=1)]
        )
        assert clf.predict_proba(X[:1]).shape == (1, 2)  # not squeezed

    def test_string_labels_and_a_softmax_head(self, rare):
        X, y = rare
        clf = small_clf().fit(X, y)
        assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
        assert clf.model_.layers[-1].units == 3
        assert clf.model_.loss == "sparse_categorical_crossentropy"
        assert set(clf.predict(X)) <= set(clf.classes_)
        # the seed is a function of the labels' text, not their container
        assert clf.seed_ == small_clf().fit(X, list(y)).seed_

    def test_fixed_classes_give_a_fold_without_a_class_every_column(self, rare):
        X, y = rare
        missing = y != "virginica"
        clf = small_clf(classes=np.unique(y)).fit(X[missing], y[missing])
        assert clf.predict_proba(X).shape == (len(X), 3)
        assert clf.model_.layers[-1].units == 3
        learned = small_clf().fit(X[missing], y[missing])
        assert learned.predict_proba(X).shape == (len(X), 2)

    def test_labels_outside_classes_fail_before_training(self, rare):
        X, y = rare
        clf = small_clf(classes=["setosa", "versicolor"])
        with pytest.raises(
            ValueError,
            match=r"^Found unknown categories in y: 'virginica', not in "
            r"SeededKerasClassifier's classes \['setosa', 'versicolor'\]\. ",
        ):
            clf.fit(X, y)
        assert not hasattr(clf, "model_")

    def test_sample_weight_is_never_modified(self, cancer):
        X, y = cancer
        weights = np.ones(len(y))
        small_clf(class_weight="balanced").fit(X, y, sample_weight=weights)
        assert (weights == 1.0).all()

    def test_balanced_class_weight_changes_the_fit(self, cancer):
        X, y = cancer
        plain = small_clf().fit(X, y).predict_proba(X)
        weighted = small_clf(class_weight="balanced").fit(X, y).predict_proba(X)
        assert bits(plain) != bits(weighted)

    def test_multilabel_indicator(self):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(60, 4))
        Y = (X[:, :3] > 0).astype(int)
        clf = small_clf().fit(X, Y)
        assert clf.model_.layers[-1].units == 3
        assert clf.predict(X).shape == (60, 3)
        assert clf.predict_proba(X).shape == (60, 3)
        assert clf.predict_proba(X[:1]).shape == (1, 3)  # not squeezed

    def test_partial_fit_with_classes(self, rare):
        X, y = rare
        clf = small_clf().partial_fit(X[:60], y[:60], classes=np.unique(y))
        assert clf.n_classes_ == 3
        clf.partial_fit(X[60:], y[60:])
        assert clf.predict_proba(X).shape == (len(X), 3)

    def test_the_witness_replays_a_fit(self, rare):
        X, y = rare
        est = small_clf(validation_fraction=0.2)
        ours = clone(est).fit(X, y)
        plain = plain_fit(est, X, y)
        assert bits(plain.predict_proba(X)) == bits(ours.predict_proba(X))
        assert list(plain.predict(X)) == list(ours.predict(X))


# ------------------------------------------------------------ the searches
class TestSearch:
    def test_folds_are_stratified_and_frozen(self, binary_search, cancer):
        X, y = cancer
        expected = list(StratifiedKFold(5).split(X, y))
        assert len(binary_search.splits_) == 5
        for (a, b), (c, d) in zip(binary_search.splits_, expected):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, d)

    def test_binary_reconciles_on_both_metrics(self, binary_search, cancer):
        X, y = cancer
        report = binary_search.reconcile(X, y)
        assert report.metrics == ("log_loss", "accuracy")
        assert report.max_abs_diff == 0.0 and report.same_best
        assert len(report.rows) == 2 * 5 * 2
        frame = report.to_frame()
        assert (frame.search_log_loss == frame.manual_log_loss).all()
        assert (frame.search_accuracy == frame.manual_accuracy).all()
        assert "of log_loss and accuracy over 20 fits: 0.0" in report.summary()

    def test_rare_string_classes_reconcile(self, rare_search, rare):
        X, y = rare
        report = rare_search.reconcile(X, y)
        assert report.max_abs_diff == 0.0
        net = rare_search.base_estimator_[-1]
        assert list(net.classes) == ["setosa", "versicolor", "virginica"]
        assert rare_search.best_estimator_.predict_proba(X).shape == (len(X), 3)

    def test_log_loss_columns(self, binary_search):
        r = binary_search.cv_results_
        # the mean over folds and seeds at once (as the tuner's objective);
        # scikit-learn's is the mean over folds of seed means: same to 1 ulp
        np.testing.assert_allclose(
            r["mean_test_log_loss"], -r["mean_test_ll"], rtol=1e-15, atol=0
        )
        for key in ("std_fold_log_loss", "std_seed_log_loss", "std_seed_accuracy"):
            assert r[key].shape == (2,) and (r[key] >= 0).all()
        assert (r["std_seed_log_loss"] > 0).any()  # two seeds really differ

    def test_the_witness_reconciles(self, rare_search, rare):
        X, y = rare
        report = rare_search.reconcile(X, y, witness="keras")
        assert report.max_abs_diff == 0.0

    def test_log_loss_is_computed_one_way(self, binary_search, cancer):
        """The search's neg_log_loss column is scikit-learn's log_loss of the
        float64 probabilities, the positive column for two classes."""
        X, y = cancer
        train, test = binary_search.splits_[0]
        est = clone(binary_search.base_estimator_).set_params(
            **binary_search.cv_results_["params"][0], **{"net__repeat": 0}
        )
        fitted = est.fit(X[train], y[train])
        value = LOG_LOSS.of(fitted, X[test], y[test])
        column = binary_search.cv_results_["split0_seed0_test_ll"][0]
        assert -column == value

    def test_reconcile_needs_a_classification_scorer(self, cancer):
        X, y = cancer
        search = ReconciledSearchCV(
            small_clf(), {"epochs": [1]}, scoring="roc_auc", cv=2, random_state=0
        ).fit(X, y)
        with pytest.raises(
            ValueError, match="^reconcile compares a classifier's log-loss and accuracy"
        ):
            search.reconcile(X, y)

    def test_randomized_search_reconciles(self, cancer):
        X, y = cancer
        search = ReconciledRandomizedSearchCV(
            small_clf(),
            {"optimizer__learning_rate": [0.01, 0.05, 0.1]},
            n_iter=2,
            scoring=SCORING,
            refit="ll",
            cv=3,
            random_state=0,
        ).fit(X, y)
        assert search.reconcile(X, y).max_abs_diff == 0.0

    def test_tuner_matches_the_search(self, binary_search, cancer, tmp_path):
        X, y = cancer
        tuner = ReconciledTuner(
            pipe(),
            grid_to_hyperparameters(GRID),
            cv=binary_search.splits_,
            n_seeds=2,
            random_state=0,
            objective="accuracy",
            directory=str(tmp_path),
            overwrite=True,
        )
        assert tuner.oracle.objective.direction == "max"
        tuner.search(X, y)
        report = binary_search.reconcile(X, y, tuner=tuner)
        assert report.max_abs_diff == 0.0
        assert not np.isnan(report.to_frame().tuner_log_loss).any()

    def test_tuner_refuses_a_regression_objective(self):
        with pytest.raises(ValueError, match=r"^objective must be one of \['log_loss'"):
            ReconciledTuner(
                small_clf(),
                grid_to_hyperparameters({"epochs": [1]}),
                objective="mse",
                overwrite=True,
                directory="/tmp/seeded_keras_never_written",
            )


# ------------------------------------------------------------ every backend
@pytest.fixture(scope="module")
def reference(rare_search):
    return seed_scores(rare_search)


@pytest.mark.slow
class TestParallel:
    @pytest.mark.parametrize("backend", ["loky", "threading"])
    def test_joblib_backends_match_n_jobs_1(self, rare, reference, backend):
        from seeded_keras import _scheduler

        X, y = rare
        if backend == "loky":
            _scheduler.warm_workers(1)  # so that the worker takes fits too
        with joblib.parallel_backend(backend):
            search = grid_search(pipe(), GRID, n_jobs=2).fit(X, y)
        assert seed_scores(search) == reference

    def test_dask_matches_n_jobs_1(self, rare, reference):
        X, y = rare
        with on_dask():
            search = grid_search(pipe(), GRID, n_jobs=-1).fit(X, y)
        assert seed_scores(search) == reference

    def test_fresh_interpreter_matches(self, reference):
        script = textwrap.dedent(
            """
            import json, sys
            sys.path.insert(0, "tests")
            from test_classifier import GRID, grid_search, pipe, rare_data, seed_scores
            X, y = rare_data()
            print(json.dumps(seed_scores(grid_search(pipe(), GRID).fit(X, y))))
            """
        )
        out = fresh_python(script)
        assert json.loads(out.strip().splitlines()[-1]) == reference


# ------------------------------------------------------------ the other paths
def test_a_killed_sweep_resumes_from_the_journal(rare, tmp_path):
    X, y = rare
    journal = str(tmp_path / "journal")
    first = grid_search(pipe(), GRID, cv=3, n_seeds=1, journal=journal).fit(X, y)
    again = grid_search(pipe(), GRID, cv=3, n_seeds=1, journal=journal).fit(X, y)
    assert again.n_fits_resumed_ == 2 * 3
    assert seed_scores(again) == seed_scores(first)


def test_pickled_classifier_predicts_the_same_bits(rare):
    import pickle

    X, y = rare
    clf = small_clf().fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    assert bits(back.predict_proba(X)) == bits(clf.predict_proba(X))
    assert list(back.classes_) == list(clf.classes_)


def test_explain_gap_explains_log_loss_and_accuracy(cancer):
    from seeded_keras import explain_gap

    X, y = cancer
    search = grid_search(pipe(), {"net__epochs": [2]}, cv=3, n_seeds=1).fit(
        X[:100], y[:100]
    )
    gap = explain_gap(search, X[100:], y[100:], X=X[:100], y=y[:100], n_seeds=2)
    assert gap.metric == "log_loss" and set(gap.by_metric) == {"log_loss", "accuracy"}
    for explained in gap.by_metric.values():
        total = explained.cv_value + sum(explained.parts.values())
        assert total == pytest.approx(explained.test_value, rel=1e-12, abs=1e-12)
    assert gap.cv_value == search.cv_results_["mean_test_log_loss"][0]
    assert "final test accuracy" in gap.summary()
