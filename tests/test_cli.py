"""The seeded-keras command, run as a subprocess."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

FAST = ["--cv", "2", "--n-seeds", "1", "--epochs", "2", "--quiet"]


def run(*args, cwd=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "seeded_keras", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def csv_and_grid(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    frame = X.iloc[:120].assign(target=y.iloc[:120])
    frame.to_csv(d / "data.csv", index=False)
    (d / "grid.json").write_text(json.dumps({"learning_rate": [0.01, 0.05]}))
    return d


@pytest.mark.slow
def test_demo_agrees_bitwise(tmp_path):
    out = tmp_path / "report"
    proc = run("demo", *FAST, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (
        "max |search - manual| over 8 fits: 0.0; same best candidate: True"
        in proc.stdout
    )
    assert "held-out test rows: 89" in proc.stdout
    assert "final test MSE" in proc.stdout and "CV vs test data" in proc.stdout
    fits = pd.read_csv(out / "fits.csv")
    assert len(fits) == 8 and (fits["search_mse"] == fits["manual_mse"]).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["max_abs_diff"] == 0.0
    assert (out / "reconciliation.png").stat().st_size > 0


@pytest.mark.slow
def test_reconcile_on_a_csv(csv_and_grid, tmp_path):
    d = csv_and_grid
    yaml_grid = tmp_path / "grid.yaml"
    yaml_grid.write_text("hidden_layer_sizes:\n  - [4]\n  - [8]\n")
    proc = run(
        "reconcile",
        "--data",
        str(d / "data.csv"),
        "--target",
        "target",
        "--grid",
        str(yaml_grid),
        *FAST,
        "--out",
        str(tmp_path / "r"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "same best candidate: True" in proc.stdout
    fits = json.loads((tmp_path / "r" / "fits.json").read_text())
    assert {f["params"] for f in fits} == {
        "{'net__model__hidden_layer_sizes': (4,)}",
        "{'net__model__hidden_layer_sizes': (8,)}",
    }


def test_n_iter_samples_candidates_and_reconciles(csv_and_grid, tmp_path):
    d = csv_and_grid
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"learning_rate": [0.01, 0.02, 0.05, 0.1]}))
    proc = run(
        "reconcile",
        "--data",
        str(d / "data.csv"),
        "--target",
        "target",
        "--grid",
        str(grid),
        "--n-iter",
        "2",
        *FAST,
        "--out",
        str(tmp_path / "r"),
    )
    assert proc.returncode == 0, proc.stderr
    fits = json.loads((tmp_path / "r" / "fits.json").read_text())
    assert len({f["params"] for f in fits}) == 2 and len(fits) == 4
    assert "max |search - manual| over 4 fits: 0.0" in proc.stdout


BAD = [
    ("missing file", ["--data", "nope.csv"], "data file not found: nope.csv"),
    ("missing target", ["--target", "y"], "target column 'y' not in"),
    ("non-numeric", ["--data", "{d}/text.csv"], "non-numeric columns in .*: s"),
    ("nan", ["--data", "{d}/nan.csv"], "missing values \\(NaN\\) in .*columns: bmi"),
    ("malformed grid", ["--grid", "{d}/bad.json"], "malformed grid .*bad.json"),
    (
        "grid not lists",
        ["--grid", "{d}/scalar.json"],
        "'learning_rate' must map to a non-empty list",
    ),
    (
        "unknown grid name",
        ["--grid", "{d}/typo.json"],
        "^seeded-keras: error: Unknown parameter 'optimizer__learnig_rate' for the optimizer Adam; did you mean 'optimizer__learning_rate'\\?$",
    ),
    (
        "bad model spec",
        ["--model", "nodots"],
        "--model must look like package.module:function",
    ),
    ("pickle is never loaded", ["--model", "model.pkl"], "--model must look like"),
    ("n-iter below one", ["--n-iter", "0"], "--n-iter must be at least 1, got 0"),
    (
        "misspelled routed name, as written",
        ["--grid", "{d}/hiden.json"],
        "Unknown parameter 'model__hiden' for the build function mlp \\(mlp\\(\\) got "
        "an unexpected keyword argument 'hiden'\\); did you mean "
        "'model__hidden_layer_sizes'\\?$",
    ),
    (
        "misspelled alias",
        ["--grid", "{d}/alias.json"],
        "Unknown parameter 'learnig_rate' in param_grid; did you mean 'learning_rate'\\?$",
    ),
    (
        "not a build function",
        ["--model", "os:system"],
        "--model os:system is not a build function",
    ),
    (
        "header only",
        ["--data", "{d}/header.csv"],
        "^seeded-keras: error: no data rows in .*header.csv: only a header$",
    ),
    (
        "one data row",
        ["--data", "{d}/one.csv"],
        "one.csv has 1 data row\\(s\\), 0 of them for training \\(20% are held out for the test\\); --cv 2 needs at least 3 rows$",
    ),
    (
        "more folds than rows",
        ["--data", "{d}/sixty.csv", "--cv", "100"],
        "sixty.csv has 60 data row\\(s\\), 48 of them for training .*; --cv 100 needs at least 125 rows$",
    ),
    (
        "journal folder cannot be made",
        ["--journal", "{d}/data.csv/journal"],
        "^seeded-keras: error: cannot create the --journal folder .*data.csv/journal: Not a directory$",
    ),
]


@pytest.mark.parametrize("case,override,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_exits_2_with_one_line(csv_and_grid, case, override, message):
    import re

    d = csv_and_grid
    frame = pd.read_csv(d / "data.csv")
    frame.assign(s="x").to_csv(d / "text.csv", index=False)
    frame.assign(bmi=np.where(frame.index == 3, np.nan, frame["bmi"])).to_csv(
        d / "nan.csv", index=False
    )
    frame.iloc[:0].to_csv(d / "header.csv", index=False)
    frame.iloc[:1].to_csv(d / "one.csv", index=False)
    frame.iloc[:60].to_csv(d / "sixty.csv", index=False)
    (d / "bad.json").write_text("{not json")
    (d / "scalar.json").write_text('{"learning_rate": 0.1}')
    (d / "typo.json").write_text('{"optimizer__learnig_rate": [0.1]}')
    (d / "hiden.json").write_text('{"model__hiden": [[4]]}')
    (d / "alias.json").write_text('{"learnig_rate": [0.1]}')
    args = {
        "--data": str(d / "data.csv"),
        "--target": "target",
        "--grid": str(d / "grid.json"),
    }
    for flag, value in zip(override[::2], override[1::2]):
        args[flag] = value.format(d=d)
    flat = [x for kv in args.items() for x in kv]
    proc = run("reconcile", *FAST, *flat)  # the case's --cv wins
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert re.search(message, lines[0]), lines[0]


def test_yaml_grid_without_pyyaml_names_the_extra(csv_and_grid, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("learning_rate:\n  - 0.01\n")
    code = (
        "import sys; sys.modules['yaml'] = None\n"  # as if PyYAML were missing
        "from seeded_keras.cli import main\n"
        f"sys.exit(main(['reconcile', '--data', {str(csv_and_grid / 'data.csv')!r},"
        f" '--target', 'target', '--grid', {str(grid)!r}, '--quiet']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"seeded-keras: error: {grid} is YAML, which needs PyYAML: "
        "pip install 'seeded-keras[yaml]' (or give the grid as .json)"
    ]


@pytest.mark.slow
def test_scheduler_runs_the_sweep_on_a_dask_cluster(csv_and_grid, tmp_path):
    distributed = pytest.importorskip("distributed")
    d = csv_and_grid
    args = ["--data", str(d / "data.csv"), "--target", "target"]
    args += ["--grid", str(d / "grid.json"), *FAST]
    local = run("reconcile", *args, "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        remote = run(
            "reconcile",
            *args,
            "--n-jobs",
            "-1",
            "--scheduler",
            cluster.scheduler_address,
            "--out",
            str(tmp_path / "dask"),
        )
    assert remote.returncode == 0, remote.stderr
    # fits.csv holds every float in full (repr round-trips): bitwise equality
    fits = [pd.read_csv(tmp_path / name / "fits.csv") for name in ("local", "dask")]
    assert fits[0]["search_mse"].tolist() == fits[1]["search_mse"].tolist()
    assert (fits[1]["abs_diff"] == 0.0).all()


@pytest.mark.slow
def test_classification_demo_and_a_csv_with_text_labels(tmp_path):
    out = tmp_path / "report"
    proc = run("demo", "--task", "classification", *FAST, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (
        "max |search - manual| of log_loss and accuracy over 8 fits: 0.0" in proc.stdout
    )
    assert "final test log-loss" in proc.stdout
    assert "final test accuracy" in proc.stdout
    fits = pd.read_csv(out / "fits.csv")
    assert (fits["search_log_loss"] == fits["manual_log_loss"]).all()
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["gap_parts"]) == {"log_loss", "accuracy"}

    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y.to_numpy()]
    X.assign(species=names).to_csv(tmp_path / "iris.csv", index=False)
    (tmp_path / "grid.json").write_text(json.dumps({"learning_rate": [0.05]}))
    proc = run(
        "reconcile",
        "--task",
        "classification",
        "--data",
        str(tmp_path / "iris.csv"),
        "--target",
        "species",
        "--grid",
        str(tmp_path / "grid.json"),
        *FAST,
        "--out",
        str(tmp_path / "iris_report"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "of log_loss and accuracy over 2 fits: 0.0" in proc.stdout


@pytest.mark.slow
def test_halving_over_epochs_on_a_csv(csv_and_grid, tmp_path):
    # issue #27: seeded-keras reconcile --halving --resource epochs
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"learning_rate": [0.003, 0.01, 0.03, 0.1]}))
    d = csv_and_grid
    fast = ["--cv", "2", "--n-seeds", "1", "--epochs", "6", "--quiet"]
    proc = run(
        "reconcile",
        *("--data", str(d / "data.csv"), "--target", "target", "--grid", str(grid)),
        *("--halving", "--resource", "epochs", *fast, "--out", str(tmp_path / "r")),
    )
    assert proc.returncode == 0, proc.stderr
    # 4 candidates at 2 epochs, the best 2 at 6 (scikit-learn's "exhaust")
    fits = pd.read_json(tmp_path / "r" / "fits.json")
    epochs = [eval(p)["net__epochs"] for p in fits["params"]]
    assert sorted(epochs) == [2] * 8 + [6] * 4
    assert (fits["search_mse"] == fits["manual_mse"]).all()
    assert "same best candidate: True" in proc.stdout
