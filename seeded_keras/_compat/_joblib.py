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


@hook(
    "joblib",
    "joblib.externals.loky.process_executor._USE_PSUTIL (a worker's memory-leak check)",
    CHECKED["joblib"],
    on_failure="fallback: a loky worker whose first task was not seeded_keras's "
    "is restarted, without TensorFlow, after its next task",
)
def keep_worker_with_tensorflow() -> bool:
    """Stop loky from restarting this worker for the memory TensorFlow holds.

    loky measures a worker's memory after the worker's first task, and shuts
    the worker down (starting a fresh one) once it has grown by 300 MB
    since.  Importing TensorFlow, Keras and scikeras grows a process by
    about 650 MB: a worker whose first task was someone else's (another
    ``Parallel`` call on the same reusable executor) was shut down right
    after seeded_keras's warm-up, and the search went on without it.  In a
    worker process only, this turns loky's check off for the worker's life
    (loky then collects garbage every second instead, as it does without
    psutil).  Returns whether it did.
    """
    import multiprocessing

    if multiprocessing.parent_process() is None:
        return False
    try:
        from joblib.externals.loky import process_executor
    except ImportError as exc:
        keep_worker_with_tensorflow.hook.fall_back(str(exc))
        return False
    if not isinstance(getattr(process_executor, "_USE_PSUTIL", None), bool):
        keep_worker_with_tensorflow.hook.fall_back("loky has no _USE_PSUTIL flag")
        return False
    process_executor._USE_PSUTIL = False
    return True
