"""What reconciliation costs, how a sweep scales, and what made fits fast.

Runs one grid (diabetes, 4 widths x 2 learning rates = 8 candidates, KFold(5):
40 fits of 20 epochs by default), side by side in one invocation, every
contender once per round and the order reversed every other round:

* ``plain``        scikeras ``KerasRegressor(random_state=0)`` in sklearn's
                   ``GridSearchCV`` (the baseline of every ratio);
* ``keras_sklearn`` Keras' own ``keras.wrappers.SKLearnRegressor`` in
                   ``GridSearchCV``, the same MLP, optimizer, epochs and batch
                   size (its grid is a list of ``model_kwargs`` dicts, and
                   its ``fit_kwargs``, which its clone drops, are in the grid
                   too: the script checks the epochs trained); its
                   ``predict`` prints Keras' progress bar, as it does for
                   every user;
* ``rsearch1``     ``ReconciledSearchCV``, ``n_jobs=1``;
* ``rsearch2``     the same, ``n_jobs=2``: the parent process and one fresh
                   loky worker (shut down before every run, so its start-up
                   is included), fits grouped by architecture, the worker
                   pinned to a CPU (the defaults);
* ``rsearch2nopin`` ``rsearch2`` with ``SEEDED_KERAS_PIN_WORKERS=0``;
* ``rsearch2warm`` ``n_jobs=2`` on a worker already started (an interactive
                   session's second sweep; the untimed warm-up fits another
                   architecture and waits for the worker, so the timed run
                   still traces every model);
* ``journal``      ``rsearch1`` with ``journal=`` a fresh directory: every fit
                   written down (the journal's cost);
* ``resume``       ``rsearch1`` from a finished journal: every fit read back;
* ``manual``       the manual loop replaying the 40 fits;
* ``tuner``        ``ReconciledTuner`` (Keras Tuner, grid oracle) on the same
                   folds;
* ``no_reuse``     ``rsearch1`` with ``SEEDED_KERAS_REUSE=0``: every fit
                   builds, traces and runs its own model one step per
                   execution -- seeded_keras before any speed-up;
* ``reuse_step``   reuse of traced models, but one step per execution;
* ``epoch_each``   reuse, but one execution per epoch through Keras' ``fit``
                   (not every epoch in one execution);
* ``reuse_per_lr`` reuse and every epoch in one execution, but a trainer per
                   learning rate (no sharing of the learning-rate variable).

Every seeded_keras run starts with an empty pool of traced models, so it
pays for its own tracing.  Each run's per-seed scores are checked bitwise
against ``rsearch1``'s: a speed-up that changed a bit would stop the script.

Prints the median wall time, fits per second, peak memory (resident set of
this process and its children, above the level at the start of the run) and
each ratio to ``plain``.  The machines are shared and noisy: read medians and
ratios::

    python benchmarks/bench_search.py --repeats 3
    python benchmarks/bench_search.py --repeats 3 --n-seeds 10 --only rsearch1,rsearch2
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import seeded_keras  # noqa: E402,I001  (first: pins TensorFlow's threads)

import joblib  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
from scikeras.wrappers import KerasRegressor  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from seeded_keras import _scheduler, _threads, _trainer_pool  # noqa: E402

GRID = {
    "model__hidden_layer_sizes": [8, 16, 32, 64],
    "optimizer__learning_rate": [0.01, 0.03],
}
COMMON = dict(optimizer="adam", loss="mse", epochs=20, batch_size=32, verbose=0)


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


def seed_scores(search):
    """Every per-fold, per-seed test score, as exact bytes."""
    res = search.cv_results_
    keys = sorted(k for k in res if k.startswith("split") and "_test_" in k)
    return np.array([res[k] for k in keys]).tobytes()


class Knobs:
    """Switch one part of the speed-up off for the duration of a run."""

    def __init__(
        self, reuse=True, per_epoch=True, share_lr=True, pin=True, all_epochs=True
    ):
        self.values = dict(reuse=reuse, per_epoch=per_epoch, share_lr=share_lr)
        self.pin = pin
        self.all_epochs = all_epochs and per_epoch

    def __enter__(self):
        self.saved = (
            os.environ.get(_trainer_pool.ENV_VAR),
            _trainer_pool.EPOCH_PER_EXECUTION,
            _trainer_pool.SHARE_LEARNING_RATE,
            _trainer_pool.ALL_EPOCHS_PER_EXECUTION,
        )
        os.environ[_trainer_pool.ENV_VAR] = "1" if self.values["reuse"] else "0"
        if not self.pin:  # read by workers as they start
            os.environ[_threads.PIN_ENV_VAR] = "0"
        _trainer_pool.EPOCH_PER_EXECUTION = self.values["per_epoch"]
        _trainer_pool.SHARE_LEARNING_RATE = self.values["share_lr"]
        _trainer_pool.ALL_EPOCHS_PER_EXECUTION = self.all_epochs

    def __exit__(self, *exc):
        env, per_epoch, share_lr, all_epochs = self.saved
        _trainer_pool.EPOCH_PER_EXECUTION = per_epoch
        _trainer_pool.SHARE_LEARNING_RATE = share_lr
        _trainer_pool.ALL_EPOCHS_PER_EXECUTION = all_epochs
        os.environ.pop(_threads.PIN_ENV_VAR, None)
        if env is None:
            os.environ.pop(_trainer_pool.ENV_VAR, None)
        else:
            os.environ[_trainer_pool.ENV_VAR] = env


def _keras_mlp(X, y, hidden_layer_sizes, learning_rate):
    """seeded_keras.mlp's model, as Keras' own wrapper builds it."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((X.shape[1],)),
            keras.layers.Dense(hidden_layer_sizes, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model


def contenders(X, y, n_seeds, workdir):
    cv = KFold(5)

    def search(n_jobs=1, journal=None):
        net = seeded_keras.SeededKerasRegressor(**COMMON)
        return seeded_keras.ReconciledSearchCV(
            net,
            GRID,
            scoring="neg_mean_squared_error",
            cv=cv,
            random_state=0,
            n_jobs=n_jobs,
            n_seeds=n_seeds,
            journal=journal,
        )

    def plain():
        net = KerasRegressor(seeded_keras.mlp, random_state=0, **COMMON)
        GridSearchCV(net, GRID, scoring="neg_mean_squared_error", cv=cv).fit(X, y)

    def keras_sklearn():
        import keras

        fit_kwargs = {
            "epochs": COMMON["epochs"],
            "batch_size": COMMON["batch_size"],
            "verbose": 0,
        }
        grid = {
            "model_kwargs": [
                {"hidden_layer_sizes": h, "learning_rate": lr}
                for h in GRID["model__hidden_layer_sizes"]
                for lr in GRID["optimizer__learning_rate"]
            ],
            # In the grid, not only in the constructor: Keras 3.15's
            # __sklearn_clone__ drops fit_kwargs, so every fit of the search
            # would train one epoch at Keras' defaults
            "fit_kwargs": [fit_kwargs],
        }
        net = keras.wrappers.SKLearnRegressor(model=_keras_mlp, fit_kwargs=fit_kwargs)
        search = GridSearchCV(net, grid, scoring="neg_mean_squared_error", cv=cv)
        search.fit(X, y)
        trained = len(search.best_estimator_.history_.history["loss"])
        if trained != COMMON["epochs"]:
            raise SystemExit(f"keras_sklearn trained {trained} epochs per fit")

    def rsearch(n_jobs=1, **knobs):
        def run():
            with Knobs(**knobs):
                return search(n_jobs).fit(X, y)

        return run

    def warm_up():
        # Start the workers and TensorFlow in them on another architecture:
        # the timed run still traces every model of the grid.
        net = seeded_keras.SeededKerasRegressor(**COMMON)
        seeded_keras.ReconciledSearchCV(
            net, {"model__hidden_layer_sizes": [3]}, cv=cv, random_state=0, n_jobs=2
        ).fit(X, y)
        # the parent may finish alone: start the worker and wait for it
        _scheduler.warm_workers(1)

    fitted = search().fit(X, y)  # the manual loop replays a fitted search
    full = tempfile.mkdtemp(dir=workdir)
    search(journal=full).fit(X, y)  # a finished journal, for "resume"

    def journaled():  # every fit written down (a fresh journal each run)
        return search(journal=tempfile.mkdtemp(dir=workdir)).fit(X, y)

    def resumed():  # every fit read back
        return search(journal=full).fit(X, y)

    def manual():
        fitted.manual_loop(X, y)

    def tuner():
        with contextlib.redirect_stdout(io.StringIO()):  # Keras Tuner's display
            run_tuner()

    def run_tuner():
        seeded_keras.ReconciledTuner(
            seeded_keras.SeededKerasRegressor(**COMMON),
            seeded_keras.grid_to_hyperparameters(GRID),
            cv=fitted.splits_,
            n_seeds=n_seeds,
            random_state=0,
            directory=workdir,
            project_name="bench",
            overwrite=True,
        ).search(X, y)

    runs = {
        "plain": plain,
        "keras_sklearn": keras_sklearn,
        "rsearch1": rsearch(),
        "journal": journaled,
        "resume": resumed,
        "rsearch2": rsearch(2),
        "rsearch2nopin": rsearch(2, pin=False),
        "rsearch2warm": rsearch(2),
        "manual": manual,
        "tuner": tuner,
        "no_reuse": rsearch(reuse=False),
        "reuse_step": rsearch(per_epoch=False),
        "epoch_each": rsearch(all_epochs=False),
        "reuse_per_lr": rsearch(share_lr=False),
    }
    return runs, seed_scores(fitted), warm_up


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-seeds", type=int, default=1)
    parser.add_argument(
        "--only", default="", help="comma-separated contenders (default: all)"
    )
    args = parser.parse_args()

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    n_fits = 5 * args.n_seeds * np.prod([len(v) for v in GRID.values()])
    with tempfile.TemporaryDirectory() as workdir:
        runs, reference, warm_up = contenders(X, y, args.n_seeds, workdir)
        if args.only:
            runs = {k: runs[k] for k in args.only.split(",")}
        times = {name: [] for name in runs}
        memory = {name: [] for name in runs}
        names = list(runs)
        for r in range(args.repeats):
            order = names if r % 2 == 0 else names[::-1]
            for name in order:
                if name.startswith("rsearch2"):  # fresh workers: start-up timed
                    joblib.externals.loky.get_reusable_executor().shutdown(wait=True)
                if name == "rsearch2warm":
                    warm_up()  # untimed: starts the workers, traces there
                _trainer_pool.clear()
                with PeakRSS() as mem:
                    start = time.perf_counter()
                    out = runs[name]()
                    times[name].append(time.perf_counter() - start)
                memory[name].append(mem.delta_mb)
                if isinstance(out, seeded_keras.ReconciledSearchCV):
                    if seed_scores(out) != reference:
                        raise SystemExit(f"{name}: scores differ from rsearch1")
                print(f"round {r + 1}: {name:<15} {times[name][-1]:7.1f} s", flush=True)

    base = statistics.median(times["plain"]) if "plain" in times else None
    print(
        f"\n{n_fits} fits per run ({len(GRID['model__hidden_layer_sizes'])} widths x "
        f"{len(GRID['optimizer__learning_rate'])} learning rates x 5 folds x "
        f"{args.n_seeds} seeds), {COMMON['epochs']} epochs, {args.repeats} rounds, "
        f"{os.cpu_count()} CPUs, TF_NUM_INTRAOP_THREADS="
        f"{os.environ.get('TF_NUM_INTRAOP_THREADS')}, TF_NUM_INTEROP_THREADS="
        f"{os.environ.get('TF_NUM_INTEROP_THREADS')}"
    )
    print(
        f"{'contender':<15} {'median s':>9} {'fits/s':>7} {'peak MB':>8} "
        f"{'time / plain':>13} {'fits/s / plain':>15}"
    )
    for name in names:
        med = statistics.median(times[name])
        ratios = (
            f"{med / base:13.2f} {base / med:15.2f}" if base else f"{'-':>13} {'-':>15}"
        )
        print(
            f"{name:<15} {med:9.1f} {n_fits / med:7.2f} "
            f"{statistics.median(memory[name]):8.0f} {ratios}"
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    if "rsearch1" in med and "keras_sklearn" in med:
        print(
            "rsearch1 over keras.wrappers.SKLearnRegressor: "
            f"{med['keras_sklearn'] / med['rsearch1']:.2f}x the fits/s"
        )
    if "rsearch1" in med:
        for name in ("rsearch2", "rsearch2nopin", "rsearch2warm"):
            if name in med:
                print(
                    f"n_jobs=2 over n_jobs=1 ({name}): "
                    f"{med['rsearch1'] / med[name]:.2f}x faster"
                )
        for name in ("no_reuse", "reuse_step", "epoch_each", "reuse_per_lr"):
            if name in med:
                gain = med[name] / med["rsearch1"]
                print(f"rsearch1 over {name}: {gain:.2f}x faster")
        if "journal" in med:
            cost = (med["journal"] - med["rsearch1"]) / n_fits
            fit = med["rsearch1"] / n_fits
            print(
                f"journal: {1000 * cost:+.1f} ms per fit written "
                f"({100 * cost / fit:+.1f}% of a fit's {1000 * fit:.0f} ms)"
            )
        if "resume" in med:
            speedup = med["rsearch1"] / med["resume"]
            print(f"resume from a full journal: {speedup:.0f}x faster")
    print("every seeded_keras search gave rsearch1's per-seed scores, bit for bit")


if __name__ == "__main__":
    main()
