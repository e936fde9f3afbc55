"""A quiet, truthful console: no TensorFlow noise, one true Fitting line."""

import io
import os
import re
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
    """This environment without any TF_CPP_* variable or setting of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP_")}
    env.pop(_quiet.ENV_VAR, None)
    return {**env, **extra}


KNOWN = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
UNKNOWN = (
    "E0000 00:00:1.0 loader.cc:1] libwhatever.so.2: cannot open shared object file"
)


def _fake_tensorflow(root, fails: bool):
    """A stand-in ``tensorflow`` package: writes a known and an unknown line
    to file descriptor 2 (as TensorFlow's C++ does), then maybe fails."""
    package = root / "tensorflow"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import os\n"
        f"os.write(2, {(KNOWN + chr(10) + UNKNOWN + chr(10)).encode()!r})\n"
        + ("raise ImportError('DLL load failed: the CPU lacks AVX')\n" if fails else "")
    )


def _import_fake(tmp_path, first="import seeded_keras", **env):
    return subprocess.run(
        [sys.executable, "-c", f"{first}\nimport tensorflow\nprint('imported')"],
        capture_output=True,
        text=True,
        env=plain_env(PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}", **env),
        cwd=tmp_path,
    )


def test_a_failing_tensorflow_import_shows_everything_it_wrote(tmp_path):
    _fake_tensorflow(tmp_path, fails=True)
    proc = _import_fake(tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[:2] == [KNOWN, UNKNOWN]  # the diagnostics, then the traceback
    assert lines[-1] == "ImportError: DLL load failed: the CPU lacks AVX"
    assert "imported" not in proc.stdout


def test_a_working_import_hides_only_the_known_lines(tmp_path):
    _fake_tensorflow(tmp_path, fails=False)
    proc = _import_fake(tmp_path)
    assert proc.returncode == 0 and proc.stdout == "imported\n"
    assert proc.stderr.splitlines() == [UNKNOWN]


def test_one_variable_shows_every_line(tmp_path):
    _fake_tensorflow(tmp_path, fails=False)
    proc = _import_fake(tmp_path, **{_quiet.ENV_VAR: "0"})
    assert proc.stderr.splitlines() == [KNOWN, UNKNOWN]
    # TensorFlow's own level is TensorFlow's business: the filter stays
    proc = _import_fake(tmp_path, TF_CPP_MIN_LOG_LEVEL="0")
    assert proc.stderr.splitlines() == [UNKNOWN]
    # and without seeded_keras, of course, the same
    proc = _import_fake(tmp_path, first="")
    assert proc.stderr.splitlines() == [KNOWN, UNKNOWN]


def test_known_lines_are_these_and_only_these():
    text = (
        f"{KNOWN}\n"
        "I0000 00:00:1.5 21593 port.cc:153] oneDNN custom operations are on. You may see\n"
        "I0000 00:00:1.5 21593 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.\n"
        "I0000 00:00:1.5 21593 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.\n"
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.\n"
        "E0000 00:00:1.5 21593 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n"
        "2026-12-02 23:26:47.513215: I tensorflow/core/util/port.cc:113] oneDNN custom operations are on. You may\n"
        "2026-12-02 23:26:48.613978: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] TF-TRT Warning: Could not find TensorRT\n"
        f"{UNKNOWN}\n"
        "E0000 00:00:1.5 21593 op.cc:1] failed call to something else\n"
    )
    assert _quiet.unknown_lines(text).splitlines() == [
        UNKNOWN,
        "E0000 00:00:1.5 21593 op.cc:1] failed call to something else",
    ]


# TensorFlow 2.16's native log format: "2026-01-01 00:00:00.000: W tensorflow/..."
TF_216_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:.]+: [IWEF] ")


def _tf_version():
    from importlib.metadata import version

    return tuple(int(p) for p in version("tensorflow").split(".")[:2])


def _rendezvous_noise(line: str) -> bool:
    return (
        "Local rendezvous is aborting with status: OUT_OF_RANGE: End of sequence"
        in line
        or line.strip().startswith("[[{{node IteratorGetNext")
    )


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
    lines, err = (proc.stdout + proc.stderr).splitlines(), proc.stderr.splitlines()
    if _tf_version() < (2, 17):
        # TensorFlow 2.16 logs this warning whenever a dataset ends, in any
        # Keras program (fixed in 2.17): its own runtime noise, which
        # seeded_keras does not hide (docs/environment.rst)
        lines = [ln for ln in lines if not _rendezvous_noise(ln)]
        err = [ln for ln in err if not _rendezvous_noise(ln)]
    noise = [
        ln
        for ln in lines
        if ln.startswith(TF_PREFIXES) or "absl" in ln or TF_216_LINE.match(ln)
    ]
    assert noise == []
    fitting = [ln for ln in lines if ln.startswith("Fitting")]
    assert fitting == [
        "Fitting 3 folds for each of 2 candidates × 2 seeds, totalling 12 fits"
    ]
    assert "\r" not in proc.stdout + proc.stderr  # a pipe, not a terminal
    assert err[-1].startswith("search: 12/12 fits")


def test_a_level_the_user_chose_and_tensorflow_first_are_left_alone():
    script = (
        "import os, sys\n"
        "{first}\n"
        "import seeded_keras\n"
        "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'),"
        " any(type(f).__name__ == '_TensorFlowImportFilter' for f in sys.meta_path))"
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

    assert run("") == ["None", "True"]  # TensorFlow's own level is never set
    assert run("", TF_CPP_MIN_LOG_LEVEL="0") == ["0", "True"]
    assert run("", SEEDED_KERAS_QUIET_TF="0") == ["None", "False"]
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
