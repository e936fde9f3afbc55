"""The ``seeded-keras`` command: a reconciled search from the shell.

Exit codes: 0 the search and the manual loop agree bit for bit, 1 they
disagree, 2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import inspect
import json
import os
import re
import sys
from pathlib import Path

from ._checks import closest_name
from ._progress import Progress

EXIT_AGREE, EXIT_DISAGREE, EXIT_BAD_INPUT = 0, 1, 2

#: Friendly grid names for the built-in MLP (``seeded_keras.mlp``).
ALIASES = {
    "hidden_layer_sizes": "model__hidden_layer_sizes",
    "activation": "model__activation",
    "dropout": "model__dropout",
    "learning_rate": "optimizer__learning_rate",
}

DEMO_GRID = {
    "hidden_layer_sizes": [[16], [32, 16]],
    "learning_rate": [0.01, 0.03],
}


TASKS = ("regression", "classification")

#: What each task's search is scored on (the first is refit on).
SCORING = {
    "regression": {"mse": "neg_mean_squared_error"},
    "classification": {"log_loss": "neg_log_loss", "accuracy": "accuracy"},
}


class BadInput(Exception):
    """A problem with what the user gave us; reported as one line, exit 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seeded-keras",
        description="Tune a Keras regressor or classifier with GridSearchCV and "
        "a manual loop on the same folds and seeds, and show that both give the "
        "same MSE (log-loss and accuracy for a classifier).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def common(q):
        q.add_argument(
            "--task",
            choices=TASKS,
            default="regression",
            help="regression (MSE; demo: diabetes) or classification (log-loss "
            "and accuracy, stratified folds; demo: breast cancer)",
        )
        q.add_argument("--cv", type=int, default=3, help="folds (default 3)")
        q.add_argument("--n-seeds", type=int, default=2, help="seeds per fold")
        q.add_argument("--epochs", type=int, default=20, help="epochs per fit")
        q.add_argument("--n-jobs", type=int, default=1, help="parallel fits")
        q.add_argument("--random-state", type=int, default=0, help="seed base")
        q.add_argument(
            "--n-iter",
            type=int,
            help="sample this many candidates from the grid's lists "
            "(RandomizedSearchCV) instead of trying every combination",
        )
        q.add_argument(
            "--scheduler", help="dask.distributed scheduler address, tcp://HOST:PORT"
        )
        q.add_argument("--out", default="seeded_keras_report", help="report folder")
        q.add_argument("--quiet", action="store_true", help="no progress output")
        q.add_argument(
            "--halving",
            action="store_true",
            help="successive halving (factor 3): every candidate gets a small "
            "budget, the best third the next rung's, ... (HalvingGridSearchCV; "
            "with --n-iter, HalvingRandomSearchCV)",
        )
        q.add_argument(
            "--resource",
            choices=("epochs", "n_samples"),
            default="epochs",
            help="with --halving: what a rung's budget is; epochs (up to "
            "--epochs; a promoted fit continues training, bit for bit as from "
            "scratch) or training rows",
        )
        q.add_argument(
            "--journal",
            help="folder where every finished fit is written down; run the same "
            "command again to resume (bit for bit) after any crash",
        )

    demo = sub.add_parser(
        "demo",
        help="reconciled search on scikit-learn's diabetes (or, with --task "
        "classification, breast cancer) data",
    )
    common(demo)
    rec = sub.add_parser("reconcile", help="reconciled search on your CSV")
    rec.add_argument("--data", required=True, help="CSV file with a header row")
    rec.add_argument("--target", required=True, help="name of the target column")
    rec.add_argument("--grid", required=True, help="parameter grid, .json or .yaml")
    rec.add_argument(
        "--model", help="build function as package.module:function (default: MLP)"
    )
    common(rec)
    return p


