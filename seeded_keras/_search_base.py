"""What both reconciled searches add to scikit-learn's, written once.

:class:`ReconciledSearchMixin` sits on the left of ``GridSearchCV`` or
``RandomizedSearchCV``, as scikit-learn's mixins do, and the twins differ
only in ``_candidates`` -- what scikit-learn's ``_run_search`` hands to
:meth:`ReconciledSearchMixin._evaluate_seeded` -- exactly as scikit-learn's
searches differ only in ``_run_search``.  ``fit`` prepares the shared
:class:`~seeded_keras._protocol.Protocol` (frozen folds, seed base, names
checked) and hands it to ``BaseSearchCV.fit``; :meth:`_merged_results`
merges the seeds (:mod:`seeded_keras._results`); :meth:`manual_loop` and
:meth:`reconcile` replay the protocol as plain Python.  scikit-learn's
private steps are taken over in one place,
:class:`seeded_keras._compat.SearchSteps`.
"""

from __future__ import annotations

import copy
import functools
import os
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from . import _compat, _journal, _scheduler
from ._checks import check_grid_names, check_xy
from ._metrics import REGRESSION, metrics_for, scored
from ._protocol import (
    MSE_SCORER,
    FrozenSplits,
    Protocol,
    freeze_splits,
    seeded_paths,
)
from ._results import merge_seeds

__all__ = ["ReconciledSearchMixin"]

MAX_RESUBMITS = 3  # a sweep survives this many dead worker processes


def _seed_base_source(random_state):
    """``random_state`` for the seed base; a RandomState is read from a copy,
    so drawing the seed base never shifts the candidates it samples."""
    if isinstance(random_state, np.random.RandomState):
        return copy.deepcopy(random_state)
    return random_state


