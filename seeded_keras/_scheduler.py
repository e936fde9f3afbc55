"""Which process runs which fit: one architecture per process, the parent included.

scikit-learn hands joblib one task per fit, and joblib deals them to its
workers in turn, so with ``n_jobs=2`` every worker process builds and traces
every architecture of the grid, and a fresh worker spends its first seconds
importing TensorFlow while the parent process, which has TensorFlow already,
waits.  On a sweep of a few dozen small fits that made ``n_jobs=2`` slower
than ``n_jobs=1``.

While a reconciled search runs, its ``Parallel`` is :class:`ScheduledParallel`
(installed by :func:`scheduling`), which changes *where* each fit runs and
nothing else -- every fit is a pure function of its estimator, parameters,
fold and seed, so the results are the same bits wherever it runs:

* Fits are grouped by architecture: their candidate parameters without the
  ``repeat`` that selects the seed and without a float learning rate (one
  traced trainer serves every learning rate, see
  :mod:`seeded_keras._trainer_pool`).  A process takes a *chunk* of at most
  :data:`MAX_CHUNK` fits of one group and keeps taking from that group while
  it lasts, so each process traces each architecture about once.
* On the loky backend (joblib's default) with ``n_jobs=n``, the parent
  process is one of the ``n``: it starts fitting at once, beside ``n - 1``
  loky workers.  Workers that are not running yet are started only when
  the fits left after the parent's first chunk would keep it busy for more
  than :data:`START_FACTOR` times a worker's start-up (measured whenever
  workers start): a smaller sweep is done sooner by the parent alone.
  Each worker first imports TensorFlow (a warm-up task) and only then
  takes chunks, pulled one at a time from the same queue as the parent;
  near the end it starts on no new architecture (:data:`TRACE_IN_FITS`).
* On any other process backend (dask, multiprocessing) the chunks are the
  tasks handed to joblib.  On threads nothing changes: threads already share
  the process's traced trainers.

Fits still return in scikit-learn's order, and a journal still writes each
fit down in the process that ran it.  A loky worker that dies (killed, out of
memory) costs only the fits it was running: their chunks go back to the
queue and the parent runs them, with a warning; every finished fit is kept,
journal or not.  Progress and a line saying where the fits run are reported
as fits finish (:func:`reporting`), so ``verbose`` changes nothing here.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from numbers import Real

import joblib
from sklearn.utils.parallel import Parallel

from . import _compat, _threads

__all__ = ["Chunks", "ScheduledParallel", "scheduling"]

MAX_CHUNK = 8  # fits per chunk: small enough to balance, large enough to amortise
# What tracing a model costs, in fits of it (about 0.5 s against 0.2 s per fit
# of a small network): a worker starts on a new architecture only while the
# parent would still be busy that long.
TRACE_IN_FITS = 4
_active = threading.local()  # the ignored parameter names of this thread's search


def _silent(n: int = 0, message: str = "") -> None:
    """The reporter of a search that shows nothing (see :func:`reporting`)."""


def _shares_trainer(name: str, value) -> bool:
    """A float learning rate: candidates differing only in it share a trainer."""
    from . import _trainer_pool

    last = name.rpartition("__")[0].rpartition("__")[2] if "__" in name else ""
    return (
        _trainer_pool.SHARE_LEARNING_RATE
        and name.endswith("__learning_rate")
        and last == "optimizer"
        and isinstance(value, Real)
        and not isinstance(value, bool)
    )


def group_key(kwargs: dict, ignored) -> str:
    """The architecture a fit builds: its parameters less seed and learning rate."""
    params, _, _ = _compat.fit_task(kwargs)
    if params is None:
        return ""
    return repr(
        sorted(
            (k, repr(v))
            for k, v in params.items()
            if k not in ignored and not _shares_trainer(k, v)
        )
    )


class Chunks:
    """The fits of one ``Parallel`` call, grouped by architecture, handed out
    in chunks to whichever process asks, each process keeping to its group.

    Parameters
    ----------
    tasks : list of (function, args, kwargs)
        joblib's tasks, in scikit-learn's order.
    ignored : set of str
        Parameter names that do not change the architecture (``repeat``).
    n_procs : int
        How many processes will take chunks.
    """

    def __init__(self, tasks, ignored, n_procs: int):
        self._groups: OrderedDict = OrderedDict()
        self._ignored = ignored
        for i, task in enumerate(tasks):
            key = group_key(task[2], ignored)
            self._groups.setdefault(key, deque()).append((i, task))
        self.n_groups = len(self._groups)
        self.size = max(1, min(MAX_CHUNK, math.ceil(len(tasks) / (4 * n_procs))))
        self._owner_of: dict = {}  # taker -> the group it works on
        self.taken: dict = {}  # taker -> chunks taken
        self._lock = threading.Lock()

    def left(self) -> int:
        """How many fits no process has taken yet."""
        with self._lock:
            return sum(len(g) for g in self._groups.values())

    def take(self, taker, starting_worker: bool = False) -> list:
        """The next chunk for ``taker``: [(index, task), ...], or [] when done.

        The taker's own group while it lasts; then the largest group no one
        works on; then (stealing) the largest group.  A worker that runs
        beside the parent (``starting_worker``) starts on a new group only
        while more than a chunk and :data:`TRACE_IN_FITS` fits are left:
        with fewer, the parent, which has every model it met traced
        already, finishes them sooner than a worker that would trace
        another architecture first.
        """
        with self._lock:
            key = self._owner_of.get(taker)
            if key not in self._groups:
                left = sum(len(g) for g in self._groups.values())
                late = left < self.size + TRACE_IN_FITS
                if not left or (starting_worker and late):
                    return []
                owned = set(self._owner_of.values())
                free = [k for k in self._groups if k not in owned] or list(self._groups)
                key = max(free, key=lambda k: len(self._groups[k]))
                self._owner_of[taker] = key
            group = self._groups[key]
            chunk = [group.popleft() for _ in range(min(self.size, len(group)))]
            if not group:
                del self._groups[key]
            self.taken[taker] = self.taken.get(taker, 0) + 1
            return chunk

    def put_back(self, chunk) -> None:
        """Queue again the fits of a chunk whose process died."""
        with self._lock:
            for i, task in reversed(chunk):
                key = group_key(task[2], self._ignored)
                self._groups.setdefault(key, deque()).appendleft((i, task))


def run_chunk(chunk, pin: bool = False) -> tuple[int, list]:
    """Run a chunk's fits one after the other: (pid, [(index, result), ...])."""
    if pin:
        _threads.pin_worker_to_a_cpu(by_default=True)
    return os.getpid(), [(i, f(*args, **kwargs)) for i, (f, args, kwargs) in chunk]