# ---------------------------------------------------------------- input
def _read_csv(path, target, task="regression"):
    import pandas as pd

    if not os.path.isfile(path):
        raise BadInput(f"data file not found: {path}")
    try:
        frame = pd.read_csv(path)
    except Exception as exc:
        raise BadInput(f"cannot read {path} as CSV: {exc}") from None
    if frame.empty:
        raise BadInput(f"no data rows in {path}: only a header")
    if target not in frame.columns:
        raise BadInput(
            f"target column '{target}' not in {path}; columns: "
            f"{', '.join(map(str, frame.columns))}"
        )
    labels = task == "classification"  # the target may hold text labels
    non_numeric = [
        c
        for c in frame.columns
        if frame[c].dtype.kind not in "biuf" and not (labels and c == target)
    ]
    if non_numeric:
        raise BadInput(
            f"non-numeric columns in {path}: {', '.join(map(str, non_numeric))}; "
            "encode them as numbers first"
        )
    missing = [c for c in frame.columns if frame[c].isna().any()]
    if missing:
        raise BadInput(f"missing values (NaN) in {path}, columns: {', '.join(missing)}")
    y = frame.pop(target).to_numpy()
    if not labels:
        y = y.astype(float)
    return frame.to_numpy(dtype=float), y


def _read_grid(path):
    if not os.path.isfile(path):
        raise BadInput(f"grid file not found: {path}")
    text = Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise BadInput(
                f"{path} is YAML, which needs PyYAML: "
                "pip install 'seeded-keras[yaml]' (or give the grid as .json)"
            ) from None
    try:
        if path.endswith((".yaml", ".yml")):
            grid = yaml.safe_load(text)
        else:
            grid = json.loads(text)
    except Exception as exc:
        raise BadInput(f"malformed grid {path}: {exc}".splitlines()[0]) from None
    if not isinstance(grid, dict) or not grid:
        raise BadInput(f"malformed grid {path}: expected a mapping of name -> list")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise BadInput(
                f"malformed grid {path}: '{key}' must map to a non-empty list"
            )
    return grid


def _normalise_grid(grid):
    """Map aliases to estimator parameters and JSON lists to tuples."""
    out = {}
    for key, values in grid.items():
        name = "net__" + ALIASES.get(key, key)
        out[name] = [tuple(v) if isinstance(v, list) else v for v in values]
    return out


def _load_model(spec):
    if spec is None:
        return None
    module, sep, func = spec.partition(":")
    if not sep or not module or not func:
        raise BadInput(f"--model must look like package.module:function, got {spec!r}")
    try:
        build = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise BadInput(f"cannot load --model {spec}: {exc}") from None
    if not (inspect.isfunction(build) or isinstance(build, functools.partial)):
        raise BadInput(
            f"--model {spec} is not a build function (a Python function that "
            f"returns a keras.Model); it is a {type(build).__name__}"
        )
    return build


TEST_SIZE = 0.2  # the share of rows held out for explain_gap's test MSE


def _check_rows(n_rows: int, cv: int, source: str) -> None:
    """Enough rows for the held-out test rows and ``cv`` training folds."""
    from math import ceil

    n_train = n_rows - ceil(TEST_SIZE * n_rows)
    if n_train >= max(cv, 2):
        return
    need = next(n for n in range(2, 10 * cv + 10) if n - ceil(TEST_SIZE * n) >= cv)
    raise BadInput(
        f"{source} has {n_rows} data row(s), {max(n_train, 0)} of them for "
        f"training ({TEST_SIZE:.0%} are held out for the test); --cv {cv} needs "
        f"at least {need} rows"
    )


def _check_folder(flag: str, path) -> None:
    """Make the folder ``path`` now, so that a bad one fails before any fit."""
    if path is None:
        return
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise BadInput(
            f"cannot create the {flag} folder {path}: {exc.strerror or exc}"
        ) from None
    if not os.access(path, os.W_OK):
        raise BadInput(f"cannot write to the {flag} folder {path}")


