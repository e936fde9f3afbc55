"""Merge the per-seed fits of a search into scikit-learn's ``cv_results_``.

With ``n_seeds = S``, the search hands scikit-learn every candidate ``S``
times (``repeat`` = 0 .. S-1) on ``K`` folds.  scikit-learn's
``evaluate_candidates`` returns its fits ordered candidate-major::

    out[(c * S + j) * K + i]   # candidate c, repeat j, fold i

:class:`SeedFits` names that index.  The merge averages each (candidate,
fold) over its seeds, lets scikit-learn format the means exactly as
``GridSearchCV`` would, then adds one column per seed and, for an MSE
scorer, the positive-MSE summary columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _compat

__all__ = ["SeedFits", "merge_seeds", "seed_column"]

# the keys of scikit-learn's per-fit result dict (_fit_and_score's contract)
ERROR = _compat.FIT_RESULT["error"]
SCORES = dict(zip(("test", "train"), _compat.FIT_RESULT["scores"]))


def seed_column(i: int, j: int, n_seeds: int, name="score", kind="test") -> str:
    """The ``cv_results_`` column of fold ``i``, seed ``j``.

    With one seed that is scikit-learn's own ``split{i}_{kind}_{name}``: a
    seed column would only repeat it.
    """
    if n_seeds == 1:
        return f"split{i}_{kind}_{name}"
    return f"split{i}_seed{j}_{kind}_{name}"


@dataclass
class SeedFits:
    """scikit-learn's flat list of fit results, addressed by (c, i, j)."""

    out: list
    n_candidates: int
    n_splits: int
    n_seeds: int

    def __call__(self, c: int, i: int, j: int) -> dict:
        """The result of candidate ``c`` on fold ``i`` with repeat ``j``."""
        return self.out[(c * self.n_seeds + j) * self.n_splits + i]

    def cells(self):
        """Every (c, i, j), candidate-major, then fold, then seed."""
        for c in range(self.n_candidates):
            for i in range(self.n_splits):
                for j in range(self.n_seeds):
                    yield c, i, j


def _mean(values):
    if isinstance(values[0], dict):
        return {k: float(np.mean([v[k] for v in values])) for k in values[0]}
    return float(np.mean(values))


def seed_mean(fits: list[dict]) -> dict:
    """One fit result whose scores and times are the means over ``fits``."""
    merged = dict(fits[0])
    for key in _compat.FIT_RESULT["scores"]:
        if key in merged:
            merged[key] = _mean([f[key] for f in fits])
    for key in _compat.FIT_RESULT["times"]:
        if key in merged:
            merged[key] = float(np.mean([f[key] for f in fits]))
    errors = [fit_error(f) for f in fits if fit_error(f)]
    merged[ERROR] = "\n".join(errors) if errors else None
    return merged


def fit_error(result: dict):
    """The error message of one fit result, or None when it succeeded."""
    return result.get(ERROR)


def failures(fits: SeedFits) -> list[dict]:
    """``candidate``, ``split``, ``repeat`` and ``message`` of each failed fit."""
    return [
        {"candidate": c, "split": i, "repeat": j, "message": fit_error(fits(c, i, j))}
        for c, i, j in fits.cells()
        if fit_error(fits(c, i, j))
    ]


def add_seed_columns(results: dict, fits: SeedFits) -> None:
    """``split{i}_seed{j}_{test,train}_{scorer}``: each seed's own score."""
    if fits.n_seeds == 1:
        return
    for kind, key in SCORES.items():
        if key not in fits.out[0]:
            continue
        for c, i, j in fits.cells():
            score = fits(c, i, j)[key]
            items = score.items() if isinstance(score, dict) else [("score", score)]
            for name, value in items:
                column = f"split{i}_seed{j}_{kind}_{name}"
                results.setdefault(column, np.full(fits.n_candidates, np.nan))
                results[column][c] = value


def add_metric_columns(results: dict, metric, scorer_name: str, n_splits, n_seeds):
    """``mean_test_{m}``, ``std_fold_{m}`` and ``std_seed_{m}`` of a metric.

    ``m`` is the metric's name (``mse``, ``log_loss``, ``accuracy``; losses
    positive).  ``mean_test_{m}`` is left alone when scikit-learn already
    has that column (a scorer named ``accuracy``).
    """
    scores = np.array(
        [
            [
                [
                    results[seed_column(i, j, n_seeds, scorer_name)][c]
                    for j in range(n_seeds)
                ]
                for i in range(n_splits)
            ]
            for c in range(len(results["params"]))
        ]
    )  # (candidate, fold, seed)
    values = -scores if metric.lower_is_better else scores
    m = metric.name
    results.setdefault(f"mean_test_{m}", values.mean(axis=(1, 2)))
    results[f"std_fold_{m}"] = values.mean(axis=2).std(axis=1)
    results[f"std_seed_{m}"] = values.mean(axis=1).std(axis=1)


def merge_seeds(search, candidate_params, n_splits, out, more_results, scored):
    """``cv_results_`` of a search whose candidates were repeated per seed.

    Returns
    -------
    results : dict
    fit_failures : list of dict
    """
    S = search.n_seeds
    fits = SeedFits(out, len(candidate_params) // S, n_splits, S)
    if S == 1:
        params, merged = candidate_params, out
    else:
        keys = set(search._protocol.repeat_keys)
        params = [
            {k: v for k, v in candidate_params[c * S].items() if k not in keys}
            for c in range(fits.n_candidates)
        ]
        merged = [
            seed_mean([fits(c, i, j) for j in range(S)])
            for c in range(fits.n_candidates)
            for i in range(n_splits)
        ]
    results = _compat.base_format_results(
        search, params, n_splits, merged, more_results
    )
    add_seed_columns(results, fits)
    for metric, scorer_name in scored:
        add_metric_columns(results, metric, scorer_name, n_splits, S)
    return results, failures(fits)
