"""What reconciliation costs, and how a sweep scales.

Runs the same grid (diabetes, 8 candidates x 5 folds = 40 fits, 20 epochs by
default), side by side in one invocation, alternating the order every round:

* ``plain``   -- scikeras ``KerasRegressor(random_state=0)`` in sklearn's
  ``GridSearchCV``;
* ``rsearch1`` -- ``ReconciledSearchCV``, ``n_jobs=1``;
* ``rsearch2`` -- ``ReconciledSearchCV``, ``n_jobs=2`` (loky; fresh worker
  processes every round, so their start-up is included);
* ``manual``  -- the manual loop replaying the same 40 fits.

Prints the median wall time, fits per second, peak memory (resident set of
this process and its children, above the starting level) and each ratio to
``plain``.  The machines are shared and noisy: read medians and ratios::

    python benchmarks/bench_search.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import seeded_keras  # noqa: E402,I001  (first: pins TensorFlow's threads)

import joblib  # noqa: E402
import psutil  # noqa: E402
from scikeras.wrappers import KerasRegressor  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

GRID = {
    "model__hidden_layer_sizes": [(8,), (16,), (32,), (16, 16)],
    "optimizer__learning_rate": [0.01, 0.03],
}


class PeakRSS:
    """Sample the resident memory of this process and its children."""

    def __init__(self, interval=0.05):
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _rss(self):
        total = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def __enter__(self):
        self.base = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.delta_mb = (self.peak - self.base) / 2**20


def contenders(X, y, epochs):
    cv = KFold(5)
    common = dict(optimizer="adam", loss="mse", epochs=epochs, batch_size=32, verbose=0)

    def plain():
        net = KerasRegressor(seeded_keras.mlp, random_state=0, **common)
        GridSearchCV(net, GRID, scoring="neg_mean_squared_error", cv=cv).fit(X, y)

    def rsearch(n_jobs):
        def run():
            joblib.externals.loky.get_reusable_executor().shutdown(wait=True)
            net = seeded_keras.SeededKerasRegressor(**common)
            return seeded_keras.ReconciledSearchCV(
                net,
                GRID,
                scoring="neg_mean_squared_error",
                cv=cv,
                random_state=0,
                n_jobs=n_jobs,
            ).fit(X, y)

        return run

    fitted = rsearch(1)()  # the manual loop replays a fitted search

    def manual():
        fitted.manual_loop(X, y)

    return {
        "plain": plain,
        "rsearch1": rsearch(1),
        "rsearch2": rsearch(2),
        "manual": manual,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    n_fits = (
        5
        * len(GRID["model__hidden_layer_sizes"])
        * len(GRID["optimizer__learning_rate"])
    )
    runs = contenders(X, y, args.epochs)
    times = {name: [] for name in runs}
    memory = {name: [] for name in runs}
    names = list(runs)
    for r in range(args.repeats):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            with PeakRSS() as mem:
                start = time.perf_counter()
                runs[name]()
                times[name].append(time.perf_counter() - start)
            memory[name].append(mem.delta_mb)
            print(f"round {r + 1}: {name:<9} {times[name][-1]:7.1f} s", flush=True)

    base = statistics.median(times["plain"])
    print(
        f"\n{n_fits} fits per run, {args.epochs} epochs, {args.repeats} rounds, "
        f"{os.cpu_count()} CPUs, TF_NUM_INTRAOP_THREADS="
        f"{os.environ.get('TF_NUM_INTRAOP_THREADS')}"
    )
    print(
        f"{'contender':<10} {'median s':>9} {'fits/s':>7} {'peak MB':>8} "
        f"{'time / plain':>13} {'fits/s / plain':>15}"
    )
    for name in names:
        med = statistics.median(times[name])
        print(
            f"{name:<10} {med:9.1f} {n_fits / med:7.2f} "
            f"{statistics.median(memory[name]):8.0f} {med / base:13.2f} "
            f"{base / med:15.2f}"
        )
    s1, s2 = statistics.median(times["rsearch1"]), statistics.median(times["rsearch2"])
    print(f"\nspeed-up n_jobs=2 over n_jobs=1: {s1 / s2:.2f}x")


if __name__ == "__main__":
    main()
