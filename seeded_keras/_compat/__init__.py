"""The one place that reaches into private internals of other libraries.

A version change of scikit-learn, joblib, scikeras, Keras or TensorFlow that
moves an internal we rely on is a change to this package only.  Every hook is a named
function (or, for scikeras, one base class) registered in :data:`HOOKS` with
the library versions it was checked on (:mod:`.versions`) and what happens
when it no longer fits: a :class:`CompatError` where results would otherwise
change silently, or a documented fallback announced once by a
:class:`CompatWarning` where only speed or memory suffer.

The scikeras hooks live in :mod:`._scikeras` (imported by the regressor
only, so that importing the search machinery does not need scikeras first).
"""

from ._joblib import (
    keep_worker_with_tensorflow,
    loky_executor,
    parallel_plan,
    worker_died_error,
)
from ._keras import (
    compile_objects,
    fresh_names,
    iter_layers,
    keras_seed_source,
    learning_rate_variable,
)
from ._keras_fit import (
    epochs_in_one_execution,
    quick_metric_bookkeeping,
    steps_per_execution_for,
    steps_read_at_run_time,
    validation_in_one_execution,
)
from ._registry import HOOKS, CompatError, CompatWarning
from ._sklearn import (
    FIT_RESULT,
    HalvingSteps,
    Interval,
    SearchSteps,
    StrOptions,
    base_format_results,
    check_parameters,
    check_sample_weight,
    check_search_parameters,
    fit_and_score_replaced,
    fit_task,
    parallel_replaced,
    result_with_parameters,
    safe_indexing,
    search_with,
)
from ._tensorflow import inline, op_determinism, op_determinism_enabled, tf_global_seed

__all__ = [
    "FIT_RESULT",
    "HOOKS",
    "CompatError",
    "CompatWarning",
    "Interval",
    "HalvingSteps",
    "SearchSteps",
    "StrOptions",
    "base_format_results",
    "check_parameters",
    "check_sample_weight",
    "check_search_parameters",
    "compile_objects",
    "epochs_in_one_execution",
    "fit_and_score_replaced",
    "fit_task",
    "fresh_names",
    "inline",
    "iter_layers",
    "keep_worker_with_tensorflow",
    "keras_seed_source",
    "learning_rate_variable",
    "loky_executor",
    "op_determinism",
    "op_determinism_enabled",
    "parallel_plan",
    "parallel_replaced",
    "quick_metric_bookkeeping",
    "result_with_parameters",
    "safe_indexing",
    "search_with",
    "steps_per_execution_for",
    "steps_read_at_run_time",
    "tf_global_seed",
    "validation_in_one_execution",
    "worker_died_error",
]
