"""Where the fits of a reconciled search run (seeded_keras._scheduler).

The scheduler moves fits between processes and nothing else: the bitwise
promises are tested under every backend in test_search.py and
test_randomized.py; here, which process ran what.
"""

import os
import time

import joblib
import numpy as np
import pytest
from recording import Recorded, fits_by_process
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge

from seeded_keras import ReconciledSearchCV, _compat, _scheduler
from seeded_keras._scheduler import Chunks, group_key

MSE = "neg_mean_squared_error"


def task(**params):
    return (None, (), {"parameters": params})


class TestGroups:
    def test_seed_and_float_learning_rate_are_not_the_architecture(self):
        ignored = {"repeat", "net__repeat"}
        a = group_key({"parameters": {"model__h": 8, "repeat": 0}}, ignored)
        assert a == group_key({"parameters": {"model__h": 8, "repeat": 3}}, ignored)
        lr = "optimizer__learning_rate"
        assert group_key(task(model__h=8, **{lr: 0.1})[2], ignored) == group_key(
            task(model__h=8, **{lr: 0.3})[2], ignored
        )
        nested = "net__optimizer__learning_rate"
        assert group_key(task(**{nested: 0.1})[2], ignored) == group_key(
            task(**{nested: 0.2})[2], ignored
        )
        assert a != group_key({"parameters": {"model__h": 16}}, ignored)
        # a learning-rate *schedule* or a name is part of the architecture
        assert group_key(task(**{lr: "sched"})[2], ()) != group_key(task()[2], ())
        assert group_key(task(batch_size=32)[2], ()) != group_key(task()[2], ())

    def test_every_fit_is_handed_out_once(self):
        tasks = [task(h=h, repeat=r) for h in (8, 16, 32) for r in range(7)]
        chunks = Chunks(tasks, {"repeat"}, n_procs=2)
        assert chunks.n_groups == 3 and chunks.size == 3  # ceil(21 / 8)
        seen, takers, turn = [], ["parent", 101, 102], 0
        while chunk := chunks.take(takers[turn % 3]) or chunks.take("parent"):
            turn += 1
            assert len(chunk) <= chunks.size
            assert len({task[2]["parameters"]["h"] for _, task in chunk}) == 1
            seen.extend(i for i, _ in chunk)
        assert sorted(seen) == list(range(21))
        assert chunks.take("parent") == chunks.take(101) == []

    def test_a_worker_starts_no_group_when_few_fits_are_left(self):
        tasks = [task(h=8)] * 10 + [task(h=16)] * 3
        chunks = Chunks(tasks, (), n_procs=2)  # chunks of 2: workers need 6 left
        assert chunks.size == 2
        first = chunks.take(101, True)  # 13 left: a worker starts on the largest
        assert {t[2]["parameters"]["h"] for _, t in first} == {8}
        assert len(chunks.take("parent")) == 2  # the parent: the free group
        for _ in range(4):  # fewer than 6 left: it still finishes its own group
            assert {t[2]["parameters"]["h"] for _, t in chunks.take(101, True)} == {8}
        assert chunks.take(101, True) == []  # its group done, 1 fit left elsewhere
        assert len(chunks.take(101)) == 1  # planned ahead (dask), it takes it
        rest = [task(h=32)] * 5
        late = Chunks(rest, (), n_procs=1)  # chunks of 2, 5 left < 2 + 4
        assert late.take(101, True) == []  # the worker would trace a new model
        assert len(late.take("parent")) == 2  # the parent takes them

    def test_a_process_keeps_to_its_architecture(self):
        tasks = [task(h=h) for h in (8, 16) for _ in range(8)]
        chunks = Chunks(tasks, (), n_procs=2)  # chunks of 2
        firsts = {t: chunks.take(t)[0][1][2]["parameters"]["h"] for t in "ab"}
        assert sorted(firsts.values()) == [8, 16]  # a free group each
        for _ in range(3):
            for t in "ab":
                (_, only), *_ = chunks.take(t)
                assert only[2]["parameters"]["h"] == firsts[t]
        # both groups done: nothing left to steal
        assert chunks.take("a") == chunks.take("b") == []

    def test_a_finished_process_steals_from_the_largest_group(self):
        tasks = [task(h=8)] * 2 + [task(h=16)] * 6
        chunks = Chunks(tasks, (), n_procs=1)  # chunks of 2
        assert {x[1][2]["parameters"]["h"] for x in chunks.take("a")} == {16}
        assert {x[1][2]["parameters"]["h"] for x in chunks.take("parent")} == {8}
        assert {x[1][2]["parameters"]["h"] for x in chunks.take("parent")} == {16}


