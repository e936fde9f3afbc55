"""Fix TensorFlow's intra-op thread count before TensorFlow initialises.

The number of intra-op threads changes how TensorFlow splits reductions, and
so changes results bitwise.  seeded_keras therefore pins it to the same value
in the main process and in every joblib/dask worker.  The value comes from the
environment variable ``TF_NUM_INTRAOP_THREADS`` when the user set it, and is
``1`` otherwise (tiny Keras models gain nothing from intra-op threads, and one
thread per worker lets ``n_jobs`` workers share the cores without
oversubscribing them).  Worker processes inherit the environment, and import
this module before TensorFlow when they unpickle an estimator.

This module must not import TensorFlow.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

ENV_VAR = "TF_NUM_INTRAOP_THREADS"
DEFAULT_THREADS = "1"

_state = {"tf_initialised_first": False, "warned": False}


def pin_intra_op_threads() -> int:
    """Set ``TF_NUM_INTRAOP_THREADS`` unless the user already did.

    Returns the thread count seeded_keras expects TensorFlow to use.  Called
    once, on import of :mod:`seeded_keras`, before TensorFlow is imported.
    """
    preset = ENV_VAR in os.environ
    value = os.environ.setdefault(ENV_VAR, DEFAULT_THREADS)
    if "tensorflow" in sys.modules:
        # TensorFlow was imported first.  That is fine as long as its runtime
        # has not started yet; set the count through the API too.
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(value))
        except RuntimeError:
            configured = tf.config.threading.get_intra_op_parallelism_threads()
            if not preset and configured != int(value):
                _state["tf_initialised_first"] = True
    return int(value)


def warn_if_threads_unpinned() -> None:
    """Warn once if TensorFlow started before its thread count could be pinned."""
    if _state["tf_initialised_first"] and not _state["warned"]:
        _state["warned"] = True
        warnings.warn(
            "TensorFlow was initialised before seeded_keras could fix its "
            f"intra-op thread count to {os.environ[ENV_VAR]}; results may differ "
            "bitwise from other processes (joblib/dask workers, a fresh "
            "interpreter). Import seeded_keras before running any TensorFlow "
            f"operation, or start Python with {ENV_VAR}={os.environ[ENV_VAR]}.",
            RuntimeWarning,
            stacklevel=3,
        )


# --------------------------------------------------------------------------
# Optional: one CPU per worker process
# --------------------------------------------------------------------------
PIN_ENV_VAR = "SEEDED_KERAS_PIN_WORKERS"
_pin_lock = threading.Lock()
_pinned: dict = {"done": False, "cpu": None, "file": None}


def pin_worker_to_a_cpu(by_default: bool = False) -> int | None:
    """Confine this worker process to one CPU that no other pinned worker holds.

    Only in a child process (never the main process), only on systems with
    ``os.sched_setaffinity`` (Linux), never with ``SEEDED_KERAS_PIN_WORKERS=0``
    in the environment, and otherwise only with ``SEEDED_KERAS_PIN_WORKERS=1``
    or ``by_default``: the loky workers that seeded_keras starts for its own
    searches (:mod:`seeded_keras._scheduler`) are pinned by default; any
    other worker (dask's, with several threads; a user's own child process)
    only when asked.  CPUs are claimed from the highest down, leaving the
    lowest to the parent process.
    CPUs are claimed with an advisory lock on a file per CPU in the temporary
    directory, which the operating system releases when the worker exits; a
    worker that finds every allowed CPU taken stays unpinned.  Every thread
    the process already has is moved to the CPU, and threads started later
    inherit it.

    A fit of a small Keras model alternates between the Python thread and
    TensorFlow's inter-op threads.  Unpinned, two workers on two cores keep
    migrating those hand-offs onto each other's core; pinned, each worker's
    threads share one warm core.  The arithmetic is the same (one intra-op
    thread either way), so no result changes.

    Returns the CPU, or None when the process is not pinned.
    """
    setting = os.environ.get(PIN_ENV_VAR, "").strip()
    wanted = setting == "1" or (by_default and setting != "0")
    if not wanted or not hasattr(os, "sched_setaffinity"):
        return None
    import multiprocessing

    if multiprocessing.parent_process() is None:
        return None
    with _pin_lock:
        if _pinned["done"]:
            return _pinned["cpu"]
        _pinned["done"] = True
        cpu, handle = _claim_a_cpu(sorted(os.sched_getaffinity(0), reverse=True))
        if cpu is None:
            return None
        for tid in _thread_ids():
            _set_affinity(tid, {cpu})
        _pinned.update(cpu=cpu, file=handle)
        return cpu


def _claim_a_cpu(cpus):
    """The first of ``cpus`` whose lock file no process holds: (cpu, handle)."""
    import fcntl
    import tempfile

    for cpu in cpus:
        path = os.path.join(tempfile.gettempdir(), f"seeded_keras-cpu{cpu}.lock")
        handle = open(path, "a")  # noqa: SIM115  (held while the CPU is ours)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return cpu, handle
    return None, None


def _thread_ids() -> list:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


def _set_affinity(tid, cpus) -> None:
    try:
        os.sched_setaffinity(tid, cpus)
    except OSError:  # a thread that has just exited
        pass


_parent_lock = threading.Lock()


def _tensorflow_threads() -> list:
    """Thread ids of TensorFlow's own threads (``tf_Compute``, ...) in this process."""
    tids = []
    for tid in _thread_ids():
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                if f.read().startswith("tf_"):
                    tids.append(tid)
        except OSError:  # a thread that has just exited
            continue
    return tids


