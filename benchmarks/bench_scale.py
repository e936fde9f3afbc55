"""How time and memory grow with the sweep: fits, rows, width; and large data.

Nine tables, each row measured in this one invocation (the machines are
shared and noisy: read medians and ratios, and rerun before quoting):

* ``fits``  -- the benchmark grid of ``bench_search.py`` (diabetes, 4 widths
  x 2 learning rates, ``KFold(5)``, 20 epochs) with 1, 10 and 50 seeds:
  40, 400 and 2,000 fits, at ``n_jobs=1`` and ``n_jobs=2`` (fresh workers,
  start-up included; the two interleaved, their order alternated by round).
  Memory: the peak resident set of every process
  (parent and each worker, reported separately) and the parent's growth
  per 1,000 fits over the last fifth of the sweep; and, at ``n_jobs=1``,
  how many CPUs the search kept busy (CPU time over wall time): more than
  one, which ``n_jobs`` processes sharing the CPUs cannot all have.  Read
  the memory column with
  care: a trace is not growth, and that fifth holds the refit (its fit on
  all rows traces one more model) and, at ``n_jobs=2``, whatever
  architecture the parent moved to last.  The ``memory`` table measures
  growth where nothing is traced.
* ``memory`` -- 1,000 fits of one architecture (2 learning rates x 5 folds
  x 100 seeds, ``n_jobs=1``): the parent's resident memory after every
  100th fit, and its growth per 1,000 fits from fit 200 on -- nothing is
  traced there, so any growth is not tracing (a leak, or the allocator).
* ``rows``  -- one 3-fold ``cross_val_score`` of an MLP (64, 32), batch
  256, 2 epochs, on ``make_regression`` data of 400, 20,000 and 200,000
  rows x 40 features: ``SeededKerasRegressor`` against plain scikeras
  ``KerasRegressor`` (ratio > 1: ours is faster).
* ``quickstart`` -- the README's quickstart grid (a Pipeline, 24 fits) at
  ``n_jobs=1`` and ``n_jobs=2`` on fresh workers, same bits checked.
* ``width`` -- 40 fits (2 learning rates x 5 folds x 4 seeds) of one hidden
  layer of 8, 64 and 256 units, ``n_jobs=1``.
* ``ceiling`` -- what two processes get from this machine with no scheduler
  at all: the same work done by one process, then split between two fresh
  interpreters started together (each timed from a common start signal,
  after its imports), for a pure-Python busy loop and for the benchmark
  grid's 400 fits (two 200-fit searches, each process's architectures
  traced before the signal, like a started worker's).  No ``n_jobs=2``
  search can beat the second ratio; the first shows what the CPUs give
  work that shares nothing.  Then the share of that ceiling that
  ``n_jobs=2`` gets: on a fresh worker (from the ``fits`` table), and on
  a started worker that traced this grid in an earlier sweep, like the
  children (``n_jobs=1`` and ``2`` interleaved, after one sweep of each),
  also read as the two processes' time over ``n_jobs=2``'s.  A fresh
  worker cannot reach that ceiling: it works only once it has started.
  The children's start-up (spawn to imports done, every child of the
  table) is measured too, and
  with it the best ``n_jobs=2`` can get on a fresh worker: the parent
  alone while the worker imports, then two processes at the ceiling's
  pace, ``ceiling x two / (two + start_up x (1 - 1 / ceiling))`` with
  ``two`` the two processes' seconds; the fresh worker's ratio is read
  against that too.
* ``threads`` -- TensorFlow's inter-op threads: the benchmark grid's 80
  fits (two seeds) in a fresh interpreter, every architecture traced
  before the timer, with seeded_keras' default of one inter-op thread and
  with ``TF_NUM_INTEROP_THREADS=2`` (TensorFlow's own default here is the
  number of CPUs); the two interleaved, same bits checked.
* ``decision`` -- where fits run at ``n_jobs=2``: sweeps of 12, 96 and 288
  fits, 5 or 100 epochs each, ``verbose`` 0 and 1 (and 2 once), against
  ``n_jobs=1`` (fresh workers, start-up included, interleaved by round),
  whether a worker was started, same bits checked; with ``--decision
  full`` also 2,016 fits of about 0.05 s and 12 and 48 fits of about 2 s.
  Not in the default set (it takes a while): ``--only decision``.
* ``predict`` -- a fitted regressor's ``predict`` on 150, 2,000 and 20,000
  rows: ours (one traced function per input shape, looping over the
  batches in the graph) against Keras' own predict on the same pooled
  trainer and on the fit's model, same bits checked.

Usage::

    python benchmarks/bench_scale.py                 # every table
    python benchmarks/bench_scale.py --only rows --repeats 3
    python benchmarks/bench_scale.py --only fits --max-seeds 10
    python benchmarks/bench_scale.py --only fits,ceiling --max-seeds 10 --repeats 3
    python benchmarks/bench_scale.py --only predict
    python benchmarks/bench_scale.py --only threads --repeats 5
    python benchmarks/bench_scale.py --only decision --repeats 2
    python benchmarks/bench_scale.py --only decision --decision full
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import seeded_keras  # noqa: E402,I001  (first: pins TensorFlow's threads)

import joblib  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
from scikeras.wrappers import KerasRegressor  # noqa: E402
from sklearn.datasets import load_diabetes, make_regression  # noqa: E402
from sklearn.model_selection import KFold, cross_val_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from seeded_keras import _trainer_pool  # noqa: E402

MB = 2**20
RATIOS: dict[int, float] = {}  # fits -> n_jobs=2 over n_jobs=1, from ``fits``


class Memory:
    """Sample the resident memory of this process and of each child."""

    def __init__(self, interval=0.1):
        self.interval = interval
        self.peaks: dict[int, int] = {}
        self.timeline: list[tuple[float, int]] = []  # (seconds, parent RSS)
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def __enter__(self):
        self.start = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        procs = [self._proc, *self._proc.children(recursive=True)]
        for proc in procs:
            try:
                rss = proc.memory_info().rss
            except psutil.Error:
                continue
            self.peaks[proc.pid] = max(self.peaks.get(proc.pid, 0), rss)
            if proc is self._proc:
                self.timeline.append((time.perf_counter() - self.start, rss))

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()

    def parent_peak_mb(self):
        return self.peaks[self._proc.pid] / MB

    def worker_peaks_mb(self):
        return [v / MB for k, v in self.peaks.items() if k != self._proc.pid]

    def growth_per_1000_fits_mb(self, n_fits, since=0.8):
        """Slope of the parent's RSS over the run from fraction ``since`` of
        its time, per 1,000 fits (fits assumed evenly spread in time)."""
        end = self.timeline[-1][0]
        tail = [(t, r) for t, r in self.timeline if t >= since * end]
        if len(tail) < 3:
            return float("nan")
        t, r = np.array(tail, dtype=float).T
        slope = np.polyfit(t, r, 1)[0]  # bytes per second
        seconds_per_fit = self.timeline[-1][0] / n_fits
        return slope * seconds_per_fit * 1000 / MB


def fresh_workers():
    joblib.externals.loky.get_reusable_executor().shutdown(wait=True)


def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def grid_search(n_seeds, n_jobs, widths=(8, 16, 32, 64), refit=True):
    net = seeded_keras.SeededKerasRegressor(
        optimizer="adam", loss="mse", epochs=20, batch_size=32, verbose=0
    )
    grid = {
        "model__hidden_layer_sizes": list(widths),
        "optimizer__learning_rate": [0.01, 0.03],
    }
    return seeded_keras.ReconciledSearchCV(
        net,
        grid,
        scoring="neg_mean_squared_error",
        cv=KFold(5),
        random_state=0,
        n_jobs=n_jobs,
        n_seeds=n_seeds,
        refit=refit,
    )


def table_fits(args):
    X, y = diabetes()
    print("\nfits: the benchmark grid, 20 epochs, fresh workers, medians")
    print(
        f"{'fits':>6} {'n_jobs':>6} {'median s':>9} {'ms/fit':>7} {'2 vs 1':>7} "
        f"{'parent MB':>10} {'worker MB':>10} {'MB/1000 fits':>13} {'CPUs busy':>10}"
    )
    me = psutil.Process()
    busy = []  # CPU time over wall time of the n_jobs=1 runs (all in this process)
    for n_seeds in [s for s in (1, 10, 50) if s <= args.max_seeds]:
        n_fits = 40 * n_seeds
        times, mems = {1: [], 2: []}, {1: [], 2: []}
        for r in range(args.repeats):  # the two arms interleaved, order alternated
            for n_jobs in (1, 2) if r % 2 == 0 else (2, 1):
                fresh_workers()
                _trainer_pool.clear()
                with Memory() as mem:
                    cpu = sum(me.cpu_times()[:2])
                    start = time.perf_counter()
                    grid_search(n_seeds, n_jobs).fit(X, y)
                    times[n_jobs].append(time.perf_counter() - start)
                    cpu = sum(me.cpu_times()[:2]) - cpu
                mems[n_jobs].append(mem)
                if n_jobs == 1:
                    busy.append(cpu / times[1][-1])
        med = {n: statistics.median(times[n]) for n in (1, 2)}
        RATIOS[n_fits] = med[1] / med[2]
        for n_jobs in (1, 2):
            order = np.argsort(times[n_jobs])
            mem = mems[n_jobs][order[len(order) // 2]]  # the median run's
            # loky's resource tracker is a child too: workers hold TensorFlow
            workers = [m for m in mem.worker_peaks_mb() if m > 200]
            ratio = f"{RATIOS[n_fits]:7.2f}" if n_jobs == 2 else f"{'':>7}"
            worker = f"{max(workers):10.0f}" if workers else f"{'-':>10}"
            # growth over the last fifth (it may hold traces, see above): long sweeps
            growth = mem.growth_per_1000_fits_mb(n_fits) if n_fits >= 400 else None
            growth = f"{growth:13.1f}" if growth is not None else f"{'-':>13}"
            cpus = f"{statistics.median(busy[-args.repeats :]):10.2f}"
            cpus = cpus if n_jobs == 1 else f"{'-':>10}"
            print(
                f"{n_fits:6d} {n_jobs:6d} {med[n_jobs]:9.1f} "
                f"{1000 * med[n_jobs] / n_fits:7.0f} {ratio} "
                f"{mem.parent_peak_mb():10.0f} {worker} {growth} {cpus}",
                flush=True,
            )
    # With more than one TensorFlow inter-op thread (TF_NUM_INTEROP_THREADS
    # set by the user), one process keeps more than one CPU busy: processes
    # that share the CPUs lose that overlap.  With seeded_keras' default of
    # one, this reads about 1.00.
    busy = statistics.median(busy)
    print(
        f"n_jobs=1 keeps {busy:.2f} CPUs busy"
        + (
            " (TensorFlow's threads beside Python's): processes sharing the "
            "CPUs lose that overlap"
            if busy > 1.05
            else ""
        )
    )


def table_rows(args):
    print("\nrows: 3-fold cross_val_score, MLP (64, 32), batch 256, 2 epochs")
    print(f"{'rows':>8} {'plain s':>8} {'ours s':>7} {'plain / ours':>13}")
    common = dict(optimizer="adam", loss="mse", epochs=2, batch_size=256, verbose=0)
    for n_rows in (400, 20_000, 200_000):
        X, y = make_regression(n_rows, 40, noise=1.0, random_state=0)
        X = X.astype(np.float32)
        y = (y / y.std()).astype(np.float32)
        contenders = {
            "plain": lambda: KerasRegressor(
                seeded_keras.mlp,
                model__hidden_layer_sizes=(64, 32),
                random_state=0,
                **common,
            ),
            "ours": lambda: seeded_keras.SeededKerasRegressor(
                model__hidden_layer_sizes=(64, 32), random_state=0, **common
            ),
        }
        times = {k: [] for k in contenders}
        for r in range(args.repeats):
            for name in contenders if r % 2 == 0 else list(contenders)[::-1]:
                _trainer_pool.clear()
                start = time.perf_counter()
                cross_val_score(contenders[name](), X, y, cv=3)
                times[name].append(time.perf_counter() - start)
        plain, ours = (statistics.median(times[k]) for k in ("plain", "ours"))
        print(f"{n_rows:8d} {plain:8.1f} {ours:7.1f} {plain / ours:13.2f}", flush=True)


def table_width(args):
    X, y = diabetes()
    print("\nwidth: 40 fits (2 learning rates x 5 folds x 4 seeds), one layer")
    print(f"{'units':>6} {'median s':>9} {'ms/fit':>7}")
    for width in (8, 64, 256):
        times = []
        for _ in range(args.repeats):
            _trainer_pool.clear()
            start = time.perf_counter()
            grid_search(4, 1, widths=(width,)).fit(X, y)  # 2 lr x 5 folds x 4
            times.append(time.perf_counter() - start)
        med = statistics.median(times)
        print(f"{width:6d} {med:9.1f} {1000 * med / 40:7.0f}", flush=True)


def quickstart_search(n_jobs):
    """The README's quickstart: a Pipeline, 4 candidates x 3 folds x 2 seeds."""
    from sklearn.pipeline import Pipeline

    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("net", seeded_keras.SeededKerasRegressor(optimizer="adam", epochs=20)),
        ]
    )
    grid = {
        "net__model__hidden_layer_sizes": [(16,), (32, 16)],
        "net__optimizer__learning_rate": [0.01, 0.03],
    }
    return seeded_keras.ReconciledSearchCV(
        pipe,
        grid,
        scoring="neg_mean_squared_error",
        cv=3,
        n_seeds=2,
        random_state=0,
        n_jobs=n_jobs,
    )


