"""An estimator that kills its own process once, for crash-safety tests.

Importable by worker processes (loky, dask), unlike a class in a test module.
"""

import os
import signal

from sklearn.linear_model import Ridge


class DiesOnce(Ridge):
    """Ridge whose first fit anywhere (guarded by ``marker``) SIGKILLs its process."""

    def __init__(self, alpha=1.0, marker=""):
        super().__init__(alpha=alpha)
        self.marker = marker

    def fit(self, X, y, sample_weight=None):
        if self.marker and not os.path.exists(self.marker):
            with open(self.marker, "w") as f:
                f.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().fit(X, y, sample_weight=sample_weight)