def _square(x, **kwargs):
    time.sleep(0.02)  # long enough for the worker's chunks to come back
    return x * x


class _DiesBetweenChunks:
    """An executor whose pool breaks after its first real chunk: the next
    ``submit`` raises, as loky's does once a worker was killed while idle."""

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(1)
        self.chunks_run = 0

    def submit(self, fn, *args):
        if fn is _scheduler.warm_up:  # (this thread has TensorFlow)
            return self.pool.submit(lambda: (4242, []))
        if fn is _scheduler.run_chunk:
            if self.chunks_run:
                raise _compat.worker_died_error()("A worker process died")
            self.chunks_run += 1
        return self.pool.submit(lambda: (4242, fn(*args)[1]))


def test_a_worker_dying_between_chunks_costs_nothing(monkeypatch):
    executor = _DiesBetweenChunks()
    monkeypatch.setattr(_scheduler, "_warm", type(_scheduler._warm)())
    _scheduler._warm.add(executor)  # it joins at once
    tasks = [(_square, (x,), {"parameters": {"h": x % 2}}) for x in range(40)]
    with pytest.warns(RuntimeWarning, match="its 0 running fit"):
        out = _scheduler._beside_workers(tasks, (), 2, lambda: executor)
    assert out == [x * x for x in range(40)]  # every fit, in order
    assert executor.chunks_run == 1 and executor not in _scheduler._warm