def table_quickstart(args):
    X, y = load_diabetes(return_X_y=True)
    print("\nquickstart: the README's grid (24 fits), fresh workers, medians")
    times, scores = {1: [], 2: []}, set()
    for r in range(args.repeats):
        for n_jobs in (1, 2) if r % 2 == 0 else (2, 1):
            fresh_workers()
            _trainer_pool.clear()
            start = time.perf_counter()
            search = quickstart_search(n_jobs).fit(X, y)
            times[n_jobs].append(time.perf_counter() - start)
            scores.add(search.cv_results_["mean_test_mse"].tobytes())
    one, two = (statistics.median(times[n]) for n in (1, 2))
    print(f"n_jobs=1 {one:.1f} s, n_jobs=2 {two:.1f} s: {one / two:.2f}x")
    if len(scores) != 1:
        raise SystemExit("quickstart: n_jobs=2 changed a score")
    print("same mean_test_mse bits at n_jobs=1 and 2")


def table_memory(args):
    """One architecture, so that nothing is traced after the first fits:
    the parent's resident memory every 100 fits (n_jobs=1)."""
    from seeded_keras import _regressor

    X, y = diabetes()
    n_seeds = min(2 * args.max_seeds, 100)
    n_fits = 10 * n_seeds
    print(f"\nmemory: {n_fits} fits of one architecture (16 units, 2 learning rates)")
    proc, marks = psutil.Process(), {}
    fit = _regressor.SeededKerasRegressor.fit

    def counted(self, *a, **k):
        out = fit(self, *a, **k)
        marks[len(marks) + 1] = proc.memory_info().rss / MB
        return out

    _regressor.SeededKerasRegressor.fit = counted
    try:
        _trainer_pool.clear()
        grid_search(n_seeds, 1, widths=(16,), refit=False).fit(X, y)
    finally:
        _regressor.SeededKerasRegressor.fit = fit
    every = [f"{marks[n]:.0f}" for n in range(100, n_fits + 1, 100)]
    print(f"parent MB every 100 fits: {' '.join(every)}")
    if n_fits >= 400:
        slope = (marks[n_fits] - marks[200]) / (n_fits - 200) * 1000
        print(f"growth from fit 200 to {n_fits}: {slope:.1f} MB per 1,000 fits")


