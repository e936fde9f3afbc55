"""Explain, with measured parts, why the final model's test score is not the CV one.

For a regressor the metric is MSE; for a classifier, log-loss and accuracy
(:mod:`seeded_keras._metrics`), each explained from the same fits.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from ._compat import safe_indexing
from ._metrics import BY_NAME, metrics_for, scored
from ._protocol import seeded_paths
from ._results import seed_column

__all__ = ["GapExplanation", "explain_gap"]

POLICIES = ("median_best_epoch", "as_searched")


def _fit_scores(estimator, params, X, y, X_eval, y_eval, metrics):
    est = clone(estimator).set_params(**params).fit(X, y)
    net = est[-1] if hasattr(est, "steps") else est
    values = {m.name: m.of(est, X_eval, y_eval) for m in metrics}
    return (
        est,
        values,
        getattr(net, "n_epochs_", None),
        getattr(net, "best_epoch_", None),
    )


def explain_gap(
    search, X_test, y_test, *, X, y, n_seeds=3, refit_policy="median_best_epoch"
):
    """Decompose best CV score -> final test score into measured, additive parts.

    The score is MSE for a regressor; for a classifier, log-loss (returned)
    and accuracy (``gap.by_metric["accuracy"]``), whichever the search
    scored, explained from the same fits.

    Every number comes from real fits of the best candidate, with the same
    folds and seeds as the search:

    1. **CV vs test data** -- the fold models (trained on each fold's train
       rows, every seed) scored on the test set, minus the CV MSE they got on
       their own validation folds;
    2. **refit on all rows** -- refits on all of ``X, y`` (``n_seeds`` seeds,
       per ``refit_policy``) scored on the test set, minus (1)'s fold models
       on the test set: more data, and the refit's epochs;
    3. **seed of the final model** -- the final model (refit, repeat 0)
       minus the seed-averaged refits.

    The parts add up exactly to ``test_value - cv_value`` (``test_mse -
    cv_mse`` for a regressor).  Spreads are reported
    alongside: across folds and seeds in the search, across refit seeds on
    the test set, and the epochs run per fold and by the refit.

    Parameters
    ----------
    search : ReconciledSearchCV
        Fitted, scored with ``"neg_mean_squared_error"`` (a classifier:
        ``"neg_log_loss"`` and/or ``"accuracy"``).
    X_test, y_test : array-like
        Held-out rows the search never saw.
    X, y : array-like
        The rows the search was fitted on (keyword-only).
    n_seeds : int, default=3
        Refits with ``repeat = 0 .. n_seeds-1``.
    refit_policy : {"median_best_epoch", "as_searched"}, default="median_best_epoch"
        ``"median_best_epoch"``: when early stopping ran in the search, refit
        without early stopping (no holdout) for the median best epoch across
        folds, so the final model trains like the scored ones; otherwise as
        searched.  ``"as_searched"``: refit with the search's exact settings
        (early stopping, if any, on the refit's own holdout).

    Returns
    -------
    GapExplanation
        For the first metric scored; ``by_metric`` holds one per metric.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from seeded_keras import ReconciledSearchCV, SeededKerasRegressor, explain_gap
    >>> X, y = load_diabetes(return_X_y=True)
    >>> search = ReconciledSearchCV(
    ...     SeededKerasRegressor(epochs=2), {"optimizer__learning_rate": [0.01]},
    ...     scoring="neg_mean_squared_error", cv=2, random_state=0,
    ... ).fit(X[:100], y[:100])
    >>> gap = explain_gap(search, X[100:150], y[100:150], X=X[:100], y=y[:100],
    ...                   n_seeds=2)
    >>> bool(abs(gap.cv_mse + sum(gap.parts.values()) - gap.test_mse) < 1e-6)
    True
    """
    check_is_fitted(search, "splits_")
    pairs = scored(search.scoring, metrics_for(search.base_estimator_))
    if not pairs:
        needs = " or ".join(repr(m.scorer) for m in metrics_for(search.base_estimator_))
        raise ValueError(f"explain_gap needs a search scored with {needs}.")
    if refit_policy not in POLICIES:
        raise ValueError(
            f"refit_policy must be one of {POLICIES}; got {refit_policy!r}"
        )
    base = search.base_estimator_
    paths = seeded_paths(base)
    if not paths:
        raise ValueError(
            "explain_gap needs a SeededKerasRegressor or SeededKerasClassifier "
            "in the search."
        )
    net_path = paths[-1]
    c = int(search.best_index_)
    params = dict(search.cv_results_["params"][c])
    results = search.cv_results_
    metrics = [m for m, _ in pairs]

    fold = _fold_fits(search, c, params, X, y, X_test, y_test, pairs)
    best_epochs = [f["best_epoch"] for f in fold if f["best_epoch"] is not None]
    refit_params, refit_epochs = _refit_params(
        params, net_path, refit_policy, best_epochs
    )
    refits = [
        _refit(
            base,
            {**refit_params, net_path + "repeat": j},
            j,
            X,
            y,
            X_test,
            y_test,
            metrics,
        )
        for j in range(n_seeds)
    ]
    by_metric = {}
    for metric in metrics:
        m = metric.name
        cv_value = float(np.mean([f[f"cv_{m}"] for f in fold]))
        fold_test = float(np.mean([f[f"test_{m}"] for f in fold]))
        refit_mean = float(np.mean([r[f"test_{m}"] for r in refits]))
        final = refits[0][f"test_{m}"]
        parts = {
            "CV vs test data": fold_test - cv_value,
            "refit on all rows": refit_mean - fold_test,
            "seed of the final model": final - refit_mean,
        }
        spreads = {
            "sd across folds (search)": float(results[f"std_fold_{m}"][c]),
            "sd across seeds (search)": float(results[f"std_seed_{m}"][c]),
            "sd across refit seeds (test)": float(
                np.std([r[f"test_{m}"] for r in refits])
            ),
        }
        by_metric[m] = GapExplanation(
            params=params,
            cv_mse=cv_value,
            test_mse=final,
            parts=parts,
            spreads=spreads,
            fold_fits=fold,
            refits=[{k: v for k, v in r.items() if k != "estimator"} for r in refits],
            refit_policy=refit_policy,
            refit_epochs=refit_epochs,
            final_estimator=refits[0]["estimator"],
            metric=m,
        )
    for gap in by_metric.values():
        gap.by_metric = by_metric
    return by_metric[metrics[0].name]


def _fold_fits(search, c, params, X, y, X_test, y_test, pairs):
    """Step 1: the fold models of candidate ``c``, every seed, scored on their
    validation fold (from the search) and on the test set (refitted here)."""
    metrics = [m for m, _ in pairs]
    fold = []
    for i, (train, _val) in enumerate(search.splits_):
        for j in range(search.n_seeds):
            _, test, n_ep, best_ep = _fit_scores(
                search.base_estimator_,
                {**params, **search.repeat_params(j)},
                safe_indexing(X, train),
                safe_indexing(y, train),
                X_test,
                y_test,
                metrics,
            )
            record = {"split": i, "repeat": j}
            for metric, name in pairs:
                column = seed_column(i, j, search.n_seeds, name)
                record[f"cv_{metric.name}"] = metric.score(
                    float(search.cv_results_[column][c])
                )
                record[f"test_{metric.name}"] = test[metric.name]
            fold.append({**record, "n_epochs": n_ep, "best_epoch": best_ep})
    return fold


def _refit_params(params, net_path, refit_policy, best_epochs):
    """Step 2's settings: as searched, or the median best epoch, no holdout."""
    if refit_policy != "median_best_epoch" or not best_epochs:
        return dict(params), None
    epochs = int(np.median(best_epochs))
    return {
        **params,
        net_path + "epochs": epochs,
        net_path + "callbacks": None,
        net_path + "validation_fraction": None,
    }, epochs


def _refit(base, params, repeat, X, y, X_test, y_test, metrics):
    """One refit on all rows with seed ``repeat``, scored on the test set."""
    est, test, n_ep, _ = _fit_scores(base, params, X, y, X_test, y_test, metrics)
    scores = {f"test_{m}": v for m, v in test.items()}
    return {"repeat": repeat, **scores, "n_epochs": n_ep, "estimator": est}


class GapExplanation:
    """The measured parts of the gap between a CV score and the final test score.

    Returned by :func:`explain_gap`.

    Attributes
    ----------
    params : dict
        The best candidate.
    metric : str
        ``"mse"``, ``"log_loss"`` or ``"accuracy"``.
    cv_value, test_value : float
        Mean CV value of the metric for the best candidate; the final
        model's test value.  ``cv_mse`` and ``test_mse`` are the same
        numbers (names kept from the regressor's explanation).
    parts : dict of str to float
        Additive parts: ``cv_value + sum(parts.values()) == test_value`` (up
        to rounding).
    spreads : dict of str to float
        Standard deviations that size the noise around each number.
    fold_fits, refits : list of dict
        The fits behind the numbers (epochs included).
    refit_policy : str
    refit_epochs : int or None
        Epochs of the refit when the policy set them.
    final_estimator : estimator
        The final model (refit on all rows, repeat 0).
    by_metric : dict of str to GapExplanation
        The explanation of every metric the search scored, from the same
        fits (itself included).

    Examples
    --------
    >>> gap = GapExplanation({}, 10.0, 12.0, {"a": 2.0}, {}, [], [], "as_searched",
    ...                      None, None)
    >>> gap.to_frame()["value"].tolist()
    [10.0, 2.0, 12.0]
    """

    def __init__(
        self,
        params,
        cv_mse,
        test_mse,
        parts,
        spreads,
        fold_fits,
        refits,
        refit_policy,
        refit_epochs,
        final_estimator,
        metric="mse",
    ):
        self.metric = metric
        self.by_metric = {metric: self}
        self.params = params
        self.cv_mse = cv_mse
        self.test_mse = test_mse
        self.parts = parts
        self.spreads = spreads
        self.fold_fits = fold_fits
        self.refits = refits
        self.refit_policy = refit_policy
        self.refit_epochs = refit_epochs
        self.final_estimator = final_estimator

    def to_frame(self):
        """Start, parts and end as a pandas DataFrame (columns: part, value, kind).

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        label = BY_NAME[self.metric].label
        rows = [(f"best CV {label}", self.cv_mse, "start")]
        rows += [(k, v, "part") for k, v in self.parts.items()]
        rows += [(f"final test {label}", self.test_mse, "end")]
        rows += [(k, v, "spread") for k, v in self.spreads.items()]
        return pd.DataFrame(rows, columns=["part", "value", "kind"])

    def summary(self) -> str:
        """The explanation in plain language.

        Returns
        -------
        str
        """
        epochs = sorted({f["n_epochs"] for f in self.fold_fits if f["n_epochs"]})
        lines = []
        for gap in self.by_metric.values():
            label = BY_NAME[gap.metric].label
            lines.append(
                f"CV {label} {gap.cv_mse:.4f}, final test {label} "
                f"{gap.test_mse:.4f} (gap {gap.test_mse - gap.cv_mse:+.4f})"
            )
            for name, value in gap.parts.items():
                lines.append(f"  {name:<26} {value:+12.4f}")
            for name, value in gap.spreads.items():
                lines.append(f"  ({name}: {value:.4f})")
        lines[0] = f"best candidate {self.params}: {lines[0]}"
        lines.append(
            f"  epochs per fold fit: {epochs}; refit policy {self.refit_policy!r}"
            + (f", refit for {self.refit_epochs} epochs" if self.refit_epochs else "")
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def plot(self, ax=None):
        """A waterfall: CV value, each part, final test value (this metric).

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ._report import new_axes

        fig, ax = new_axes(ax, (6, 3.5))
        label = BY_NAME[self.metric].label
        labels = [f"CV {label}", *self.parts, f"test {label}"]
        level = self.cv_mse
        ax.bar(0, self.cv_mse, color="tab:blue")
        for k, value in enumerate(self.parts.values(), start=1):
            ax.bar(
                k, value, bottom=level, color="tab:green" if value < 0 else "tab:red"
            )
            level += value
        ax.bar(len(labels) - 1, self.test_mse, color="tab:blue")
        ax.set_xticks(
            range(len(labels)), labels, rotation=20, ha="right", fontsize="small"
        )
        ax.set_ylabel(label)
        fig.tight_layout()
        return fig

    @property
    def cv_value(self) -> float:
        """Mean CV value of the metric for the best candidate."""
        return self.cv_mse

    @property
    def test_value(self) -> float:
        """The final model's test value of the metric."""
        return self.test_mse