def warm_up() -> tuple[int, list]:
    """Import what a fit needs (TensorFlow, Keras, scikeras) in one of our
    workers, pin it to a CPU of its own (``SEEDED_KERAS_PIN_WORKERS=0``
    opts out), and keep loky from restarting it for TensorFlow's memory
    (:func:`seeded_keras._compat.keep_worker_with_tensorflow`)."""
    _threads.pin_worker_to_a_cpu(by_default=True)
    from . import _regressor  # noqa: F401

    _compat.keep_worker_with_tensorflow()  # after the import: what it holds
    return os.getpid(), []


# A worker's start-up (spawn, import of TensorFlow), as last measured here.
_start_up = {"seconds": 5.0}
START_FACTOR = 4.0
_warm: weakref.WeakSet = weakref.WeakSet()  # executors whose workers ran a warm-up


def _is_warm(executor) -> bool:
    return executor in _warm


def warm_workers(n_workers: int) -> list:
    """Start ``n_workers`` loky workers for searches of ``n_jobs=n_workers + 1``
    and wait until each has TensorFlow; returns their pids."""
    executor = _compat.loky_executor(n_workers)
    started = time.perf_counter()
    futures = [executor.submit(warm_up) for _ in range(n_workers)]
    pids = [f.result()[0] for f in futures]
    _warm.add(executor)
    _start_up["seconds"] = time.perf_counter() - started
    return pids


