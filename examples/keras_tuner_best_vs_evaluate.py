"""Keras Tuner's best MSE vs ``model.evaluate`` after retraining, and the fix.

Part 1 reproduces the complaint: Keras Tuner reports a best ``val_mse``; the
user retrains the best hyperparameters on all training rows for more epochs,
calls ``model.evaluate`` on the test set, and gets another number.  The
tuner scored one unshuffled ``validation_split`` (the last rows), a single
unseeded run, fewer epochs, a float32 running mean.

Part 2 runs the same space through seeded_keras: the Keras Tuner objective
is a cross-validated float64 MSE on the folds and seeds of a
ReconciledSearchCV, equal to the search's bit for bit, and
:func:`seeded_keras.explain_gap` splits the distance to the test MSE into
measured parts.

About 15 s on 2 CPU cores, on scikit-learn's diabetes data (no network)::

    python examples/keras_tuner_best_vs_evaluate.py
"""

import tempfile

import seeded_keras  # noqa: I001  (first: pins TensorFlow's threads)

# isort: split
import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

X, y = load_diabetes(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
RATES = [0.01, 0.03]
workdir = tempfile.mkdtemp()

# ---------------------------------------------------------------- Part 1
print("Part 1: Keras Tuner as usually written")


def build(hp):
    model = keras.Sequential(
        [
            keras.Input((X.shape[1],)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    lr = hp.Choice("learning_rate", RATES)
    model.compile(keras.optimizers.Adam(lr), loss="mse", metrics=["mse"])
    return model


tuner = kt.GridSearch(
    build, objective="val_mse", directory=workdir, project_name="plain", overwrite=True
)
tuner.search(X_train, y_train, epochs=10, validation_split=0.2, verbose=0)
best_hp = tuner.get_best_hyperparameters(1)[0]
tuned = tuner.oracle.get_best_trials(1)[0].score
final = build(best_hp)
final.fit(X_train, y_train, epochs=30, verbose=0)  # more epochs, all rows
evaluated = final.evaluate(X_test, y_test, verbose=0)[0]
print(
    f"  best val_mse reported by the tuner: {tuned:10.2f}  "
    f"(lr={best_hp['learning_rate']})"
)
print(f"  model.evaluate after retraining:    {evaluated:10.2f}")

# ---------------------------------------------------------------- Part 2
print("\nPart 2: seeded_keras -- one protocol for the search and the tuner")
net = seeded_keras.SeededKerasRegressor(
    optimizer="adam", epochs=10, model__hidden_layer_sizes=(16,)
)
grid = {"optimizer__learning_rate": RATES}
search = seeded_keras.ReconciledSearchCV(
    net, grid, scoring="neg_mean_squared_error", cv=3, random_state=0
).fit(X_train, y_train)
rtuner = seeded_keras.ReconciledTuner(
    net,
    seeded_keras.grid_to_hyperparameters(grid),
    cv=search.splits_,
    random_state=0,
    directory=workdir,
    project_name="reconciled",
    overwrite=True,
).search(X_train, y_train)
for record in rtuner.executions():
    c = search.cv_results_["params"].index(record["params"])
    same = record["mse"] == search.cv_results_["mean_test_mse"][c]
    print(
        f"  {record['params']}: tuner objective {record['mse']:.6f}, search "
        f"{search.cv_results_['mean_test_mse'][c]:.6f}, bitwise equal: {same}"
    )

gap = seeded_keras.explain_gap(search, X_test, y_test, X=X_train, y=y_train, n_seeds=2)
print()
print(gap.summary())
