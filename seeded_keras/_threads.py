"""Fix TensorFlow's thread counts before TensorFlow initialises.

The number of intra-op threads changes how TensorFlow splits reductions, and
so changes results bitwise.  seeded_keras therefore pins it to the same value
in the main process and in every joblib/dask worker.  The value comes from the
environment variable ``TF_NUM_INTRAOP_THREADS`` when the user set it, and is
``1`` otherwise (tiny Keras models gain nothing from intra-op threads, and one
thread per worker lets ``n_jobs`` workers share the cores without
oversubscribing them).  Worker processes inherit the environment, and import
this module before TensorFlow when they unpickle an estimator.

The number of inter-op threads (how many independent operations run at
once) changes no result, only speed: ``TF_NUM_INTEROP_THREADS`` when the
user set it, ``1`` otherwise (see :func:`default_inter_op_threads`).

This module must not import TensorFlow.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings

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


INTEROP_ENV_VAR = "TF_NUM_INTEROP_THREADS"


def default_inter_op_threads() -> int | None:
    """Set ``TF_NUM_INTEROP_THREADS`` to 1 unless the user already did.

    A fit of a small network is a chain of small operations: TensorFlow's
    executor hands them between its inter-op threads, and with one intra-op
    thread there is nothing for a second one to do beside the first.  One
    thread makes a steady fit about an eighth faster (``benchmarks/``), and
    changes no bit: each operation's arithmetic is the intra-op threads'.

    Returns the count, or None when TensorFlow's runtime had already
    started with its own (then nothing changes; no warning, as no result
    depends on it).  Called once, on import of :mod:`seeded_keras`.
    """
    preset = INTEROP_ENV_VAR in os.environ
    value = int(os.environ.setdefault(INTEROP_ENV_VAR, DEFAULT_THREADS))
    if "tensorflow" in sys.modules and not preset:
        import tensorflow as tf

        try:
            tf.config.threading.set_inter_op_parallelism_threads(value)
        except RuntimeError:  # the runtime started: its own count stays
            return None
    return value


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
    CPUs are claimed with an advisory lock on a file per CPU and per user in
    the temporary directory (:func:`lock_path`), which the operating system
    releases when the worker exits; a worker that finds every allowed CPU
    taken stays unpinned, and so does one that cannot open or lock a file
    (any ``OSError``: a file left by someone else, a read-only directory),
    with a one-line ``RuntimeWarning``.  Every thread
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
        try:
            return _claim_a_cpu()
        except OSError as exc:  # a shared temp dir, a read-only one, ...
            warnings.warn(
                f"seeded_keras cannot pin this worker to a CPU ({exc}); it runs "
                "unpinned (the same results, perhaps slower).",
                RuntimeWarning,
                stacklevel=2,
            )
            return None


def lock_path(cpu: int) -> str:
    """This user's lock file for ``cpu`` in the temporary directory.

    Per user: on a shared machine another user's file of the same CPU is
    neither opened nor contended for.
    """
    import tempfile

    user = os.getuid() if hasattr(os, "getuid") else os.getpid()
    return os.path.join(tempfile.gettempdir(), f"seeded_keras-{user}-cpu{cpu}.lock")


def _claim_a_cpu() -> int | None:
    """Lock and move onto the highest allowed CPU no pinned worker holds."""
    import fcntl

    for cpu in sorted(os.sched_getaffinity(0), reverse=True):
        handle = open(lock_path(cpu), "a")  # noqa: SIM115  (held for life)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another worker holds this CPU
            handle.close()
            continue
        except OSError:
            handle.close()
            raise
        try:
            tids = [int(t) for t in os.listdir("/proc/self/task")]
        except OSError:
            tids = [0]
        for tid in tids:
            try:
                os.sched_setaffinity(tid, {cpu})
            except OSError:  # a thread that has just exited
                pass
        _pinned.update(cpu=cpu, file=handle)
        return cpu
    return None