class _Workers(threading.Thread):
    """Feeds loky's workers: a chunk to each worker as soon as it is free.

    Each worker's first task is :func:`warm_up`; each finished task brings
    the next chunk for the worker that ran it (by pid), so a worker keeps to
    its architecture.  Stops feeding when the queue is empty, once the
    parent is done (``parent_done``), or on the first error (kept in
    ``error``); returns once no chunk is left running, without waiting for
    a warm-up that has nothing left to do.
    """

    def __init__(
        self, executor, chunks: Chunks, n_workers: int, results: list, report=_silent
    ):
        super().__init__(name="seeded_keras-workers", daemon=True)
        self.executor, self.chunks, self.results = executor, chunks, results
        self.report = report
        self.submitted = time.perf_counter()
        self.pending = {executor.submit(warm_up) for _ in range(n_workers)}
        self.warm_ups = set(self.pending)
        self.running: dict = {}  # future of a real chunk -> the chunk
        self.parent_done = Future()
        self.error: BaseException | None = None
        self.died: BaseException | None = None  # a worker process died
        self.lost_fits = 0  # fits that were running in dead workers

    def run(self):
        try:
            self._feed()
        except BaseException as exc:  # re-raised in the search's thread
            self.error = exc

    def _feed(self):
        died = _compat.worker_died_error()
        while self.running or not self.parent_done.done():
            done, _ = wait(
                self.pending | {self.parent_done}, return_when=FIRST_COMPLETED
            )
            for future in done - {self.parent_done}:
                self.pending.discard(future)
                chunk = self.running.pop(future, [])
                try:
                    pid, outs = future.result()  # a fit's error is raised
                except died as exc:
                    # A worker process died (killed, out of memory): loky's
                    # pool is broken, every chunk it still runs comes back
                    # here the same way.  Their fits go back to the queue,
                    # for the parent; nothing finished is lost.
                    self.died = exc
                    self.lost_fits += len(chunk)
                    self.chunks.put_back(chunk)
                    _warm.discard(self.executor)
                    continue
                if future in self.warm_ups and self.executor not in _warm:
                    _warm.add(self.executor)
                    _start_up["seconds"] = time.perf_counter() - self.submitted
                for i, out in outs:
                    self.results[i] = out
                if outs:
                    self.report(len(outs))
                chunk = (
                    []
                    if self.parent_done.done() or self.died is not None
                    else self.chunks.take(pid, starting_worker=True)
                )
                if chunk:
                    try:
                        nxt = self.executor.submit(run_chunk, chunk, True)
                    except died as exc:  # it died between two chunks
                        self.died = exc
                        self.chunks.put_back(chunk)
                        _warm.discard(self.executor)
                        continue
                    self.pending.add(nxt)
                    self.running[nxt] = chunk
            if self.parent_done.done() and not self.running:
                return


def _beside_workers(tasks, ignored, n_jobs: int, get_executor, report=_silent) -> list:
    """The parent and ``n_jobs - 1`` loky workers take chunks from one queue.

    Workers already warm (they ran a warm-up for an earlier search) join at
    once.  Otherwise the parent fits a first chunk, and starts the workers
    only if what is left would keep it busy for more than
    :data:`START_FACTOR` times a worker's start-up: a smaller sweep is done
    sooner without them, and spawns no process at all (``get_executor``
    is called only when workers are warm or to be started).
    """
    chunks = Chunks(tasks, ignored, n_jobs)
    results: list = [None] * len(tasks)
    workers = None
    n_workers = n_jobs - 1
    executor = get_executor() if len(_warm) else None  # maybe the warm one
    if executor is not None and _is_warm(executor):
        workers = _Workers(executor, chunks, n_workers, results, report)
        workers.start()
        report(
            message=f"{len(tasks)} fits in this process and {n_workers} started "
            f"worker(s)"
        )
    started, n_done = time.perf_counter(), 0
    try:
        while workers is None or workers.error is None:
            chunk = chunks.take("parent")
            if not chunk:
                break
            for i, out in run_chunk(chunk)[1]:
                results[i] = out
            n_done += len(chunk)
            report(len(chunk))
            if workers is None and n_done == len(chunk):  # after the first
                per_fit = (time.perf_counter() - started) / n_done
                left = chunks.left() * per_fit
                start_up = START_FACTOR * _start_up["seconds"]
                if left > start_up:
                    executor = executor or get_executor()
                    workers = _Workers(executor, chunks, n_workers, results, report)
                    workers.start()
                    report(
                        message=f"{len(tasks)} fits: starting {n_workers} "
                        f"worker(s) beside this process (est. "
                        f"{_start_up['seconds']:.1f} s start-up vs {left:.1f} s "
                        "of fits left)"
                    )
                else:
                    report(
                        message=f"{len(tasks)} fits in this process: workers "
                        "would take longer to start than they save (est. "
                        f"{_start_up['seconds']:.1f} s start-up vs {left:.1f} s "
                        "of fits left)"
                    )
    finally:
        # Done, an error or Ctrl-C: the workers get nothing new.  Once the
        # parent found the queue empty, only running chunks are left.
        if workers is not None:
            workers.parent_done.set_result(None)
    if workers is None:
        return results
    workers.join()
    if workers.error is not None:
        raise workers.error
    if workers.died is not None:  # the dead workers' running fits, again
        import warnings

        warnings.warn(
            f"a worker process died ({str(workers.died).splitlines()[0]}); "
            f"its {workers.lost_fits} running fit(s) ran again in this process, "
            "every finished fit was kept",
            RuntimeWarning,
            stacklevel=2,
        )
        while chunk := chunks.take("parent"):
            for i, out in run_chunk(chunk)[1]:
                results[i] = out
            report(len(chunk))
    return results


