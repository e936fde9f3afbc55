"""The Keras Tuner path: trials scored on the search's folds and seeds."""

import keras_tuner as kt
import numpy as np
import pytest
from conftest import small_net

from seeded_keras import (
    ReconciledSearchCV,
    ReconciledTuner,
    SeededKerasRegressor,
    grid_to_hyperparameters,
    hyperparameters_to_grid,
)

GRID = {"optimizer__learning_rate": [0.01, 0.1]}
MSE = "neg_mean_squared_error"


@pytest.fixture(scope="module")
def paths(diabetes, tmp_path_factory):
    X, y = diabetes
    search = ReconciledSearchCV(
        small_net(), GRID, scoring=MSE, cv=2, n_seeds=2, random_state=0
    ).fit(X, y)
    tuner = ReconciledTuner(
        small_net(),
        grid_to_hyperparameters(GRID),
        cv=search.splits_,
        n_seeds=2,
        random_state=0,
        directory=str(tmp_path_factory.mktemp("kt")),
        project_name="p",
    ).search(X, y)
    return search, tuner


class TestTuner:
    def test_objective_equals_search_mean_mse_bitwise(self, paths):
        search, tuner = paths
        executions = tuner.executions()
        assert len(executions) == 2
        for record in executions:
            c = search.cv_results_["params"].index(record["params"])
            assert record["mse"] == search.cv_results_["mean_test_mse"][c]
        best = tuner.oracle.get_best_trials(1)[0]
        assert best.hyperparameters.values == search.best_params_

    def test_every_execution_is_kept(self, paths):
        _, tuner = paths
        for record in tuner.executions():
            assert sorted((f["split"], f["repeat"]) for f in record["fits"]) == [
                (0, 0),
                (0, 1),
                (1, 0),
                (1, 1),
            ]
            assert len({f["seed"] for f in record["fits"]}) == 4

    def test_third_path_in_the_report(self, paths, diabetes):
        search, tuner = paths
        report = search.reconcile(*diabetes, tuner=tuner)
        frame = report.to_frame()
        assert (frame["tuner_mse"] == frame["manual_mse"]).all()
        assert report.max_abs_diff == 0.0

    def test_resume_skips_finished_trials_and_refuses_other_protocols(
        self, diabetes, tmp_path
    ):
        X, y = diabetes
        calls = []

        class Counting(ReconciledTuner):
            interrupt_at = None

            def run_trial(self, trial, X, y):
                if len(calls) == self.interrupt_at:
                    raise KeyboardInterrupt  # the user pressed Ctrl-C
                calls.append(dict(trial.hyperparameters.values))
                return super().run_trial(trial, X, y)

        kwargs = dict(cv=2, random_state=0, directory=str(tmp_path), project_name="p")
        first = Counting(small_net(), grid_to_hyperparameters(GRID), **kwargs)
        first.interrupt_at = 1
        with pytest.raises(KeyboardInterrupt):
            first.search(X, y)
        assert len(calls) == 1
        resumed = Counting(small_net(), grid_to_hyperparameters(GRID), **kwargs)
        resumed.search(X, y)
        assert len(calls) == 2 and calls[0] != calls[1]
        assert len(resumed.executions()) == 2
        other = ReconciledTuner(
            small_net(), grid_to_hyperparameters(GRID), **{**kwargs, "cv": 3}
        )
        with pytest.raises(
            ValueError,
            match="different protocol \\(splits_sha256 differ\\); its trials cannot be mixed",
        ):
            other.search(X, y)

    def test_hyperparameter_the_build_function_may_ignore_warns(self, tmp_path):
        def build(meta, compile_kwargs, **kwargs):
            return None

        hp = kt.HyperParameters()
        hp.Choice("model__units", [4, 8])
        with pytest.warns(
            UserWarning,
            match="'model__units' reaches build function build only through \\*\\*kwargs",
        ):
            ReconciledTuner(
                SeededKerasRegressor(build),
                hp,
                directory=str(tmp_path),
                overwrite=True,
            )

    def test_unknown_hyperparameter_name(self, tmp_path):
        hp = kt.HyperParameters()
        hp.Choice("optimizer__learnig_rate", [0.1, 0.2])
        with pytest.raises(ValueError, match="did you mean 'optimizer__learning_rate'"):
            ReconciledTuner(small_net(), hp, directory=str(tmp_path), overwrite=True)


class TestConversion:
    def test_grid_round_trip(self):
        grid = {
            "a": [1, 2, 3],
            "b": [0.1, 0.2],
            "c": ["x", "y"],
            "d": [False, True],
            "e": [7],
        }
        assert hyperparameters_to_grid(grid_to_hyperparameters(grid)) == grid

    def test_ranges_enumerate(self):
        hp = kt.HyperParameters()
        hp.Int("units", 8, 32, step=8)
        hp.Float("lr", 0.1, 0.3, step=0.1)
        hp.Boolean("flag")
        hp.Fixed("epochs", 5)
        grid = hyperparameters_to_grid(hp)
        assert grid["units"] == [8, 16, 24, 32]
        np.testing.assert_allclose(grid["lr"], [0.1, 0.2, 0.3])
        assert grid["flag"] == [False, True] and grid["epochs"] == [5]

    def test_inexpressible_values_are_named(self):
        with pytest.raises(
            ValueError,
            match="param_grid\\['model__hidden_layer_sizes'\\].*\\(8,\\) is not a bool, int, float or str",
        ):
            grid_to_hyperparameters({"model__hidden_layer_sizes": [(8,), (16,)]})
        hp = kt.HyperParameters()
        hp.Float("lr", 0.1, 0.3)
        with pytest.raises(ValueError, match="Float hyperparameter 'lr' has no step"):
            hyperparameters_to_grid(hp)
