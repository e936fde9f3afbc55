"""Explain, with measured parts, why the final model's test MSE is not the CV MSE."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.metrics import mean_squared_error
from sklearn.utils.validation import check_is_fitted

from ._compat import safe_indexing
from ._protocol import mse_scorer_name, seeded_paths
from ._results import seed_column

__all__ = ["GapExplanation", "explain_gap"]

POLICIES = ("median_best_epoch", "as_searched")


def _fit_mse(estimator, params, X, y, X_eval, y_eval):
    est = clone(estimator).set_params(**params).fit(X, y)
    net = est[-1] if hasattr(est, "steps") else est
    mse = float(mean_squared_error(y_eval, est.predict(X_eval)))
    return est, mse, getattr(net, "n_epochs_", None), getattr(net, "best_epoch_", None)


def explain_gap(
    search, X_test, y_test, *, X, y, n_seeds=3, refit_policy="median_best_epoch"
):
    """Decompose best CV MSE -> final test MSE into measured, additive parts.

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

    The parts add up exactly to ``test_mse - cv_mse``.  Spreads are reported
    alongside: across folds and seeds in the search, across refit seeds on
    the test set, and the epochs run per fold and by the refit.

    Parameters
    ----------
    search : ReconciledSearchCV
        Fitted, scored with ``"neg_mean_squared_error"``.
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
    if mse_scorer_name(search.scoring) is None:
        raise ValueError(
            "explain_gap needs a search scored with 'neg_mean_squared_error'."
        )
    if refit_policy not in POLICIES:
        raise ValueError(
            f"refit_policy must be one of {POLICIES}; got {refit_policy!r}"
        )
    base = search.base_estimator_
    paths = seeded_paths(base)
    if not paths:
        raise ValueError("explain_gap needs a SeededKerasRegressor in the search.")
    net_path = paths[-1]
    c = int(search.best_index_)
    params = dict(search.cv_results_["params"][c])
    results = search.cv_results_

    fold = _fold_fits(search, c, params, X, y, X_test, y_test)
    cv_mse = float(np.mean([f["cv_mse"] for f in fold]))
    fold_test = float(np.mean([f["test_mse"] for f in fold]))
    best_epochs = [f["best_epoch"] for f in fold if f["best_epoch"] is not None]
    refit_params, refit_epochs = _refit_params(
        params, net_path, refit_policy, best_epochs
    )
    refits = [
        _refit(base, {**refit_params, net_path + "repeat": j}, j, X, y, X_test, y_test)
        for j in range(n_seeds)
    ]
    refit_mean = float(np.mean([r["test_mse"] for r in refits]))
    final = refits[0]
    parts = {
        "CV vs test data": fold_test - cv_mse,
        "refit on all rows": refit_mean - fold_test,
        "seed of the final model": final["test_mse"] - refit_mean,
    }
    spreads = {
        "sd across folds (search)": float(results["std_fold_mse"][c]),
        "sd across seeds (search)": float(results["std_seed_mse"][c]),
        "sd across refit seeds (test)": float(np.std([r["test_mse"] for r in refits])),
    }
    return GapExplanation(
        params=params,
        cv_mse=cv_mse,
        test_mse=final["test_mse"],
        parts=parts,
        spreads=spreads,
        fold_fits=fold,
        refits=[{k: v for k, v in r.items() if k != "estimator"} for r in refits],
        refit_policy=refit_policy,
        refit_epochs=refit_epochs,
        final_estimator=final["estimator"],
    )


def _fold_fits(search, c, params, X, y, X_test, y_test):
    """Step 1: the fold models of candidate ``c``, every seed, scored on their
    validation fold (from the search) and on the test set (refitted here)."""
    name = mse_scorer_name(search.scoring)
    fold = []
    for i, (train, _val) in enumerate(search.splits_):
        for j in range(search.n_seeds):
            _, test_mse, n_ep, best_ep = _fit_mse(
                search.base_estimator_,
                {**params, **search.repeat_params(j)},
                safe_indexing(X, train),
                safe_indexing(y, train),
                X_test,
                y_test,
            )
            fold.append(
                {
                    "split": i,
                    "repeat": j,
                    "cv_mse": -float(
                        search.cv_results_[seed_column(i, j, search.n_seeds, name)][c]
                    ),
                    "test_mse": test_mse,
                    "n_epochs": n_ep,
                    "best_epoch": best_ep,
                }
            )
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


def _refit(base, params, repeat, X, y, X_test, y_test):
    """One refit on all rows with seed ``repeat``, scored on the test set."""
    est, test_mse, n_ep, _ = _fit_mse(base, params, X, y, X_test, y_test)
    return {"repeat": repeat, "test_mse": test_mse, "n_epochs": n_ep, "estimator": est}


class GapExplanation:
    """The measured parts of the gap between CV MSE and final test MSE.

    Returned by :func:`explain_gap`.

    Attributes
    ----------
    params : dict
        The best candidate.
    cv_mse, test_mse : float
        Mean CV MSE of the best candidate; test MSE of the final model.
    parts : dict of str to float
        Additive parts: ``cv_mse + sum(parts.values()) == test_mse`` (up to
        rounding).
    spreads : dict of str to float
        Standard deviations that size the noise around each number.
    fold_fits, refits : list of dict
        The fits behind the numbers (epochs included).
    refit_policy : str
    refit_epochs : int or None
        Epochs of the refit when the policy set them.
    final_estimator : estimator
        The final model (refit on all rows, repeat 0).

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
    ):
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

        rows = [("best CV MSE", self.cv_mse, "start")]
        rows += [(k, v, "part") for k, v in self.parts.items()]
        rows += [("final test MSE", self.test_mse, "end")]
        rows += [(k, v, "spread") for k, v in self.spreads.items()]
        return pd.DataFrame(rows, columns=["part", "value", "kind"])

    def summary(self) -> str:
        """The explanation in plain language.

        Returns
        -------
        str
        """
        epochs = sorted({f["n_epochs"] for f in self.fold_fits if f["n_epochs"]})
        lines = [
            f"best candidate {self.params}: CV MSE {self.cv_mse:.4f}, final test "
            f"MSE {self.test_mse:.4f} (gap {self.test_mse - self.cv_mse:+.4f})",
        ]
        for name, value in self.parts.items():
            lines.append(f"  {name:<26} {value:+12.4f}")
        for name, value in self.spreads.items():
            lines.append(f"  ({name}: {value:.4f})")
        lines.append(
            f"  epochs per fold fit: {epochs}; refit policy {self.refit_policy!r}"
            + (f", refit for {self.refit_epochs} epochs" if self.refit_epochs else "")
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def plot(self, ax=None):
        """A waterfall: CV MSE, each part, final test MSE.

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ._report import new_axes

        fig, ax = new_axes(ax, (6, 3.5))
        labels = ["CV MSE", *self.parts, "test MSE"]
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
        ax.set_ylabel("MSE")
        fig.tight_layout()
        return fig