class _Dispatch(joblib.Parallel):
    """Sits between scikit-learn's ``Parallel`` (which wraps every task with
    the caller's configuration) and joblib's, to decide where tasks run."""

    def __enter__(self):
        # BaseSearchCV.fit enters its Parallel before the first call, which
        # starts joblib's executor for n_jobs workers; on loky this search
        # runs n_jobs - 1 of them (the parent is the n-th), and asking loky
        # for both sizes in turn would restart its workers every search.
        self._scheduled = getattr(_active, "ignored", None) is not None
        return self if self._scheduled else super().__enter__()

    def __exit__(self, *exc):
        if not getattr(self, "_scheduled", False):
            return super().__exit__(*exc)
        return None

    def __call__(self, iterable):
        ignored = getattr(_active, "ignored", None)
        if ignored is None:  # not a reconciled search: scikit-learn's behaviour
            return super().__call__(iterable)
        report = getattr(_active, "report", None) or _silent
        kind, n_jobs = _compat.parallel_plan(self)
        if kind in (None, "sequential", "threads"):
            where = "in this process" + (" (threads)" if kind == "threads" else "")
            tasks = list(iterable)
            report(message=f"{len(tasks)} fits {where}")
            return super().__call__(_counted(tasks, report))
        tasks = list(iterable)
        get_executor = None
        if kind == "loky":
            get_executor = _compat.loky_executor(n_jobs - 1, start=False)
        if get_executor is not None:
            return _beside_workers(tasks, ignored, n_jobs, get_executor, report)
        report(message=f"{len(tasks)} fits on {n_jobs} {kind} workers")
        chunks = Chunks(tasks, ignored, n_jobs)
        planned = []
        while chunk := chunks.take(len(planned) % n_jobs):
            planned.append(chunk)
        results: list = [None] * len(tasks)
        for _, done in super().__call__(joblib.delayed(run_chunk)(c) for c in planned):
            for i, out in done:
                results[i] = out
            report(len(done))
        return results


class ScheduledParallel(Parallel, _Dispatch):
    """scikit-learn's ``Parallel``, with the fits of a reconciled search
    scheduled by architecture (and the parent process working beside loky's
    workers)."""


@contextmanager
def reporting(progress=None, say=None) -> Iterator[None]:
    """Report this thread's search as its fits finish, wherever they run.

    ``progress(n=k)`` is called after every ``k`` finished fits (from the
    parent, or from the thread that collects the workers' chunks: one call
    at a time), and ``say(message)`` once with where the fits run.  What is
    reported never changes where fits run: the whole sweep is still one
    ``Parallel`` call, scheduled as with ``verbose=0``.
    """
    lock = threading.Lock()

    def report(n: int = 0, message: str = "") -> None:
        with lock:
            if n and progress is not None:
                progress(n=n)
            if message and say is not None:
                say(message)

    previous = getattr(_active, "report", None)
    _active.report = report
    try:
        yield
    finally:
        _active.report = previous


def _counted(tasks, report):
    """``tasks`` whose functions report each finished fit (in this process)."""
    for f, args, kwargs in tasks:
        yield functools.partial(_run_and_report, f, report), args, kwargs


def _run_and_report(f, report, *args, **kwargs):
    out = f(*args, **kwargs)
    report(1)
    return out


@contextmanager
def scheduling(ignored) -> Iterator[None]:
    """Schedule this thread's search's fits (see the module docstring).

    ``ignored``: the parameter names that select a seed, not an architecture.
    """
    previous = getattr(_active, "ignored", None)
    _active.ignored = frozenset(ignored)
    try:
        with _compat.parallel_replaced(ScheduledParallel):
            yield
    finally:
        _active.ignored = previous
