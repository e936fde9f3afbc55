"""ReconciledSearchCV: the search and the manual loop agree fit by fit."""

import os
import pickle
import re
import textwrap

import joblib
import numpy as np
import pytest
from conftest import bits, fresh_python, small_net
from scikeras.wrappers import KerasRegressor
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from seeded_keras import (
    ReconciledSearchCV,
    ReconciliationError,
    ReconciliationReport,
    mlp,
)

GRID = {"optimizer__learning_rate": [0.01, 0.1]}
MSE = "neg_mean_squared_error"


def make_search(**params):
    defaults = dict(scoring=MSE, cv=3, random_state=0)
    defaults.update(params)
    return ReconciledSearchCV(small_net(random_state=None), GRID, **defaults)


def seed_scores(search):
    """Every per-fold (and per-seed) test score and the mean MSE, as raw bytes."""
    r = search.cv_results_
    keys = [k for k in r if k.startswith("split") and "_test_" in k]
    assert keys, "no per-fold scores"
    return {k: bits(r[k]) for k in [*keys, "mean_test_mse"]}


@pytest.fixture(scope="module")
def searched(diabetes):
    X, y = diabetes
    search = make_search(n_seeds=2).fit(X, y)
    return search, search.reconcile(X, y)


class TestReconciliation:
    def test_every_fit_agrees_bitwise(self, searched):
        search, report = searched
        assert len(report.rows) == 2 * 3 * 2
        assert report.max_abs_diff == 0.0
        for row in report.rows:
            assert row["search_mse"] == row["manual_mse"]
        report.assert_agree()

    def test_same_best_candidate(self, searched):
        search, report = searched
        assert report.same_best
        assert report.best_candidates == (search.best_index_, search.best_index_)

    def test_cv_results_columns(self, searched):
        search, _ = searched
        r = search.cv_results_
        per_seed = np.array(
            [[r[f"split{i}_seed{j}_test_score"] for j in range(2)] for i in range(3)]
        )  # (fold, seed, candidate)
        assert np.array_equal(r["split1_test_score"], per_seed[1].mean(axis=0))
        np.testing.assert_array_equal(r["mean_test_mse"], -per_seed.mean(axis=(0, 1)))
        assert np.array_equal(r["std_fold_mse"], (-per_seed).mean(axis=1).std(axis=0))
        assert np.array_equal(r["std_seed_mse"], (-per_seed).mean(axis=0).std(axis=0))
        assert np.all(r["std_seed_mse"] > 0)
        assert len(r["params"]) == 2 and "repeat" not in r["params"][0]

    def test_manual_loop_has_the_search_shape(self, searched, diabetes):
        search, report = searched
        manual = {k: v for k, v in report.manual.items() if k != "fits"}
        for key, value in manual.items():
            if key == "params":
                assert value == search.cv_results_["params"]
            else:
                assert bits(value) == bits(search.cv_results_[key]), key

    def test_seeds_common_across_candidates_distinct_across_folds(self, searched):
        _, report = searched
        seeds = {
            (r["candidate"], r["split"], r["repeat"]): r["seed"] for r in report.rows
        }
        for i in range(3):
            for j in range(2):
                assert seeds[0, i, j] == seeds[1, i, j]
        assert len({seeds[0, i, j] for i in range(3) for j in range(2)}) == 6

    def test_report_views(self, searched):
        _, report = searched
        frame = report.to_frame()
        assert list(frame.columns[:4]) == ["candidate", "params", "split", "repeat"]
        assert len(frame) == 12 and (frame["abs_diff"] == 0).all()
        text = report.summary()
        assert "max |search - manual| over 12 fits: 0.0" in text
        fig = report.plot()
        assert fig.axes[0].get_ylabel() == "MSE"

    def test_assert_agree_shows_a_readable_diff(self, searched):
        _, report = searched
        rows = [dict(r) for r in report.rows]
        rows[0]["manual_mse"] += 1.0
        rows[0]["abs_diff"] = 1.0
        broken = ReconciliationReport(rows, report.candidates)
        expected = (
            f"split 0 repeat 0: search {rows[0]['search_mse']!r} vs manual "
            f"{rows[0]['manual_mse']!r} (diff 1)"
        )
        with pytest.raises(
            ReconciliationError,
            match=f"(?s)^1 of 12 fits differ .*{re.escape(expected)}",
        ):
            broken.assert_agree()
        broken.assert_agree(atol=1.0)

    def test_candidate_order_does_not_matter(self, searched, diabetes):
        X, y = diabetes
        search, _ = searched
        flipped = ReconciledSearchCV(
            small_net(),
            {"optimizer__learning_rate": [0.1, 0.01]},
            scoring=MSE,
            cv=3,
            random_state=0,
            n_seeds=2,
        ).fit(X, y)
        for i in range(3):
            for j in range(2):
                col = f"split{i}_seed{j}_test_score"
                assert bits(flipped.cv_results_[col][::-1]) == bits(
                    search.cv_results_[col]
                )

    def test_fit_params_are_replayed(self, diabetes):
        X, y = diabetes
        weights = np.linspace(0.5, 2.0, len(y))
        search = make_search(cv=2).fit(X, y, sample_weight=weights)
        assert search.reconcile(X, y, sample_weight=weights).max_abs_diff == 0.0
        unweighted = search.reconcile(X, y)
        assert unweighted.max_abs_diff > 0.0  # the weights really mattered

    def test_pipeline_reconciles(self, diabetes):
        X, y = diabetes
        pipe = Pipeline([("scale", StandardScaler()), ("net", small_net())])
        search = ReconciledSearchCV(
            pipe,
            {"net__optimizer__learning_rate": [0.01, 0.1]},
            scoring=MSE,
            cv=2,
            random_state=0,
        ).fit(X, y)
        report = search.reconcile(X, y)
        assert report.max_abs_diff == 0.0 and report.same_best
        assert search.best_estimator_[-1].random_state == 0


