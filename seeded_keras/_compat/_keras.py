"""Hooks into Keras internals: default seeds, object names, layers, optimizers."""

from __future__ import annotations

import collections
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ._registry import calls, hook
from .versions import CHECKED

__all__ = [
    "compile_objects",
    "fresh_names",
    "iter_layers",
    "keras_seed_source",
    "learning_rate_variable",
    "quick_metric_bookkeeping",
    "steps_per_execution_for",
    "validation_in_one_execution",
]

_KERAS = CHECKED["keras"]


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


@hook("keras", "keras.src.random.seed_generator.python_random", _KERAS)
@contextmanager
def keras_seed_source(rng: random.Random) -> Iterator[None]:
    """Make Keras draw default seeds from ``rng`` in this thread only.

    Raises :class:`CompatError` when Keras no longer draws its default seeds
    from ``seed_generator.python_random``: the seeding promise would be
    silently lost otherwise.
    """
    from keras.src.random import seed_generator

    current = getattr(seed_generator, "python_random", None)
    if current is not _keras_random:
        if current is not random or not hasattr(seed_generator, "make_default_seed"):
            raise keras_seed_source.hook.error(
                "seed_generator no longer draws default seeds from python_random"
            )
        seed_generator.python_random = _keras_random
    previous = getattr(_keras_random._local, "rng", None)
    _keras_random._local.rng = rng
    try:
        yield
    finally:
        _keras_random._local.rng = previous


_NAMES_KEY = "object_name_uids"


@hook(
    "keras",
    "keras.src.backend.common.global_state['object_name_uids']",
    _KERAS,
    on_failure="fallback: auto-names keep growing (about 35 KB of memory per fit)",
)
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
    try:
        from keras.src.backend.common import global_state
        from keras.src.utils import naming

        get, put = global_state.get_global_attribute, global_state.set_global_attribute
        if _NAMES_KEY not in naming.uniquify.__code__.co_consts:
            raise AttributeError(f"naming.uniquify no longer reads '{_NAMES_KEY}'")
    except (ImportError, AttributeError) as exc:
        fresh_names.hook.fall_back(str(exc))
        yield
        return
    previous = get(_NAMES_KEY)
    put(_NAMES_KEY, collections.defaultdict(int))
    try:
        yield
    finally:
        put(_NAMES_KEY, previous)


@hook("keras", "keras.Layer._flatten_layers", _KERAS)
def iter_layers(model) -> list:
    """Every layer inside ``model`` (nested ones too), ``model`` first."""
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is None:
        raise iter_layers.hook.error("keras.Layer has no _flatten_layers")
    return list(flatten(include_self=True, recursive=True))


@hook("keras", "keras.Model._compile_config", _KERAS)
def compile_objects(model) -> dict:
    """The objects ``model.compile`` was given (optimizer, loss, metrics...)."""
    config = getattr(model, "_compile_config", None)
    if config is None or not hasattr(config, "config"):
        raise compile_objects.hook.error("keras.Model has no _compile_config.config")
    return config.config


@hook(
    "keras",
    "keras.optimizers.Optimizer._learning_rate",
    _KERAS,
    on_failure="fallback: candidates differing in learning rate trace their own "
    "trainers (slower)",
)
def learning_rate_variable(optimizer):
    """The optimizer's learning-rate variable, or None when it is a schedule.

    Only a variable the optimizer tracks (one of ``optimizer.variables``) is
    read by the traced train step and copied with the optimizer's state.
    """
    if not hasattr(optimizer, "_learning_rate"):
        learning_rate_variable.hook.fall_back("the optimizer has no _learning_rate")
        return None
    lr = optimizer._learning_rate
    if hasattr(lr, "assign") and any(v is lr for v in optimizer.variables):
        return lr
    return None


