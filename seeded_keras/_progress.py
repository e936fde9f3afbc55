"""Progress of long sweeps: fits done / total, elapsed, ETA."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """Print ``fits done / total, elapsed, ETA`` on one refreshed line.

    Parameters
    ----------
    total : int
        Number of fits expected.
    label : str
        Printed in front of the counts.
    stream : file, default=sys.stderr
    """

    def __init__(self, total, label, stream=None):
        self.total, self.label, self.done = total, label, 0
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()

    def __call__(self, record=None, n=1):
        """Count ``n`` finished fits and redraw."""
        self.done += n
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        end = "\n" if self.done >= self.total else "\r"
        print(
            f"{self.label}: {self.done}/{self.total} fits, "
            f"elapsed {elapsed:5.1f}s, ETA {eta:5.1f}s",
            end=end,
            file=self.stream,
            flush=True,
        )