BUSY_LOOP = 30_000_000  # one unit of pure-Python work (a few seconds)


def ceiling_child(spec):
    """In a fresh interpreter: get ready, wait for "go" on stdin, do the work
    (``kind:n_seeds:random_state,...``), print the seconds it took and a
    digest of the sweeps' test scores."""
    print("imported", time.time(), flush=True)  # a worker's start-up, done
    kind, n_seeds, states = spec.split(":")
    states = [int(s) for s in states.split(",")]
    X, y = diabetes()
    if kind == "sweep":  # a started worker: every architecture traced
        grid_search(1, 1, refit=False).set_params(random_state=99).fit(X, y)
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    digest = hashlib.sha256()
    for state in states:
        if kind == "busy":
            total = 0
            for i in range(BUSY_LOOP):
                total += i
        else:
            search = grid_search(int(n_seeds), 1, refit=False)
            search.set_params(random_state=state).fit(X, y)
            results = search.cv_results_
            for key in sorted(k for k in results if k.endswith("_test_score")):
                digest.update(np.asarray(results[key], dtype=float).tobytes())
    print(time.perf_counter() - start, digest.hexdigest(), flush=True)


def split_between(specs, env=None, start_ups=None):
    """Start one child per spec, signal them together; the wall time until
    the last one is done (and the last child's digest).  Each child's
    start-up (from spawning it to its imports done, TensorFlow's runtime
    started) is appended to ``start_ups``."""
    script = os.path.abspath(__file__)
    children, spawned = [], []
    for spec in specs:
        spawned.append(time.time())
        children.append(
            subprocess.Popen(
                [sys.executable, script, "--ceiling-child", spec],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, **(env or {})},
            )
        )
    for child, when in zip(children, spawned):
        imported = child.stdout.readline().split()
        if start_ups is not None and imported[:1] == ["imported"]:
            start_ups.append(float(imported[1]) - when)
        if child.stdout.readline().strip() != "ready":
            raise SystemExit("ceiling: a child failed to start")
    start = time.perf_counter()
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        digest = child.stdout.readline().split()[-1]
        child.wait()
    return time.perf_counter() - start, digest


