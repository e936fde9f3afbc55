"""A quiet, truthful console: no TensorFlow noise, one true Fitting line."""

import io
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from seeded_keras import _progress, _quiet
from seeded_keras._report import short_label

TF_PREFIXES = (
    "I0000",
    "W0000",
    "E0000",
    "WARNING: All log messages",
    "WARNING:tensorflow",
)


def plain_env(**extra):
    """This environment without any TF_CPP_* variable or marker of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP_")}
    env.pop(_quiet.OURS, None)
    return {**env, **extra}


@pytest.mark.slow
def test_a_new_users_script_prints_no_tensorflow_line_and_one_true_total():
    proc = subprocess.run(
        [sys.executable, os.path.join("tests", "scripts", "quiet_console.py")],
        capture_output=True,
        text=True,
        env=plain_env(),
        cwd=ROOT,
        check=True,
    )
    lines = (proc.stdout + proc.stderr).splitlines()
    noise = [ln for ln in lines if ln.startswith(TF_PREFIXES) or "absl" in ln]
    assert noise == []
    fitting = [ln for ln in lines if ln.startswith("Fitting")]
    assert fitting == [
        "Fitting 3 folds for each of 2 candidates × 2 seeds, totalling 12 fits"
    ]
    assert "\r" not in proc.stdout + proc.stderr  # a pipe, not a terminal
    assert proc.stderr.splitlines()[-1].startswith("search: 12/12 fits")


def test_a_level_the_user_chose_and_tensorflow_first_are_left_alone():
    script = (
        "import os, sys\n"
        "{first}\n"
        "import seeded_keras\n"
        "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'),"
        " any(type(f).__name__ == '_QuietTensorFlowImport' for f in sys.meta_path))"
    )

    def run(first, **env):
        out = subprocess.run(
            [sys.executable, "-c", script.format(first=first)],
            capture_output=True,
            text=True,
            env=plain_env(**env),
            cwd=ROOT,
            check=True,
        ).stdout
        return out.split()

    assert run("") == ["3", "True"]
    assert run("", TF_CPP_MIN_LOG_LEVEL="0") == ["0", "False"]
    assert run("import tensorflow") == ["None", "False"]


def test_progress_in_a_log_is_one_line_per_tenth():
    stream = io.StringIO()
    progress = _progress.Progress(40, "search", stream=stream)
    for _ in range(40):
        progress(n=1)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert [ln.split(" fits")[0] for ln in lines] == [
        f"search: {k}/40" for k in range(4, 41, 4)
    ]


def test_progress_on_a_terminal_is_a_live_bar():
    pytest.importorskip("rich")
    stream = io.StringIO()
    progress = _progress.Progress(3, "manual loop", stream=stream, live=True)
    for _ in range(3):
        progress(n=1)
    assert "manual loop" in stream.getvalue() and "3/3" in stream.getvalue()


def test_fitting_line_is_scikit_learns_with_one_seed():
    assert _progress.fitting_line(3, 2, 1) == (
        "Fitting 3 folds for each of 2 candidates, totalling 6 fits"
    )
    assert _progress.fitting_line(5, 4, 3).endswith(
        "4 candidates × 3 seeds, totalling 60 fits"
    )


def test_plot_labels_name_the_parameters():
    assert short_label({"net__optimizer__learning_rate": 0.0123456}) == (
        "learning_rate=0.0123"
    )
    assert short_label({"a__units": 4, "b__units": (8,)}) == "a__units=4, b__units=(8,)"
    assert short_label({}) == "(defaults)"
