"""Hooks into how Keras runs ``fit``: steps per execution, metrics, warnings."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from ._registry import calls, hook
from .versions import CHECKED

__all__ = [
    "quick_metric_bookkeeping",
    "steps_per_execution_for",
    "steps_read_at_run_time",
    "validation_in_one_execution",
]

_KERAS = CHECKED["keras"]


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


def _direct_call(function, *args):
    """``function(*args)``, again and again, without its argument matching.

    A ``tf.function`` call looks up the trace that fits its arguments on
    every call: about a quarter of a millisecond for a tf.data iterator, once
    per epoch.  The trace found for ``args`` is called directly with their
    tensors -- what the lookup ends with -- on later calls.
    """
    import tensorflow as tf

    concrete = function.get_concrete_function(*args)
    call_flat = getattr(concrete, "_call_flat", None)
    if call_flat is None:
        return lambda: function(*args)
    flat = tf.nest.flatten(args, expand_composites=True)
    return lambda: call_flat(flat, concrete.captured_inputs)


@functools.cache
def _counted_loop_parts():
    """Keras' ``reduce_per_replica`` when its trainer loops as checked, else None."""
    try:
        from keras.src.backend.tensorflow import trainer as tf_trainer
    except ImportError as exc:
        steps_read_at_run_time.hook.fall_back(str(exc))
        return None
    make = getattr(tf_trainer.TensorFlowTrainer, "_make_function", None)
    if make is None:
        return None  # Keras 3.2 unrolls: the count is part of the trace
    reduce_per_replica = getattr(tf_trainer, "reduce_per_replica", None)
    if reduce_per_replica is None or not calls(make, "get_next_as_optional"):
        steps_read_at_run_time.hook.fall_back(
            "_make_function no longer loops over get_next_as_optional "
            "with reduce_per_replica"
        )
        return None
    return reduce_per_replica


@hook(
    "keras",
    "TensorFlowTrainer._make_function, keras' reduce_per_replica / "
    "_autoconvert_optionals, and tf's ConcreteFunction._call_flat",
    _KERAS,
    on_failure="fallback: a trained model is traced once per number of steps "
    "per epoch (a search's refit traces its own)",
)
def steps_read_at_run_time(model=None) -> bool:
    """Give ``model`` train and test functions that read the step count per call.

    Keras traces its loop of ``steps_per_execution`` steps with that number
    baked in, so a model that trains on epochs of 12 steps and then of 14
    (a search's folds, then its refit) is traced twice.  The functions set
    here run the same loop -- Keras' own, one ``train_step`` (or
    ``test_step``) per batch through the same ``tf.function``, stopping
    when the count is reached or the data runs out -- but take the count
    as a tensor, read from ``model.steps_per_execution`` on every call.  The
    steps are the same graph ops on the same batches: the same bits.  Within
    one fit (one iterator), later executions call the trace directly
    (:func:`_direct_call`).

    Returns False, changing nothing, on Keras that unrolls the steps instead
    (3.2; see :func:`steps_per_execution_for`), for a model that runs
    eagerly, and on a moved internal (with a warning, once).  With no
    ``model``, only says whether a model would get them.
    """
    import tensorflow as tf

    reduce_per_replica = _counted_loop_parts()
    if reduce_per_replica is None or model is None or model.run_eagerly:
        return reduce_per_replica is not None and model is None
    autoconvert = getattr(model, "_autoconvert_optionals", None)
    if autoconvert is None:
        steps_read_at_run_time.hook.fall_back("no Trainer._autoconvert_optionals")
        return False
    step_counts: dict = {}  # n -> the scalar tensor n, made once

    def counted(step_function):
        @tf.autograph.experimental.do_not_convert
        def one_step_on_data(data):
            outputs = model.distribute_strategy.run(step_function, args=(data,))
            return reduce_per_replica(
                outputs, model.distribute_strategy, reduction="auto"
            )

        one_step_on_data = autoconvert(
            tf.function(
                one_step_on_data, reduce_retracing=True, jit_compile=model.jit_compile
            )
        )

        @tf.autograph.experimental.do_not_convert
        def multi_step_on_iterator(iterator, steps):
            # Keras' loop (TensorFlowTrainer._make_function), with ``steps``
            # for self.steps_per_execution and no unrolling
            empty_outputs = tf.experimental.Optional.empty(None)

            def cond(execution_step, optional_outputs, next_optional_inputs):
                return tf.logical_and(
                    tf.less(execution_step, steps), next_optional_inputs.has_value()
                )

            def body(execution_step, optional_outputs, next_optional_inputs):
                def has_next():
                    next_optional_outputs = tf.experimental.Optional.from_value(
                        one_step_on_data(next_optional_inputs.get_value())
                    )
                    empty_outputs._element_spec = next_optional_outputs.element_spec
                    return next_optional_outputs

                def no_has_next():
                    optional_outputs._element_spec = empty_outputs._element_spec
                    return optional_outputs

                next_optional_outputs = tf.cond(
                    tf.logical_and(
                        tf.less(execution_step, steps),
                        next_optional_inputs.has_value(),
                    ),
                    has_next,
                    no_has_next,
                )
                return (
                    execution_step + 1,
                    next_optional_outputs,
                    tf.cond(
                        tf.less(execution_step + 1, steps),
                        lambda: iterator.get_next_as_optional(),
                        lambda: next_optional_inputs,
                    ),
                )

            execution_step = tf.constant(0)
            next_optional_inputs = iterator.get_next_as_optional()
            _, final_optional_outputs, _ = tf.while_loop(
                cond,
                body,
                loop_vars=[execution_step, empty_outputs, next_optional_inputs],
            )
            final_optional_outputs._element_spec = empty_outputs.element_spec
            return final_optional_outputs

        multi_step_on_iterator = tf.function(
            multi_step_on_iterator, reduce_retracing=True
        )

        def function(iterator):
            if not isinstance(
                iterator, (tf.data.Iterator, tf.distribute.DistributedIterator)
            ):  # Keras' own path for other iterators: one traced step each
                for _, data in zip(range(model.steps_per_execution), iterator):
                    outputs = one_step_on_data(data)
                return outputs
            n = int(model.steps_per_execution)
            if n not in step_counts:
                step_counts[n] = tf.constant(n, tf.int32)
            # kept on the iterator for its next executions (one fit's), and
            # only for this very function and count
            key = (multi_step_on_iterator, n)
            call = getattr(iterator, "_seeded_keras_call", None)
            if call is None or call[0] != key:
                run = _direct_call(multi_step_on_iterator, iterator, step_counts[n])
                call = (key, run)
                try:
                    iterator._seeded_keras_call = call
                except AttributeError:
                    pass
            opt_outputs = call[1]()
            if not opt_outputs.has_value():
                raise StopIteration
            return opt_outputs.get_value()

        function.one_step = one_step_on_data
        return function

    model.train_function = counted(model.train_step)
    model.test_function = counted(model.test_step)
    return True


