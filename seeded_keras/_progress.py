"""Progress of long sweeps: fits done / total, elapsed, ETA.

On a terminal, a live bar (rich, which Keras already installs); on a pipe or
in a log, one newline-terminated line whenever another tenth of the fits is
done or 30 seconds have passed, and at the end -- never a carriage return.
"""

from __future__ import annotations

import sys
import time

__all__ = ["Progress", "fitting_line"]

LOG_TENTHS = 10  # a line every tenth of the fits
LOG_EVERY_SECONDS = 30.0


def fitting_line(n_splits: int, n_candidates: int, n_seeds: int) -> str:
    """scikit-learn's "Fitting ..." line, with the seeds when there are several."""
    seeds = f" × {n_seeds} seeds" if n_seeds > 1 else ""
    total = n_splits * n_candidates * n_seeds
    return (
        f"Fitting {n_splits} folds for each of {n_candidates} candidates{seeds}, "
        f"totalling {total} fits"
    )


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """Report ``fits done / total, elapsed, ETA`` as fits finish.

    Parameters
    ----------
    total : int
        Number of fits expected.
    label : str
        Printed in front of the counts.
    stream : file, default=sys.stderr
    live : bool, optional
        A live bar (default: when ``stream`` is a terminal and rich imports).
    """

    def __init__(self, total, label, stream=None, live=None):
        self.total, self.label, self.done = total, label, 0
        self.stream = stream or sys.stderr
        self.start = self._last_line = time.perf_counter()
        self._next_tenth = 1
        self._bar = None
        if live is None:
            live = _is_terminal(self.stream)
        if live:
            self._bar = self._start_bar()

    def _start_bar(self):
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress
        except ImportError:
            return None
        bar = RichProgress(
            TextColumn(self.label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("fits"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
        )
        self._task = bar.add_task(self.label, total=self.total)
        bar.start()
        return bar

    def __call__(self, record=None, n=1):
        """Count ``n`` finished fits and report when it is time to."""
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
            if self.done >= self.total:
                self._bar.stop()
            return
        now = time.perf_counter()
        finished = self.done >= self.total
        tenths = self.done * LOG_TENTHS // max(self.total, 1)  # exact, in ints
        if (
            finished
            or tenths >= self._next_tenth
            or now - self._last_line >= LOG_EVERY_SECONDS
        ):
            self._next_tenth = tenths + 1
            self._last_line = now
            self._print_line(now)

    def _print_line(self, now):
        elapsed = now - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        print(
            f"{self.label}: {self.done}/{self.total} fits, "
            f"elapsed {elapsed:.1f}s, ETA {eta:.1f}s",
            file=self.stream,
            flush=True,
        )