@contextmanager
def parent_on_a_cpu(n_procs: int) -> Iterator[int | None]:
    """Confine the fitting threads of this (parent) process to a CPU of its own.

    While a search's parent fits beside its pinned loky workers
    (:func:`pin_worker_to_a_cpu`), its fits hand work back and forth between
    the calling thread and TensorFlow's inter-op threads; unpinned, those
    threads keep landing on the workers' CPUs.  So, for the block, the
    calling thread and TensorFlow's threads (named ``tf_*``) are moved to
    the lowest CPU no pinned worker holds (claimed with the same lock
    files), and afterwards each gets back the CPUs it had (a thread started
    meanwhile on that CPU, the process's).  No other thread of the process
    (the user's own) is touched.  Same conditions as the workers' pinning:
    Linux, the main process, not with ``SEEDED_KERAS_PIN_WORKERS=0``; and
    only when the ``n_procs`` processes of the search (the parent and its
    workers) have a CPU each, and no other search of this process holds
    one.  Yields the CPU, or None when nothing was pinned.  No result
    changes: only where the threads run.
    """
    import multiprocessing

    setting = os.environ.get(PIN_ENV_VAR, "").strip()
    if (
        setting == "0"
        or not hasattr(os, "sched_setaffinity")
        or multiprocessing.parent_process() is not None
        or not _parent_lock.acquire(blocking=False)
    ):
        yield None
        return
    try:
        allowed = os.sched_getaffinity(0)
        cpu, handle = (None, None)
        if 1 < n_procs <= len(allowed):
            cpu, handle = _claim_a_cpu(sorted(allowed))
        if cpu is None:
            yield None
            return
        before = {}
        for tid in [threading.get_native_id(), *_tensorflow_threads()]:
            try:
                before[tid] = os.sched_getaffinity(tid)
            except OSError:
                continue
            _set_affinity(tid, {cpu})
        try:
            yield cpu
        finally:
            for tid in _thread_ids():
                if tid in before:
                    _set_affinity(tid, before[tid])
                    continue
                try:  # started meanwhile by a confined thread
                    inherited = os.sched_getaffinity(tid) == {cpu}
                except OSError:
                    continue
                if inherited:
                    _set_affinity(tid, allowed)
            handle.close()  # the CPU's lock
    finally:
        _parent_lock.release()
