"""Reconciled successive halving (seeded_keras._halving, seeded_keras._rungs).

The promises: a rung that continues training equals one that started
fresh, bit for bit; the search, a hand loop and a fresh interpreter agree
on every fit of every rung under every backend; a killed sweep resumes
from its journal with the same bits; promotions follow one written rule.
scikit-learn's own halving tests run against the twins in
test_sklearn_suite.py.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import joblib
import keras
import numpy as np
import pytest
from conftest import ROOT, bits, fresh_python, on_dask, small_clf, small_net
from sklearn.exceptions import NotFittedError
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import Ridge
from sklearn.model_selection import HalvingGridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from seeded_keras import (
    ReconciledHalvingGridSearchCV,
    ReconciledHalvingRandomSearchCV,
    ReconciledSearchCV,
    SeededKerasRegressor,
)
from seeded_keras._halving import promote, rung_budgets
from seeded_keras._rungs import RungSpec

MSE = "neg_mean_squared_error"
# 9 candidates: rungs of 2, 6 and 18 epochs with 9, 3 and 1 candidates
GRID = {
    "model__hidden_layer_sizes": [(4,), (8,), (4, 4)],
    "optimizer__learning_rate": [0.01, 0.03, 0.1],
}


def halving(grid=GRID, **params):
    settings = dict(
        resource="epochs",
        min_resources=2,
        max_resources=18,
        factor=3,
        scoring=MSE,
        cv=2,
        n_seeds=2,
        random_state=0,
    )
    net = small_net(validation_fraction=0.2)
    return ReconciledHalvingGridSearchCV(net, grid, **{**settings, **params})


def scores(search) -> dict:
    """Every per-seed score column and the rung columns, as raw bits."""
    r = search.cv_results_
    keep = [k for k in r if "test_score" in k or k in ("iter", "n_resources")]
    return {k: bits(np.asarray(r[k], dtype=np.float64)) for k in sorted(keep)}


@pytest.fixture(scope="module")
def halved(diabetes):
    return halving().fit(*diabetes)


# ------------------------------------------------------------- the rule
class TestPromotion:
    def test_best_k_in_candidate_order(self):
        assert promote([1.0, 3.0, 2.0, 0.5], 2) == [1, 2]

    def test_ties_go_to_the_lower_candidate(self):
        assert promote([5.0, 7.0, 7.0, 7.0], 2) == [1, 2]
        assert promote([3.0, 3.0, 3.0], 1) == [0]

    def test_nan_is_last(self):
        assert promote([np.nan, -1e9, np.nan], 1) == [1]
        assert promote([np.nan, -1e9, np.nan], 2) == [0, 1]
        assert promote([np.nan, np.nan], 1) == [0]
        assert promote([-np.inf, np.nan], 1) == [0]

    @pytest.mark.parametrize(
        "n,factor,lo,hi,aggressive,exhaust",
        [
            (9, 3, 2, 18, False, False),
            (30, 2, 1, 40, True, False),
            (7, 3, 1, 50, False, True),
        ],
    )
    def test_the_arithmetic_is_scikit_learns(
        self, n, factor, lo, hi, aggressive, exhaust
    ):
        # scikit-learn's own numbers for the same settings (a parameter resource)
        plan = rung_budgets(n, factor, lo, hi, aggressive, exhaust)
        sk = HalvingGridSearchCV(
            Ridge(),
            {"alpha": list(np.linspace(0.1, 1, n))},
            resource="max_iter",
            factor=factor,
            min_resources="exhaust" if exhaust else lo,
            max_resources=hi,
            aggressive_elimination=aggressive,
            cv=2,
        ).fit(np.random.RandomState(0).rand(40, 3), np.arange(40.0))
        assert plan["budgets"] == sk.n_resources_
        assert plan["n_iterations"] == sk.n_iterations_


def test_same_rungs_and_promotions_as_scikit_learn_on_n_samples():
    # no ties (Ridge on noisy data): the same rows, scores and promotions
    rng = np.random.RandomState(0)
    X, y = rng.rand(300, 4), rng.rand(300)
    grid = {"alpha": list(np.logspace(-3, 3, 13))}
    kw = dict(factor=2, cv=3, random_state=0, scoring=MSE)
    ours = ReconciledHalvingGridSearchCV(Ridge(), grid, **kw).fit(X, y)
    theirs = HalvingGridSearchCV(Ridge(), grid, **kw).fit(X, y)
    assert ours.n_resources_ == theirs.n_resources_
    assert ours.n_candidates_ == theirs.n_candidates_

    def rows(search):
        r = search.cv_results_
        return sorted(
            (int(i), p["alpha"], s)
            for i, p, s in zip(r["iter"], r["params"], r["mean_test_score"])
        )

    assert rows(ours) == rows(theirs)
    assert ours.best_params_ == theirs.best_params_


# ----------------------------------------------- continue == from scratch
def _stopping(**kw):
    return [keras.callbacks.EarlyStopping(restore_best_weights=True, **kw)]


@pytest.mark.parametrize(
    "callbacks,stops",
    [
        ([], [False, False, False]),
        (_stopping(patience=30), [False, False, False]),  # carried, never stops
        (_stopping(patience=2), [False, False, True]),  # stops in the third rung
        (_stopping(patience=1, min_delta=1e4), [True, True, True]),  # in the first
    ],
    ids=["none", "patient", "stops-late", "stops-early"],
)
def test_a_continued_fit_equals_one_from_scratch(diabetes, tmp_path, callbacks, stops):
    # dropout (seed-generator state), a seeded holdout, Adam (slots and
    # iteration count), early stopping counted inside each rung
    X, y = diabetes

    def build(meta):
        return keras.Sequential(
            [
                keras.Input((meta["n_features_in_"],)),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dropout(0.3),
                keras.layers.Dense(1),
            ]
        )

    def net(epochs):
        return SeededKerasRegressor(
            model=build,
            optimizer="adam",
            optimizer__learning_rate=0.05,
            loss="mse",
            epochs=epochs,
            batch_size=16,
            random_state=0,
            validation_fraction=0.2,
            callbacks=callbacks,
        )

    spec = RungSpec(str(tmp_path), "epochs", 27, "test")
    rows = np.arange(len(X))
    trained, stopped, ran = [], [], []
    for epochs in (3, 9, 27):
        continued = net(epochs)
        continued._rung_link = spec.link({"epochs": epochs}, rows)
        continued.fit(X, y)
        trained.append(continued._epochs_run)
        fresh = net(epochs).fit(X, y)
        for a, b in zip(continued.model_.variables, fresh.model_.variables):
            assert bits(a.numpy()) == bits(b.numpy())
        assert bits(continued.predict(X)) == bits(fresh.predict(X))
        assert dict(continued.history_) == dict(fresh.history_)
        assert (continued.n_epochs_, continued.best_epoch_) == (
            fresh.n_epochs_,
            fresh.best_epoch_,
        )
        stopped.append(fresh.n_epochs_ < epochs)
        ran.append(fresh.n_epochs_)
    assert stopped == stops
    # each rung trained only the epochs the previous one had not
    assert trained == [ran[0], ran[1] - ran[0], ran[2] - ran[1]]


def test_a_missing_snapshot_costs_time_not_bits(diabetes, tmp_path):
    X, y = diabetes
    spec = RungSpec(str(tmp_path), "epochs", 9, "test")
    net = small_net(epochs=9)
    net._rung_link = spec.link({"epochs": 9}, np.arange(len(X)))
    net.fit(X, y)  # nothing to continue from: from scratch
    assert net._epochs_run == 9
    assert bits(net.predict(X)) == bits(small_net(epochs=9).fit(X, y).predict(X))


# ------------------------------------------------------------ the search
class TestEpochRungs:
    def test_rungs_and_resources(self, halved):
        assert halved.n_resources_ == [2, 6, 18]
        assert halved.n_candidates_ == [9, 3, 1]
        assert [r["candidates"] for r in halved.rungs_][0] == list(range(9))
        assert list(halved.cv_results_["iter"]) == [0] * 9 + [1] * 3 + [2]
        assert halved.best_params_["epochs"] == 18
        assert halved.best_index_ == 12
        # each rung's rows are in candidate order
        second = halved.rungs_[1]["candidates"]
        assert second == sorted(second)

    def test_every_fit_of_every_rung_reconciles(self, halved, diabetes):
        report = halved.reconcile(*diabetes)
        assert report.max_abs_diff == 0.0
        # both pick the best of the last rung, the search's best_index_
        assert report.best_candidates == (halved.best_index_,) * 2
        assert len(report.rows) == (9 + 3 + 1) * 2 * 2

    def test_the_witness_agrees_too(self, halved, diabetes):
        assert halved.reconcile(*diabetes, witness="keras").max_abs_diff == 0.0

    def test_continue_trains_fewer_epochs_than_retrain_for_the_same_bits(
        self, halved, diabetes
    ):
        retrained = halving(rungs="retrain").fit(*diabetes)
        assert scores(retrained) == scores(halved)
        fits = 2 * 2  # folds x seeds
        assert retrained.epochs_trained_ == fits * (9 * 2 + 3 * 6 + 1 * 18)
        assert halved.epochs_trained_ == fits * (9 * 2 + 3 * 4 + 1 * 12)

    def test_the_final_rung_equals_a_fresh_grid_search_at_its_epochs(
        self, halved, diabetes
    ):
        last = [i for i, it in enumerate(halved.cv_results_["iter"]) if it == 2]
        params = [halved.cv_results_["params"][i] for i in last]
        grid = [{k: [v] for k, v in p.items()} for p in params]
        fresh = ReconciledSearchCV(
            small_net(validation_fraction=0.2),
            grid,
            scoring=MSE,
            cv=2,
            n_seeds=2,
            random_state=0,
        ).fit(*diabetes)
        for column in ("split0_seed0_test_score", "split1_seed1_test_score"):
            assert bits(halved.cv_results_[column][last]) == bits(
                fresh.cv_results_[column]
            )

    def test_snapshots_without_a_journal_are_removed(
        self, diabetes, monkeypatch, tmp_path
    ):
        monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
        made = []
        real = __import__("tempfile").mkdtemp

        def mkdtemp(**kw):
            made.append(real(**kw))
            return made[-1]

        monkeypatch.setattr("tempfile.mkdtemp", mkdtemp)
        halving({"optimizer__learning_rate": [0.01, 0.1]}).fit(*diabetes)
        assert len(made) == 1 and not os.path.exists(made[0])


@pytest.mark.slow
class TestBackends:
    @pytest.mark.parametrize("backend", ["loky", "threading"])
    def test_joblib_backends(self, halved, diabetes, backend):
        with joblib.parallel_backend(backend):
            search = halving(n_jobs=2).fit(*diabetes)
        assert scores(search) == scores(halved)
        assert search.reconcile(*diabetes).max_abs_diff == 0.0

    def test_dask(self, halved, diabetes):
        with on_dask():
            search = halving(n_jobs=-1).fit(*diabetes)
        assert scores(search) == scores(halved)
        assert search.reconcile(*diabetes).max_abs_diff == 0.0

    def test_a_fresh_interpreter(self, halved):
        out = fresh_python(
            """
            import json, sys
            sys.path.insert(0, "tests")
            from conftest import diabetes
            from test_halving import halving, scores
            from sklearn.datasets import load_diabetes
            X, y = load_diabetes(return_X_y=True)
            print(json.dumps(scores(halving().fit(X[:160], y[:160]))))
            """
        )
        assert json.loads(out.strip().splitlines()[-1]) == scores(halved)


# -------------------------------------------------------------- journal
KILLED_AFTER_FIRST_RUNG = """
import os, signal, sys
sys.path.insert(0, "tests")
from sklearn.datasets import load_diabetes
from seeded_keras import _halving
from test_halving import halving