@pytest.fixture(scope="module")
def reference(diabetes):
    """TestParallel's reference: per-seed scores at n_jobs=1, cv=2."""
    X, y = diabetes
    return seed_scores(make_search(cv=2).fit(X, y))


@pytest.mark.slow
class TestParallel:
    @pytest.mark.parametrize("backend", ["loky", "threading"])
    def test_joblib_backends_match_n_jobs_1(self, diabetes, reference, backend):
        X, y = diabetes
        with joblib.parallel_backend(backend):
            search = make_search(cv=2, n_jobs=2).fit(X, y)
        assert seed_scores(search) == reference

    @pytest.mark.parametrize("processes,workers,threads", [(True, 2, 1), (True, 1, 2)])
    def test_dask_matches_n_jobs_1(
        self, diabetes, reference, processes, workers, threads
    ):
        distributed = pytest.importorskip("distributed")
        X, y = diabetes
        with (
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=threads,
                processes=processes,
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster),
        ):
            with joblib.parallel_backend("dask"):
                search = make_search(cv=2, n_jobs=-1).fit(X, y)
        assert seed_scores(search) == reference

    @pytest.mark.parametrize("reuse", ["1", "0"])
    def test_fresh_interpreter_matches(self, reference, reuse):
        """Also with no traced-model reuse: the speed-up changes no bit."""
        script = textwrap.dedent(
            """
            import json, sys
            sys.path.insert(0, "tests")
            from conftest import bits
            from test_search import make_search, seed_scores
            from sklearn.datasets import load_diabetes
            X, y = load_diabetes(return_X_y=True)
            print(json.dumps(seed_scores(make_search(cv=2).fit(X[:160], y[:160]))))
            """
        )
        import json

        out = fresh_python(script, SEEDED_KERAS_REUSE=reuse)
        assert json.loads(out.strip().splitlines()[-1]) == reference

    @pytest.mark.slow
    @pytest.mark.skipif(
        not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
        reason="needs sched_setaffinity and two CPUs",
    )
    def test_pinned_workers_hold_a_cpu_each_and_change_no_bit(
        self, reference, tmp_path
    ):
        script = textwrap.dedent(
            """
            import json, os, sys
            sys.path.insert(0, "tests")
            from test_search import make_search, seed_scores
            from sklearn.datasets import load_diabetes

            def cpus_of_every_thread():
                import time
                from seeded_keras import _scheduler
                _scheduler.warm_up()  # what each of our workers runs first
                time.sleep(0.3)  # long enough that both workers get probes
                tasks = os.listdir("/proc/self/task")
                return os.getpid(), sorted(
                    {tuple(sorted(os.sched_getaffinity(int(t)))) for t in tasks}
                )

            from seeded_keras import _compat

            X, y = load_diabetes(return_X_y=True)
            # the parent and two loky workers of seeded_keras's own
            search = make_search(cv=2, n_jobs=3).fit(X[:160], y[:160])
            executor = _compat.loky_executor(2)  # the same, still warm
            probes = [executor.submit(cpus_of_every_thread) for _ in range(8)]
            workers = dict(p.result() for p in probes)
            print(json.dumps([seed_scores(search), list(workers.values()),
                              sorted(os.sched_getaffinity(0))]))
            """
        )
        import json

        # pinned by default; CPU locks of its own (this process's workers,
        # pinned too, hold those in the usual temporary directory)
        out = fresh_python(script, TMPDIR=str(tmp_path))
        scores, workers, main_cpus = json.loads(out.strip().splitlines()[-1])
        assert scores == reference
        # Every thread of a worker on that worker's one CPU, no CPU shared;
        # the main process is never pinned.
        assert all(len(cpus) == 1 and len(cpus[0]) == 1 for cpus in workers)
        assert len({cpus[0][0] for cpus in workers}) == len(workers) == 2
        assert main_cpus == sorted(os.sched_getaffinity(0))


