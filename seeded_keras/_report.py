"""The reconciliation report: both paths' metrics, fit by fit.

A regression search is reconciled on MSE; a classification search on
log-loss and accuracy (:mod:`seeded_keras._metrics`).  The first metric is
the one candidates are ranked by in the summary and the plot.
"""

from __future__ import annotations

import math

import numpy as np

from ._metrics import BY_NAME
from ._results import seed_column

__all__ = ["ReconciliationError", "ReconciliationReport"]

_ID_COLUMNS = ("candidate", "params", "split", "repeat", "seed", "n_epochs")
_DIFF_COLUMNS = ("abs_diff", "rel_diff", "failed")


def _agree(a: float, b: float) -> float:
    """|a - b|, 0 when both are NaN (both paths could not score the fit)."""
    if math.isnan(a) and math.isnan(b):
        return 0.0
    if math.isnan(a) or math.isnan(b):
        return math.inf
    return abs(a - b)


def new_axes(ax, figsize):
    """The given Axes and its figure, or a new Figure that touches no pyplot state."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def short_label(params: dict, sep: str = ", ") -> str:
    """``lr=0.01, hidden=(16,)``: each parameter by its own name, values short.

    Route prefixes (``net__optimizer__``) are dropped; a name that would then
    be ambiguous keeps them.
    """
    own = [k.rpartition("__")[2] for k in params]
    parts = []
    for key, name in zip(params, own):
        label = name if own.count(name) == 1 else key
        value = params[key]
        text = f"{value:.3g}" if isinstance(value, float) else repr(value)
        parts.append(f"{label}={text}")
    return sep.join(parts) or "(defaults)"


class ReconciliationError(AssertionError):
    """The search and the manual loop disagree beyond the tolerance.

    Raised by :meth:`ReconciliationReport.assert_agree`; an ``AssertionError``
    so that test suites report it as a failed check.

    Examples
    --------
    >>> from seeded_keras import ReconciliationError
    >>> issubclass(ReconciliationError, AssertionError)
    True
    """


class ReconciliationReport:
    """Every candidate x fold x repeat's metrics from the search and the manual loop.

    Build it with :meth:`seeded_keras.ReconciledSearchCV.reconcile`.

    Parameters
    ----------
    rows : list of dict
        One record per fit with the keys listed in :meth:`to_frame`.
    candidates : list of dict
        Parameters of each candidate.
    manual : dict, optional
        The manual loop's results (:meth:`ReconciledSearchCV.manual_loop`).
    witness : {"loop", "keras"}, default="loop"
    metrics : sequence of str, default=("mse",)
        The metrics compared (``"mse"``; ``"log_loss"``, ``"accuracy"``);
        each row has ``search_<m>``, ``manual_<m>`` and ``tuner_<m>``.

    Attributes
    ----------
    rows : list of dict
    candidates : list of dict
    manual : dict or None
    metrics : tuple of str

    Examples
    --------
    >>> rows = [dict(candidate=0, params="{}", split=0, repeat=0, seed=1,
    ...              n_epochs=2, search_mse=1.0, manual_mse=1.0, abs_diff=0.0,
    ...              rel_diff=0.0, failed="")]
    >>> ReconciliationReport(rows, [{}]).max_abs_diff
    0.0
    """

    def __init__(self, rows, candidates, manual=None, witness="loop", metrics=("mse",)):
        self.rows = rows
        self.candidates = candidates
        self.manual = manual
        self.witness = witness
        self.metrics = tuple(metrics)

    @property
    def _primary(self) -> str:
        return self.metrics[0]

    @property
    def _lower_is_better(self) -> bool:
        return BY_NAME[self._primary].lower_is_better

    @property
    def _label(self) -> str:
        return BY_NAME[self._primary].label

    @property
    def _manual_name(self) -> str:
        return "plain Keras" if self.witness == "keras" else "manual"

    @classmethod
    def from_paths(cls, search, scored, manual, tuner=None, witness="loop"):
        """Pair a fitted search's per-seed scores with manual-loop records.

        Parameters
        ----------
        search : fitted ReconciledSearchCV or ReconciledRandomizedSearchCV
        scored : list of (Metric, str)
            The metrics compared and the search's scorer name of each.
        manual : dict
            :meth:`~ReconciledSearchCV.manual_loop`'s results.
        tuner : ReconciledTuner, optional
            Its per-execution metrics are a third path; ``abs_diff`` is then
            the largest difference to the manual loop.
        witness : {"loop", "keras"}, default="loop"
        """
        tuned = {}
        if tuner is not None:
            for record in tuner.executions():
                for f in record["fits"]:
                    key = (
                        repr(sorted(record["params"].items())),
                        f["split"],
                        f["repeat"],
                    )
                    tuned[key] = f
        failures = {
            (f["candidate"], f["split"], f["repeat"]): f["message"]
            for f in search.fit_failures_
        }
        results = search.cv_results_
        rows = []
        for f in manual["fits"]:
            c, i, j = f["candidate"], f["split"], f["repeat"]
            search_error = failures.get((c, i, j), "")
            failed = search_error or f["error"]
            row = {
                "candidate": c,
                "params": repr(results["params"][c]),
                "split": i,
                "repeat": j,
                "seed": f["seed"],
                "n_epochs": f["n_epochs"],
            }
            if tuner is not None:
                params = results["params"][c]
                key = (repr(sorted(params.items())), i, j)
                if key not in tuned:
                    raise ValueError(
                        f"the tuner has no execution for {params} on split {i}, "
                        f"repeat {j}; run it on the same grid, folds and seeds."
                    )
            diffs, rels = [], []
            for metric, name in scored:
                m = metric.name
                column = seed_column(i, j, search.n_seeds, name)
                ours = metric.score(float(results[column][c]))
                if search_error:
                    ours = math.nan
                theirs = float(f[m])
                row[f"search_{m}"] = ours
                row[f"manual_{m}"] = theirs
                row[f"tuner_{m}"] = math.nan
                if search_error and f["error"]:
                    diff = 0.0  # both paths failed the same fit: they agree
                elif search_error or f["error"]:
                    diff = math.inf  # one path failed where the other did not
                else:
                    diff = _agree(ours, theirs)
                if tuner is not None:
                    row[f"tuner_{m}"] = float(tuned[key].get(m, math.nan))
                    if not failed:
                        diff = max(diff, _agree(row[f"tuner_{m}"], theirs))
                diffs.append(diff)
                rels.append(diff / abs(theirs) if theirs else diff)
            row["abs_diff"] = max(diffs)
            row["rel_diff"] = max(rels)
            row["failed"] = failed.strip().splitlines()[-1] if failed else ""
            rows.append(row)
        metrics = [metric.name for metric, _ in scored]
        report = cls(rows, list(results["params"]), manual, witness, metrics)
        if "iter" in results:  # a halving search picks from its last rung
            last = np.asarray(results["iter"]) == np.max(results["iter"])
            report.eligible = np.flatnonzero(last)
        return report

    # ------------------------------------------------------------ numbers
    def _column(self, name):
        return np.array([r[name] for r in self.rows], dtype=np.float64)

    @property
    def max_abs_diff(self) -> float:
        """Largest absolute difference of the paths over all fits and metrics.

        A fit that failed in both paths counts 0; in one path only, infinity.
        """
        return float(np.max(self._column("abs_diff")))

    def candidate_means(self, metric=None) -> dict[str, np.ndarray]:
        """Mean of a metric (the first) per candidate over folds and repeats,
        per path."""
        metric = metric or self._primary
        out = {}
        for path in ("search", "manual"):
            per = [
                [r[f"{path}_{metric}"] for r in self.rows if r["candidate"] == c]
                for c in range(len(self.candidates))
            ]
            out[path] = np.array([np.mean(p) if p else np.nan for p in per])
        return out

    @property
    def best_candidates(self) -> tuple[int, int]:
        """Index of the best candidate (lowest mean MSE or log-loss, highest
        accuracy) in the search and in the manual loop (of a halving search:
        among its last rung's rows)."""
        means = self.candidate_means()
        best = np.nanargmin if self._lower_is_better else np.nanargmax
        eligible = getattr(self, "eligible", None)
        if eligible is None:
            return int(best(means["search"])), int(best(means["manual"]))
        return tuple(
            int(eligible[best(means[path][eligible])]) for path in ("search", "manual")
        )

    @property
    def same_best(self) -> bool:
        """Whether both paths pick the same best candidate."""
        a, b = self.best_candidates
        return a == b

    def assert_agree(self, atol: float = 0.0, rtol: float = 0.0) -> None:
        """Raise :class:`ReconciliationError` with a readable diff on disagreement.

        Parameters
        ----------
        atol, rtol : float, default=0.0
            Allowed absolute and relative difference per fit.  The default
            demands bitwise equality, the promise on CPU.

        Raises
        ------
        ReconciliationError
            Listing every fit whose metrics differ beyond the tolerance (a
            fit that failed in one path only counts as a difference).
        """
        bad = [
            r for r in self.rows if not (r["abs_diff"] <= atol + rtol * self._scale(r))
        ]
        if bad or not self.same_best:
            lines = [
                f"{len(bad)} of {len(self.rows)} fits differ beyond "
                f"atol={atol}, rtol={rtol}; best candidate "
                f"search/{self._manual_name} = "
                f"{self.best_candidates}"
            ]
            for r in bad:
                values = "; ".join(
                    (f"{m}: " if len(self.metrics) > 1 else "")
                    + f"search {r[f'search_{m}']!r} vs {self._manual_name} "
                    f"{r[f'manual_{m}']!r}"
                    for m in self.metrics
                )
                lines.append(
                    f"  candidate {r['candidate']} {r['params']} split {r['split']} "
                    f"repeat {r['repeat']}: {values} (diff {r['abs_diff']:.3g})"
                    + (f" [failed: {r['failed']}]" if r["failed"] else "")
                )
            raise ReconciliationError("\n".join(lines))

    def _scale(self, row) -> float:
        """The smallest |manual value| of a row (what ``rtol`` is relative to)."""
        return min(abs(row[f"manual_{m}"]) for m in self.metrics)

    # ------------------------------------------------------------ views
    def to_frame(self):
        """One row per fit, as a pandas DataFrame.

        Returns
        -------
        pandas.DataFrame
            Columns: candidate, params, split, repeat, seed, n_epochs, then
            per metric ``search_<m>``, ``manual_<m>``, ``tuner_<m>`` (NaN
            without a tuner) -- ``search_mse``, ... for regression,
            ``search_log_loss``, ``search_accuracy``, ... for classification
            -- and abs_diff, rel_diff, failed.
        """
        import pandas as pd

        per_metric = [
            f"{path}_{m}"
            for m in self.metrics
            for path in ("search", "manual", "tuner")
        ]
        columns = [*_ID_COLUMNS, *per_metric, *_DIFF_COLUMNS]
        return pd.DataFrame(self.rows, columns=columns)

    def summary(self) -> str:
        """A short text table: per-candidate mean of the first metric, both paths.

        Returns
        -------
        str
        """
        means = self.candidate_means()
        width = max(len("candidate"), *(len(repr(p)) for p in self.candidates))
        label = self._label
        head = (
            f"{'candidate':<{width}}  {'search ' + label:>14}  "
            f"{self._manual_name + ' ' + label:>14}  {'diff':>9}"
        )
        lines = [head, "-" * len(head)]
        for c, params in enumerate(self.candidates):
            s, m = means["search"][c], means["manual"][c]
            lines.append(
                f"{repr(params):<{width}}  {s:>14.6f}  {m:>14.6f}  {abs(s - m):>9.3g}"
            )
        failed = [r for r in self.rows if r["failed"]]
        metrics = (
            "" if self.metrics == ("mse",) else f" of {' and '.join(self.metrics)}"
        )
        lines.append(
            f"max |search - {self._manual_name}|{metrics} over "
            f"{len(self.rows)} fits: "
            f"{self.max_abs_diff!r}; same best candidate: {self.same_best}"
            + (f"; failed fits: {len(failed)}" if failed else "")
        )
        for r in failed:
            both = r["abs_diff"] == 0.0
            lines.append(
                f"  candidate {r['candidate']} split {r['split']} repeat "
                f"{r['repeat']} failed "
                + ("in both paths (they agree)" if both else "in one path only")
                + f": {r['failed']}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def plot(self, ax=None):
        """Per-candidate first metric of both paths with the fold/seed spread.

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        fig, ax = new_axes(ax, (max(5, 1.8 * len(self.candidates)), 4))
        x = np.arange(len(self.candidates))
        for offset, path, marker in ((-0.1, "search", "o"), (0.1, "manual", "s")):
            per = [
                [r[f"{path}_{self._primary}"] for r in self.rows if r["candidate"] == c]
                for c in x
            ]
            ax.scatter(
                np.repeat(x + offset, [len(p) for p in per]),
                np.concatenate(per),
                alpha=0.35,
                marker=marker,
                s=12,
            )
            ax.errorbar(
                x + offset,
                [np.mean(p) for p in per],
                yerr=[np.std(p) for p in per],
                fmt=marker,
                capsize=3,
                label=f"{path} (mean ± sd over folds and seeds)",
            )
        labels = [short_label(p, sep="\n") for p in self.candidates]
        ax.set_xticks(x, labels, fontsize="x-small")
        ax.set_xlabel("candidate")
        ax.set_ylabel(self._label)
        ax.set_title(f"max |search − manual| = {self.max_abs_diff:.3g}")
        ax.legend(fontsize="small")
        fig.tight_layout()
        return fig
