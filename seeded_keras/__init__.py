"""seeded_keras: Keras models that give the same score in every tuning path.

The same hyperparameters on the same fold with the same seed give the same
mean squared error (regression) or log-loss and accuracy (classification),
bit for bit on CPU, in scikit-learn's ``GridSearchCV`` and in a plain
manual loop.

Importing the package is cheap: it only sets TensorFlow's intra-op and
inter-op thread counts and keeps TensorFlow's known start-up lines off the
console (all before TensorFlow starts; ``SEEDED_KERAS_QUIET_TF=0`` turns the
latter off); TensorFlow, Keras and scikeras are imported when a public name
is first used.
"""

from importlib import import_module as _import_module

from ._quiet import quiet_tensorflow_startup as _quiet_tf
from ._threads import default_inter_op_threads as _inter_op
from ._threads import pin_intra_op_threads as _pin
from ._threads import pin_worker_to_a_cpu as _pin_cpu

# Must run before TensorFlow is imported anywhere in this process.
_quiet_tf()  # no-op if TensorFlow started first, or as the environment says
_pin()
_inter_op()  # speed only: no result depends on it
_pin_cpu()  # a no-op unless SEEDED_KERAS_PIN_WORKERS=1 in a worker process

__version__ = "0.2.0"

_PUBLIC = {
    "SeededKerasClassifier": "._classifier",
    "SeededKerasRegressor": "._regressor",
    "ReconciledSearchCV": "._search",
    "ReconciledRandomizedSearchCV": "._randomized",
    "ReconciledHalvingGridSearchCV": "._halving",
    "ReconciledHalvingRandomSearchCV": "._halving",
    "FrozenSplits": "._protocol",
    "ReconciliationReport": "._report",
    "ReconciliationError": "._report",
    "ReconciledTuner": "._tuner",
    "grid_to_hyperparameters": "._tuner",
    "hyperparameters_to_grid": "._tuner",
    "explain_gap": "._gap",
    "GapExplanation": "._gap",
    "mlp": "._models",
    "fingerprint": "._seeding",
    "load_journal": "._journal",
    "derive_seed": "._seeding",
    "plain_fit": "._witness",
    "PlainKerasFit": "._witness",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(_import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'seeded_keras' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