class TestGridSearchCVPatterns:
    def test_refit_false(self, diabetes):
        X, y = diabetes
        search = make_search(cv=2, refit=False).fit(X, y)
        assert not hasattr(search, "best_estimator_")
        mean = search.cv_results_["mean_test_score"]
        assert mean[0] != mean[1]  # no tie: the best is the higher score
        assert search.best_index_ == int(np.argmax(mean))

    def test_dict_scoring_refit_by_name_and_train_scores(self, diabetes):
        X, y = diabetes
        search = make_search(
            cv=2,
            scoring={"mse": MSE, "r2": "r2"},
            refit="r2",
            return_train_score=True,
        ).fit(X, y)
        r = search.cv_results_
        for key in (
            "mean_test_r2",
            "mean_test_mse",
            "split1_test_r2",
            "split0_train_mse",
            "mean_train_r2",
        ):
            assert key in r
        assert search.best_index_ == int(np.argmax(r["mean_test_r2"]))
        assert search.reconcile(X, y).max_abs_diff == 0.0

    def test_refit_callable(self, diabetes):
        X, y = diabetes
        search = make_search(cv=2, refit=lambda r: 1).fit(X, y)
        assert search.best_index_ == 1
        assert search.best_params_ == {"optimizer__learning_rate": 0.1}
        assert search.predict(X[:3]).shape == (3,)

    def test_pickle(self, searched, diabetes):
        X, _ = diabetes
        search, _ = searched
        loaded = pickle.loads(pickle.dumps(search))
        assert bits(loaded.predict(X[:10])) == bits(search.predict(X[:10]))
        assert loaded.splits_[0][0].tolist() == search.splits_[0][0].tolist()

    def test_one_shot_splitter_and_unseeded_shuffle_are_frozen(self, diabetes):
        X, y = diabetes
        one_shot = iter(list(KFold(3, shuffle=True, random_state=1).split(X)))
        search = make_search(cv=one_shot).fit(X, y)
        assert len(search.splits_) == 3
        assert search.reconcile(X, y).max_abs_diff == 0.0
        reshuffling = make_search(cv=KFold(2, shuffle=True)).fit(X, y)
        assert reshuffling.reconcile(X, y).max_abs_diff == 0.0

    def test_any_sklearn_estimator_matches_gridsearchcv(self, diabetes):
        X, y = diabetes
        grid = {"alpha": [0.1, 1.0]}
        ours = ReconciledSearchCV(Ridge(), grid, scoring=MSE, cv=3).fit(X, y)
        theirs = GridSearchCV(Ridge(), grid, scoring=MSE, cv=3).fit(X, y)
        for key in ("mean_test_score", "rank_test_score", "split2_test_score"):
            assert bits(ours.cv_results_[key]) == bits(theirs.cv_results_[key])
        assert ours.best_params_ == theirs.best_params_
        assert ours.reconcile(X, y).max_abs_diff == 0.0


