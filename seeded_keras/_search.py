"""ReconciledSearchCV: GridSearchCV on frozen folds, shared seeds and settings.

The search differs from ``GridSearchCV`` in three places only: ``fit``
prepares the shared :class:`~seeded_keras._protocol.Protocol` (frozen folds,
seed base, grid names checked) and hands it to ``BaseSearchCV.fit``;
``_run_search`` repeats every candidate once per seed; ``_format_results``
merges the seeds (:mod:`seeded_keras._results`).  :meth:`manual_loop` and
:meth:`reconcile` replay the same protocol as plain Python.
"""

from __future__ import annotations

from numbers import Integral

from sklearn.model_selection import GridSearchCV, ParameterGrid
from sklearn.utils.validation import check_is_fitted

from . import _compat
from ._checks import check_grid_names, check_xy
from ._protocol import (
    MSE_SCORER,
    FrozenSplits,
    Protocol,
    freeze_splits,
    mse_scorer_name,
    seeded_paths,
)
from ._results import merge_seeds

__all__ = ["ReconciledSearchCV"]


class ReconciledSearchCV(GridSearchCV):
    """GridSearchCV whose every fit can be reproduced by a plain manual loop.

    A drop-in for :class:`sklearn.model_selection.GridSearchCV`: same
    parameters, attributes and methods.  In addition it

    * freezes the CV folds once per ``fit`` into ``splits_`` (a shuffling
      splitter is drawn once; a one-shot iterator is read once) and hands that
      list to every candidate, repeat and path;
    * gives every :class:`SeededKerasRegressor` in the estimator the same
      ``random_state`` base, so each fit's seed depends only on its training
      rows and its repeat -- candidates share seeds fold by fold;
    * fits each (candidate, fold) ``n_seeds`` times (``repeat`` = 0 ..
      ``n_seeds - 1``) and reports each seed's score;
    * replays the same fits as plain Python (:meth:`manual_loop`) and
      compares both paths fit by fit (:meth:`reconcile`).

    Settings other than the grid's (optimizer, loss, epochs, batch size,
    callbacks, ``validation_fraction``) come from ``estimator`` unchanged, so
    they are the same for every candidate and path.

    Parameters
    ----------
    estimator : estimator object
        Typically a :class:`SeededKerasRegressor` or a Pipeline ending in one;
        any scikit-learn estimator works as in GridSearchCV.
    param_grid : dict or list of dicts
        Names are checked before any training ("did you mean ...").
    scoring : str, callable, list, tuple, dict or None, default=None
        As in GridSearchCV.  :meth:`reconcile` compares MSE, so it needs
        ``"neg_mean_squared_error"`` among the scorers; with it,
        ``cv_results_`` also gains ``mean_test_mse`` (positive),
        ``std_fold_mse`` and ``std_seed_mse``.
    n_jobs : int or None, default=None
        Works with joblib's loky, threading and dask backends, with results
        bitwise identical to ``n_jobs=1``.  On Linux,
        ``SEEDED_KERAS_PIN_WORKERS=1`` in the environment before the workers
        start gives each worker process a CPU of its own, which makes
        process-based sweeps of small networks faster (see the parallel
        guide); results are the same bits either way.
    refit : bool, str or callable, default=True
    cv : int, cross-validation generator or iterable, default=None
    verbose : int, default=0
        As in GridSearchCV; any positive value also prints a progress line
        (fits done / total, elapsed, ETA) after each candidate, which then
        runs its folds and seeds as one parallel batch.
    pre_dispatch : int or str, default="2*n_jobs"
    error_score : "raise" or numeric, default="raise"
        Unlike GridSearchCV (``np.nan``), a failing fit stops the search by
        default: a silent NaN hides bugs.  Pass ``np.nan`` to go on; failures
        are then kept in ``fit_failures_`` and marked in the reconciliation
        report.
    return_train_score : bool, default=False
    random_state : int, RandomState or None, default=None
        Base seed of every SeededKerasRegressor fit.  ``None`` keeps each
        estimator's own ``random_state``; where that is ``None`` too, one base
        is drawn per ``fit`` (recorded in ``random_state_``) so the paths
        still agree.
    n_seeds : int, default=1
        Fits per (candidate, fold), with ``repeat`` = 0 .. ``n_seeds - 1``.
        The fold score is the mean over seeds.

    Attributes
    ----------
    splits_ : list of (ndarray, ndarray)
        The folds every path used.
    random_state_ : int or None
        Base seed given to the SeededKerasRegressors (None when there is none).
    base_estimator_ : estimator
        The unfitted estimator every fit was cloned from (``estimator`` with
        the seed base set).
    fit_failures_ : list of dict
        ``candidate``, ``split``, ``repeat`` and ``message`` of each failed fit.
    cv_results_ : dict of ndarray
        As in GridSearchCV plus ``split{i}_seed{j}_test_<name>`` columns and,
        with an MSE scorer, ``mean_test_mse``, ``std_fold_mse`` (spread of the
        seed-averaged MSE across folds) and ``std_seed_mse`` (spread of the
        fold-averaged MSE across seeds).
    best_estimator_, best_params_, best_score_, best_index_, scorer_, \
n_splits_, refit_time_, multimetric_
        As in GridSearchCV.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from seeded_keras import ReconciledSearchCV, SeededKerasRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> search = ReconciledSearchCV(
    ...     SeededKerasRegressor(epochs=2, optimizer="adam"),
    ...     {"optimizer__learning_rate": [0.01, 0.1]},
    ...     scoring="neg_mean_squared_error", cv=2, random_state=0,
    ... ).fit(X[:100], y[:100])
    >>> report = search.reconcile(X[:100], y[:100])
    >>> report.max_abs_diff
    0.0
    """

    _parameter_constraints: dict = {
        **GridSearchCV._parameter_constraints,
        "random_state": ["random_state"],
        "n_seeds": [_compat.Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="2*n_jobs",
        error_score="raise",
        return_train_score=False,
        random_state=None,
        n_seeds=1,
    ):
        super().__init__(
            estimator,
            param_grid,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.random_state = random_state
        self.n_seeds = n_seeds

    # ----------------------------------------------------------- preparation
    def check_param_grid(self) -> None:
        """Check ``param_grid``'s names against the estimator; train nothing.

        ``fit`` runs this check first; call it to validate a grid early.

        Raises
        ------
        ValueError
            Naming the unknown parameter, with a "did you mean".
        """
        check_grid_names(self.param_grid, self.estimator, seeded_paths)

    # ------------------------------------------------------------------- fit
    def fit(self, X, y=None, **params):
        """Run the search on frozen folds; see GridSearchCV.fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        **params : dict
            Passed to the estimator's ``fit``, the scorer and the splitter
            (``groups``), as in GridSearchCV.

        Returns
        -------
        self : ReconciledSearchCV
        """
        _compat.check_parameters(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )
        protocol = Protocol.prepare(
            self.estimator, self.random_state, self.n_seeds, self.param_grid
        )
        if protocol.paths:
            # Every X/y problem is reported once, here, before any fit.  In
            # front of a Pipeline's transformers only y and lengths are ours.
            check_xy(X, y, type(self).__name__, check_X=protocol.paths == [""])
        self._protocol = protocol
        self.random_state_ = protocol.random_state
        self.base_estimator_ = protocol.estimator
        self.fit_failures_ = []
        try:
            protocol.splits = freeze_splits(
                self.cv, X, y, params.get("groups"), protocol.estimator
            )
        except ValueError:
            # Let GridSearchCV report its own problems (scoring, refit, ...)
            # in its own order; the same split fails there if nothing else.
            with _compat.search_with(self, estimator=protocol.estimator):
                super().fit(X, y, **params)
            raise
        self.splits_ = protocol.splits
        frozen = FrozenSplits(self.splits_)
        with _compat.search_with(self, estimator=protocol.estimator, cv=frozen):
            super().fit(X, y, **params)
        return self

    def repeat_params(self, repeat: int) -> dict:
        """The parameters that select seed ``repeat`` (empty when n_seeds=1)."""
        return self._protocol.repeat_params(repeat)

    def _run_search(self, evaluate_candidates):
        candidates = self._protocol.with_seeds(ParameterGrid(self.param_grid))
        if not self.verbose:
            evaluate_candidates(candidates)
            return
        # With verbose, evaluate one candidate (all folds and seeds) at a time
        # and report fits done / total, elapsed and ETA after each.
        from ._progress import Progress

        per = self.n_seeds * len(self.splits_)
        progress = Progress(len(candidates) * len(self.splits_), "search")
        for start in range(0, len(candidates), self.n_seeds):
            evaluate_candidates(candidates[start : start + self.n_seeds])
            progress(n=per)

    def _format_results(self, candidate_params, n_splits, out, more_results=None):
        results, self.fit_failures_ = merge_seeds(
            self,
            candidate_params,
            n_splits,
            out,
            more_results,
            mse_scorer_name(self.scoring),
        )
        return results

    # --------------------------------------------------- the independent path
    def manual_loop(self, X, y, progress=None, **fit_params):
        """Replay every fit of the search as plain Python.

        For each candidate, fold of ``splits_`` and repeat: clone, set_params,
        fit on the train rows, predict the test rows, scikit-learn's
        ``mean_squared_error``.  No GridSearchCV machinery is involved.

        Parameters
        ----------
        X, y : array-like
            The data the search was fitted on.
        progress : callable, optional
            Called with each fit's record as it finishes.
        **fit_params : dict
            The fit parameters given to the search's ``fit`` (e.g.
            ``sample_weight``); arrays with one entry per row are cut to each
            fold's train rows, as GridSearchCV does.

        Returns
        -------
        dict of ndarray
            The same columns as ``cv_results_`` for the MSE scorer
            (``params``, ``split{i}_seed{j}_test_score``,
            ``split{i}_test_score``, ``mean_test_score``, ``std_test_score``,
            ``rank_test_score``, ``mean_test_mse``, ``std_fold_mse``,
            ``std_seed_mse``) plus ``fits``: one record per fit with its
            ``seed`` and ``n_epochs``.
        """
        from ._manual import manual_loop, tabulate

        check_is_fitted(self, "splits_")
        fits = manual_loop(
            self.base_estimator_,
            self.cv_results_["params"],
            self.splits_,
            self.n_seeds,
            self._protocol.repeat_params,
            X,
            y,
            self.error_score,
            progress,
            fit_params,
        )
        return tabulate(
            fits, self.cv_results_["params"], len(self.splits_), self.n_seeds
        )

    def reconcile(self, X, y, progress=None, tuner=None, **fit_params):
        """Compare this search with :meth:`manual_loop`, fit by fit.

        Parameters
        ----------
        X, y : array-like
            The data the search was fitted on.
        progress : callable, optional
            Called with each manual-loop fit's record as it finishes.
        tuner : ReconciledTuner, optional
            A finished tuner search on the same folds and seeds: its
            executions become a third path (``tuner_mse``) in the report.
        **fit_params : dict
            The fit parameters given to the search's ``fit``.

        Returns
        -------
        ReconciliationReport
            One row per candidate x fold x repeat with both paths' MSE.

        Raises
        ------
        ValueError
            When the search was not scored with ``"neg_mean_squared_error"``.
        """
        from ._report import ReconciliationReport

        check_is_fitted(self, "splits_")
        name = mse_scorer_name(self.scoring)
        if name is None:
            raise ValueError(
                f"reconcile compares mean squared errors, but this search was "
                f"scored with scoring={self.scoring!r}. Pass "
                f"scoring='{MSE_SCORER}' (or include it in a list or dict of "
                "scorers)."
            )
        manual = self.manual_loop(X, y, progress, **fit_params)
        return ReconciliationReport.from_paths(self, name, manual, tuner)