@pytest.mark.slow
class TestProcesses:
    @pytest.fixture
    def data(self):
        return make_regression(60, 3, noise=1.0, random_state=0)

    def search(self, log_dir, **params):
        grid = {"fit_intercept": [True, False], "alpha": [0.1, 1.0, 10.0]}
        net = Recorded(log_dir=str(log_dir), seconds=0.15)
        return ReconciledSearchCV(net, grid, scoring=MSE, cv=4, **params)

    def test_the_parent_fits_beside_one_warm_worker(self, data, tmp_path, capsys):
        # n_jobs=2 on loky: the parent and one worker, started beforehand
        (worker,) = set(_scheduler.warm_workers(1))
        log = tmp_path / "log"
        log.mkdir()
        search = self.search(log, n_jobs=2, verbose=1).fit(*data)
        by_pid = fits_by_process(log)
        assert set(by_pid) == {os.getpid(), worker}, (
            capsys.readouterr().out,  # where the search said its fits ran
            sorted(_compat.loky_executor(1)._processes),  # the workers now
        )
        assert sum(map(len, by_pid.values())) == 24 + 1  # 24 fits, then refit
        # each process kept to one architecture (fit_intercept), bar one steal
        pairs = {(pid, fit[0]) for pid, fits in by_pid.items() for fit in fits}
        assert len(pairs) <= 3
        serial = ReconciledSearchCV(Ridge(), search.param_grid, scoring=MSE, cv=4)
        serial.fit(*data)
        for key in ("mean_test_score", "split3_test_score"):
            np.testing.assert_array_equal(
                search.cv_results_[key], serial.cv_results_[key]
            )

    def test_a_worker_that_ran_another_task_first_stays(self, data, tmp_path):
        # loky measures a worker's memory after its first task and restarts
        # it once it grew by 300 MB: TensorFlow's import did, when that first
        # task was someone else's
        _compat.loky_executor(1).shutdown(wait=True)
        first = _compat.loky_executor(1).submit(os.getpid).result()
        assert set(_scheduler.warm_workers(1)) == {first}
        log = tmp_path / "log"
        log.mkdir()
        self.search(log, n_jobs=2).fit(*data)
        assert set(fits_by_process(log)) == {os.getpid(), first}
        assert _compat.loky_executor(1).submit(os.getpid).result() == first

    def test_a_small_sweep_starts_no_worker(self, data, tmp_path, monkeypatch):
        # 24 fits of 0.15 s: 3.6 s, less than START_FACTOR (4) worker start-ups
        monkeypatch.setattr(_scheduler, "_warm", type(_scheduler._warm)())
        monkeypatch.setitem(_scheduler._start_up, "seconds", 5.0)
        made, loky_executor = [], _compat.loky_executor

        def spy(n_workers, start=True):
            get = loky_executor(n_workers, start=False)

            def counted():
                made.append(n_workers)
                return get()

            return counted() if start else counted

        monkeypatch.setattr(_compat, "loky_executor", spy)
        log = tmp_path / "log"
        log.mkdir()
        self.search(log, n_jobs=2).fit(*data)
        assert set(fits_by_process(log)) == {os.getpid()}
        assert made == []  # not even loky's executor: nothing spawned
        # the same sweep, if workers took 0.5 s to start: they are started (the
        # worker is ready here, though not known to be, so that it gets fits)
        _compat.loky_executor(1).submit(_scheduler.warm_up).result()
        monkeypatch.setitem(_scheduler._start_up, "seconds", 0.5)
        log2 = tmp_path / "log2"
        log2.mkdir()
        self.search(log2, n_jobs=2).fit(*data)
        assert len(fits_by_process(log2)) == 2
        assert made == [1, 1]  # the warm-up above, then this search's start

    @pytest.mark.parametrize("verbose", [0, 1, 2])
    def test_verbose_never_changes_where_fits_run(
        self, data, tmp_path, monkeypatch, capsys, verbose
    ):
        # issue #28: with verbose=1 the sweep went candidate by candidate, so
        # no batch was ever long enough to start a worker.  Now every verbose
        # hands the scheduler the whole sweep; progress comes as fits finish.
        monkeypatch.setattr(_scheduler, "_warm", type(_scheduler._warm)())
        _compat.loky_executor(1).submit(_scheduler.warm_up).result()  # ready
        monkeypatch.setitem(_scheduler._start_up, "seconds", 0.5)
        log = tmp_path / "log"
        log.mkdir()
        self.search(log, n_jobs=2, verbose=verbose).fit(*data)
        assert len(fits_by_process(log)) == 2  # a worker started and fitted
        out, err = capsys.readouterr()
        ours = [ln for ln in out.splitlines() if not ln.startswith("[CV]")]
        if verbose:  # (verbose=2 adds scikit-learn's "[CV] END" line per fit)
            assert ours[:2] == [
                "Fitting 4 folds for each of 6 candidates, totalling 24 fits",
                "24 fits: starting 1 worker(s) beside this process (est. 0.5 s "
                f"start-up vs {ours[1].split(' vs ')[1]}",
            ]
            assert err.splitlines()[-1].startswith("search: 24/24 fits")
        else:
            assert out == ""

    def test_a_fit_error_raises_in_the_search_wherever_it_ran(self, data, tmp_path):
        log = tmp_path / "log"
        log.mkdir()
        search = self.search(log, n_jobs=2, error_score="raise")
        search.set_params(param_grid={"fit_intercept": [True], "alpha": [-1.0]})
        # Ridge rejects a negative alpha, wherever it runs
        with pytest.raises(ValueError, match="alpha"):
            search.fit(*data)

    def test_threads_are_left_to_joblib(self, data, tmp_path, monkeypatch):
        def refuse(*args):
            raise AssertionError("threads must not be chunked")

        monkeypatch.setattr(_scheduler, "Chunks", refuse)
        log = tmp_path / "log"
        log.mkdir()
        with joblib.parallel_backend("threading", n_jobs=2):
            self.search(log, n_jobs=2).fit(*data)
        assert set(fits_by_process(log)) == {os.getpid()}


