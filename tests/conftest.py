"""Shared fixtures: tiny data, few epochs, TensorFlow quiet."""

import contextlib
import os
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402

import seeded_keras  # noqa: E402,F401  (pins TF threads before TF starts)


@pytest.fixture(scope="session")
def diabetes():
    """A small slice of scikit-learn's bundled diabetes data (no network)."""
    X, y = load_diabetes(return_X_y=True)
    return X[:160], y[:160]


SMALL = dict(
    random_state=0,
    epochs=2,
    batch_size=32,
    optimizer="adam",
    optimizer__learning_rate=0.05,
    model__hidden_layer_sizes=(8,),
)


def small_net(**params):
    """A tiny, quick SeededKerasRegressor for tests."""
    from seeded_keras import SeededKerasRegressor

    return SeededKerasRegressor(**{**SMALL, **params})


@pytest.fixture
def make_net():
    return small_net


@contextlib.contextmanager
def on_dask(n_workers=2):
    """A process-based dask LocalCluster as joblib's backend, for one block."""
    import joblib

    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
        joblib.parallel_backend("dask"),
    ):
        yield


def bits(a) -> str:
    """Hex of the raw bytes: equality of this is bitwise equality."""
    return np.ascontiguousarray(a).tobytes().hex()


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fresh_python(script: str, **env) -> str:
    """Run ``script`` in a fresh interpreter at the repository root; its stdout.

    The environment is this process's, TensorFlow quiet, plus ``env``.
    """
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
        cwd=ROOT,
    ).stdout


def inter_op_threads() -> int | None:
    """How many inter-op threads TensorFlow's runtime runs in this process
    (its ``tf_Compute`` threads), or None where that cannot be seen: not
    Linux, or a TensorFlow that does not name them (2.16 does not).
    ``get_inter_op_parallelism_threads`` says 0 when the count came from the
    environment."""
    if not os.path.isdir("/proc/self/task"):
        return None
    tasks = os.listdir("/proc/self/task")
    names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in tasks]
    return names.count("tf_Compute") or None


def run_peer_suite(cwd, *args) -> str:
    """Run a peer library's tests (copied into ``cwd``) in a fresh pytest.

    Its own settings only (no addopts, no warning filters of ours); fails
    the calling test unless every selected test passed.  Returns the
    summary line.
    """
    import re

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "-o",
            "filterwarnings=",
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    summary = proc.stdout.splitlines()[-1]
    assert re.search(r"\d+ passed", summary), summary
    assert not re.search(r"\d+ (failed|error)", summary), summary
    return summary


def small_clf(**params):
    """A tiny, quick SeededKerasClassifier for tests (small_net's settings)."""
    from seeded_keras import SeededKerasClassifier

    return SeededKerasClassifier(**{**SMALL, **params})