# ---------------------------------------------------------------- running
def _search(args, grid, model):
    """The reconciled search the command runs, its grid names checked."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from . import (
        ReconciledHalvingGridSearchCV,
        ReconciledHalvingRandomSearchCV,
        ReconciledRandomizedSearchCV,
        ReconciledSearchCV,
        SeededKerasClassifier,
        SeededKerasRegressor,
    )

    for name, value, low in (
        ("--cv", args.cv, 2),
        ("--n-seeds", args.n_seeds, 1),
        ("--epochs", args.epochs, 1),
        ("--n-iter", 1 if args.n_iter is None else args.n_iter, 1),
    ):
        if value < low:
            raise BadInput(f"{name} must be at least {low}, got {value}")
    wrapper = (
        SeededKerasClassifier
        if args.task == "classification"
        else (SeededKerasRegressor)
    )
    net = wrapper(model, epochs=args.epochs, optimizer="adam", batch_size=32)
    pipe = Pipeline([("scale", StandardScaler()), ("net", net)])
    scoring = SCORING[args.task]
    if args.halving:
        # one scorer, as scikit-learn's halving takes: the task's first
        scoring = dict([next(iter(scoring.items()))])
        budget = {"resource": "net__epochs", "max_resources": args.epochs}
        if args.resource == "n_samples":
            budget = {"resource": "n_samples"}
        if args.n_iter is None:
            search = ReconciledHalvingGridSearchCV(
                pipe, _normalise_grid(grid), **budget
            )
        else:
            search = ReconciledHalvingRandomSearchCV(
                pipe, _normalise_grid(grid), n_candidates=args.n_iter, **budget
            )
    elif args.n_iter is None:
        search = ReconciledSearchCV(pipe, _normalise_grid(grid))
    else:
        search = ReconciledRandomizedSearchCV(
            pipe, _normalise_grid(grid), n_iter=args.n_iter
        )
    search.set_params(
        scoring=scoring if len(scoring) > 1 else next(iter(scoring.values())),
        refit=next(iter(scoring)) if len(scoring) > 1 else True,
        cv=args.cv,
        n_seeds=args.n_seeds,
        random_state=args.random_state,
        n_jobs=args.n_jobs,
        verbose=0 if args.quiet else 1,
        journal=args.journal,
    )
    try:
        search.check_param_grid()
    except ValueError as exc:
        names = [k[5:] for k in search.estimator.get_params() if k[:5] == "net__"]
        raise BadInput(_as_written(str(exc), grid, names + list(ALIASES))) from None
    return search


def _as_written(message: str, grid, valid) -> str:
    """An error about grid names, in the names the user wrote in the grid file.

    The command prefixes every name with ``net__`` (and expands aliases);
    quoted names are mapped back to the user's keys, and suggestions are
    given in the user's style: an alias (``'hidden_layer_sizes'``) for a key
    written as an alias, the estimator's name without ``net__``
    (``'model__hidden_layer_sizes'``) for a key written in full.
    """
    aliased = any("__" not in k for k in grid)
    back = {f"net__{t}": a for a, t in ALIASES.items()} if aliased else {}
    back.update({f"net__{ALIASES.get(k, k)}": k for k in grid})

    def unprefix(match):
        name = match.group(1)
        return "'" + back.get(name, name.removeprefix("net__")) + "'"

    first = message.split(" Valid ")[0]  # the long list of every name: dropped
    first = re.sub(r"'(net__[A-Za-z0-9_]+)'", unprefix, first)
    first = first.removeprefix("In param_grid: ")
    unknown = re.search(r"Unknown parameter '([^']+)' in param_grid\.$", first)
    if unknown:  # no suggestion among the estimator's names: try the aliases
        close = closest_name(unknown.group(1), valid)
        if close:
            first = first[:-1] + f"; did you mean '{close}'?"
    return first


def _run(args, X, y, grid, model):
    from sklearn.model_selection import train_test_split

    from . import explain_gap

    search = _search(args, grid, model)
    _check_rows(len(y), args.cv, getattr(args, "data", None) or "the demo data")
    _check_folder("--journal", args.journal)
    _check_folder("--out", args.out)
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=TEST_SIZE,
        random_state=args.random_state,
        stratify=y if args.task == "classification" else None,
    )
    with _dask_backend(args.scheduler):
        search.fit(X_train, y_train)
    n_fits = len(search.cv_results_["params"]) * args.cv * args.n_seeds
    progress = None if args.quiet else Progress(n_fits, "manual loop")
    report = search.reconcile(X_train, y_train, progress=progress)
    gap = explain_gap(search, X_test, y_test, X=X_train, y=y_train, n_seeds=2)
    out = Path(args.out)
    _write_report(out, search, report, gap)
    print(report.summary())
    print()
    print(f"held-out test rows: {len(y_test)}; training rows: {len(y_train)}")
    print(gap.summary())
    print(
        f"report written to {out}/ (fits.csv, fits.json, gap.csv, summary.json, "
        "reconciliation.png, gap.png)"
    )
    agree = report.max_abs_diff == 0.0 and report.same_best
    return EXIT_AGREE if agree else EXIT_DISAGREE


def _write_report(out, search, report, gap):
    """fits.csv/.json, gap.csv, summary.json and the two figures."""
    best = search.best_index_
    out.mkdir(parents=True, exist_ok=True)
    frame = report.to_frame()
    frame.to_csv(out / "fits.csv", index=False)
    frame.to_json(out / "fits.json", orient="records", indent=1)
    report.plot().savefig(out / "reconciliation.png", dpi=100)
    gap.to_frame().to_csv(out / "gap.csv", index=False)
    gap.plot().savefig(out / "gap.png", dpi=100)
    summary = {
        "max_abs_diff": report.max_abs_diff,
        "same_best": report.same_best,
        "best_params": {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in search.best_params_.items()
        },
    }
    for m, explained in gap.by_metric.items():  # cv_mse, ...; cv_log_loss, ...
        summary[f"cv_{m}"] = explained.cv_value
        summary[f"std_fold_{m}"] = float(search.cv_results_[f"std_fold_{m}"][best])
        summary[f"std_seed_{m}"] = float(search.cv_results_[f"std_seed_{m}"][best])
        summary[f"test_{m}"] = explained.test_value
    summary["gap_parts"] = {m: g.parts for m, g in gap.by_metric.items()}
    if list(gap.by_metric) == ["mse"]:
        summary["gap_parts"] = gap.parts  # the regression layout, unchanged
    summary["splits"] = [[t.tolist(), v.tolist()] for t, v in search.splits_]
    (out / "summary.json").write_text(json.dumps(summary, indent=1))


def _dask_backend(address):
    if not address:
        return contextlib.nullcontext()
    import joblib

    try:
        from distributed import Client
    except ImportError:
        raise BadInput(
            "--scheduler needs dask.distributed: pip install 'seeded-keras[dask]'"
        ) from None
    try:
        client = Client(address, timeout=10)
    except Exception as exc:
        raise BadInput(f"cannot reach scheduler {address}: {exc}") from None
    stack = contextlib.ExitStack()
    stack.enter_context(client)
    stack.enter_context(joblib.parallel_backend("dask"))
    return stack


def main(argv=None) -> int:
    """Run the ``seeded-keras`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 if the paths agree bitwise, 1 if not, 2 on bad input.
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from sklearn.datasets import load_breast_cancer, load_diabetes

            load = (
                load_breast_cancer if args.task == "classification" else (load_diabetes)
            )
            X, y = load(return_X_y=True)
            grid, model = DEMO_GRID, None
        else:
            X, y = _read_csv(args.data, args.target, args.task)
            grid = _read_grid(args.grid)
            model = _load_model(args.model)
        return _run(args, X, y, grid, model)
    except BadInput as exc:
        print(f"seeded-keras: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
