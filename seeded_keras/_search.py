"""ReconciledSearchCV: GridSearchCV on frozen folds, shared seeds and settings.

It differs from its randomized twin (:mod:`seeded_keras._randomized`) only
in ``_candidates``; what both add lives in :mod:`seeded_keras._search_base`.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GridSearchCV, ParameterGrid

from ._search_base import ReconciledSearchMixin
from ._search_docs import fill_shared_docs

__all__ = ["ReconciledSearchCV"]


@fill_shared_docs
class ReconciledSearchCV(ReconciledSearchMixin, GridSearchCV):
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
    <shared parameters>
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
    <shared attributes>

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
        error_score=np.nan,
        return_train_score=False,
        random_state=None,
        n_seeds=1,
        journal=None,
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
        self.journal = journal

    def _names_to_check(self):
        return self.param_grid

    def _candidates(self):
        """Every point of ``param_grid`` (each is run once per seed)."""
        return ParameterGrid(self.param_grid)