def test_verbose_prints_progress_and_changes_no_result(diabetes, capsys):
    X, y = diabetes
    grid = {"alpha": [0.1, 1.0, 10.0]}
    quiet = ReconciledSearchCV(Ridge(), grid, scoring=MSE, cv=3).fit(X, y)
    loud = ReconciledSearchCV(Ridge(), grid, scoring=MSE, cv=3, verbose=1).fit(X, y)
    out, err = capsys.readouterr()
    fitting = [ln for ln in out.splitlines() if ln.startswith("Fitting")]
    assert fitting == ["Fitting 3 folds for each of 3 candidates, totalling 9 fits"]
    assert "search: 3/9 fits" in err and "search: 9/9 fits" in err and "ETA" in err
    assert "\r" not in err
    loud.manual_loop(X, y)
    assert "manual loop: 9/9 fits" in capsys.readouterr().err
    for key in ("mean_test_score", "split2_test_score", "rank_test_score"):
        assert bits(quiet.cv_results_[key]) == bits(loud.cv_results_[key])


def width_checked_mlp(meta, compile_kwargs, hidden_layer_sizes=(8,)):
    """mlp, with one error message whatever the Keras version."""
    if min(hidden_layer_sizes) < 1:
        raise ValueError(f"widths must be positive: {hidden_layer_sizes}")
    return mlp(meta, compile_kwargs, hidden_layer_sizes)


class TestErrors:
    def test_unknown_grid_name(self, diabetes):
        X, y = diabetes
        search = ReconciledSearchCV(small_net(), {"epoch": [1, 2]}, scoring=MSE)
        with pytest.raises(
            ValueError,
            match="Unknown parameter 'epoch' in param_grid; did you mean 'epochs'\\?",
        ):
            search.fit(X, y)
        assert not hasattr(search, "cv_results_")

    def test_misspelled_routed_grid_name(self, diabetes):
        X, y = diabetes
        pipe = Pipeline([("scale", StandardScaler()), ("net", small_net())])
        search = ReconciledSearchCV(
            pipe, {"net__optimizer__learnig_rate": [0.1]}, scoring=MSE
        )
        with pytest.raises(
            ValueError, match="did you mean .net__optimizer__learning_rate."
        ):
            search.fit(X, y)

    def test_bad_data_caught_before_the_sweep(self, diabetes):
        X, y = diabetes
        X = X.copy()
        X[3, 3] = np.nan
        with pytest.raises(ValueError, match="Input X contains NaN"):
            make_search().fit(X, y)
        with pytest.raises(ValueError, match="requires y to be passed"):
            make_search().fit(X, None)

    def test_n_seeds_needs_a_seeded_regressor(self, diabetes):
        X, y = diabetes
        with pytest.raises(ValueError, match="n_seeds=2 needs a SeededKerasRegressor"):
            ReconciledSearchCV(Ridge(), {"alpha": [1.0]}, n_seeds=2).fit(X, y)
        with pytest.raises(
            ValueError, match="The 'n_seeds' parameter of ReconciledSearchCV"
        ):
            make_search(n_seeds=0).fit(X, y)

    def test_reconcile_needs_mse(self, diabetes):
        X, y = diabetes
        search = ReconciledSearchCV(Ridge(), {"alpha": [1.0]}, cv=2).fit(X, y)
        with pytest.raises(
            ValueError,
            match="reconcile compares mean squared errors, but this search was "
            "scored with scoring=None",
        ):
            search.reconcile(X, y)

    def test_failing_fit_raises_with_error_score_raise(self, diabetes):
        X, y = diabetes
        search = ReconciledSearchCV(
            small_net(model=width_checked_mlp),
            {"model__hidden_layer_sizes": [(4,), (-1,)]},
            scoring=MSE,
            cv=2,
            error_score="raise",
        )
        with pytest.raises(ValueError, match=r"^widths must be positive: \(-1,\)$"):
            search.fit(X, y)

    def test_failing_fit_recorded_by_default_as_gridsearchcv(self, diabetes):
        X, y = diabetes
        search = ReconciledSearchCV(
            small_net(),
            {"model__hidden_layer_sizes": [(4,), (-1,)]},
            scoring=MSE,
            cv=2,
            random_state=0,
        )
        assert search.error_score is GridSearchCV(Ridge(), {}).error_score  # np.nan
        with pytest.warns(FitFailedWarning, match="2 fits failed out of a total of 4"):
            search.fit(X, y)
        assert [(f["candidate"], f["split"]) for f in search.fit_failures_] == [
            (1, 0),
            (1, 1),
        ]
        assert all("ValueError" in f["message"] for f in search.fit_failures_)
        assert np.isfinite(search.cv_results_["mean_test_mse"][0])
        assert search.best_index_ == 0
        report = search.reconcile(X, y)
        assert report.max_abs_diff == 0.0  # both paths failed the same fits
        assert [r["failed"] != "" for r in report.rows] == [False, False, True, True]
        summary = report.summary()
        assert "failed fits: 2" in summary
        assert (
            "  candidate 1 split 0 repeat 0 failed in both paths (they agree): "
            "ValueError: " in summary
        )
        witness = search.reconcile(X, y, witness="keras")  # plain Keras fails too
        assert witness.max_abs_diff == 0.0
        assert [r["failed"] != "" for r in witness.rows] == [False] * 2 + [True] * 2

    def test_plain_scikeras_warns(self, diabetes):
        X, y = diabetes
        plain = KerasRegressor(
            mlp, loss="mse", epochs=1, verbose=0, model__hidden_layer_sizes=(4,)
        )
        with pytest.warns(
            UserWarning, match="KerasRegressor at 'estimator' seeds process-global"
        ):
            ReconciledSearchCV(plain, {"batch_size": [32]}, scoring=MSE, cv=2).fit(X, y)


