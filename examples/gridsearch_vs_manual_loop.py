"""GridSearchCV vs a hand-written loop: why the MSEs disagree, and the fix.

Part 1 reproduces the classic confusion with plain scikeras: GridSearchCV and
a manual loop over the same two learning rates report different MSEs, because
they use different splits, unseeded weights, different optimizers and early
stopping on Keras' unshuffled ``validation_split``.

Part 2 runs the same grid through seeded_keras: the search and the manual
loop use the same frozen folds, seeds and settings, and agree bit for bit;
what remains is measured (spread across folds and across seeds).

Runs in about 25 s on 2 CPU cores, on scikit-learn's bundled diabetes
data (no network)::

    python examples/gridsearch_vs_manual_loop.py
"""

import seeded_keras  # noqa: E402,I001  (first: pins TensorFlow's threads)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from scikeras.wrappers import KerasRegressor  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.metrics import mean_squared_error  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

X, y = load_diabetes(return_X_y=True)
X = StandardScaler().fit_transform(X)
RATES = [0.003, 0.03]
EPOCHS = 15


def build(meta, compile_kwargs):
    model = keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(**compile_kwargs)
    return model


# ---------------------------------------------------------------- Part 1
print("Part 1: plain scikeras, the way the articles do it")
search = GridSearchCV(
    KerasRegressor(build, loss="mse", epochs=EPOCHS, verbose=0),
    {"optimizer__learning_rate": RATES},
    scoring="neg_mean_squared_error",
    cv=3,
).fit(X, y)
grid_mse = -search.cv_results_["mean_test_score"]

manual_mse = []
for rate in RATES:  # a new random split, Adam, early stopping on the last rows
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.33)
    model = build({"n_features_in_": X.shape[1]}, {"optimizer": "adam", "loss": "mse"})
    model.optimizer.learning_rate = rate
    model.fit(
        X_tr,
        y_tr,
        epochs=EPOCHS,
        verbose=0,
        validation_split=0.2,
        callbacks=[keras.callbacks.EarlyStopping(patience=2)],
    )
    manual_mse.append(mean_squared_error(y_val, model.predict(X_val, verbose=0)))

for rate, a, b in zip(RATES, grid_mse, manual_mse):
    print(f"  lr={rate:<6} GridSearchCV MSE {a:10.2f}   manual loop MSE {b:10.2f}")
print(
    "  best by GridSearchCV: lr =",
    RATES[int(np.argmin(grid_mse))],
    "| best by the manual loop: lr =",
    RATES[int(np.argmin(manual_mse))],
)

# ---------------------------------------------------------------- Part 2
print("\nPart 2: seeded_keras, same folds, seeds and settings in both paths")
net = seeded_keras.SeededKerasRegressor(build, optimizer="adam", epochs=EPOCHS)
rsearch = seeded_keras.ReconciledSearchCV(
    net,
    {"optimizer__learning_rate": RATES},
    scoring="neg_mean_squared_error",
    cv=3,
    n_seeds=2,
    random_state=0,
).fit(X, y)
report = rsearch.reconcile(X, y)
print(report.summary())
report.assert_agree()  # raises if any fit differs in any bit

r = rsearch.cv_results_
print("\nWhat remains, measured (per candidate):")
for c, rate in enumerate(RATES):
    print(
        f"  lr={rate:<6} CV MSE {r['mean_test_mse'][c]:9.2f}  "
        f"sd across folds {r['std_fold_mse'][c]:8.2f}  "
        f"sd across seeds {r['std_seed_mse'][c]:7.2f}"
    )