class ReconciledSearchMixin(_compat.SearchSteps):
    """Frozen folds, shared seeds, ``n_seeds``, ``manual_loop`` and ``reconcile``.

    Put on the left of a scikit-learn search class; the subclass names its
    candidates in ``_candidates``, which scikit-learn's ``_run_search``
    hands to :meth:`_evaluate_seeded` (:class:`seeded_keras._compat.SearchSteps`).
    """

    _own_constraints: dict = {
        "random_state": ["random_state"],
        "n_seeds": [_compat.Interval(Integral, 1, None, closed="left")],
        "journal": [str, os.PathLike, None],
    }

    def _candidates(self):
        """The candidates of one run (each is fitted once per seed)."""
        raise NotImplementedError

    def _names_to_check(self):
        """A param_grid whose names (and first values) are checked before fit."""
        raise NotImplementedError

    def check_param_grid(self) -> None:
        """Check the searched parameter names against the estimator.

        Trains nothing; ``fit`` runs this check first.

        Raises
        ------
        ValueError
            Naming the unknown parameter, with a "did you mean".
        """
        check_grid_names(self._names_to_check(), self.estimator, seeded_paths)

    # ------------------------------------------------------------------- fit
    def fit(self, X, y=None, **params):
        """Run the search on frozen folds, as scikit-learn's ``fit`` does.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        **params : dict
            Passed to the estimator's ``fit``, the scorer and the splitter
            (``groups``), as in GridSearchCV.

        Returns
        -------
        self : object
            The fitted search.
        """
        _compat.check_search_parameters(self)
        protocol = Protocol.prepare(
            self.estimator,
            _seed_base_source(self.random_state),
            self.n_seeds,
            self._names_to_check(),
        )
        if protocol.paths:
            # Every X/y problem is reported once, here, before any fit.  In
            # front of a Pipeline's transformers only y and lengths are ours.
            check_xy(
                X,
                y,
                type(self).__name__,
                check_X=protocol.paths == [""],
                labels=is_classifier(protocol.estimator),
            )
            protocol.fix_classes(y)
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
        self.n_fits_resumed_ = 0
        frozen = FrozenSplits(self.splits_)
        with _compat.search_with(self, estimator=protocol.estimator, cv=frozen):
            self._fit_surviving(X, y, params)
        if self.verbose and self.journal is not None:
            n_fits = len(self.cv_results_["params"]) * self.n_seeds * len(self.splits_)
            print(
                f"{self.n_fits_resumed_} of {n_fits} fits resumed from the journal "
                f"in {self.journal}"
            )
        return self

    def _fit_surviving(self, X, y, params):
        """``BaseSearchCV.fit``, its fits scheduled by architecture
        (:mod:`seeded_keras._scheduler`); with a journal, every fit written
        down where it ran, and the unfinished ones resubmitted when a worker
        process dies."""
        TerminatedWorkerError = _compat.worker_died_error()

        spec = self._journal_spec(X, y, params)
        for attempt in range(1, MAX_RESUBMITS + 2):
            try:
                with _scheduler.scheduling(self._protocol.repeat_keys):
                    wrapper = self._fit_and_score_wrapper(spec)
                    if wrapper is None:
                        return super().fit(X, y, **params)
                    with _compat.fit_and_score_replaced(wrapper):
                        return super().fit(X, y, **params)
            except TerminatedWorkerError as exc:
                if spec is None:
                    raise TerminatedWorkerError(
                        f"{exc} Every finished fit of this search is lost: "
                        "scikit-learn collects results only when all are done. "
                        f"Pass journal='some/dir' to {type(self).__name__} to keep "
                        "each finished fit and resume after any crash."
                    ) from exc
                if attempt > MAX_RESUBMITS:
                    raise
                warnings.warn(
                    f"a worker process died ({str(exc).splitlines()[0]}); "
                    f"resubmitting the unfinished fits, finished ones come from "
                    f"the journal (retry {attempt} of {MAX_RESUBMITS})",
                    RuntimeWarning,
                    stacklevel=3,
                )
                spec = _journal.JournalSpec(spec.directory, spec.context)

    def _fit_and_score_wrapper(self, spec):
        """``make(original)`` for :func:`seeded_keras._compat.fit_and_score_replaced`
        (what wraps scikit-learn's ``_fit_and_score``), or None: the journal."""
        if spec is None:
            return None
        return functools.partial(_journal.journaled, spec)

    def _journal_spec(self, X, y, params):
        """What workers need to use ``journal``; None without one, or when the
        scorer cannot be keyed stably (then nothing is journaled)."""
        if self.journal is None:
            return None
        try:
            scorer = _journal.canonical(self.scoring)
            _journal.canonical(self._protocol.estimator)
        except _journal.Unkeyable as exc:
            warnings.warn(
                f"journal={self.journal!r} is not used: the scorer or the "
                f"estimator cannot be keyed stably ({exc}); pass scoring by "
                "name and parameters as values, classes or module-level "
                "functions.",
                UserWarning,
                stacklevel=4,
            )
            return None
        context = {
            "versions": _journal.library_versions(),
            "data": _journal.data_key(X, y, params),
            "scorer": scorer,
            "return_train_score": bool(self.return_train_score),
        }
        # absolute: a worker's working directory may be another
        return _journal.JournalSpec(os.path.abspath(self.journal), context)

    def repeat_params(self, repeat: int) -> dict:
        """The parameters that select seed ``repeat`` (empty when n_seeds=1)."""
        return self._protocol.repeat_params(repeat)

    def _evaluate_seeded(
        self, evaluate_candidates, candidates, callback_ctx=None, **rung
    ):
        """Evaluate every candidate once per seed on the frozen folds.

        ``rung`` (``cv``, ``more_results``: a halving search's rung) is
        handed to scikit-learn's ``evaluate_candidates``; returns its results.

        With scikit-learn's callbacks (``callback_ctx``, scikit-learn >= 1.9)
        the search is one task of all its fits, as in scikit-learn's own
        searches; otherwise too the sweep is one batch of all its fits, and
        with ``verbose`` progress is reported as fits finish, wherever they
        run (:func:`seeded_keras._scheduler.reporting`).
        """
        candidates = self._protocol.with_seeds(list(candidates))
        # scikit-learn < 1.9 sets n_splits_ only after _run_search
        n_splits = len(self._protocol.splits) or getattr(self, "n_splits_", 0)
        n_fits = len(candidates) * n_splits
        if callback_ctx is not None and self._sklearn_callbacks_set():
            search_ctx = callback_ctx.subcontext(
                task_name="search", max_subtasks=n_fits, sequential_subtasks=False
            ).call_on_fit_task_begin(estimator=self)
            results = evaluate_candidates(candidates, callback_ctx=search_ctx, **rung)
            search_ctx.call_on_fit_task_end(estimator=self)
            return results
        if not self.verbose:
            return evaluate_candidates(candidates, **rung)
        from ._progress import Progress, fitting_line

        # One true line (scikit-learn's would print per batch, without seeds),
        # one saying where the fits run, and progress as they finish.  The
        # sweep is still one batch: verbose never changes where fits run.
        print(fitting_line(n_splits, len(candidates) // self.n_seeds, self.n_seeds))
        progress = Progress(n_fits, "search")
        with (
            _compat.search_with(self, verbose=0),  # silences only that line
            _scheduler.reporting(progress, say=print),
        ):
            return evaluate_candidates(candidates, **rung)

    def _metrics(self):
        """The metrics of this search's task (:mod:`seeded_keras._metrics`)."""
        return metrics_for(self._protocol.estimator)

    def _scored(self):
        """The reconciled metrics this search scored, with their scorer names."""
        return scored(self.scoring, self._metrics())

    def _summary_metrics(self):
        """The metrics whose summary columns ``cv_results_`` gains: MSE for
        any estimator (as always), a classifier's only around a seeded one
        (a plain classifier's search keeps GridSearchCV's exact columns)."""
        pairs = self._scored()
        if self._metrics() is not REGRESSION and not self._protocol.paths:
            return []
        return pairs

    def _merged_results(self, candidate_params, n_splits, out, more_results=None):
        """scikit-learn's ``cv_results_`` with the seeds merged
        (:mod:`seeded_keras._results`); the failures kept."""
        if out and "resumed" in out[0]:  # journaled fits say where they came from
            self.n_fits_resumed_ = sum(bool(o["resumed"]) for o in out)
            out = [{k: v for k, v in o.items() if k != "resumed"} for o in out]
        results, self.fit_failures_ = merge_seeds(
            self,
            candidate_params,
            n_splits,
            out,
            more_results,
            self._summary_metrics(),
        )
        return results

    # --------------------------------------------------- the independent path
    def manual_loop(self, X, y, progress=None, witness="loop", **fit_params):
        """Replay every fit of the search as plain Python.

        For each candidate, fold of ``splits_`` and repeat: clone, set_params,
        fit on the train rows, predict the test rows, scikit-learn's
        ``mean_squared_error`` (a classifier: ``log_loss`` of the float64
        ``predict_proba`` and ``accuracy_score``, :mod:`seeded_keras._metrics`).
        No GridSearchCV machinery is involved.  A halving search is replayed
        rung by rung: each rung's candidates on its folds at its budget, from
        scratch, then promoted by :func:`seeded_keras._halving.promote` on the
        loop's own scores (the table gains ``rungs``, each rung's candidates).
        With ``witness="keras"`` each fit is replayed by plain
        ``keras.Model.fit``/``predict`` (:func:`seeded_keras.plain_fit`):
        nothing of seeded_keras trains.

        Parameters
        ----------
        X, y : array-like
            The data the search was fitted on.
        progress : callable, optional
            Called with each fit's record as it finishes.  Default: with
            ``verbose``, a progress bar (terminal) or lines (log).
        witness : {"loop", "keras"}, default="loop"
            Who fits: the estimator itself (``"loop"``), or plain Keras on
            the fit's seed, rows and order (``"keras"``; needs a
            SeededKerasRegressor or SeededKerasClassifier, or a Pipeline
            ending in one).
        **fit_params : dict
            The fit parameters given to the search's ``fit`` (e.g.
            ``sample_weight``); arrays with one entry per row are cut to each
            fold's train rows, as GridSearchCV does.

        Returns
        -------
        dict of ndarray
            The same columns as ``cv_results_`` for the MSE scorer (a
            classifier: the log-loss scorer) (``params``,
            ``split{i}_seed{j}_test_score``, ``split{i}_test_score``,
            ``mean_test_score``, ``std_test_score``, ``rank_test_score``,
            ``mean_test_mse``, ``std_fold_mse``, ``std_seed_mse``; a
            classifier's ``..._log_loss`` and ``..._accuracy``) plus
            ``fits``: one record per fit with its ``seed`` and ``n_epochs``.
        """
        check_is_fitted(self, "splits_")
        self._check_witness(witness)
        if progress is None and self.verbose:
            from ._progress import Progress

            n_fits = len(self.cv_results_["params"]) * self.n_seeds * len(self.splits_)
            progress = Progress(n_fits, "manual loop")
        return self._manual_results(X, y, progress, witness, fit_params)

    def _manual_results(self, X, y, progress, witness, fit_params) -> dict:
        """The manual loop's table: every candidate on ``splits_``."""
        from ._manual import tabulate

        params = self.cv_results_["params"]
        fits = self._replay(params, self.splits_, X, y, progress, witness, fit_params)
        return tabulate(fits, params, len(self.splits_), self.n_seeds, self._metrics())

    def _replay(self, params, splits, X, y, progress, witness, fit_params) -> list:
        """:func:`seeded_keras._manual.manual_loop` of ``params`` on ``splits``."""
        from ._manual import manual_loop

        return manual_loop(
            self.base_estimator_,
            params,
            splits,
            self.n_seeds,
            self._protocol.repeat_params,
            X,
            y,
            self.error_score,
            progress,
            fit_params,
            witness,
            self._metrics(),
        )

    def _check_manual(self, manual) -> None:
        """Raise when the manual loop's rows are not this search's (halving)."""

    def _check_witness(self, witness) -> None:
        """Raise, before any fit, unless ``witness`` can replay this search."""
        if witness not in ("loop", "keras"):
            raise ValueError(f"witness must be 'loop' or 'keras'; got {witness!r}.")
        if witness == "keras":
            from ._witness import check_replayable

            check_replayable(self.base_estimator_)

    def reconcile(self, X, y, progress=None, tuner=None, witness="loop", **fit_params):
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
        witness : {"loop", "keras"}, default="loop"
            Who replays the fits: the estimator in a plain loop (checks
            scikit-learn's orchestration), or plain ``keras.Model.fit`` on
            each fit's seed, rows and order (checks the training path too:
            the independent witness; see :func:`seeded_keras.plain_fit`).
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
        pairs = self._scored()
        if not pairs:
            metrics = self._metrics()
            if len(metrics) == 1:
                raise ValueError(
                    f"reconcile compares mean squared errors, but this search was "
                    f"scored with scoring={self.scoring!r}. Pass "
                    f"scoring='{MSE_SCORER}' (or include it in a list or dict of "
                    "scorers)."
                )
            raise ValueError(
                "reconcile compares a classifier's log-loss and accuracy, but "
                f"this search was scored with scoring={self.scoring!r}. Pass "
                "scoring={'ll': 'neg_log_loss', 'acc': 'accuracy'} (or either)."
            )
        self._check_witness(witness)
        manual = self.manual_loop(X, y, progress, witness, **fit_params)
        self._check_manual(manual)
        return ReconciliationReport.from_paths(self, pairs, manual, tuner, witness)