class TestDropIn:
    """What GridSearchCV does, ReconciledSearchCV does (issue: drop-in)."""

    def test_one_seed_adds_no_seed_columns(self, diabetes):
        X, y = diabetes
        grid = {"alpha": [0.1, 1.0]}
        ours = ReconciledSearchCV(Ridge(), grid, cv=3).fit(X, y).cv_results_
        theirs = GridSearchCV(Ridge(), grid, cv=3).fit(X, y).cv_results_
        assert sorted(ours) == sorted(theirs)
        with_mse = ReconciledSearchCV(Ridge(), grid, cv=3, scoring=MSE).fit(X, y)
        extra = set(with_mse.cv_results_) - set(theirs)
        assert extra == {"mean_test_mse", "std_fold_mse", "std_seed_mse"}

    def test_custom_run_search_subclass(self, diabetes):
        X, y = diabetes

        class TwoRounds(ReconciledSearchCV):
            def _run_search(self, evaluate_candidates):
                evaluate_candidates([{"alpha": 0.1}])
                evaluate_candidates([{"alpha": 1.0}])

        ours = TwoRounds(Ridge(), {}, cv=3, scoring=MSE).fit(X, y).cv_results_
        theirs = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=3, scoring=MSE)
        theirs = theirs.fit(X, y).cv_results_
        for key, value in theirs.items():
            if "time" not in key and key != "params":
                assert bits(np.asarray(ours[key])) == bits(np.asarray(value)), key

    def test_error_score_nan_warns_as_gridsearchcv(self, diabetes):
        X, y = diabetes

        def fake_score_func(y_true, y_pred):
            return 0.5

        weights = np.ones(len(y))
        for Search in (GridSearchCV, ReconciledSearchCV):
            search = Search(
                Ridge(), {"alpha": [1.0]}, scoring=fake_score_func, error_score=np.nan
            )
            with pytest.warns(UserWarning, match="does not support sample_weight"):
                search.fit(X, y, sample_weight=weights)

    def test_ties_rank_the_same_in_every_path(self, diabetes):
        X, y = diabetes
        grid = {"alpha": [5.0, 1.0, 1.0, 0.1]}  # two identical candidates
        search = ReconciledSearchCV(Ridge(), grid, cv=3, scoring=MSE).fit(X, y)
        theirs = GridSearchCV(Ridge(), grid, cv=3, scoring=MSE).fit(X, y)
        manual = search.manual_loop(X, y)
        ranks = search.cv_results_["rank_test_score"].tolist()
        assert ranks == theirs.cv_results_["rank_test_score"].tolist()
        assert manual["rank_test_score"].tolist() == ranks
        assert ranks[1] == ranks[2]  # the tie shares one rank


def test_sklearn_progress_bar_callback_on_a_sweep(diabetes):
    callback = pytest.importorskip("sklearn.callback")
    pytest.importorskip("rich")
    X, y = diabetes
    plain = make_search(cv=2, n_seeds=2).fit(X, y)
    with_bar = make_search(cv=2, n_seeds=2).set_callbacks(callback.ProgressBar())
    with_bar.fit(X, y)
    assert seed_scores(with_bar) == seed_scores(plain)
    assert with_bar.reconcile(X, y).max_abs_diff == 0.0
