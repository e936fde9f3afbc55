"""Successive halving over epochs: the full grid, halving retrain, halving continue.

One grid of 27 candidates (3 widths x 9 learning rates, diabetes, KFold(3),
one seed), side by side in one invocation for each ``random_state``:

* ``full``      ``ReconciledSearchCV`` with every candidate at ``--epochs``
                (27) epochs;
* ``retrain``   ``ReconciledHalvingGridSearchCV(resource="epochs",
                rungs="retrain")``, factor 3, ``min_resources="exhaust"``:
                at 27 epochs, rungs of 1, 3, 9 and 27 epochs with 27, 9, 3
                and 1 candidates (at 81: 3, 9, 27 and 81), every rung
                trained from scratch (scikit-learn's way);
* ``continue``  the same with ``rungs="continue"``: a promoted fit trains on
                from its previous rung's snapshot.

For each it prints the epochs trained over all fits (``epoch-fits``), the
wall time, and whether its winner is the full grid's winner.  ``continue``
and ``retrain`` are checked to give the same scores bit for bit (the script
stops otherwise).  The order of the contenders is reversed every other
``random_state``.  Shared, noisy machines: read the medians and ratios::

    python benchmarks/bench_halving.py --random-states 0 1 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_diabetes
from sklearn.preprocessing import StandardScaler

import seeded_keras  # noqa: F401  (pins TF threads before TF starts)
from seeded_keras import (
    ReconciledHalvingGridSearchCV,
    ReconciledSearchCV,
    SeededKerasRegressor,
    _trainer_pool,
)

GRID = {
    "model__hidden_layer_sizes": [(8,), (16,), (32, 16)],
    "optimizer__learning_rate": list(np.round(np.logspace(-3, -0.5, 9), 5)),
}
MSE = "neg_mean_squared_error"


def contenders(epochs: int, random_state: int) -> dict:
    net = SeededKerasRegressor(optimizer="adam", batch_size=32)
    common = dict(scoring=MSE, cv=3, random_state=random_state)

    def full():
        return ReconciledSearchCV(clone(net).set_params(epochs=epochs), GRID, **common)

    def halving(rungs):
        def make():
            return ReconciledHalvingGridSearchCV(
                net,
                GRID,
                resource="epochs",
                min_resources="exhaust",  # the last rung at max_resources
                max_resources=epochs,
                factor=3,
                rungs=rungs,
                **common,
            )

        return make

    return {
        "full": full,
        "retrain": halving("retrain"),
        "continue": halving("continue"),
    }


def winner(search) -> dict:
    return {k: v for k, v in search.best_params_.items() if k != "epochs"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-states", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=27)
    parser.add_argument("--rows", type=int, default=300)
    args = parser.parse_args()

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X[: args.rows])
    y = y[: args.rows]
    names = ["full", "retrain", "continue"]
    times = {n: [] for n in names}
    epoch_fits = {n: [] for n in names}
    same_winner = {n: [] for n in names}
    for r, random_state in enumerate(args.random_states):
        runs = contenders(args.epochs, random_state)
        found = {}
        for name in names if r % 2 == 0 else names[::-1]:
            _trainer_pool.clear()  # every run traces its own models
            start = time.perf_counter()
            found[name] = runs[name]().fit(X, y)
            times[name].append(time.perf_counter() - start)
            print(
                f"random_state={random_state}: {name:<9} {times[name][-1]:7.1f} s",
                flush=True,
            )
        a, b = found["retrain"].cv_results_, found["continue"].cv_results_
        for column in ("split0_test_score", "split1_test_score", "split2_test_score"):
            if np.asarray(a[column]).tobytes() != np.asarray(b[column]).tobytes():
                raise SystemExit(f"continue and retrain differ in {column}")
        n_fits = 3 * len(found["full"].cv_results_["params"])
        epoch_fits["full"].append(n_fits * args.epochs)
        for name in ("retrain", "continue"):
            epoch_fits[name].append(found[name].epochs_trained_)
        for name in names:
            same_winner[name].append(winner(found[name]) == winner(found["full"]))

    n_candidates = int(np.prod([len(v) for v in GRID.values()]))
    print(
        f"\n{n_candidates} candidates x 3 folds, {args.epochs} epochs at most, "
        f"{args.rows} rows, random_state in {args.random_states}, "
        f"{os.cpu_count()} CPUs, TF_NUM_INTRAOP_THREADS="
        f"{os.environ.get('TF_NUM_INTRAOP_THREADS')}, TF_NUM_INTEROP_THREADS="
        f"{os.environ.get('TF_NUM_INTEROP_THREADS')}"
    )
    full = statistics.median(times["full"])
    print(
        f"{'contender':<10} {'epoch-fits':>10} {'median s':>9} {'time / full':>12} "
        f"{'same winner as full':>20}"
    )
    for name in names:
        med = statistics.median(times[name])
        print(
            f"{name:<10} {statistics.median(epoch_fits[name]):10.0f} {med:9.1f} "
            f"{med / full:12.2f} "
            f"{sum(same_winner[name]):>13} of {len(same_winner[name])}"
        )
    print("halving continue gave halving retrain's scores, bit for bit")


if __name__ == "__main__":
    main()
