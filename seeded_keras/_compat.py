"""The one place that touches private hooks of scikit-learn and TensorFlow.

A version change of either library should be a change to this file only.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import (  # noqa: F401  (re-exported)
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import (  # noqa: F401  (re-exported)
    _check_sample_weight as check_sample_weight,
)

# --------------------------------------------------------------------------
# TensorFlow op determinism, reference-counted across concurrent fits
# --------------------------------------------------------------------------
_det_lock = threading.Lock()
_det_state = {"active": 0, "was_enabled": False}


def _tf_config():
    from tensorflow.python.framework import config

    return config


def op_determinism_enabled() -> bool:
    """Whether TensorFlow's op-determinism flag is on."""
    return bool(_tf_config().is_op_determinism_enabled())


@contextmanager
def op_determinism() -> Iterator[None]:
    """Keep TF op determinism on while any seeded fit runs; restore it after.

    The flag is process-global, so it is reference-counted: the first fit to
    enter turns it on (remembering whether it already was), the last fit to
    leave puts it back.  Two fits in two threads never switch it off under
    each other.
    """
    config = _tf_config()
    with _det_lock:
        if _det_state["active"] == 0:
            _det_state["was_enabled"] = bool(config.is_op_determinism_enabled())
            if not _det_state["was_enabled"]:
                config.enable_op_determinism()
        _det_state["active"] += 1
    try:
        yield
    finally:
        with _det_lock:
            _det_state["active"] -= 1
            if _det_state["active"] == 0 and not _det_state["was_enabled"]:
                config.disable_op_determinism()


def tf_global_seed():
    """TensorFlow's global seed (None when unset); read-only."""
    from tensorflow.python.eager import context

    return context.global_seed()


# --------------------------------------------------------------------------
# Keras' source of default seeds
# --------------------------------------------------------------------------
class _ThreadLocalRandom:
    """Stands in for the ``random`` module inside Keras' seed_generator.

    Keras 3 draws the seed of every initialiser and SeedGenerator created
    without one from ``random.randint`` -- Python's process-global RNG, which
    any thread (dask's event loop, for one) may advance at any moment.  This
    proxy answers from a thread-local ``random.Random`` while a seeded build
    runs in the current thread, and from the global module otherwise, so
    Keras behaves exactly as before for everyone else.
    """

    def __init__(self):
        self._local = threading.local()

    def __getattr__(self, name):
        rng = getattr(self._local, "rng", None)
        return getattr(random if rng is None else rng, name)


_keras_random = _ThreadLocalRandom()


@contextmanager
def keras_seed_source(rng: random.Random) -> Iterator[None]:
    """Make Keras draw default seeds from ``rng`` in this thread only."""
    from keras.src.random import seed_generator

    if seed_generator.python_random is not _keras_random:
        seed_generator.python_random = _keras_random
    previous = getattr(_keras_random._local, "rng", None)
    _keras_random._local.rng = rng
    try:
        yield
    finally:
        _keras_random._local.rng = previous


@contextmanager
def fresh_names() -> Iterator[None]:
    """Name the Keras objects made in this block as a fresh interpreter would.

    Keras numbers auto-named layers, models, optimizers and variables with a
    per-thread counter that only grows (``dense_41/kernel``).  TensorFlow
    keys its eager kernel cache on each variable's name and never evicts, so
    every uniquely named variable costs about 35 KB of native memory for the
    life of the process: about 0.5 MB per small model, enough to make loky
    recycle a worker in a long sweep.  Inside this block the counter starts
    from zero (``dense/kernel``, ``dense_1/kernel``), in this thread only;
    the previous counter is put back afterwards.  Names never reach the
    arithmetic, so no result changes.
    """
    import collections

    from keras.src.backend.common import global_state

    key = "object_name_uids"
    previous = global_state.get_global_attribute(key)
    global_state.set_global_attribute(key, collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute(key, previous)


# --------------------------------------------------------------------------
# scikit-learn search internals
# --------------------------------------------------------------------------
def base_format_results(search, candidate_params, n_splits, out, more_results):
    """scikit-learn's ``BaseSearchCV._format_results``."""
    return GridSearchCV._format_results(
        search, candidate_params, n_splits, out, more_results
    )


@contextmanager
def search_with(search, **overrides) -> Iterator[None]:
    """Run ``BaseSearchCV.fit`` with some constructor parameters replaced.

    ``BaseSearchCV.fit`` reads ``self.estimator`` and ``self.cv`` directly and
    has no hook for handing it a prepared estimator or an already-frozen list
    of splits.  The originals are restored when the block exits, so
    ``get_params()`` and ``clone`` are unaffected after ``fit``.
    """
    saved = {k: getattr(search, k) for k in overrides}
    try:
        for k, v in overrides.items():
            setattr(search, k, v)
        yield
    finally:
        for k, v in saved.items():
            setattr(search, k, v)