def test_pinning_by_default_and_its_opt_out(monkeypatch, tmp_path):
    import multiprocessing

    from seeded_keras import _threads

    calls = []
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    monkeypatch.setattr(os, "sched_setaffinity", lambda tid, cpus: calls.append(cpus))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # our own lock files

    def fresh():
        monkeypatch.setattr(_threads, "_pinned", {"done": False, "cpu": None})

    for setting, by_default, pinned in [
        ("0", True, False),  # the opt-out wins
        (None, True, True),  # seeded_keras's own workers
        (None, False, False),  # anyone else's, unasked
        ("1", False, True),  # anyone's, asked
    ]:
        fresh()
        calls.clear()
        if setting is None:
            monkeypatch.delenv(_threads.PIN_ENV_VAR, raising=False)
        else:
            monkeypatch.setenv(_threads.PIN_ENV_VAR, setting)
        cpu = _threads.pin_worker_to_a_cpu(by_default=by_default)
        assert (cpu is not None) == pinned == bool(calls), setting
        if pinned:  # the highest CPU first, every thread on it
            assert cpu == max(os.sched_getaffinity(0))
            assert all(c == {cpu} for c in calls)
            _threads._pinned["file"].close()  # releases the CPU's lock


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")
def test_a_lock_file_owned_by_another_user_leaves_the_worker_unpinned(tmp_path):
    # A shared temp directory where the lock file this worker would open
    # belongs to someone else and is not writable by it: no PermissionError
    # escapes, the worker runs unpinned and says so in one line.  The worker
    # is a forked child that runs as user nobody when we are root (root
    # opens anything).
    import multiprocessing
    import tempfile
    import warnings

    from seeded_keras import _threads

    shared = tmp_path / "tmp"
    shared.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(shared, 0o1777)  # like /tmp itself
    as_nobody = os.geteuid() == 0
    uid = 65534 if as_nobody else os.getuid()
    cpu = max(os.sched_getaffinity(0))
    lock = shared / f"seeded_keras-{uid}-cpu{cpu}.lock"
    lock.write_text("")
    os.chmod(lock, 0o444)  # root's (or read-only to us)
    import fcntl  # noqa: F401  (imported before the fork: the child imports nothing)
    import select
    import signal

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            os.close(read)
            if as_nobody:
                os.setgid(65534)
                os.setuid(65534)
            multiprocessing.parent_process = lambda: object()
            tempfile.tempdir = str(shared)
            os.environ["SEEDED_KERAS_PIN_WORKERS"] = "1"
            _threads._pinned.update(done=False, cpu=None, file=None)
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                got = _threads.pin_worker_to_a_cpu()
            lines = [repr(got)] + [f"{w.category.__name__}: {w.message}" for w in seen]
            os.write(write, "\n".join(lines).encode())
        finally:
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 60)
    if not ready:  # a lock another thread held at the fork: never hang
        os.kill(pid, signal.SIGKILL)
    with os.fdopen(read) as pipe:
        out = pipe.read().splitlines() if ready else ["(the worker hung)"]
    os.waitpid(pid, 0)
    assert out[0] == "None"
    assert len(out) == 2
    assert out[1].startswith(
        "RuntimeWarning: seeded_keras cannot pin this worker to a CPU "
        f"([Errno 13] Permission denied: '{lock}'"
    )
    assert out[1].endswith("it runs unpinned (the same results, perhaps slower).")
