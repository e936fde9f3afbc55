"""Hooks into TensorFlow internals: op determinism, the global seed, tf.data."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ._registry import hook
from .versions import CHECKED

__all__ = ["inline", "op_determinism", "op_determinism_enabled", "tf_global_seed"]

_TF = CHECKED["tensorflow"]
_det_lock = threading.Lock()
_det_state = {"active": 0, "was_enabled": False}
_DETERMINISM = (
    "is_op_determinism_enabled",
    "enable_op_determinism",
    "disable_op_determinism",
)


def _tf_config():
    from tensorflow.python.framework import config

    missing = [f for f in _DETERMINISM if not hasattr(config, f)]
    if missing:
        raise op_determinism.hook.error(
            f"tensorflow.python.framework.config has no {', '.join(missing)}"
        )
    return config


@hook("tensorflow", "tensorflow.python.framework.config (op determinism)", _TF)
def op_determinism_enabled() -> bool:
    """Whether TensorFlow's op-determinism flag is on."""
    return bool(_tf_config().is_op_determinism_enabled())


@hook("tensorflow", "tensorflow.python.framework.config (op determinism)", _TF)
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


@hook("tensorflow", "tensorflow.python.eager.context.global_seed", _TF)
def tf_global_seed():
    """TensorFlow's global seed (None when unset); read-only."""
    from tensorflow.python.eager import context

    if not hasattr(context, "global_seed"):
        raise tf_global_seed.hook.error("context has no global_seed")
    return context.global_seed()


@hook(
    "tensorflow",
    "tf.data.Options' experimental optimisation switches",
    _TF,
    on_failure="fallback: tf.data keeps its own threads (slower small fits)",
)
def inline(dataset):
    """Let ``dataset`` run in the thread that pulls from it.

    By default tf.data appends a prefetch (a thread per iterator) and runs an
    autotuner beside it.  Our pipelines gather rows that are already in
    memory: the threads only cost their start-up and a hand-off per batch.
    Values and their order are unchanged.
    """
    import tensorflow as tf

    options = tf.data.Options()
    try:
        options.autotune.enabled = False
        options.experimental_optimization.inject_prefetch = False
        options.experimental_optimization.map_parallelization = False
    except AttributeError as exc:
        inline.hook.fall_back(str(exc))
        return dataset
    return dataset.with_options(options)