real = _halving.promote
def promote_then_die(scores, k):
    # called once a rung's fits are all done: the first rung, here
    os.kill(os.getpid(), signal.SIGKILL)
_halving.promote = promote_then_die
X, y = load_diabetes(return_X_y=True)
halving(journal=sys.argv[1]).fit(X[:160], y[:160])
"""


@pytest.mark.slow
def test_a_sweep_killed_after_its_first_rung_resumes_from_the_journal(
    halved, diabetes, tmp_path
):
    journal = tmp_path / "journal"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_AFTER_FIRST_RUNG), str(journal)],
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert len(os.listdir(journal / "snapshots")) == 9 * 2 * 2
    resumed = halving(journal=journal).fit(*diabetes)
    assert resumed.n_fits_resumed_ == 9 * 2 * 2  # the whole first rung
    assert scores(resumed) == scores(halved)
    # the second and third rungs continued from the first rung's snapshots
    assert resumed.epochs_trained_ == 2 * 2 * (3 * 4 + 1 * 12)
    again = halving(journal=journal).fit(*diabetes)
    assert again.n_fits_resumed_ == (9 + 3 + 1) * 2 * 2 and again.epochs_trained_ == 0
    assert scores(again) == scores(halved)


# ---------------------------------------------------------- more shapes
def four_rates(estimator, prefix=""):
    """Four learning rates halved over 2 then 6 epochs, on 2 folds."""
    return ReconciledHalvingGridSearchCV(
        estimator,
        {f"{prefix}optimizer__learning_rate": [0.003, 0.01, 0.03, 0.1]},
        resource=f"{prefix}epochs",
        min_resources=2,
        max_resources=6,
        scoring=MSE,
        cv=2,
        random_state=0,
    )


def test_a_pipeline_continues_its_net_epochs(diabetes):
    pipe = Pipeline([("scale", StandardScaler()), ("net", small_net())])
    search = four_rates(pipe, "net__").fit(*diabetes)
    assert search.n_resources_ == [2, 6] and search.epochs_trained_ == 2 * (
        4 * 2 + 2 * 4
    )
    assert search.reconcile(*diabetes).max_abs_diff == 0.0


def test_n_samples_rungs_reconcile_on_their_subsampled_folds(diabetes):
    search = ReconciledHalvingGridSearchCV(
        small_net(),
        {"optimizer__learning_rate": [0.003, 0.01, 0.03, 0.1]},
        factor=2,
        min_resources=40,
        scoring=MSE,
        cv=2,
        random_state=0,
    ).fit(*diabetes)
    assert search.n_resources_ == [40, 80, 160]
    first_train = search.rung_splits_[0][0][0]
    assert len(first_train) == 20 and set(first_train) <= set(search.splits_[0][0])
    assert search.reconcile(*diabetes).max_abs_diff == 0.0


def test_the_random_twin_reconciles(diabetes):
    from scipy.stats import loguniform

    search = ReconciledHalvingRandomSearchCV(
        small_net(),
        {"optimizer__learning_rate": loguniform(1e-3, 1e-1)},
        n_candidates=4,
        resource="epochs",
        min_resources=2,
        max_resources=6,
        scoring=MSE,
        cv=2,
        random_state=0,
    ).fit(*diabetes)
    assert search.n_candidates_ == [4, 2]
    assert search.reconcile(*diabetes).max_abs_diff == 0.0


def test_a_classifier_halves_on_log_loss(diabetes):
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X[:150])
    search = ReconciledHalvingGridSearchCV(
        small_clf(),
        {"optimizer__learning_rate": [0.003, 0.01, 0.03]},
        resource="epochs",
        min_resources=2,
        max_resources=6,
        scoring="neg_log_loss",
        cv=2,
        random_state=0,
    ).fit(X, y[:150])
    assert search.reconcile(X, y[:150]).max_abs_diff == 0.0


def test_shuffled_folds_are_frozen_for_every_rung(diabetes):
    # scikit-learn refuses a splitter that shuffles without a random_state
    # (its rungs would see other folds); ours draws the folds once
    search = halving(cv=KFold(2, shuffle=True), n_seeds=1).fit(*diabetes)
    for rung in search.rung_splits_:
        assert [bits(t) for t, _ in rung] == [bits(t) for t, _ in search.splits_]


# ------------------------------------------------------------ bad input
class TestBadInput:
    def test_rungs_must_be_known(self, diabetes):
        with pytest.raises(InvalidParameterError, match="'rungs' parameter"):
            halving(rungs="resume").fit(*diabetes)

    def test_a_callback_whose_state_cannot_carry(self, diabetes):
        net = small_net(callbacks=[keras.callbacks.ReduceLROnPlateau()])
        search = ReconciledHalvingGridSearchCV(
            net, GRID, resource="epochs", min_resources=2, max_resources=6, cv=2
        )
        with pytest.raises(ValueError, match="ReduceLROnPlateau, whose state"):
            search.fit(*diabetes)
        # retrain needs nothing carried
        search.set_params(
            rungs="retrain", param_grid={"optimizer__learning_rate": [0.1]}
        )
        search.fit(*diabetes)

    def test_epochs_cannot_be_searched_and_be_the_resource(self, diabetes):
        search = halving({"epochs": [2, 3]})
        with pytest.raises(ValueError, match="Cannot use parameter epochs"):
            search.fit(*diabetes)

    def test_manual_loop_needs_a_fitted_search(self, diabetes):
        with pytest.raises(NotFittedError):
            halving().manual_loop(*diabetes)

    def test_no_tuner_path(self, halved, diabetes):
        with pytest.raises(ValueError, match="not compared with a tuner"):
            halved.reconcile(*diabetes, tuner=object())


def test_an_estimator_the_journal_cannot_key_still_continues(diabetes):
    # a build function defined here is not importable by name: no journal
    # key, but a temporary snapshot folder needs none
    def build(meta):
        return keras.Sequential(
            [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)]
        )

    net = SeededKerasRegressor(
        model=build, optimizer="adam", loss="mse", random_state=0
    )
    search = four_rates(net).fit(*diabetes)
    assert search.epochs_trained_ == 2 * (4 * 2 + 2 * 4)  # it continued
    assert search.reconcile(*diabetes).max_abs_diff == 0.0
