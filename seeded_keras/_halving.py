"""Reconciled successive halving: scikit-learn's halving searches, rung by rung.

:class:`ReconciledHalvingGridSearchCV` and
:class:`ReconciledHalvingRandomSearchCV` twin scikit-learn's
``HalvingGridSearchCV`` and ``HalvingRandomSearchCV``: the same parameters,
the same number of rungs, resources and candidates per rung (scikit-learn's
arithmetic), the same ``cv_results_`` columns (``iter``, ``n_resources``),
plus what every reconciled search adds (frozen folds, ``n_seeds``,
``journal``, :meth:`manual_loop`, :meth:`reconcile`).  The rung loop is
ours (:meth:`ReconciledHalvingMixin._run_search`), so that

* promotion is a rule a hand loop repeats (:func:`promote`): the ``k`` best
  mean scores over folds x seeds, ties to the lower candidate index, NaN
  last; a rung's rows are in candidate order;
* ``resource="epochs"`` (the seeded estimator's ``epochs``, ``"net__epochs"``
  in a Pipeline) can continue training between rungs (``rungs="continue"``,
  :mod:`seeded_keras._rungs`) with the same bits as training from scratch;
* ``resource="n_samples"`` subsamples the frozen folds once per rung, from
  ``random_state_``, and keeps them (``rungs_``) for the manual loop.

Rungs are synchronous: a rung's promotions wait for all of its fits, so
``n_jobs`` and the order in which fits finish change nothing.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from numbers import Integral

import numpy as np
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    ParameterGrid,
    ParameterSampler,
)
from sklearn.utils import resample
from sklearn.utils.validation import check_is_fitted

from . import _compat, _journal, _rungs
from ._protocol import FrozenSplits
from ._randomized import names_to_check
from ._search_base import ReconciledSearchMixin
from ._search_docs import fill_shared_docs

__all__ = [
    "ReconciledHalvingGridSearchCV",
    "ReconciledHalvingRandomSearchCV",
    "promote",
    "rung_budgets",
]


def promote(scores, k: int) -> list[int]:
    """Positions of the ``k`` candidates a rung promotes, in candidate order.

    The ``k`` highest mean scores; a tie goes to the lower position
    (``rankdata("min")`` ranks, then candidate order); NaN scores last.
    """
    scores = np.asarray(scores, dtype=np.float64)
    nan = np.isnan(scores)
    # primary: NaN last; then the higher score; then the lower position
    order = np.lexsort((np.arange(len(scores)), -np.where(nan, 0.0, scores), nan))
    return sorted(int(i) for i in order[:k])


def rung_budgets(
    n_candidates, factor, min_resources, max_resources, aggressive, exhaust
) -> dict:
    """scikit-learn's halving arithmetic: the resources of every rung.

    Returns ``min_resources`` (raised by ``exhaust``), ``n_required``,
    ``n_possible``, ``n_iterations`` and ``budgets`` (one per rung).
    """
    n_required = 1 + math.floor(math.log(n_candidates, factor))
    if exhaust:
        min_resources = max(min_resources, max_resources // factor ** (n_required - 1))
    n_possible = 1 + math.floor(math.log(max_resources // min_resources, factor))
    n_iterations = n_required if aggressive else min(n_possible, n_required)
    budgets = []
    for itr in range(n_iterations):
        power = max(0, itr - n_required + n_possible) if aggressive else itr
        budgets.append(min(int(factor**power * min_resources), max_resources))
    return {
        "min_resources": min_resources,
        "n_required": n_required,
        "n_possible": n_possible,
        "n_iterations": n_iterations,
        "budgets": budgets,
    }


def subsampled(splits, fraction: float, random_state: int) -> list:
    """scikit-learn's per-rung subsample of each fold (``resource="n_samples"``),
    drawn from ``random_state``: the same rows as its ``_SubsampleMetaSplitter``."""
    out = []
    for train, test in splits:
        out.append(
            tuple(
                resample(
                    rows,
                    replace=False,
                    random_state=random_state,
                    n_samples=int(fraction * len(rows)),
                )
                for rows in (train, test)
            )
        )
    return out


class ReconciledHalvingMixin(_compat.HalvingSteps, ReconciledSearchMixin):
    """The rung loop, promotions, continued rungs and the halving manual loop."""

    _own_constraints: dict = {
        **ReconciledSearchMixin._own_constraints,
        "resource": [str],
        "aggressive_elimination": ["boolean"],
        "rungs": [_compat.StrOptions({"continue", "retrain"})],
    }

    def _set_own(self, resource, aggressive_elimination, n_seeds, journal, rungs):
        # set here, not passed on: scikit-learn 1.10 no longer takes the
        # first two
        self.resource = resource
        self.aggressive_elimination = aggressive_elimination
        self.n_seeds = n_seeds
        self.journal = journal
        self.rungs = rungs

    # ------------------------------------------------------------ checks
    def _epochs_resource(self) -> bool:
        """Whether the resource is a seeded estimator's ``epochs``."""
        from ._base import SeededKeras

        name = self.resource
        if name.rpartition("__")[2] != "epochs":
            return False
        path = name.rpartition("__")[0]
        estimator = self._protocol.estimator
        net = estimator.get_params().get(path) if path else estimator
        return isinstance(net, SeededKeras)

    def _check_resources(self) -> None:
        """scikit-learn's checks of a parameter as the resource (1.10 has no
        ``resource``; these hold for every version), and of the callbacks a
        continued rung carries: before any training."""
        if self.resource not in self.estimator.get_params():
            raise ValueError(
                f"Cannot use resource={self.resource} which is not supported "
                f"by estimator {self.estimator.__class__.__name__}"
            )
        if getattr(self, "n_candidates", None) == self.min_resources == "exhaust":
            raise ValueError(
                "n_candidates and min_resources cannot be both set to 'exhaust'."
            )
        self.min_resources_ = self.min_resources
        if self.min_resources_ in ("smallest", "exhaust"):
            self.min_resources_ = 1
        self.max_resources_ = self.max_resources
        if self.max_resources_ == "auto":
            raise ValueError(
                "resource can only be 'n_samples' when max_resources='auto'"
            )
        if self.min_resources_ > self.max_resources_:
            raise ValueError(
                f"min_resources_={self.min_resources_} is greater "
                f"than max_resources_={self.max_resources_}."
            )
        if self._carries() and self.estimator is not None:
            net = _rungs.net_at(self.estimator, self.resource)
            _rungs.check_carried(net.callbacks, type(net).__name__)

    def _carries(self) -> bool:
        return self.rungs == "continue" and self._epochs_resource()

    def fit(self, X, y=None, **params):
        """Run the rungs on frozen folds, as scikit-learn's halving ``fit`` does.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        **params : dict
            Passed to the estimator's ``fit``, the scorer and the splitter.

        Returns
        -------
        self : object
        """
        super().fit(X, y, **params)
        self.all_cv_results_ = self.cv_results_  # every rung's rows
        return self

    # ----------------------------------------------------- wrapping fits
    def _fit_surviving(self, X, y, params):
        self._snapshots = None
        self.epochs_trained_ = 0
        if self._epochs_resource():
            if self.journal is not None:
                self._snapshots = os.path.join(os.fspath(self.journal), "snapshots")
            else:
                self._snapshots = tempfile.mkdtemp(prefix="seeded_keras-rungs-")
        try:
            return super()._fit_surviving(X, y, params)
        finally:
            if self._snapshots is not None and self.journal is None:
                shutil.rmtree(self._snapshots, ignore_errors=True)
            self._snapshots = None

    def _fit_and_score_wrapper(self, spec):
        journaled = super()._fit_and_score_wrapper(spec)
        if getattr(self, "_snapshots", None) is None:
            return journaled
        try:
            context = repr(_journal.canonical(self._protocol.estimator))
        except _journal.Unkeyable:
            # A temporary folder is this fit's alone: no key needs to last.
            # In a journal's folder snapshots must outlive the run, keyed
            # stably; without such a key every rung trains from scratch.
            if self.journal is not None:
                return journaled
            context = "this fit"
        rungs = _rungs.RungSpec(
            os.path.abspath(self._snapshots),
            self.resource,
            self.max_resources if isinstance(self.max_resources, Integral) else 0,
            context,
            carry=self._carries(),
        )
        return _Wrapped(rungs, journaled)

    def _merged_results(self, candidate_params, n_splits, out, more_results=None):
        if any("epochs_trained" in o for o in out):
            self.epochs_trained_ = sum(
                0 if o.get("resumed") else o.get("epochs_trained", 0) for o in out
            )
            out = [{k: v for k, v in o.items() if k != "epochs_trained"} for o in out]
        return super()._merged_results(candidate_params, n_splits, out, more_results)

    # ---------------------------------------------------------- the rungs
    def _plan(self, n_candidates: int) -> dict:
        return rung_budgets(
            n_candidates,
            self.factor,
            self.min_resources_,
            self.max_resources_,
            self.aggressive_elimination,
            self.min_resources == "exhaust",
        )

    def _run_rungs(self, evaluate_candidates, callback_ctx=None):
        """Every rung: its fits as one batch, then its promotions."""
        candidates = list(self._candidates())
        if self.resource != "n_samples" and any(
            self.resource in candidate for candidate in candidates
        ):
            raise ValueError(
                f"Cannot use parameter {self.resource} as the resource since "
                "it is part of the searched parameters."
            )
        plan = self._plan(len(candidates))
        self.min_resources_ = plan["min_resources"]
        if self.verbose:
            for name, value in (
                ("n_iterations", plan["n_iterations"]),
                ("n_required_iterations", plan["n_required"]),
                ("n_possible_iterations", plan["n_possible"]),
                ("min_resources_", self.min_resources_),
                ("max_resources_", self.max_resources_),
                ("aggressive_elimination", self.aggressive_elimination),
                ("factor", self.factor),
            ):
                print(f"{name}: {value}")
        self._candidate_list = candidates
        self.n_resources_, self.n_candidates_, self.rungs_ = [], [], []
        self._rung_splits = []
        alive = list(range(len(candidates)))
        for itr, n_resources in enumerate(plan["budgets"]):
            params, splits = self._rung(alive, n_resources)
            if self.verbose:
                print("-" * 10)
                print(f"iter: {itr}")
                print(f"n_candidates: {len(alive)}")
                print(f"n_resources: {n_resources}")
            results = self._evaluate_seeded(
                evaluate_candidates,
                params,
                callback_ctx if self._sklearn_callbacks_set() else None,
                cv=None if splits is None else FrozenSplits(splits),
                more_results={
                    "iter": [itr] * len(alive),
                    "n_resources": [n_resources] * len(alive),
                },
            )
            self.n_resources_.append(n_resources)
            self.n_candidates_.append(len(alive))
            self.rungs_.append(
                {"iter": itr, "n_resources": n_resources, "candidates": alive}
            )
            self._rung_splits.append(splits)
            scores = results["mean_test_score"][-len(alive) :]
            k = math.ceil(len(alive) / self.factor)
            alive = [alive[p] for p in promote(scores, k)]
        self.n_remaining_candidates_ = len(alive)
        self.n_required_iterations_ = plan["n_required"]
        self.n_possible_iterations_ = plan["n_possible"]
        self.n_iterations_ = plan["n_iterations"]

    def _rung(self, alive, n_resources):
        """The parameters and folds of a rung of the candidates ``alive``."""
        splits = self._protocol.splits or None  # None: scikit-learn's own error
        params = [dict(self._candidate_list[i]) for i in alive]
        if self.resource != "n_samples":
            for p in params:
                p[self.resource] = n_resources
        elif splits is not None:
            fraction = n_resources / self._n_samples()
            splits = subsampled(splits, fraction, self._protocol.random_state or 0)
        return params, splits

    @property
    def rung_splits_(self) -> list:
        """The folds of each rung (subsampled for ``resource="n_samples"``)."""
        check_is_fitted(self, "rungs_")
        return self._rung_splits

    # --------------------------------------------------- the manual loop
    def _manual_results(self, X, y, progress, witness, fit_params) -> dict:
        """The sweep again rung by rung, as a hand loop would run it.

        Each rung fits its candidates on its folds at its resource, from
        scratch (so every fit of ``rungs="continue"`` is checked against
        training from scratch), then promotes with :func:`promote` on its own
        scores.  The table has one row per rung and candidate (the rows of
        ``cv_results_``) and ``rungs``: each rung's candidates, as this loop
        promoted them.
        """
        from ._manual import tabulate

        metrics = self._metrics()
        alive = list(range(len(self._candidate_list)))
        rows, fits, rungs = [], [], []
        for rung, splits in zip(self.rungs_, self._rung_splits):
            params = [dict(self._candidate_list[i]) for i in alive]
            if self.resource != "n_samples":
                for p in params:
                    p[self.resource] = rung["n_resources"]
            done = self._replay(params, splits, X, y, progress, witness, fit_params)
            table = tabulate(done, params, len(splits), self.n_seeds, metrics)
            for f in done:
                f["candidate"] += len(rows)
            fits.extend(done)
            rows.extend(params)
            rungs.append(alive)
            k = math.ceil(len(alive) / self.factor)
            alive = [alive[p] for p in promote(table["mean_test_score"], k)]
        results = tabulate(fits, rows, len(self.splits_), self.n_seeds, metrics)
        results["rungs"] = rungs
        return results

    def reconcile(self, X, y, progress=None, tuner=None, witness="loop", **fit_params):
        """Compare every fit of every rung with :meth:`manual_loop`.

        As :meth:`ReconciledSearchCV.reconcile` (without a tuner); raises
        ``ValueError`` when the manual loop promoted other candidates than
        the search did.
        """
        if tuner is not None:
            raise ValueError("a halving search is not compared with a tuner")
        return super().reconcile(X, y, progress, None, witness, **fit_params)

    def _check_manual(self, manual) -> None:
        """The manual loop's promotions must be the search's."""
        for itr, (rung, theirs) in enumerate(zip(self.rungs_, manual["rungs"])):
            if list(rung["candidates"]) != list(theirs):
                raise ValueError(
                    f"rung {itr}: the manual loop promoted candidates {theirs}, "
                    f"the search {rung['candidates']}"
                )


