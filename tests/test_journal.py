"""Sweeps that survive: the results journal, resume, killed processes.

Crash safety is tested by really killing processes (SIGKILL): the sweep's
own process after some fits, and a loky worker in the middle of a sweep.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import joblib
import numpy as np
import pytest
from conftest import ROOT, bits, on_dask, small_net
from crashy import DiesOnce
from sklearn.linear_model import Ridge
from sklearn.metrics import make_scorer, mean_squared_error
from sklearn.model_selection import KFold

from seeded_keras import (
    ReconciledSearchCV,
    _compat,
    _journal,
    _scheduler,
    load_journal,
)

MSE = "neg_mean_squared_error"
GRID = {"optimizer__learning_rate": [0.01, 0.05, 0.1]}


def make_search(**params):
    defaults = dict(scoring=MSE, cv=3, n_seeds=2, random_state=0)
    defaults.update(params)
    return ReconciledSearchCV(small_net(random_state=None), GRID, **defaults)


def scores(search):
    r = search.cv_results_
    keys = [k for k in r if "test" in k or "mse" in k]
    return {k: bits(np.asarray(r[k])) for k in keys}


@pytest.fixture(scope="module")
def reference(diabetes):
    X, y = diabetes
    return make_search().fit(X, y)


@pytest.fixture(scope="module")
def journaled(diabetes, tmp_path_factory):
    X, y = diabetes
    journal = tmp_path_factory.mktemp("journal")
    first = make_search(journal=journal).fit(X, y)
    again = make_search(journal=journal).fit(X, y)
    return journal, first, again


class TestResume:
    def test_a_second_run_resumes_every_fit_bit_for_bit(self, journaled, reference):
        _, first, again = journaled
        assert first.n_fits_resumed_ == 0 and again.n_fits_resumed_ == 18
        assert scores(again) == scores(reference) == scores(first)
        assert again.best_params_ == reference.best_params_
        for key in ("mean_fit_time", "mean_score_time"):  # timings are replayed
            assert bits(again.cv_results_[key]) == bits(first.cv_results_[key])

    def test_the_manual_loop_still_refits(self, journaled, diabetes):
        _, _, again = journaled
        assert again.reconcile(*diabetes).max_abs_diff == 0.0

    def test_one_file_per_writer_readable_by_pandas(self, journaled):
        journal, _, _ = journaled
        files = sorted(journal.glob("*.jsonl"))
        assert len(files) == 1  # one process wrote them all
        frame = load_journal(journal)
        assert len(frame) == 18 and frame["fit_error"].isna().all()
        import pandas as pd

        raw = pd.read_json(files[0], lines=True)
        assert len(raw) == 18 and set(raw["key"]) == set(frame["key"])

    def test_verbose_says_how_many_were_resumed(self, journaled, diabetes, capsys):
        journal, _, _ = journaled
        make_search(journal=journal, verbose=1).fit(*diabetes)
        assert f"18 of 18 fits resumed from the journal in {journal}" in (
            capsys.readouterr().out
        )


@pytest.fixture(scope="module")
def ridge_journal(diabetes, tmp_path_factory):
    journal = tmp_path_factory.mktemp("ridge")
    ReconciledSearchCV(Ridge(), {"alpha": [1.0]}, cv=3, journal=journal).fit(*diabetes)
    return journal


class TestKeys:
    """Changing any single key field makes that fit run again."""

    def resumed(self, journal, X, y, grid=None, **params):
        search = ReconciledSearchCV(
            Ridge(), grid or {"alpha": [1.0]}, cv=params.pop("cv", 3), journal=journal
        )
        return search.set_params(**params).fit(X, y).n_fits_resumed_

    def test_unchanged_resumes(self, ridge_journal, diabetes):
        assert self.resumed(ridge_journal, *diabetes) == 3

    def test_a_parameter_value_and_its_type(self, ridge_journal, diabetes):
        assert self.resumed(ridge_journal, *diabetes, grid={"alpha": [2.0]}) == 0
        assert self.resumed(ridge_journal, *diabetes, grid={"alpha": [1]}) == 0

    def test_one_element_of_X(self, ridge_journal, diabetes):
        X, y = diabetes
        X = X.copy()
        X[5, 2] += 1e-9
        assert self.resumed(ridge_journal, X, y) == 0

    def test_the_folds(self, ridge_journal, diabetes):
        cv = KFold(3, shuffle=True, random_state=0)
        assert self.resumed(ridge_journal, *diabetes, cv=cv) == 0

    def test_the_scorer(self, ridge_journal, diabetes):
        assert self.resumed(ridge_journal, *diabetes, scoring=MSE) == 0

    def test_a_library_version(self, ridge_journal, diabetes, monkeypatch):
        real = _journal.library_versions
        monkeypatch.setattr(
            _journal, "library_versions", lambda: {**real(), "numpy": "0.0"}
        )
        assert self.resumed(ridge_journal, *diabetes) == 0

    def test_the_repeat(self, journaled, diabetes):
        journal, _, _ = journaled
        search = make_search(journal=journal, n_seeds=3).fit(*diabetes)
        assert search.n_fits_resumed_ == 18  # repeats 0 and 1; repeat 2 is new

    def test_an_unkeyable_scorer_turns_the_journal_off(self, diabetes, tmp_path):
        scorer = make_scorer(mean_squared_error, greater_is_better=False)
        search = ReconciledSearchCV(
            Ridge(), {"alpha": [1.0]}, scoring=scorer, cv=3, journal=tmp_path
        )
        with pytest.warns(
            UserWarning, match="is not used: the scorer or the estimator cannot be"
        ):
            search.fit(*diabetes)
        assert list(tmp_path.iterdir()) == []


def test_failed_fits_are_journaled_and_retried(diabetes, tmp_path):
    X, y = diabetes
    grid = {"model__hidden_layer_sizes": [(4,), (-1,)]}
    search = ReconciledSearchCV(
        small_net(), grid, scoring=MSE, cv=2, error_score=np.nan, journal=tmp_path
    )
    with pytest.warns(UserWarning):
        search.fit(X, y)
    frame = load_journal(tmp_path)
    assert frame["fit_error"].notna().sum() == 2 and len(frame) == 4
    with pytest.warns(UserWarning):
        again = search.fit(X, y)
    assert again.n_fits_resumed_ == 2  # the failed fits ran again


class TestDamage:
    def copy_journal(self, journal, tmp_path):
        (source,) = journal.glob("*.jsonl")
        target = tmp_path / source.name
        target.write_bytes(source.read_bytes())
        return target

    def test_damaged_records_are_skipped_and_refitted(
        self, journaled, reference, diabetes, tmp_path
    ):
        journal, _, _ = journaled
        target = self.copy_journal(journal, tmp_path)
        data = bytearray(target.read_bytes())
        data[40] ^= 0x01  # one flipped byte in the first record
        data += b"\x00\x00\x00\n" + data[:120]  # NUL bytes, then a torn line
        target.write_bytes(bytes(data))
        search = make_search(journal=tmp_path).fit(*diabetes)
        assert search.n_fits_resumed_ == 17
        assert scores(search) == scores(reference)

    def test_truncating_at_every_byte_never_makes_the_reader_raise(
        self, journaled, tmp_path
    ):
        journal, _, _ = journaled
        (source,) = journal.glob("*.jsonl")
        data = source.read_bytes()
        lines = data.split(b"\n")
        end = len(lines[0]) + len(lines[1]) + 2  # two records and a bit more
        target = tmp_path / "cut.jsonl"
        for offset in range(end + 50):
            target.write_bytes(data[:offset])
            found = _journal.index(tmp_path)
            assert len(found) <= (offset >= len(lines[0])) + (offset >= end - 1)

    def test_two_results_under_one_key_are_a_determinism_error(self, tmp_path):
        result = {"test_scores": 1.0, "fit_error": None, "fit_time": 0.1}
        _journal.append(tmp_path, _journal.make_record("k", result, {}))
        other = {**result, "test_scores": 1.0 + 2**-40}
        _journal.append(tmp_path, _journal.make_record("k", other, {}))
        with pytest.raises(_journal.JournalConflictError, match="two different"):
            _journal.index(tmp_path)


def test_many_writers_lose_nothing(tmp_path):
    """Threads here and processes elsewhere append overlapping keys."""
    script = textwrap.dedent(
        f"""
        from seeded_keras import _journal
        for i in range(40):
            result = {{"test_scores": float(i % 10), "fit_error": None}}
            _journal.append({str(tmp_path)!r}, _journal.make_record(str(i % 10), result, {{}}))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], cwd=ROOT) for _ in range(2)
    ]

    def write(t):
        for i in range(40):
            result = {"test_scores": float(i % 10), "fit_error": None}
            _journal.append(tmp_path, _journal.make_record(str(i % 10), result, {}))

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.wait(60) for p in procs] == [0, 0]
    records = _journal.read_records(tmp_path)
    assert len(records) == 6 * 40  # every acknowledged record is there
    found = _journal.index(tmp_path)  # duplicates are identical: no conflict
    assert sorted(found) == [str(i) for i in range(10)]


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
def test_killing_the_sweep_after_k_fits_then_rerunning(
    reference, diabetes, tmp_path, how
):
    journal = tmp_path / "journal"
    script = textwrap.dedent(
        f"""
        import signal, sys, time
        # Ctrl-C as in a terminal, even when this test runs in a background
        # job (whose SIGINT the shell ignores, and every child inherits that)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.path.insert(0, "tests")
        from sklearn.datasets import load_diabetes
        from seeded_keras import _journal
        from test_journal import make_search

        append = _journal.append
        def append_then_wait(*args, **kwargs):  # time to be signalled mid-sweep
            append(*args, **kwargs)
            time.sleep(0.25)
        _journal.append = append_then_wait
        X, y = load_diabetes(return_X_y=True)
        make_search(journal={str(journal)!r}).fit(X[:160], y[:160])
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(_journal.read_records(journal) if journal.exists() else []) >= 3:
            break
        time.sleep(0.02)
    finished_first = proc.poll() is not None  # the sweep outran the signal
    proc.send_signal(how)
    code = proc.wait(60)
    k = len(_journal.index(journal))
    assert code != 0, f"exit {code} after the signal; {k} fits written; " + (
        "the sweep had finished before it" if finished_first else "signal ignored"
    )
    assert 3 <= k < 18, k
    search = make_search(journal=journal).fit(*diabetes)
    assert search.n_fits_resumed_ == k  # exactly total - k fits ran again
    assert scores(search) == scores(reference)


@pytest.mark.slow
class TestDeadWorkers:
    def search(self, tmp_path, **params):
        marker = str(tmp_path / "died")
        # the parent fits beside the worker and, this sweep being small, would
        # not start one: start it beforehand (seeded_keras._scheduler)
        _scheduler.warm_workers(1)
        return ReconciledSearchCV(
            DiesOnce(marker=marker),
            {"alpha": [0.1, 1.0, 10.0]},
            scoring=MSE,
            cv=3,
            n_jobs=2,
            **params,
        )

    def test_a_killed_loky_worker_costs_its_running_fits(self, diabetes, tmp_path):
        X, y = diabetes
        expected = ReconciledSearchCV(
            Ridge(), {"alpha": [0.1, 1.0, 10.0]}, scoring=MSE, cv=3
        ).fit(X, y)
        with joblib.parallel_backend("loky"):
            with pytest.warns(RuntimeWarning, match="a worker process died"):
                search = self.search(tmp_path, journal=tmp_path / "j").fit(X, y)
        assert os.path.exists(tmp_path / "died")
        assert scores(search) == scores(expected)

    def test_without_a_journal_too(self, diabetes, tmp_path):
        # the scheduler keeps every finished fit in memory and runs the dead
        # worker's running ones again in the parent
        X, y = diabetes
        expected = ReconciledSearchCV(
            Ridge(), {"alpha": [0.1, 1.0, 10.0]}, scoring=MSE, cv=3
        ).fit(X, y)
        with joblib.parallel_backend("loky"):
            with pytest.warns(RuntimeWarning, match="ran again in this process"):
                search = self.search(tmp_path).fit(X, y)
        assert os.path.exists(tmp_path / "died")
        assert scores(search) == scores(expected)


KERAS_GRID = {
    "model__hidden_layer_sizes": [(4,), (8,)],
    "optimizer__learning_rate": [0.01, 0.05],
}


def keras_sweep(**params):
    """24 Keras fits of about a third of a second: long enough to be killed in."""
    return ReconciledSearchCV(
        small_net(epochs=60), KERAS_GRID, scoring=MSE, cv=3, n_seeds=2, **params
    )


@pytest.fixture(scope="module")
def keras_reference(diabetes):
    return keras_sweep(random_state=0).fit(*diabetes)


def _kill_when_busy(pid: int, cpu_seconds: float, killed: list, stop) -> None:
    """SIGKILL ``pid`` from outside once it has worked ``cpu_seconds`` more
    (a warm worker burns CPU only on fits), unless ``stop`` is set first."""
    psutil = pytest.importorskip("psutil")
    try:
        proc = psutil.Process(pid)
        start = sum(proc.cpu_times()[:2])
        while not stop.wait(0.01):
            if sum(proc.cpu_times()[:2]) - start > cpu_seconds:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
    except psutil.NoSuchProcess:
        killed.append(f"{pid} had gone before it was killed")


@pytest.mark.slow
@pytest.mark.parametrize("with_journal", [False, True], ids=["memory", "journal"])
def test_a_worker_killed_mid_keras_sweep_costs_only_its_running_fits(
    keras_reference, diabetes, tmp_path, monkeypatch, capsys, with_journal
):
    # issue #28: a loky worker running Keras fits under our scheduler is
    # killed from outside mid-sweep; the sweep finishes with the same bits.
    # The worker is started by the scheduler's own rule (its start-up taken
    # as 0.1 s: the fits left after the parent's first chunk, however fast,
    # outlast four times that), on a process that exists already,
    # TensorFlow imported, so that its pid is known and the CPU it burns is
    # fits: 0.5 s of it is a model traced or fits run, well inside its first
    # chunk.
    worker, _ = _compat.loky_executor(1).submit(_scheduler.warm_up).result()
    monkeypatch.setattr(_scheduler, "_warm", type(_scheduler._warm)())
    monkeypatch.setitem(_scheduler._start_up, "seconds", 0.1)
    killed: list = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_when_busy, args=(worker, 0.5, killed, stop))
    killer.start()
    journal = {"journal": tmp_path / "j"} if with_journal else {}
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            search = keras_sweep(random_state=0, n_jobs=2, verbose=1, **journal)
            search.fit(*diabetes)
    finally:
        stop.set()
        killer.join()
    said = [ln for ln in capsys.readouterr().out.splitlines() if " fits" in ln]
    died = [str(w.message) for w in seen if "a worker process died" in str(w.message)]
    assert killed == [worker] and len(died) == 1, (killed, died, said)
    lost = int(died[0].split("; its ")[1].split(" ")[0])
    assert 1 <= lost <= 24  # it died running fits, and only those ran again
    assert scores(search) == scores(keras_reference)


@pytest.mark.slow
def test_dask_workers_write_into_one_directory(reference, diabetes, tmp_path):
    with on_dask():
        first = make_search(journal=tmp_path, n_jobs=-1).fit(*diabetes)
    assert len(list(tmp_path.glob("*.jsonl"))) >= 1
    again = make_search(journal=tmp_path).fit(*diabetes)
    assert first.n_fits_resumed_ == 0 and again.n_fits_resumed_ == 18
    assert scores(again) == scores(reference) == scores(first)


def test_cli_journal_resumes(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = [sys.executable, "-m", "seeded_keras", "demo", "--cv", "2", "--n-seeds"]
    args += ["1", "--epochs", "2", "--journal", str(tmp_path / "j")]
    outs = []
    for run in range(2):
        proc = subprocess.run(
            [*args, "--out", str(tmp_path / f"r{run}")],
            capture_output=True,
            text=True,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    assert "0 of 8 fits resumed" in outs[0] and "8 of 8 fits resumed" in outs[1]
    summaries = [
        json.loads((tmp_path / f"r{i}" / "summary.json").read_text()) for i in (0, 1)
    ]
    assert summaries[0]["cv_mse"] == summaries[1]["cv_mse"]


def test_a_full_disk_mid_sweep_warns_once_and_loses_no_result(
    reference, diabetes, tmp_path
):
    # The file system fills up after k records (the writer raises ENOSPC
    # with half a line written): the sweep finishes in memory with the right
    # scores, warns once naming the path and k, exits without a traceback,
    # and a rerun resumes the k records.
    journal, k = tmp_path / "journal", 5
    script = textwrap.dedent(
        f"""
        import errno, json, sys
        sys.path.insert(0, "tests")
        from sklearn.datasets import load_diabetes
        from seeded_keras import _journal
        from test_journal import make_search, scores

        write, calls = _journal._write_durably, []
        def fills_up(handle, data):
            calls.append(1)
            if len(calls) > {k}:
                handle.write(data[: len(data) // 2])  # torn, as on a real disk
                raise OSError(errno.ENOSPC, "No space left on device")
            write(handle, data)
        _journal._write_durably = fills_up
        X, y = load_diabetes(return_X_y=True)
        search = make_search(journal={str(journal)!r}).fit(X[:160], y[:160])
        print(json.dumps(scores(search)))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == scores(reference)
    warned = [ln for ln in proc.stderr.splitlines() if "JournalWriteWarning" in ln]
    assert len(warned) == 1
    assert (
        f"the journal in {journal} could not be written ([Errno 28] No space"
        in (warned[0])
    )
    assert f"{k} fit(s) of this process were written there" in warned[0]
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr
    assert len(_journal.index(journal)) == k  # the torn line is skipped
    X, y = diabetes
    again = make_search(journal=journal).fit(X, y)
    assert again.n_fits_resumed_ == k
    assert scores(again) == scores(reference)


def test_a_journal_that_cannot_be_created_warns_and_the_sweep_goes_on(
    reference, diabetes, tmp_path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a file where the journal's folder would go
    X, y = diabetes
    with pytest.warns(_journal.JournalWriteWarning, match="0 fit\\(s\\) of this"):
        search = make_search(journal=blocker / "journal").fit(X, y)
    assert scores(search) == scores(reference)
