"""The evaluation protocol every path shares: folds, seed base, repeats, names.

A search, the manual loop and the tuner agree bit for bit because they are
handed the same :class:`Protocol`: the folds frozen once, one estimator with
one seed base for every seeded wrapper inside,
and the parameters that select each seed.  Nothing here trains.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.model_selection import check_cv

from . import _seeding
from ._checks import check_grid_names

__all__ = [
    "MSE_SCORER",
    "FrozenSplits",
    "Protocol",
    "fix_classes",
    "freeze_splits",
    "mse_scorer_name",
    "prepare_estimator",
    "seeded_paths",
]

MSE_SCORER = "neg_mean_squared_error"


class FrozenSplits:
    """A CV splitter that replays one materialised list of (train, test) pairs.

    Parameters
    ----------
    splits : list of (ndarray, ndarray)
        Train and test indices of each fold.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import KFold
    >>> from seeded_keras import FrozenSplits
    >>> frozen = FrozenSplits(list(KFold(2, shuffle=True).split(np.zeros(4))))
    >>> first = [t.tolist() for t, _ in frozen.split()]
    >>> first == [t.tolist() for t, _ in frozen.split()]
    True
    """

    def __init__(self, splits):
        self.splits = splits

    def split(self, X=None, y=None, groups=None):
        """Yield the frozen (train, test) index pairs."""
        yield from self.splits

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of frozen folds."""
        return len(self.splits)


def freeze_splits(cv, X, y=None, groups=None, estimator=None) -> list:
    """Draw the folds of ``cv`` once, as scikit-learn's searches would.

    ``cv`` may be an int, a splitter (a shuffling one is drawn once) or an
    iterable of (train, test) pairs (a one-shot iterator is read once).
    """
    classifier = estimator is not None and is_classifier(estimator)
    splitter = check_cv(cv, y, classifier=classifier)
    splits = [
        (np.asarray(train), np.asarray(test))
        for train, test in splitter.split(X, y, groups)
    ]
    expected = splitter.get_n_splits(X, y, groups)
    if len(splits) != expected:  # scikit-learn's searches check this too
        raise ValueError(
            "cv.split and cv.get_n_splits return inconsistent results. "
            f"Expected {expected} splits, got {len(splits)}"
        )
    return splits


def seeded_paths(estimator) -> list[str]:
    """Parameter prefixes ('' or 'step__') of every seeded wrapper inside
    (:class:`~seeded_keras.SeededKerasRegressor` or
    :class:`~seeded_keras.SeededKerasClassifier`)."""
    from ._base import SeededKeras

    paths = [""] if isinstance(estimator, SeededKeras) else []
    if hasattr(estimator, "get_params"):
        for key, value in estimator.get_params(deep=True).items():
            if isinstance(value, SeededKeras):
                paths.append(key + "__")
    return paths


def fix_classes(estimator, paths, y) -> None:
    """Give every seeded classifier inside without ``classes`` those of ``y``.

    A search learns the classes once, from the whole ``y``, so every fit
    encodes labels the same way and has the same output width: a fold that
    misses a class has the same ``predict_proba`` columns as the others.
    """
    from ._classifier import SeededKerasClassifier, search_classes

    params = estimator.get_params(deep=True)
    wrappers = {p: estimator if p == "" else params[p[:-2]] for p in paths}
    unset = [
        p
        for p, net in wrappers.items()
        if isinstance(net, SeededKerasClassifier) and net.classes is None
    ]
    if not unset:
        return
    classes = search_classes(y)
    if classes is not None:
        estimator.set_params(**{p + "classes": classes for p in unset})


def _warn_uncontrolled(estimator, paths) -> None:
    """Warn about scikeras wrappers, whose seeding is process-global."""
    params = estimator.get_params(deep=True) if hasattr(estimator, "get_params") else {}
    items = [("", estimator)] + [(k + "__", v) for k, v in params.items()]
    for prefix, obj in items:
        if prefix in paths or not hasattr(obj, "get_params"):
            continue
        # Other estimators' random_state is left alone: most are deterministic
        # whatever it is (Ridge), and guessing would cry wolf.
        if type(obj).__module__.startswith("scikeras"):
            warnings.warn(
                f"{type(obj).__name__} at '{prefix.rstrip('_') or 'estimator'}' "
                "seeds process-global random state (and not at all without "
                "random_state): the search and the manual loop may disagree, "
                "and results vary under threads. Use "
                "seeded_keras.SeededKerasRegressor or SeededKerasClassifier.",
                UserWarning,
                stacklevel=5,
            )


