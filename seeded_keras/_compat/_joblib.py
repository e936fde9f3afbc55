"""Hooks into joblib's private state: which backend a ``Parallel`` runs on."""

from __future__ import annotations

from ._registry import hook
from .versions import CHECKED

__all__ = ["keep_worker_with_tensorflow", "loky_executor", "parallel_plan"]


@hook(
    "joblib",
    "joblib.Parallel._backend and _effective_n_jobs",
    CHECKED["joblib"],
    on_failure="fallback: fits are dispatched one by one, as scikit-learn does",
)
def parallel_plan(parallel) -> tuple[str | None, int]:
    """The kind of backend ``parallel`` runs on, and how many jobs it runs.

    The kind is ``"sequential"``, ``"threads"``, ``"loky"`` or
    ``"processes"`` (any other backend: multiprocessing, dask, ray, ...);
    None when joblib's internals moved (then seeded_keras leaves the
    scheduling to joblib).
    """
    backend = getattr(parallel, "_backend", None)
    effective = getattr(parallel, "_effective_n_jobs", None)
    if backend is None or effective is None:
        parallel_plan.hook.fall_back("Parallel has no _backend or _effective_n_jobs")
        return None, 1
    n_jobs = int(effective())
    name = type(backend).__name__
    if name == "SequentialBackend" or n_jobs == 1:
        return "sequential", 1
    if getattr(backend, "uses_threads", False) or name == "ThreadingBackend":
        return "threads", n_jobs
    if name == "LokyBackend":
        return "loky", n_jobs
    return "processes", n_jobs


@hook(
    "joblib",
    "joblib.executor.get_memmapping_executor and LokyBackend._prepare_worker_env",
    CHECKED["joblib"],
    on_failure="fallback: the parent process waits while loky's workers fit",
)
def loky_executor(n_workers: int, start: bool = True):
    """joblib's reusable loky executor with ``n_workers`` workers, set up as
    ``joblib.Parallel`` sets it up (memmapped large arrays, the worker
    environment), or None when joblib's internals moved.

    With ``start=False``, a function that returns the executor when called:
    nothing is spawned before (loky starts a process with the executor).

    ``joblib.Parallel`` cannot give one worker: it runs ``n_jobs=1`` in the
    calling process.
    """
    try:
        from joblib._parallel_backends import LokyBackend
        from joblib.executor import get_memmapping_executor

        env = LokyBackend()._prepare_worker_env(n_jobs=n_workers)
    except (ImportError, AttributeError, TypeError) as exc:
        loky_executor.hook.fall_back(str(exc))
        return None

    def executor():
        return get_memmapping_executor(n_workers, timeout=300, env=env)

    return executor() if start else executor


_LOKY_LEAK_SIZE = int(3e8)  # loky's own limit, as checked


@hook(
    "joblib",
    "joblib.externals.loky.process_executor._MAX_MEMORY_LEAK_SIZE and "
    "_USE_PSUTIL (a worker's memory-leak check)",
    CHECKED["joblib"],
    on_failure="fallback: a loky worker whose first task was not seeded_keras's "
    "is restarted, without TensorFlow, after its next task",
)
def keep_worker_with_tensorflow() -> bool:
    """Keep loky from restarting this worker for the memory TensorFlow holds.

    loky measures a worker's memory after the worker's first task, and shuts
    the worker down (starting a fresh one) once it has grown by 300 MB
    since.  Importing TensorFlow, Keras and scikeras grows a process by
    about 650 MB: a worker whose first task was someone else's (another
    ``Parallel`` call on the same reusable executor) was shut down right
    after seeded_keras's warm-up, and the search went on without it.
    Called in a worker after that import, this raises the worker's limit by
    what the worker holds now, so loky still restarts a worker that grows
    by 300 MB beyond that.  (Turning the check off instead makes loky
    collect garbage every second, about 0.2 s each time in a worker that
    holds TensorFlow.)  Returns whether it did; in the main process, or
    without psutil (then loky checks nothing), it does nothing.
    """
    import multiprocessing

    if multiprocessing.parent_process() is None:
        return False
    try:
        import psutil
        from joblib.externals.loky import process_executor
    except ImportError:
        return False
    limit = getattr(process_executor, "_MAX_MEMORY_LEAK_SIZE", None)
    if not isinstance(limit, int) or not getattr(process_executor, "_USE_PSUTIL", 0):
        keep_worker_with_tensorflow.hook.fall_back(
            "loky has no _MAX_MEMORY_LEAK_SIZE or does not check memory with psutil"
        )
        return False
    held = psutil.Process().memory_info().rss
    process_executor._MAX_MEMORY_LEAK_SIZE = max(limit, held + _LOKY_LEAK_SIZE)
    return True


@hook(
    "joblib",
    "joblib.externals.loky.process_executor.TerminatedWorkerError",
    CHECKED["joblib"],
)
def worker_died_error() -> type:
    """The exception joblib raises when a loky worker process dies mid-task."""
    try:
        from joblib.externals.loky.process_executor import TerminatedWorkerError
    except ImportError as exc:
        raise worker_died_error.hook.error(str(exc)) from None
    return TerminatedWorkerError