class _Wrapped:
    """``make(original)``: the journal (if any) around the continued fit."""

    def __init__(self, rungs, journaled):
        self.rungs, self.journaled = rungs, journaled

    def __call__(self, original):
        inner = _rungs.continued(self.rungs, original)
        return inner if self.journaled is None else self.journaled(inner)


@fill_shared_docs
class ReconciledHalvingGridSearchCV(ReconciledHalvingMixin, HalvingGridSearchCV):
    """HalvingGridSearchCV whose every fit of every rung a manual loop repeats.

    A drop-in for scikit-learn's ``HalvingGridSearchCV`` (same parameters
    and defaults, same rungs, resources and ``cv_results_`` columns) with
    frozen folds, shared seeds, ``n_seeds``, a ``journal``,
    :meth:`manual_loop` and :meth:`reconcile`.  With ``resource="epochs"``
    a promoted candidate continues training from its previous rung
    (``rungs="continue"``), bit for bit as if trained from scratch.  See
    the module :mod:`seeded_keras._halving` and the halving guide.

    Parameters
    ----------
    estimator : estimator object
    param_grid : dict or list of dicts
    min_resources : "exhaust", "smallest" or int, default="exhaust"
    <halving parameters>
    Attributes
    ----------
    <halving attributes>
    <shared attributes>

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from seeded_keras import ReconciledHalvingGridSearchCV, SeededKerasRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> search = ReconciledHalvingGridSearchCV(
    ...     SeededKerasRegressor(optimizer="adam"),
    ...     {"optimizer__learning_rate": [0.003, 0.01, 0.03, 0.1]},
    ...     resource="epochs", min_resources=2, max_resources=6, factor=3,
    ...     scoring="neg_mean_squared_error", cv=2, random_state=0,
    ... ).fit(X[:100], y[:100])
    >>> search.n_resources_, search.n_candidates_
    ([2, 6], [4, 2])
    >>> search.reconcile(X[:100], y[:100]).max_abs_diff
    0.0
    """

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        factor=3,
        resource="n_samples",
        max_resources="auto",
        min_resources="exhaust",
        aggressive_elimination=False,
        cv=5,
        scoring=None,
        refit=True,
        error_score=np.nan,
        return_train_score=True,
        random_state=None,
        n_jobs=None,
        verbose=0,
        n_seeds=1,
        journal=None,
        rungs="continue",
    ):
        super().__init__(
            estimator,
            param_grid,
            factor=factor,
            max_resources=max_resources,
            min_resources=min_resources,
            cv=cv,
            scoring=scoring,
            refit=refit,
            error_score=error_score,
            return_train_score=return_train_score,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
        )
        self._set_own(resource, aggressive_elimination, n_seeds, journal, rungs)

    def _names_to_check(self):
        return self.param_grid

    def _candidates(self):
        """Every point of ``param_grid``: the first rung's candidates."""
        return ParameterGrid(self.param_grid)


