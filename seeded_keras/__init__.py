"""seeded_keras: Keras regressors that give the same MSE in every tuning path.

The same hyperparameters on the same fold with the same seed give the same
mean squared error, bit for bit on CPU, in scikit-learn's ``GridSearchCV``,
in a plain manual loop and in Keras Tuner.
"""

from ._threads import pin_intra_op_threads as _pin

# Must run before TensorFlow is imported (by scikeras, below).
_pin()

from ._models import mlp  # noqa: E402
from ._regressor import SeededKerasRegressor  # noqa: E402
from ._report import ReconciliationError, ReconciliationReport  # noqa: E402
from ._search import FrozenSplits, ReconciledSearchCV  # noqa: E402
from ._seeding import derive_seed, fingerprint  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "FrozenSplits",
    "ReconciledSearchCV",
    "ReconciliationError",
    "ReconciliationReport",
    "SeededKerasRegressor",
    "derive_seed",
    "fingerprint",
    "mlp",
    "__version__",
]