@hook(
    "keras",
    "TensorFlowTrainer.fit's epoch loop (reset_metrics, train_function, "
    "get_metrics_result, finalize_variable_values) and Trainer._symbolic_build",
    _KERAS,
    on_failure="fallback: one execution per epoch, through Keras' fit",
)
def epochs_in_one_execution(model, data, epochs: int):
    """The logs of ``model.fit(data.dataset, epochs=epochs,
    steps_per_epoch=data.steps_per_epoch)``, every epoch run in one
    execution; None (nothing ran) where it cannot be.

    ``data`` is a :class:`seeded_keras._data.TrainingData`: its rows
    (``arrays``), their order (``order``) and the lengths of its batches
    (``lengths``), ``epochs * steps_per_epoch`` of them.  For a model whose
    train function :func:`steps_read_at_run_time` set, trained with no
    callback, no validation data and ``verbose=0``, Keras' epoch loop does
    nothing in Python between two epochs but reset the metrics, run the
    epoch's steps and read the metrics.  Here one traced loop over the
    epochs does the same in the graph: each metric's own ``reset_state`` and
    ``result`` ops around a loop of ``steps_per_epoch`` calls of the very
    traced train step Keras' loop calls, each on the next batch -- the rows
    the dataset would yield, gathered in the graph (no tf.data pipeline to
    make and pull from).  Every epoch's results come back as Python floats,
    as Keras' ``History`` keeps them.  The same steps on the same batches:
    the same bits.  Metrics and losses are built first as Keras builds them
    under a distribution strategy (``_symbolic_build``), since their results
    are read before any step was traced.
    """
    import numpy as np
    import tensorflow as tf

    one_step = getattr(model.train_function, "one_step", None)
    if one_step is None or epochs < 1:
        return None
    runs = model.__dict__.setdefault("_seeded_keras_epochs", {})
    row_specs = [tf.TensorSpec((None, *a.shape[1:]), a.dtype) for a in data.arrays]
    batch_spec = data.pack(row_specs)
    key = repr(batch_spec)
    if key not in runs:
        build = getattr(model, "_symbolic_build", None)
        if build is None:
            epochs_in_one_execution.hook.fall_back("no Trainer._symbolic_build")
            return None
        build(data_batch=batch_spec)
        results = model.get_metrics_result()  # names and dtypes, read eagerly
        names, dtypes = list(results), [tf.as_dtype(v.dtype) for v in results.values()]
        pack = data.pack

        @tf.autograph.experimental.do_not_convert
        def all_epochs(arrays, order, ends, n_epochs, n_steps):
            def step(batch, start):  # the batch-th batch: order[start:end]
                end = ends[batch]
                rows = order[start:end]
                one_step(pack([tf.gather(a, rows) for a in arrays]))
                return batch + 1, end

            def epoch(i, batch, start, logs):
                model.reset_metrics()
                batch, start = tf.while_loop(
                    lambda b, _: b < (i + 1) * n_steps, step, (batch, start)
                )
                results = model.get_metrics_result()
                logs = [log.write(i, results[n]) for log, n in zip(logs, names)]
                return i + 1, batch, start, logs

            logs = [tf.TensorArray(d, size=n_epochs) for d in dtypes]
            zero = tf.constant(0)  # epochs and batches count in int32
            *_, logs = tf.while_loop(
                lambda i, *_: i < n_epochs,
                epoch,
                (zero, zero, tf.constant(0, tf.int64), logs),
            )
            return [log.stack() for log in logs]

        indices = tf.TensorSpec((None,), tf.int64)
        counts = tf.TensorSpec((), tf.int32)
        # one trace for any number of rows, epochs and steps
        traced = tf.function(all_epochs).get_concrete_function(
            row_specs, indices, indices, counts, counts
        )
        runs[key] = (names, traced)
    names, run = runs[key]
    args = (
        [tf.constant(a) for a in data.arrays],
        tf.constant(data.order, tf.int64),
        tf.constant(np.cumsum(data.lengths), tf.int64),
        tf.constant(epochs, tf.int32),
        tf.constant(data.steps_per_epoch, tf.int32),
    )
    # one trace per trainer and batch structure, called without tf.function's
    # retracing heuristics (each trainer has its own function)
    values = run(*args)
    if isinstance(model.optimizer, _keras_optimizer()):  # as fit ends
        model.optimizer.finalize_variable_values(model.trainable_weights)
    return {n: [float(v) for v in np.asarray(t)] for n, t in zip(names, values)}


def _keras_optimizer():
    from keras.optimizers import Optimizer

    return Optimizer
