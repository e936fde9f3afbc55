"""Hooks into Keras internals: default seeds, object names, layers, optimizers.

How Keras runs ``fit`` (steps per execution, metrics) is in :mod:`._keras_fit`.
"""

from __future__ import annotations

import collections
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ._registry import hook
from .versions import CHECKED

__all__ = [
    "compile_objects",
    "fresh_names",
    "iter_layers",
    "keras_seed_source",
    "learning_rate_variable",
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
