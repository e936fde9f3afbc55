"""The pool of traced trainers: train on an already traced model, same bits.

One fit of a small network spends about a second tracing ``tf.function``\\s
(train, test and predict steps) and a few milliseconds of Python dispatch per
step, while its arithmetic takes microseconds.  Every fold and repeat of one
grid candidate builds the same architecture, so this module keeps a small
process-wide pool of *trainers*: compiled models whose functions are already
traced.

A fit still builds its own model (that is where its seeded initial weights
come from) and still ends with its own ``model_``; in between:

1. the fresh model's variables (weights, non-trainable state, dropout seed
   states) and its freshly built optimizer's variables are copied into a
   trainer of the same :func:`signature`;
2. the trainer runs ``keras.Model.fit`` -- the same graph ops in the same
   order, so the same bits -- with one epoch per ``steps_per_execution``
   (one dispatch per epoch instead of one per step) when no callback
   watches single batches, or, when nothing needs Python between epochs
   (no callback, no holdout, ``verbose=0``), every epoch in one execution
   (:func:`all_epochs`);
3. the trained variables and optimizer state are copied back.

A trainer is lent to one fit at a time (threads that fit the same
architecture at once get one each) and returned afterwards; ``predict`` borrows
an idle trainer of the same signature in the same way.
Only models made entirely of built-in Keras layers, losses, metrics and
optimizers, with at most ``MAX_PARAMS`` parameters, get a signature;
anything else trains on its own model, as before.
``SEEDED_KERAS_REUSE=0`` in the environment switches the reuse off (for
comparisons, or to keep no model in memory between fits).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import _compat

ENV_VAR = "SEEDED_KERAS_REUSE"
MAX_TRAINERS = 8  # idle trainers kept, least recently returned dropped first
# Larger models are not pooled: tracing is a small share of their fit, and
# eight idle copies (with optimizer state) would hold real memory.
MAX_PARAMS = 1_000_000
# What each part buys is measured by benchmarks/bench_search.py, which turns
# these off one at a time; results are the same bits either way.
EPOCH_PER_EXECUTION = True
ALL_EPOCHS_PER_EXECUTION = True
SHARE_LEARNING_RATE = True
PREDICT_STEPS_PER_EXECUTION = 16  # batches per predict execution, at most
_lock = threading.Lock()
_warned_off: list = []
_idle: OrderedDict = OrderedDict()  # (key, steps_per_execution, data_key) -> [model]
_BATCH_HOOKS = (
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_batch_begin",
    "on_batch_end",
)


def enabled() -> bool:
    """Whether traced models are reused (``SEEDED_KERAS_REUSE`` is not 0)."""
    return os.environ.get(ENV_VAR, "1").strip() not in ("0", "false", "False", "")


def clear() -> None:
    """Drop every idle trainer."""
    with _lock:
        _idle.clear()
        _predict_steps.clear()


def idle_trainers() -> dict:
    """A snapshot of the pool: full key -> number of idle trainers."""
    with _lock:
        return {k: len(v) for k, v in _idle.items()}


def _builtin_layers(model) -> bool:
    import keras

    for layer in _compat.iter_layers(model):
        cls = type(layer)
        if layer is not model and not cls.__module__.startswith("keras."):
            return False
        if isinstance(layer, keras.layers.Lambda):
            return False
    return type(model) in (keras.Sequential, keras.Model) or (
        type(model).__name__ == "Functional"
        and type(model).__module__.startswith("keras.")
    )


def _keras_made(obj: Any) -> bool:
    """Strings, numbers and objects (or functions) defined inside Keras only."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return True
    if isinstance(obj, dict):
        return all(_keras_made(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return all(_keras_made(v) for v in obj)
    module = getattr(obj, "__module__", None) or type(obj).__module__
    if not module.startswith("keras."):
        return False
    # a function defined inside another one may close over anything
    return "<locals>" not in getattr(obj, "__qualname__", "")


def _builtin_objects(config: Any) -> bool:
    """No custom (registered or user-defined) object anywhere in a config."""
    if isinstance(config, dict):
        if config.get("registered_name") not in (None, "function"):
            return False
        module = config.get("module")
        if config.get("class_name") == "function":  # checked by _keras_made
            module = None
        if module is not None and not str(module).startswith("keras"):
            return False
        return all(_builtin_objects(v) for v in config.values())
    if isinstance(config, (list, tuple)):
        return all(_builtin_objects(v) for v in config)
    return config is None or isinstance(config, (str, int, float, bool))


def _canonical_names(config: Any) -> Any:
    """Replace layer names (Keras numbers them per process) by their rank."""
    names: dict[str, str] = {}

    def collect(node):
        if isinstance(node, dict):
            inner = node.get("config")
            if "class_name" in node and isinstance(inner, dict):
                name = inner.get("name")
                if isinstance(name, str) and name not in names:
                    names[name] = f"<layer {len(names)}>"
            for v in node.values():
                collect(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                collect(v)

    def rename(node):
        if isinstance(node, dict):
            return {k: rename(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [rename(v) for v in node]
        if isinstance(node, str):
            return names.get(node, node)
        return node

    collect(config)
    return rename(config)


def signature(model) -> str | None:
    """What makes two compiled models interchangeable for training.

    The model's configuration (layer names left out, as Keras numbers them
    per process) and its compile configuration, or None when the model holds
    anything that is not a built-in Keras object: such a model is never
    reused.
    """
    try:
        if not model.compiled or model.run_eagerly or not _builtin_layers(model):
            return None
        if model.count_params() > MAX_PARAMS:
            return None
        # the objects given to compile (a loss *function* serialises to its
        # bare name, so its origin is checked on the object itself)
        if not _keras_made(_compat.compile_objects(model)):
            return None
        config = {
            "class": type(model).__name__,
            "jit_compile": bool(model.jit_compile),
            "variables": [(tuple(v.shape), str(v.dtype)) for v in model.variables],
            **_canonical_names(
                {
                    "model": {"class_name": "root", "config": model.get_config()},
                    "compile": model.get_compile_config(),
                }
            ),
        }
        if not _builtin_objects(config["model"]) or not _builtin_objects(
            config["compile"]
        ):
            return None
        # A float learning rate lives in an optimizer variable that the traced
        # step reads (and copy_state copies): candidates that differ only in
        # it share a trainer.
        optimizer = config["compile"].get("optimizer")
        if (
            SHARE_LEARNING_RATE
            and isinstance(optimizer, dict)
            and _compat.learning_rate_variable(model.optimizer) is not None
        ):
            optimizer["config"].pop("learning_rate", None)
        return json.dumps(config, sort_keys=True)
    except _compat.CompatError as exc:  # a moved Keras internal: say so, once
        _warn_pool_off(exc)
        return None
    except Exception:  # anything unusual trains on its own model
        return None


def _warn_pool_off(exc) -> None:
    if not _warned_off:
        _warned_off.append(exc)
        warnings.warn(
            f"{exc} Traced trainers are not reused: fits are slower, results "
            "are the same.",
            _compat.CompatWarning,
            stacklevel=4,
        )


def watches_batches(callbacks) -> bool:
    """Whether any callback overrides a per-batch training hook."""
    import keras

    base = keras.callbacks.Callback
    return any(
        getattr(type(cb), hook) is not getattr(base, hook)
        for cb in callbacks
        for hook in _BATCH_HOOKS
    )


def _assign(dst, src) -> None:
    """``d.assign(s)`` for each pair: one raw TensorFlow op per variable.

    Keras' own ``assign`` converts and checks through its backend layer,
    about 0.1 ms a variable: two thirds of the copies' time in a small fit.
    The values copied are the same tensors either way.
    """
    import tensorflow as tf

    if len(dst) != len(src):
        raise RuntimeError("models with one signature hold different variables")
    for d, s in zip(dst, src):
        if tuple(d.shape) != tuple(s.shape) or d.dtype != s.dtype:
            raise RuntimeError("models with one signature hold different variables")
        target, source = d.value, s.value
        if isinstance(target, tf.Variable) and isinstance(source, tf.Variable):
            tf.raw_ops.AssignVariableOp(
                resource=target.handle,
                value=tf.raw_ops.ReadVariableOp(
                    resource=source.handle, dtype=source.dtype
                ),
            )
        else:
            d.assign(s.value)


def optimizer_variables(model) -> list:
    opt = model.optimizer
    if not opt.built:
        opt.build(model.trainable_variables)
    return list(opt.variables)


def copy_state(src, dst, optimizer: bool = True) -> None:
    """Copy model variables (and the optimizer's) from ``src`` to ``dst``."""
    _assign(dst.variables, src.variables)
    if optimizer:
        _assign(optimizer_variables(dst), optimizer_variables(src))


def _take(match):
    with _lock:
        for full_key in reversed(_idle):
            if match(full_key) and _idle[full_key]:
                trainer = _idle[full_key].pop()
                if not _idle[full_key]:
                    del _idle[full_key]
                return full_key, trainer
    return None, None


def _give_back(full_key, trainer) -> None:
    with _lock:
        _idle.setdefault(full_key, []).append(trainer)
        _idle.move_to_end(full_key)
        while sum(len(v) for v in _idle.values()) > MAX_TRAINERS:
            oldest = next(iter(_idle))
            _predict_steps.pop(id(_idle[oldest].pop(0)), None)
            if not _idle[oldest]:
                del _idle[oldest]


@contextmanager
def borrow_trainer(
    key: str, make, steps_per_execution: int, data_key: str
) -> Iterator[Any]:
    """Lend an idle trainer for ``key`` (made by ``make()`` when none is idle).

    A trainer reads its ``steps_per_execution`` on every call
    (:func:`seeded_keras._compat.steps_read_at_run_time`), so one serves
    epochs of any length: a search's folds and its refit.  Where Keras
    bakes the count into the trace (3.2), the count is part of the key.  So
    is ``data_key``, the structure of the training data: a trainer is traced
    for one input structure only, as a fresh model would be
    (``tf.function`` would otherwise relax the shapes it traced for, and a
    relaxed trace is another graph: its reductions need not give the same
    bits).
    Yields None when ``make()`` does not give a model of this signature.  A
    trainer whose fit raised is not returned to the pool.
    """
    counted = _compat.steps_read_at_run_time()
    full_key = (key, None if counted else steps_per_execution, data_key)
    _, trainer = _take(lambda k: k == full_key)
    if trainer is None:
        trainer = make()
        if signature(trainer) != key:
            yield None
            return
        if counted and not _compat.steps_read_at_run_time(trainer):
            full_key = (key, steps_per_execution, data_key)
    trainer.steps_per_execution = steps_per_execution
    try:
        yield trainer
    except BaseException:
        _predict_steps.pop(id(trainer), None)  # never comes back
        raise
    _give_back(full_key, trainer)


@contextmanager
def borrow_predictor(key: str) -> Iterator[Any]:
    """Lend an idle trainer of signature ``key`` for predicting, or None."""
    full_key, trainer = _take(lambda k: k[0] == key)
    yield trainer
    if trainer is not None:
        _give_back(full_key, trainer)


@contextmanager
def lend_to_fit(net, steps_per_epoch: int, structure: str) -> Iterator[Any]:
    """Lend a pooled, already traced twin of ``net.model_`` to train on.

    Yields None when reuse is off (``SEEDED_KERAS_REUSE=0``) or when the
    model holds anything but built-in Keras objects.  One epoch runs per
    execution unless the model was compiled with its own
    ``steps_per_execution`` or a callback watches single batches.  Sets
    ``net._reuse_key`` for :func:`borrow_predictor`.
    """
    from . import _seeding

    model = net.model_
    net._reuse_key = None
    key = signature(model) if enabled() else None
    if key is None:
        yield None
        return
    per_execution = model.steps_per_execution
    if (
        per_execution == 1
        and EPOCH_PER_EXECUTION
        and not watches_batches(net._keras_callbacks())
    ):
        per_execution = _compat.steps_per_execution_for(steps_per_epoch)

    def make():
        with _compat.fresh_names():  # as model_ was named
            with _seeding.seeded_build(net.seed_):
                twin = net._build_model()
            if not twin.compiled:
                twin.compile(**net._compile_arguments())
        if twin is model:
            return None
        _compat.quick_metric_bookkeeping(twin)  # a twin only: never model_
        return twin

    with borrow_trainer(key, make, per_execution, structure) as trainer:
        net._reuse_key = None if trainer is None else key
        yield trainer


def all_epochs(trainer, data, epochs: int, args: dict, callbacks):
    """Train ``trainer`` on every epoch of ``data`` in one execution.

    Returns the fit's logs (each metric's value per epoch, as Keras'
    ``History`` keeps them), or None -- and nothing ran -- when
    something needs Python between two epochs: a callback (early stopping
    included), a holdout to evaluate, progress to print (``verbose``), any
    other ``fit`` argument, or a Keras whose train function this cannot
    loop (:func:`seeded_keras._compat.epochs_in_one_execution`).  Keras'
    epoch loop does, per epoch, one execution, a metrics reset and a read,
    and a round of callbacks (see docs/benchmarks.rst for what that costs).
    The same train steps on the same batches: the same bits.
    """
    if (
        trainer is None
        or not ALL_EPOCHS_PER_EXECUTION
        or callbacks
        or data.validation_data is not None
        or set(args) - {"verbose"}
        or args.get("verbose", 0) != 0
    ):
        return None
    return _compat.epochs_in_one_execution(trainer, data, epochs)


def predict(net, X, args: dict):
    """``net.model_.predict``, on an idle traced twin (same graph, same
    weights: the same bits) when the fit left one in the pool."""
    key = getattr(net, "_reuse_key", None)
    if not (key and enabled()):
        return net.model_.predict(x=X, **args)
    with borrow_predictor(key) as twin:
        if twin is None:
            return net.model_.predict(x=X, **args)
        batch_size = args.pop("batch_size", None) or 32
        copy_state(net.model_, twin, optimizer=False)
        if _batches_only(X, args):
            return _predict_in_batches(twin, X, max(batch_size, 1))
        if "steps" not in args:
            from ._data import prediction_batches

            X = prediction_batches(X, max(batch_size, 1))
        else:
            args["batch_size"] = batch_size
        # Keras unrolls a multi-step predict when it traces it: a trainer of
        # 500 steps per epoch took 3.5 s to trace its first predict.  The
        # batches stay the same, so grouping fewer per execution is the same
        # bits.
        trained_with = twin.steps_per_execution
        twin.steps_per_execution = min(trained_with, PREDICT_STEPS_PER_EXECUTION)
        try:
            return twin.predict(x=X, **args)
        finally:
            twin.steps_per_execution = trained_with


# id(trainer) -> {(feature shape, dtype): its predict, traced once};
# forgotten with the trainer (the traced function holds the trainer)
_predict_steps: dict = {}


def _batches_only(X, args: dict) -> bool:
    """Whether ``predict`` is asked for nothing but outputs of an array."""
    import numpy as np

    quiet = args.get("verbose", 0) == 0 and not args.get("callbacks")
    rest = set(args) - {"verbose", "callbacks"}
    return quiet and not rest and isinstance(X, np.ndarray) and len(X) > 0


def _predict_in_batches(twin, X, batch_size: int):
    """``twin.predict(X)``: one traced function per input spec, one call.

    Keras' ``predict`` traces its function again for each new number of
    batches per execution and each new shape of the last batch (a test fold
    of 148 rows, then one of 147): under ``RandomizedSearchCV`` that is most
    calls, and TensorFlow warns about retracing.  Here one trace, with the
    number of rows and the batch size left open, loops over the batches in
    the graph: each batch runs the ops Keras' ``predict`` runs on it, and the
    outputs are concatenated as Keras concatenates them -- the same bits, in
    one execution for any number of rows.
    """
    import numpy as np
    import tensorflow as tf

    spec_key = (X.shape[1:], X.dtype.str)
    traced = _predict_steps.setdefault(id(twin), {})
    run = traced.get(spec_key)
    if run is None:
        spec = tf.TensorSpec((None, *X.shape[1:]), tf.as_dtype(X.dtype))
        run = tf.function(functools.partial(_batched, twin)).get_concrete_function(
            spec, tf.TensorSpec((), tf.int32)
        )
        traced[spec_key] = run
    outputs = run(tf.constant(X), tf.constant(batch_size, tf.int32))
    return tf.nest.map_structure(np.asarray, outputs)


def _batched(model, x, batch_size):
    """``model.predict_step`` on each ``batch_size`` rows of ``x``, concatenated."""
    import tensorflow as tf

    step = model.predict_step
    if model.jit_compile:  # as Keras compiles its own predict step
        step = tf.function(step, jit_compile=True)
    n_rows = tf.shape(x)[0]
    n_batches = (n_rows + batch_size - 1) // batch_size
    first = step(x[:batch_size])  # the outputs' structure and dtypes
    arrays = tf.nest.map_structure(
        lambda t: tf.TensorArray(t.dtype, size=n_batches, infer_shape=False).write(
            0, t
        ),
        first,
    )

    def body(i, arrays):
        out = step(x[i * batch_size : (i + 1) * batch_size])
        return i + 1, tf.nest.map_structure(lambda a, t: a.write(i, t), arrays, out)

    _, arrays = tf.while_loop(
        lambda i, _: i < n_batches, body, (tf.constant(1), arrays)
    )
    return tf.nest.map_structure(lambda a: a.concat(), arrays)
