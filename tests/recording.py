"""An estimator that writes down which process fitted it, for scheduling tests.

Importable by worker processes, unlike a class in a test module.
"""

import os
import time

from sklearn.linear_model import Ridge


class Recorded(Ridge):
    """Ridge that appends ``pid fit_intercept`` to a file in ``log_dir`` and
    takes ``seconds`` per fit (so that both processes get work)."""

    def __init__(self, alpha=1.0, fit_intercept=True, log_dir="", seconds=0.0):
        super().__init__(alpha=alpha, fit_intercept=fit_intercept)
        self.log_dir = log_dir
        self.seconds = seconds

    def fit(self, X, y, sample_weight=None):
        time.sleep(self.seconds)
        with open(os.path.join(self.log_dir, f"{os.getpid()}.log"), "a") as f:
            f.write(f"{self.fit_intercept} {self.alpha}\n")
        return super().fit(X, y, sample_weight=sample_weight)


def fits_by_process(log_dir) -> dict:
    """pid -> list of (fit_intercept, alpha) it fitted."""
    out = {}
    for name in os.listdir(log_dir):
        with open(os.path.join(log_dir, name)) as f:
            out[int(name.split(".")[0])] = [tuple(line.split()) for line in f]
    return out