def table_threads(args):
    rounds = max(3, args.repeats)
    print(
        "\nthreads: 80 fits of the grid in a fresh interpreter (traced "
        f"before the timer), TensorFlow's inter-op threads, medians of {rounds}"
    )
    arms = {"1 (seeded_keras)": {}, "2 (TF_NUM_INTEROP_THREADS=2)": {}}
    arms["2 (TF_NUM_INTEROP_THREADS=2)"]["TF_NUM_INTEROP_THREADS"] = "2"
    times, digests = {a: [] for a in arms}, set()
    for r in range(rounds):
        for arm in list(arms) if r % 2 == 0 else list(arms)[::-1]:
            seconds, digest = split_between(["sweep:2:1"], env=arms[arm])
            times[arm].append(seconds)
            digests.add(digest)
    if len(digests) != 1:
        raise SystemExit("threads: the two settings gave different scores")
    one = statistics.median(times["1 (seeded_keras)"])
    for arm in arms:
        med = statistics.median(times[arm])
        print(f"{arm:>30} {med:6.2f} s {1000 * med / 80:5.0f} ms/fit {med / one:5.2f}x")
    print("same test scores (every split, bitwise) in every run")


def table_ceiling(args):
    rounds = max(3, args.repeats)  # the two arms interleaved: at least 3 rounds
    print(
        "\nceiling: the same work in one process, then split between two, "
        f"medians of {rounds} rounds"
    )
    print(f"{'work':>28} {'1 process s':>12} {'2 processes s':>14} {'2 vs 1':>7}")
    n_seeds = max(1, min(5, args.max_seeds // 2))
    works = {
        "busy loop (pure Python)": ("busy:0:1,2", ["busy:0:1", "busy:0:2"]),
        f"the grid, {80 * n_seeds} fits, started": (
            f"sweep:{n_seeds}:1,2",
            [f"sweep:{n_seeds}:1", f"sweep:{n_seeds}:2"],
        ),
    }
    ceiling, seconds, start_ups = {}, {}, []
    for name, (alone, split) in works.items():
        times = {1: [], 2: []}
        for r in range(rounds):
            for n in (1, 2) if r % 2 == 0 else (2, 1):
                specs = [alone] if n == 1 else split
                times[n].append(split_between(specs, start_ups=start_ups)[0])
        one, two = (statistics.median(times[n]) for n in (1, 2))
        ceiling[name] = one / two
        seconds[name] = two
        print(f"{name:>28} {one:12.1f} {two:14.1f} {one / two:7.2f}", flush=True)
    n_fits = 80 * n_seeds
    grid_ceiling = ceiling[f"the grid, {n_fits} fits, started"]
    # A fresh worker works only once it has started: while it imports, the
    # parent alone does at best one process's work, then the two do the
    # rest at the ceiling's pace.  The best n_jobs=2 can get on a fresh
    # worker, with this machine's start-up measured on the children above:
    two = seconds[f"the grid, {n_fits} fits, started"]
    start_up = statistics.median(start_ups)
    fresh = grid_ceiling * two / (two + start_up * (1 - 1 / grid_ceiling))
    print(
        f"a fresh worker's start-up: {start_up:.1f} s (median of the children's "
        f"spawn and imports); the best n_jobs=2 can then get on {n_fits} fits: "
        f"{fresh:.2f}x, {fresh / grid_ceiling:.0%} of the ceiling"
    )
    if n_fits in RATIOS:
        share = RATIOS[n_fits] / grid_ceiling
        print(
            f"n_jobs=2 on {n_fits} fits (the fits table, fresh worker): "
            f"{RATIOS[n_fits]:.2f}x, {share:.0%} of what two processes get "
            f"with no scheduler, {RATIOS[n_fits] / fresh:.0%} of the best with "
            "a fresh worker's start-up"
        )
    one, two = started_times(2 * n_seeds, rounds)
    split = seconds[f"the grid, {n_fits} fits, started"]
    print(
        f"n_jobs=2 on {n_fits} fits, a started worker (this grid traced in "
        f"both processes): {two:.1f} s against {one:.1f} s at n_jobs=1, "
        f"{one / two:.2f}x; against the two processes' {split:.1f} s: "
        f"{split / two:.0%} of their speed"
    )


def started_times(n_seeds, rounds):
    """Seconds at n_jobs=1 and 2 on a started worker, as the ceiling's
    children: a second sweep of the grid, every architecture already traced
    in the parent and, for the fits it gets, in the worker (medians,
    interleaved).  This process has run the tables before (more memory,
    more objects for the garbage collector than a fresh child): its
    n_jobs=1 arm can be slower than the ceiling's one process, so the share
    is also read against the two processes' own time."""
    X, y = diabetes()
    fresh_workers()
    _trainer_pool.clear()
    for n_jobs, state in ((1, 99), (2, 98)):  # the parent traces, then the worker
        grid_search(n_seeds, n_jobs, refit=False).set_params(random_state=state).fit(
            X, y
        )
    times = {1: [], 2: []}
    for r in range(rounds):
        for n_jobs in (1, 2) if r % 2 == 0 else (2, 1):
            search = grid_search(n_seeds, n_jobs, refit=False)
            start = time.perf_counter()
            search.set_params(random_state=r + 1).fit(X, y)
            times[n_jobs].append(time.perf_counter() - start)
    return statistics.median(times[1]), statistics.median(times[2])


def kids():
    return psutil.Process().children(recursive=True)


def _is_loky_worker(proc) -> bool:
    """A loky worker process (not loky's resource tracker)."""
    try:
        return any("popen_loky" in part for part in proc.cmdline())
    except psutil.Error:
        return False


def table_decision(args):
    """Where fits run at n_jobs=2, by sweep size, cost per fit and verbose.

    Each cell: n_jobs=2 on fresh workers (start-up included) against
    n_jobs=1, interleaved by round; whether a worker process was started;
    the same bits checked.  The scheduler's rule should start workers
    whenever they pay and never make n_jobs=2 slower than n_jobs=1.
    """
    import contextlib
    import io

    X, y = diabetes()
    X, y = X[:200], y[:200]
    widths = [(4,), (8,), (16,), (24,), (32,), (4, 4), (8, 8), (16, 8)]
    print("\ndecision: n_jobs=2 (fresh workers) / n_jobs=1, first 200 diabetes rows")
    print(
        f"{'fits':>5} {'epochs':>6} {'s/fit':>6} {'verbose':>7} {'n_jobs=1 s':>10} "
        f"{'n_jobs=2 s':>10} {'ratio':>6} {'worker started':>15}"
    )
    cells = [
        (n_widths, n_seeds, epochs, verbose)
        for n_widths, n_seeds in ((2, 1), (8, 2), (8, 6))
        for epochs in (5, 100)
        for verbose in (0, 1)
    ]
    cells.insert(2, (2, 1, 5, 2))  # verbose=2: scikit-learn's line per fit too
    if args.decision == "full":
        # the ends of the range: 2,016 fits of about 0.05 s, and fits of
        # about 2 s (800 epochs of 200 rows), 12 and 48 of them
        cells += [(8, 42, 5, 0), (2, 1, 800, 0), (8, 1, 800, 1)]
    if args.cells:  # "widths,seeds,epochs,verbose;..." instead
        cells = [tuple(map(int, c.split(","))) for c in args.cells.split(";")]
    for n_widths, n_seeds, epochs, verbose in cells:

        def search(n_jobs, epochs=epochs, verbose=verbose, nw=n_widths, ns=n_seeds):
            net = seeded_keras.SeededKerasRegressor(
                optimizer="adam", epochs=epochs, batch_size=32
            )
            grid = {
                "model__hidden_layer_sizes": widths[:nw],
                "optimizer__learning_rate": [1e-3, 1e-2],
            }
            return seeded_keras.ReconciledSearchCV(
                net,
                grid,
                cv=3,
                n_seeds=ns,
                random_state=0,
                scoring="neg_mean_squared_error",
                n_jobs=n_jobs,
                verbose=verbose,
            )

        times = {1: [], 2: []}
        started, scores = [], {}
        for r in range(args.repeats):
            for n_jobs in (1, 2) if r % 2 == 0 else (2, 1):
                fresh_workers()
                _trainer_pool.clear()
                t0 = time.perf_counter()
                with (
                    contextlib.redirect_stdout(io.StringIO()),
                    contextlib.redirect_stderr(io.StringIO()),
                ):
                    done = search(n_jobs).fit(X, y)
                times[n_jobs].append(time.perf_counter() - t0)
                if n_jobs == 2:
                    started.append(any(_is_loky_worker(p) for p in kids()))
                scores[n_jobs] = done.cv_results_["mean_test_mse"]
        assert (scores[1] == scores[2]).all(), "bits differ"
        one, two = (statistics.median(times[k]) for k in (1, 2))
        n_fits = n_widths * 2 * 3 * n_seeds
        print(
            f"{n_fits:5d} {epochs:6d} {one / n_fits:6.2f} {verbose:7d} "
            f"{one:10.1f} {two:10.1f} "
            f"{one / two:6.2f} {str(all(started)):>15}",
            flush=True,
        )


def table_predict(args):
    """A fitted regressor's predict on a pooled trainer: one traced function
    looping over the batches in the graph (ours) against Keras' own predict on
    the same trainer (batches grouped 16 per execution, the path a predict
    with callbacks still takes) and Keras' predict on the fit's own model."""
    import keras

    X, y = make_regression(20_000, 10, noise=1.0, random_state=0)
    est = seeded_keras.SeededKerasRegressor(random_state=0, epochs=1).fit(
        X[:2000], y[:2000]
    )
    keras_path = {"callbacks": [keras.callbacks.Callback()]}  # not batches only
    print("\npredict: one fitted MLP (16,), batch 32, medians; same bits checked")
    print(f"{'rows':>7} {'ours ms':>8} {'keras grouped ms':>17} {'model_ ms':>10}")
    for n_rows in (150, 2_000, 20_000):
        Xn = X[:n_rows]
        ours = est.predict(Xn)
        assert (ours == est.predict(Xn, **keras_path)).all()
        plain = np.asarray(est.model_.predict(Xn, verbose=0), np.float64).ravel()
        assert (ours == plain).all()
        contenders = {
            "ours": lambda Xn=Xn: est.predict(Xn),
            "grouped": lambda Xn=Xn: est.predict(Xn, **keras_path),
            "model_": lambda Xn=Xn: est.model_.predict(Xn, verbose=0),
        }
        times = {k: [] for k in contenders}
        for _ in range(max(args.repeats, 7)):
            for name, call in contenders.items():
                start = time.perf_counter()
                call()
                times[name].append(1000 * (time.perf_counter() - start))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(
            f"{n_rows:7d} {med['ours']:8.1f} {med['grouped']:17.1f} "
            f"{med['model_']:10.1f}",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--max-seeds", type=int, default=50)
    parser.add_argument(
        "--only", default="fits,memory,rows,width,quickstart,ceiling,predict"
    )
    parser.add_argument(
        "--decision",
        choices=("quick", "full"),
        default="quick",
        help="decision table: 12 to 288 fits (quick), or also 2,016 fits and "
        "fits of about 2 s (full: about 10 more minutes a round)",
    )
    parser.add_argument(
        "--cells",
        default="",
        help='decision table cells instead, as "widths,seeds,epochs,verbose;..." '
        "(fits = widths x 2 learning rates x 3 folds x seeds)",
    )
    parser.add_argument("--ceiling-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ceiling_child:
        return ceiling_child(args.ceiling_child)
    print(f"{os.cpu_count()} CPUs, {args.repeats} round(s) per row")
    tables = {
        "fits": table_fits,
        "memory": table_memory,
        "rows": table_rows,
        "width": table_width,
        "quickstart": table_quickstart,
        "ceiling": table_ceiling,
        "predict": table_predict,
        "threads": table_threads,
        "decision": table_decision,
    }
    for name in args.only.split(","):
        tables[name](args)


if __name__ == "__main__":
    main()
