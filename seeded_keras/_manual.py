"""The manual loop: every fit of a search again, in plain Python.

It shares nothing with GridSearchCV's machinery -- no _fit_and_score, no
scorer objects, no joblib -- only the frozen folds, the candidates and the
unfitted estimator the search cloned its fits from.  Its fits are the
estimator's own (``witness="loop"``: the orchestration is what is checked),
or plain Keras' (``witness="keras"``, :mod:`seeded_keras._witness`: the
training path is checked too).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from ._compat import safe_indexing
from ._metrics import REGRESSION


def manual_loop(
    estimator,
    candidates,
    splits,
    n_seeds,
    repeat_params,
    X,
    y,
    error_score=np.nan,
    progress=None,
    fit_params=None,
    witness="loop",
    metrics=REGRESSION,
):
    """Fit every (candidate, fold, repeat) and score it on ``metrics``.

    Parameters
    ----------
    estimator : estimator
        Unfitted; cloned for every fit.
    candidates : list of dict
        Parameters of each candidate.
    splits : list of (ndarray, ndarray)
        Train and test indices of each fold.
    n_seeds : int
        Repeats per (candidate, fold).
    repeat_params : callable
        ``repeat_params(j)`` gives the parameters that select repeat ``j``.
    X, y : array-like
    error_score : "raise" or float, default=np.nan
        As in the search: "raise" stops at a failing fit; otherwise the fit is
        recorded with its metrics NaN and its ``error`` message.  A metric
        that cannot be computed (a log-loss on a test fold that misses a
        class) is NaN, as the search's scorer gives ``error_score``.
    progress : callable, optional
        Called with each record as its fit finishes.
    fit_params : dict, optional
        Passed to every ``fit``; arrays with one entry per row of ``X`` are
        cut to the fold's train rows.  A ``sample_weight`` also weights each
        fold's test metrics, as GridSearchCV does for scorers that accept it.
    witness : {"loop", "keras"}, default="loop"
        ``"loop"``: each fit is the estimator's own ``fit``/``predict``.
        ``"keras"``: each fit is replayed by plain ``keras.Model.fit`` and
        ``predict`` (:func:`seeded_keras.plain_fit`), nothing of
        seeded_keras in the training path.
    metrics : tuple of Metric, default: MSE
        What each fit is scored on (:mod:`seeded_keras._metrics`): MSE, or a
        classifier's log-loss and accuracy.

    Returns
    -------
    list of dict
        One record per fit: ``candidate``, ``split``, ``repeat``, one key
        per metric (``mse``; ``log_loss`` and ``accuracy``), ``seed``,
        ``n_epochs`` (None for estimators without them) and ``error`` (""
        when the fit succeeded).
    """
    weights = (fit_params or {}).get("sample_weight")
    if witness == "keras":
        from ._witness import plain_fit as fit
    else:

        def fit(est, X, y, **params):
            return est.fit(X, y, **params)

    def test_weights(test):  # GridSearchCV weights the test MSE too
        return None if weights is None else safe_indexing(weights, test)

    fits = []
    for c, params in enumerate(candidates):
        for i, (train, test) in enumerate(splits):
            for j in range(n_seeds):
                est = clone(estimator).set_params(**params, **repeat_params(j))
                values = dict.fromkeys((m.name for m in metrics), np.nan)
                error, fitted = "", est
                try:
                    fitted = fit(
                        est,
                        safe_indexing(X, train),
                        safe_indexing(y, train),
                        **_rows(fit_params or {}, len(y), train),
                    )
                except Exception as exc:
                    if error_score == "raise":
                        raise
                    error = f"{type(exc).__name__}: {exc}"
                if not error:
                    X_test, y_test = safe_indexing(X, test), safe_indexing(y, test)
                    for metric in metrics:
                        try:
                            values[metric.name] = metric.of(
                                fitted, X_test, y_test, test_weights(test)
                            )
                        except Exception:
                            if error_score == "raise":
                                raise
                net = fitted[-1] if hasattr(fitted, "steps") else fitted
                fits.append(
                    {
                        "candidate": c,
                        "split": i,
                        "repeat": j,
                        **values,
                        "seed": getattr(net, "seed_", None),
                        "n_epochs": getattr(net, "n_epochs_", None),
                        "error": error,
                    }
                )
                if progress is not None:
                    progress(fits[-1])
    return fits


def _rows(params, n_samples, rows):
    """Cut per-row fit parameters to ``rows``; pass the others unchanged."""
    return {
        k: safe_indexing(v, rows)
        if hasattr(v, "__len__") and not isinstance(v, str) and len(v) == n_samples
        else v
        for k, v in params.items()
    }


def rank_scores(means) -> np.ndarray:
    """Rank 1 for the highest mean score, ties sharing the lowest rank and NaN
    ranked last -- scikit-learn's rule (``rankdata(method="min")``)."""
    from scipy.stats import rankdata

    means = np.asarray(means, dtype=np.float64)
    if np.isnan(means).all():
        return np.ones(len(means), dtype=np.int32)
    means = np.where(np.isnan(means), np.nanmin(means) - 1, means)
    return rankdata(-means, method="min").astype(np.int32)


def tabulate(fits, candidates, n_splits, n_seeds, metrics=REGRESSION):
    """Arrange fit records in the columns of ``cv_results_``.

    The score columns are those of the first metric's scorer (MSE's
    ``neg_mean_squared_error``; a classifier's ``neg_log_loss``).

    Parameters
    ----------
    fits : list of dict
        Records from :func:`manual_loop`.
    candidates : list of dict
    n_splits, n_seeds : int
    metrics : tuple of Metric, default: MSE

    Returns
    -------
    dict
        ``params``, ``split{i}_seed{j}_test_score`` (when ``n_seeds > 1``),
        ``split{i}_test_score``,
        ``mean_test_score``, ``std_test_score``, ``rank_test_score``, for
        each metric ``m``: ``mean_test_{m}``, ``std_fold_{m}``,
        ``std_seed_{m}`` (``mean_test_mse``, ...), and ``fits``.
    """
    C = len(candidates)
    values = {m.name: np.full((C, n_splits, n_seeds), np.nan) for m in metrics}
    for f in fits:
        for m in metrics:
            values[m.name][f["candidate"], f["split"], f["repeat"]] = f[m.name]
    score = metrics[0].score(values[metrics[0].name])
    results: dict = {"params": list(candidates)}
    if n_seeds > 1:
        for i in range(n_splits):
            for j in range(n_seeds):
                results[f"split{i}_seed{j}_test_score"] = score[:, i, j]
    fold = score.mean(axis=2)
    for i in range(n_splits):
        results[f"split{i}_test_score"] = fold[:, i]
    results["mean_test_score"] = fold.mean(axis=1)
    results["std_test_score"] = fold.std(axis=1)
    results["rank_test_score"] = rank_scores(results["mean_test_score"])
    for name, v in values.items():
        results[f"mean_test_{name}"] = v.mean(axis=(1, 2))
        results[f"std_fold_{name}"] = v.mean(axis=2).std(axis=1)
        results[f"std_seed_{name}"] = v.mean(axis=1).std(axis=1)
    results["fits"] = fits
    return results