@hook(
    "keras",
    "the text of Keras' 'Your input ran out of data' warning",
    _KERAS,
    on_failure="fallback: older Keras may print that warning once per epoch",
)
@contextmanager
def validation_in_one_execution() -> Iterator[None]:
    """Keep Keras < 3.5's "Your input ran out of data" off the console.

    A pooled trainer runs one epoch per execution; older Keras (3.2) also
    evaluates the holdout with that many steps per execution, runs past the
    end of the (shorter) validation set, stops there correctly -- the loss
    is the same bits as one step per execution -- and warns.  Newer Keras
    stops silently.  Only that message is filtered, only in this block (the
    filter is process-wide while the block runs, as ``warnings`` filters
    are).
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Your input ran out of data", category=UserWarning
        )
        yield


UNROLLED_STEPS_LIMIT = 32  # tf.data raises past 32 get_next() calls in one trace


@hook(
    "keras",
    "TensorFlowTrainer.make_train_function (a loop or unrolled steps)",
    _KERAS,
)
def steps_per_execution_for(steps_per_epoch: int) -> int:
    """How many of an epoch's steps one execution may run.

    Newer Keras runs several steps in a loop inside one traced function: a
    whole epoch at once.  Older Keras (3.2) unrolls them, calling
    ``next(iterator)`` once per step while tracing, and tf.data refuses more
    than 32 such calls.  There, the largest divisor of ``steps_per_epoch``
    up to 32: an execution never runs past the end of an epoch.
    """
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    make = TensorFlowTrainer.make_train_function
    if calls(make, "_make_function"):  # the loop
        return steps_per_epoch
    nested = {c.co_name for c in make.__code__.co_consts if hasattr(c, "co_name")}
    if "multi_step_on_iterator" not in nested:
        raise steps_per_execution_for.hook.error(
            "make_train_function neither loops nor unrolls as checked"
        )
    limit = min(steps_per_epoch, UNROLLED_STEPS_LIMIT)
    return max(d for d in range(1, limit + 1) if steps_per_epoch % d == 0)


@hook(
    "keras",
    "keras.metrics.Mean (total, count) and Trainer.reset_metrics / get_metrics_result",
    _KERAS,
    on_failure="fallback: Keras resets and reads metrics itself (slower)",
)
def quick_metric_bookkeeping(model) -> None:
    """Reset and read ``model``'s mean metrics with plain TensorFlow calls.

    Keras resets every metric and reads every result once per epoch, each
    through its own backend layer: about 0.5 ms per epoch for the loss alone,
    a tenth of a pooled fit of 20 short epochs.  On ``model`` (an instance,
    not the class) a :class:`keras.metrics.Mean` whose ``reset_state`` and
    ``result`` are Keras' own is reset by assigning zeros to its variables
    and read as ``DivNoNan(total, count)`` with TensorFlow's raw ops -- the
    kernels Keras runs, the same bits.  Any other metric, and any call inside
    a traced function, goes to Keras as before.
    """
    try:
        import tensorflow as tf
        from keras.metrics import Mean
        from keras.src.trainers.trainer import Trainer

        reset_metrics = Trainer.reset_metrics
        get_metrics_result = Trainer.get_metrics_result
        reset_state, result = Mean.reset_state, Mean.result
    except (ImportError, AttributeError) as exc:
        quick_metric_bookkeeping.hook.fall_back(str(exc))
        return

    def handles(metric):
        """(total, count) as TensorFlow variables, when Keras' Mean is plain."""
        kind = type(metric)
        if kind.reset_state is not reset_state or kind.result is not result:
            return None
        total, count = (getattr(metric, n, None) for n in ("total", "count"))
        pair = [getattr(v, "value", None) for v in (total, count)]
        if not all(isinstance(v, tf.Variable) for v in pair):
            return None
        if pair[0].dtype not in (tf.float32, tf.float64):
            return None  # Keras' result_type may widen other float types
        return pair

    zeros = {}  # (shape, dtype) -> a zero tensor, made once
    # Keras 3.2 turns the results into Python floats here; newer Keras later
    pythonified = calls(get_metrics_result, "_pythonify_logs")

    def quick_reset():
        if not tf.executing_eagerly():
            return reset_metrics(model)
        for metric in model.metrics:
            pair = handles(metric)
            if pair is None:
                metric.reset_state()
                continue
            for v in pair:
                key = (tuple(v.shape), v.dtype)
                if key not in zeros:
                    zeros[key] = tf.zeros(v.shape, v.dtype)
                tf.raw_ops.AssignVariableOp(resource=v.handle, value=zeros[key])
        return None

    def quick_results():
        if not tf.executing_eagerly():
            return get_metrics_result(model)
        out = {}
        for metric in model.metrics:
            pair = handles(metric)
            if pair is None:
                value = metric.result()
            else:
                total, count = (
                    tf.raw_ops.ReadVariableOp(resource=v.handle, dtype=v.dtype)
                    for v in pair
                )
                if count.dtype != total.dtype:
                    count = tf.cast(count, total.dtype)
                value = tf.raw_ops.DivNoNan(x=total, y=count)
            if isinstance(value, dict):
                out.update(value)
            else:
                out[metric.name] = value
        return model._pythonify_logs(out) if pythonified else out

    model.reset_metrics = quick_reset
    model.get_metrics_result = quick_results