@fill_shared_docs
class ReconciledHalvingRandomSearchCV(ReconciledHalvingMixin, HalvingRandomSearchCV):
    """HalvingRandomSearchCV whose every fit of every rung a manual loop repeats.

    The random twin of :class:`ReconciledHalvingGridSearchCV`: candidates
    are drawn as scikit-learn's ``HalvingRandomSearchCV`` draws them.

    Parameters
    ----------
    estimator : estimator object
    param_distributions : dict or list of dicts
    n_candidates : "exhaust" or int, default="exhaust"
    min_resources : "exhaust", "smallest" or int, default="smallest"
    <halving parameters>
    Attributes
    ----------
    <halving attributes>
    <shared attributes>

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from sklearn.datasets import load_diabetes
    >>> from seeded_keras import ReconciledHalvingRandomSearchCV, SeededKerasRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> search = ReconciledHalvingRandomSearchCV(
    ...     SeededKerasRegressor(optimizer="adam"),
    ...     {"optimizer__learning_rate": loguniform(1e-3, 1e-1)},
    ...     n_candidates=4, resource="epochs", min_resources=2, max_resources=6,
    ...     scoring="neg_mean_squared_error", cv=2, random_state=0,
    ... ).fit(X[:100], y[:100])
    >>> search.reconcile(X[:100], y[:100]).max_abs_diff
    0.0
    """

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_candidates="exhaust",
        factor=3,
        resource="n_samples",
        max_resources="auto",
        min_resources="smallest",
        aggressive_elimination=False,
        cv=5,
        scoring=None,
        refit=True,
        error_score=np.nan,
        return_train_score=True,
        random_state=None,
        n_jobs=None,
        verbose=0,
        n_seeds=1,
        journal=None,
        rungs="continue",
    ):
        super().__init__(
            estimator,
            param_distributions,
            n_candidates=n_candidates,
            factor=factor,
            max_resources=max_resources,
            min_resources=min_resources,
            cv=cv,
            scoring=scoring,
            refit=refit,
            error_score=error_score,
            return_train_score=return_train_score,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
        )
        self._set_own(resource, aggressive_elimination, n_seeds, journal, rungs)

    def _names_to_check(self):
        return names_to_check(self.param_distributions)

    def _candidates(self):
        """The first rung's draws, as scikit-learn's halving search draws them."""
        n = self.n_candidates
        if n == "exhaust":
            n = self.max_resources_ // self.min_resources_
        return ParameterSampler(
            self.param_distributions, n, random_state=self.random_state
        )