def prepare_estimator(estimator, random_state, n_seeds):
    """Clone ``estimator`` with one seed base for every seeded regressor.

    ``random_state`` (when not None) is resolved once and given to every
    SeededKerasRegressor inside; otherwise each keeps its own (a
    ``RandomState`` resolved once to an int), and those without one share a
    freshly drawn base.

    Returns
    -------
    estimator, paths, base
        The clone, the parameter prefixes of its SeededKerasRegressors and
        the seed base they share (None when there is none).
    """
    estimator = clone(estimator)
    paths = seeded_paths(estimator)
    if n_seeds > 1 and not paths:
        raise ValueError(
            f"n_seeds={n_seeds} needs a SeededKerasRegressor in the "
            f"estimator (its `repeat` parameter selects the seed); "
            f"{type(estimator).__name__} has none."
        )
    base = None
    if paths:
        if random_state is not None:
            base = _seeding.resolve_random_state(random_state)
            estimator.set_params(**{p + "random_state": base for p in paths})
        else:
            params = estimator.get_params()
            unset = [p for p in paths if params[p + "random_state"] is None]
            base = _seeding.resolve_random_state(None)
            estimator.set_params(**{p + "random_state": base for p in unset})
            # A RandomState is resolved once, here (on the clone's copy), so
            # every fit of every path gets the same int base.
            estimator.set_params(
                **{
                    p + "random_state": _seeding.resolve_random_state(v)
                    for p in paths
                    if isinstance(
                        v := params[p + "random_state"], np.random.RandomState
                    )
                }
            )
            given = [estimator.get_params()[p + "random_state"] for p in paths]
            base = given[0] if len(set(map(repr, given))) == 1 else None
    _warn_uncontrolled(estimator, paths)
    return estimator, paths, base


def mse_scorer_name(scoring):
    """Name under which a search scored neg_mean_squared_error, else None."""
    from ._metrics import MSE, scorer_name

    return scorer_name(scoring, MSE)


@dataclass
class Protocol:
    """Everything the paths share, fixed before any fit.

    Attributes
    ----------
    estimator : estimator
        The unfitted estimator every fit is cloned from, seed base set.
    paths : list of str
        Parameter prefixes of its SeededKerasRegressors.
    random_state : int or None
        Their shared seed base (None when there is none).
    n_seeds : int
    splits : list of (ndarray, ndarray)
    """

    estimator: object
    paths: list
    random_state: int | None
    n_seeds: int
    splits: list = field(default_factory=list)

    @classmethod
    def prepare(cls, estimator, random_state, n_seeds, param_grid=None):
        """Clone and seed ``estimator``; check ``param_grid``'s names on it."""
        est, paths, base = prepare_estimator(estimator, random_state, n_seeds)
        if param_grid is not None:
            check_grid_names(param_grid, est, seeded_paths)
        return cls(est, paths, base, n_seeds)

    @property
    def repeat_keys(self) -> list[str]:
        """The ``repeat`` parameter of every SeededKerasRegressor inside."""
        return [p + "repeat" for p in self.paths]

    def fix_classes(self, y) -> None:
        """Fix the classes of every seeded classifier from the whole ``y``."""
        fix_classes(self.estimator, self.paths, y)

    def repeat_params(self, repeat: int) -> dict:
        """The parameters that select seed ``repeat`` (empty when n_seeds=1)."""
        if self.n_seeds == 1:
            return {}
        return {key: repeat for key in self.repeat_keys}

    def with_seeds(self, candidates) -> list[dict]:
        """Each candidate once per seed, seeds innermost."""
        return [
            {**params, **self.repeat_params(j)}
            for params in candidates
            for j in range(self.n_seeds)
        ]
