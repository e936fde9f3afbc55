"""Fix TensorFlow's intra-op thread count before TensorFlow initialises.

The number of intra-op threads changes how TensorFlow splits reductions, and
so changes results bitwise.  seeded_keras therefore pins it to the same value
in the main process and in every joblib/dask worker.  The value comes from the
environment variable ``TF_NUM_INTRAOP_THREADS`` when the user set it, and is
``1`` otherwise (tiny Keras models gain nothing from intra-op threads, and one
thread per worker lets ``n_jobs`` workers share the cores without
oversubscribing them).  Worker processes inherit the environment, and import
this module before TensorFlow when they unpickle an estimator.

This module must not import TensorFlow.
"""

from __future__ import annotations

import os
import sys
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
