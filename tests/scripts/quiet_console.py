"""The console a new user sees: a plain script, no environment variables.

Run by tests/test_quiet.py in a fresh interpreter; prints nothing of its own
but the search's verbose output.
"""

import seeded_keras  # noqa: F401  (first, as the docs advise: before keras)

# isort: split
import keras
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import RandomizedSearchCV, cross_validate

from seeded_keras import ReconciledSearchCV, SeededKerasRegressor

X, y = load_diabetes(return_X_y=True)
X, y = X[:120], y[:120]
stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1)
net = SeededKerasRegressor(
    epochs=3,
    optimizer="adam",
    validation_fraction=0.2,
    callbacks=[stop],
    random_state=0,
)
ReconciledSearchCV(
    net,
    {"optimizer__learning_rate": [0.01, 0.05]},
    scoring="neg_mean_squared_error",
    cv=3,
    n_seeds=2,
    verbose=1,
    random_state=0,
).fit(X, y, sample_weight=np.linspace(0.5, 2.0, len(y)))
plain = SeededKerasRegressor(epochs=2, random_state=0)
cross_validate(plain, X, y, cv=5)
RandomizedSearchCV(
    plain,
    {"optimizer__learning_rate": [0.01, 0.05, 0.1]},
    n_iter=3,
    cv=3,
    random_state=0,
).fit(X, y)
# three architectures: a trainer each, one predict trace each (issue #25)
X_all, y_all = load_diabetes(return_X_y=True)
RandomizedSearchCV(
    SeededKerasRegressor(optimizer="adam", epochs=2, random_state=0),
    {"model__hidden_layer_sizes": [(4,), (8,), (16,)]},
    n_iter=3,
    cv=3,
    random_state=0,
).fit(X_all, y_all)
