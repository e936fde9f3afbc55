"""An estimator that kills its own process once, for crash-safety tests.

Importable by worker processes (loky, dask), unlike a class in a test module.
"""

import multiprocessing
import os
import signal
import time

from sklearn.linear_model import Ridge


class DiesOnce(Ridge):
    """Ridge whose first fit in a worker process (guarded by ``marker``)
    SIGKILLs that worker."""

    def __init__(self, alpha=1.0, marker=""):
        super().__init__(alpha=alpha)
        self.marker = marker

    def fit(self, X, y, sample_weight=None):
        in_worker = multiprocessing.parent_process() is not None
        if self.marker and in_worker and not os.path.exists(self.marker):
            with open(self.marker, "w") as f:
                f.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        # The parent process fits beside the workers (seeded_keras._scheduler)
        # and would finish this fast sweep alone: it waits for the death.
        deadline = time.monotonic() + 120
        while self.marker and not os.path.exists(self.marker):
            if time.monotonic() > deadline:
                raise RuntimeError("no worker process ever ran a fit")
            time.sleep(0.05)
        return super().fit(X, y, sample_weight=sample_weight)
