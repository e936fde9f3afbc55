"""The metrics every path reconciles on, per task, computed one way.

A search scores its fits with scikit-learn's scorers; the manual loop, the
tuner and the witness compute the same numbers with the same scikit-learn
functions on the same float64 outputs, so they agree bit for bit:

============  ===========================  ============================  =====
metric        scorer of the search         computed from                 best
============  ===========================  ============================  =====
``mse``       ``neg_mean_squared_error``   ``predict`` (float64)         low
``log_loss``  ``neg_log_loss``             ``predict_proba`` (float64)   low
``accuracy``  ``accuracy``                 ``predict``                   high
============  ===========================  ============================  =====

**Log-loss, one clipping rule.**  Keras clips probabilities at 1e-7 and
scikit-learn at the epsilon of their dtype (1.2e-7 for float32, 2.2e-16 for
float64), so a loop over float32 probabilities disagrees with a search.
Here log-loss is always scikit-learn's ``log_loss`` of the classifier's
float64 ``predict_proba`` -- rows divided by their sum in float64, clipped
at float64's epsilon -- given as its ``neg_log_loss`` scorer gives it (for
two classes, the positive class's column).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BY_NAME",
    "CLASSIFICATION",
    "MSE",
    "REGRESSION",
    "Metric",
    "metrics_for",
    "scored",
    "scorer_name",
]


@dataclass(frozen=True)
class Metric:
    """One reconciled metric: its name, the search's scorer, its direction."""

    name: str
    scorer: str
    lower_is_better: bool
    label: str  # as printed: "MSE", "log-loss", "accuracy"

    def score(self, value: float) -> float:
        """The scorer's value (greater is better) of a metric value."""
        return -value if self.lower_is_better else value

    def of(self, fitted, X, y, sample_weight=None) -> float:
        """This metric of a fitted estimator on ``(X, y)``, in float64."""
        from sklearn import metrics

        if self.name == "mse":
            return float(
                metrics.mean_squared_error(
                    y, fitted.predict(X), sample_weight=sample_weight
                )
            )
        if self.name == "accuracy":
            return float(
                metrics.accuracy_score(
                    y, fitted.predict(X), sample_weight=sample_weight
                )
            )
        proba = fitted.predict_proba(X)
        if proba.ndim == 2 and proba.shape[1] == 2:
            proba = proba[:, 1]  # what scikit-learn's scorer hands log_loss
        return float(metrics.log_loss(y, proba, sample_weight=sample_weight))


MSE = Metric("mse", "neg_mean_squared_error", True, "MSE")
LOG_LOSS = Metric("log_loss", "neg_log_loss", True, "log-loss")
ACCURACY = Metric("accuracy", "accuracy", False, "accuracy")
REGRESSION = (MSE,)
CLASSIFICATION = (LOG_LOSS, ACCURACY)
BY_NAME = {m.name: m for m in (MSE, LOG_LOSS, ACCURACY)}


def metrics_for(estimator) -> tuple[Metric, ...]:
    """The metrics of ``estimator``'s task (a classifier's, or MSE)."""
    from sklearn.base import is_classifier

    return CLASSIFICATION if is_classifier(estimator) else REGRESSION


def scorer_name(scoring, metric: Metric):
    """Name under which a search with ``scoring`` scored ``metric``, or None.

    ``"score"`` for a single scorer (scikit-learn's column name).
    """
    if scoring == metric.scorer:
        return "score"
    if isinstance(scoring, (list, tuple, set)) and metric.scorer in scoring:
        return metric.scorer
    if isinstance(scoring, dict):
        for name, value in scoring.items():
            if value == metric.scorer:
                return name
    return None


def scored(scoring, metrics) -> list[tuple[Metric, str]]:
    """The ``(metric, scorer name)`` pairs of ``metrics`` a search scored."""
    pairs = [(m, scorer_name(scoring, m)) for m in metrics]
    return [(m, name) for m, name in pairs if name is not None]
