"""ReconciledRandomizedSearchCV: RandomizedSearchCV on frozen folds and seeds.

It differs from :class:`~seeded_keras.ReconciledSearchCV` only in
``_candidates``: scikit-learn's ``ParameterSampler``
draws, exactly those ``RandomizedSearchCV`` evaluates with the same
``param_distributions``, ``n_iter`` and ``random_state``.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import ParameterSampler, RandomizedSearchCV

from ._search_base import ReconciledSearchMixin
from ._search_docs import fill_shared_docs

__all__ = ["ReconciledRandomizedSearchCV"]


@fill_shared_docs
class ReconciledRandomizedSearchCV(ReconciledSearchMixin, RandomizedSearchCV):
    """RandomizedSearchCV whose every fit can be reproduced by a manual loop.

    A drop-in for :class:`sklearn.model_selection.RandomizedSearchCV` with
    what :class:`~seeded_keras.ReconciledSearchCV` adds to ``GridSearchCV``:
    folds frozen once into ``splits_``, one seed base for every
    :class:`~seeded_keras.SeededKerasRegressor`, ``n_seeds`` fits per
    (candidate, fold), :meth:`manual_loop` and :meth:`reconcile`.

    **Two uses of random_state, which never interfere.**  The candidates are
    drawn by scikit-learn's ``ParameterSampler(param_distributions, n_iter,
    random_state=random_state)`` -- the same candidates as
    ``RandomizedSearchCV`` with the same arguments.  The seed base of every
    fit is resolved from ``random_state`` too (an int is used as is; a
    ``RandomState`` is read from a copy, so the sampler sees it untouched).
    ``n_seeds`` repeats each drawn candidate with ``repeat`` = 0 ..
    ``n_seeds - 1``; it never changes which candidates are drawn.

    Parameters
    ----------
    estimator : estimator object
        Typically a :class:`SeededKerasRegressor` or a Pipeline ending in one.
    param_distributions : dict or list of dicts
        Lists are sampled uniformly, scipy distributions with ``rvs``, as in
        RandomizedSearchCV.  Names are checked before any training.
    n_iter : int, default=10
        Candidates drawn (each fitted ``n_seeds`` times per fold).
    <shared parameters>
    random_state : int, RandomState or None, default=None
        Draws the candidates and is the base seed of every
        SeededKerasRegressor fit (see above).  ``None`` draws candidates from
        NumPy's global RNG, as RandomizedSearchCV does, and keeps each
        estimator's own ``random_state`` (a fresh base where that is None
        too, recorded in ``random_state_``).
    n_seeds : int, default=1
        Fits per (candidate, fold), with ``repeat`` = 0 .. ``n_seeds - 1``.
        The fold score is the mean over seeds.

    Attributes
    ----------
    <shared attributes>

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from sklearn.datasets import load_diabetes
    >>> from seeded_keras import ReconciledRandomizedSearchCV, SeededKerasRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> search = ReconciledRandomizedSearchCV(
    ...     SeededKerasRegressor(epochs=2, optimizer="adam"),
    ...     {"optimizer__learning_rate": loguniform(1e-3, 1e-1)},
    ...     n_iter=2, scoring="neg_mean_squared_error", cv=2, random_state=0,
    ... ).fit(X[:100], y[:100])
    >>> search.reconcile(X[:100], y[:100]).max_abs_diff
    0.0
    """

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_iter=10,
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="2*n_jobs",
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
        n_seeds=1,
        journal=None,
    ):
        super().__init__(
            estimator,
            param_distributions,
            n_iter=n_iter,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            random_state=random_state,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.n_seeds = n_seeds
        self.journal = journal

    def _names_to_check(self):
        return names_to_check(self.param_distributions)

    def _candidates(self):
        """``n_iter`` draws of ``param_distributions`` (each run once per seed)."""
        return ParameterSampler(
            self.param_distributions, self.n_iter, random_state=self.random_state
        )


def names_to_check(spaces):
    """A grid of one value per name of ``param_distributions``, for the
    name check before fit (a list of dicts, or ``spaces`` when not dicts)."""
    spaces = [spaces] if isinstance(spaces, dict) else spaces
    return [
        {k: [_a_value(v)] for k, v in space.items()}
        for space in spaces
        if isinstance(space, dict)
    ] or spaces


def _a_value(space):
    """One value of a list or distribution, without touching any global RNG."""
    if hasattr(space, "rvs"):
        return space.rvs(random_state=0)
    return list(space)[0]
