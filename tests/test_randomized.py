"""ReconciledRandomizedSearchCV: RandomizedSearchCV's candidates, reconciled."""

import joblib
import numpy as np
import pytest
from conftest import bits, on_dask, small_net
from scipy.stats import loguniform
from sklearn.linear_model import Ridge
from sklearn.model_selection import RandomizedSearchCV

from seeded_keras import ReconciledRandomizedSearchCV, ReconciledSearchCV

MSE = "neg_mean_squared_error"
SPACE = {
    "optimizer__learning_rate": loguniform(1e-3, 1e-1),
    "model__hidden_layer_sizes": [(4,), (8,)],
}


def make_search(**params):
    defaults = dict(n_iter=3, scoring=MSE, cv=2, random_state=0)
    defaults.update(params)
    return ReconciledRandomizedSearchCV(small_net(random_state=None), SPACE, **defaults)


def scores(search):
    r = search.cv_results_
    return {k: bits(v) for k, v in r.items() if k.startswith("split") or "mse" in k}


@pytest.fixture(scope="module")
def reference(diabetes):
    X, y = diabetes
    search = make_search().fit(X, y)
    return search, search.reconcile(X, y)


def test_reconciles_bitwise(reference):
    search, report = reference
    assert report.max_abs_diff == 0.0 and len(report.rows) == 6
    report.assert_agree()


def test_same_candidates_as_randomized_search_cv(reference, diabetes):
    X, y = diabetes
    search, _ = reference
    theirs = RandomizedSearchCV(
        small_net(), SPACE, n_iter=3, cv=2, scoring=MSE, random_state=0
    ).fit(X, y)
    assert search.cv_results_["params"] == theirs.cv_results_["params"]


@pytest.mark.parametrize("random_state", [0, "RandomState"])
def test_n_seeds_never_changes_the_candidates(diabetes, random_state):
    X, y = diabetes[0], diabetes[1]
    grid = {"alpha": loguniform(1e-2, 1e2)}

    def state():
        return np.random.RandomState(3) if random_state == "RandomState" else 0

    theirs = RandomizedSearchCV(Ridge(), grid, n_iter=4, random_state=state())
    drawn = theirs.fit(X, y).cv_results_["params"]
    for n_seeds in (1, 2):
        search = ReconciledRandomizedSearchCV(
            small_net(epochs=1),
            {"optimizer__" + "learning_rate": grid["alpha"]},
            n_iter=4,
            cv=2,
            scoring=MSE,
            random_state=state(),
            n_seeds=n_seeds,
        )
        search.fit(X[:40], y[:40])
        lrs = [p["optimizer__learning_rate"] for p in search.cv_results_["params"]]
        assert lrs == [p["alpha"] for p in drawn]


def test_grid_twin_and_randomized_twin_agree_on_the_same_candidates(
    reference, diabetes
):
    X, y = diabetes
    search, _ = reference
    grid = [{k: [v] for k, v in p.items()} for p in search.cv_results_["params"]]
    twin = ReconciledSearchCV(
        small_net(random_state=None), grid, scoring=MSE, cv=2, random_state=0
    ).fit(X, y)
    for i in range(2):
        assert bits(twin.cv_results_[f"split{i}_test_score"]) == bits(
            search.cv_results_[f"split{i}_test_score"]
        )


def test_unknown_name_in_distributions(diabetes):
    X, y = diabetes
    search = ReconciledRandomizedSearchCV(
        small_net(), {"optimizer__learnig_rate": loguniform(1e-3, 1e-1)}, n_iter=2
    )
    with pytest.raises(
        ValueError,
        match="Unknown parameter 'optimizer__learnig_rate' for the optimizer Adam; "
        "did you mean 'optimizer__learning_rate'\\?",
    ):
        search.fit(X, y)


@pytest.mark.slow
class TestParallel:
    @pytest.mark.parametrize("backend", ["loky", "threading"])
    def test_joblib_backends(self, reference, diabetes, backend):
        X, y = diabetes
        with joblib.parallel_backend(backend):
            search = make_search(n_jobs=2).fit(X, y)
        assert scores(search) == scores(reference[0])
        assert search.reconcile(X, y).max_abs_diff == 0.0

    def test_dask_local_cluster(self, reference, diabetes):
        X, y = diabetes
        with on_dask():
            search = make_search(n_jobs=-1).fit(X, y)
        assert scores(search) == scores(reference[0])
        assert search.reconcile(X, y).max_abs_diff == 0.0
