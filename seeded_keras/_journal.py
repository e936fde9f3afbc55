"""The results journal: every finished fit, written down by the process that ran it.

A search with ``journal=DIR`` hands scikit-learn a ``_fit_and_score`` that,
in whichever process runs the fit (the main process, a loky or dask
worker), first looks the fit up by its key and, when it is not there, fits,
scores and appends the result **before returning it**.  A crash, a Ctrl-C
or a killed worker therefore loses only the fits that were running; the
same search run again takes every finished fit from the journal.

The key is content-addressed (:func:`fit_key`): estimator class and every
parameter, typed (``1`` and ``1.0`` differ; callables by qualified name and
source), the fold's train and test indices, the data and fit parameters,
the scorer, ``return_train_score`` and the versions of seeded_keras, Keras,
TensorFlow, NumPy, scikit-learn and Python.  What cannot be keyed stably is
not journaled.  A changed anything is another key: nothing stale is reused.

The format is open: JSON lines, one file per writer process
(``<host>-<pid>-<random>.jsonl``), appended, flushed and fsynced; every
record carries a SHA-256 of its own content.  Scores are stored exactly
(``float.hex``).  A torn or corrupted line is skipped (that fit is refitted);
two different scores under one key are a determinism error.  No locks: a
directory shared by dask workers on several machines works the same.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import inspect
import json
import os
import platform
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import _compat

__all__ = [
    "JournalConflictError",
    "JournalWriteWarning",
    "JournalSpec",
    "fit_key",
    "load_journal",
    "read_records",
]

FORMAT = "seeded_keras/journal/v1"
_RESULT = _compat.FIT_RESULT  # the keys of scikit-learn's per-fit result
SCORE_FIELDS = (*_RESULT["scores"], _RESULT["n_test"], _RESULT["error"])


class JournalConflictError(RuntimeError):
    """Two different results were journaled for one fit: not deterministic."""


class JournalWriteWarning(RuntimeWarning):
    """The journal could not be written; the sweep went on in memory."""


class Unkeyable(TypeError):
    """A parameter has no stable description; such fits are not journaled."""


# ------------------------------------------------------------------ the key
def library_versions() -> dict:
    """Versions that enter every key (a new release refits)."""
    import keras
    import sklearn
    import tensorflow as tf

    from . import __version__

    return {
        "seeded_keras": __version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


def _float(x) -> list:
    return ["float", float(x).hex()]


@lru_cache(maxsize=256)
def _source_hash(func) -> str:
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        raise Unkeyable(f"no source for {func!r}") from None
    return hashlib.sha256(source.encode()).hexdigest()


def canonical(obj):
    """A typed, stable, JSON-able description of a parameter value."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return ["int", int(obj)]
    if isinstance(obj, (float, np.floating)):
        return _float(obj)
    if isinstance(obj, (list, tuple)):
        return [type(obj).__name__, [canonical(v) for v in obj]]
    if isinstance(obj, dict):
        return ["dict", [[str(k), canonical(v)] for k, v in sorted(obj.items())]]
    if isinstance(obj, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest()
        return ["ndarray", str(obj.dtype), list(obj.shape), digest]
    if isinstance(obj, type) or inspect.isfunction(obj) or inspect.ismethod(obj):
        name = f"{obj.__module__}.{obj.__qualname__}"
        source = _source_hash(obj) if not isinstance(obj, type) else None
        return ["callable", name, source]
    if hasattr(obj, "func") and hasattr(obj, "keywords"):  # functools.partial
        return [
            "partial",
            canonical(obj.func),
            canonical(obj.args),
            canonical(obj.keywords),
        ]
    if hasattr(obj, "get_params"):  # an estimator
        return [
            "estimator",
            f"{type(obj).__module__}.{type(obj).__qualname__}",
            canonical(obj.get_params(deep=False)),
        ]
    if hasattr(obj, "get_config"):  # a Keras object (callback, optimizer, ...)
        try:
            config = obj.get_config()
        except Exception:
            raise Unkeyable(f"{type(obj).__name__}.get_config() failed") from None
        return [
            "keras",
            f"{type(obj).__module__}.{type(obj).__qualname__}",
            canonical(config),
        ]
    raise Unkeyable(f"cannot key {type(obj).__name__} values")


def _indices_hash(indices) -> str:
    return hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()


def fit_key(estimator, parameters, train, test, context: dict) -> str:
    """The content address of one fit (see the module docstring)."""
    description = {
        "format": FORMAT,
        "estimator": canonical(estimator),
        "parameters": canonical(dict(parameters)),
        "train": _indices_hash(train),
        "test": _indices_hash(test),
        **context,
    }
    text = json.dumps(description, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def data_key(X, y, fit_params) -> str:
    """A fingerprint of the data and fit parameters (joblib's stable hash)."""
    import joblib

    return joblib.hash((X, y, sorted(fit_params.items())))


# --------------------------------------------------------------- the format
def _encode(value):
    if isinstance(value, (float, np.floating)):
        return {"f": float(value).hex()}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, dict):
        return {"d": {k: _encode(v) for k, v in value.items()}}
    return value  # None, str


def _decode(value):
    if isinstance(value, dict) and "f" in value:
        return float.fromhex(value["f"])
    if isinstance(value, dict) and "d" in value:
        return {k: _decode(v) for k, v in value["d"].items()}
    return value


def _checksum(record: dict) -> str:
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def make_record(key: str, result: dict, params: dict) -> dict:
    record = {
        "format": FORMAT,
        "key": key,
        "params": repr(params),
        "result": {
            k: _encode(v)
            for k, v in result.items()
            if k not in (*_RESULT["not_stored"], "resumed")
        },
        "written": time.time(),
        "writer": f"{socket.gethostname()}:{os.getpid()}",
    }
    record["sha256"] = _checksum(record)
    return record


def parse_line(line: str):
    """The record on one line, or None when the line is torn or corrupted."""
    try:
        record = json.loads(line)
        checksum = record.pop("sha256")
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    if record.get("format") != FORMAT or _checksum(record) != checksum:
        return None
    return record


def read_records(directory) -> list[dict]:
    """Every intact record in ``directory`` (damaged lines are skipped)."""
    records = []
    for path in sorted(Path(directory).glob("*.jsonl")):
        data = path.read_bytes()
        for raw in data.split(b"\n"):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if line.strip():
                record = parse_line(line)
                if record is not None:
                    records.append(record)
    return records


def index(directory) -> dict:
    """key -> result of every finished (not failed) fit in ``directory``.

    Raises
    ------
    JournalConflictError
        When one key carries two different scores.
    """
    found: dict = {}
    for record in read_records(directory):
        result = {k: _decode(v) for k, v in record["result"].items()}
        if result.get(_RESULT["error"]) is not None:
            continue  # a failed fit is retried on the next run
        key = record["key"]
        if key in found:
            before = {k: found[key].get(k) for k in SCORE_FIELDS}
            if before != {k: result.get(k) for k in SCORE_FIELDS}:
                raise JournalConflictError(
                    f"the journal in {directory} holds two different results for "
                    f"one fit ({record['params']}): {before} and "
                    f"{ {k: result.get(k) for k in SCORE_FIELDS} }. Fits are "
                    "deterministic only with the same thread count, library "
                    "versions and CPU type."
                )
            continue
        found[key] = result
    return found


def load_journal(directory):
    """A journal as a pandas DataFrame: one row per intact record.

    Parameters
    ----------
    directory : str or path
        The ``journal=`` directory of a search, finished or in progress.

    Returns
    -------
    pandas.DataFrame
        Columns ``key``, ``params``, ``fit_error``, ``fit_time``,
        ``score_time``, ``test_scores`` (and ``train_scores``),
        ``n_test_samples``, ``written`` (a timestamp) and ``writer``.

    Examples
    --------
    >>> import tempfile
    >>> from seeded_keras import load_journal
    >>> load_journal(tempfile.mkdtemp()).empty
    True
    """
    import pandas as pd

    rows = []
    for record in read_records(directory):
        result = {k: _decode(v) for k, v in record["result"].items()}
        rows.append(
            {
                "key": record["key"],
                "params": record["params"],
                **result,
                "written": pd.Timestamp(record["written"], unit="s"),
                "writer": record["writer"],
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- writing
_files: dict = {}  # (directory, pid) -> [open binary file, records written]
_files_lock = threading.Lock()
# (directory, pid) whose writing failed: the sweep goes on in memory
_given_up: set = set()


@atexit.register
def _close_files() -> None:
    """Every record is already fsynced; this only lets go of the handles."""
    with _files_lock:
        for handle, _ in _files.values():
            _close_quietly(handle)
        _files.clear()


def _close_quietly(handle) -> None:
    try:
        handle.close()  # unbuffered: nothing left to flush
    except OSError:
        pass


def _write_durably(handle, data: bytes) -> None:
    """Write all of ``data`` to the unbuffered ``handle``, then fsync."""
    view = memoryview(data)
    while view:
        written = handle.write(view)
        if not written:
            raise OSError(f"wrote nothing to {handle.name}")
        view = view[written:]
    os.fsync(handle.fileno())


def append(directory, record: dict) -> bool:
    """Append ``record`` to this process's file in ``directory``, durably.

    Returns whether it was written.  Any ``OSError`` -- a full disk, a
    read-only directory, a lost mount -- is not the sweep's end: this
    process warns once (the path, how many fits it wrote there) and writes
    nothing more to that journal; the sweep finishes in memory.  What was
    written stays readable (a torn last line is skipped), and a rerun
    resumes it.
    """
    directory = os.path.abspath(directory)
    where = (directory, os.getpid())
    line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    with _files_lock:
        if where in _given_up:
            return False
        entry = _files.get(where)
        try:
            if entry is None:
                os.makedirs(directory, exist_ok=True)
                name = (
                    f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
                )
                handle = open(os.path.join(directory, name), "ab", buffering=0)  # noqa: SIM115
                entry = _files[where] = [handle, 0]
            _write_durably(entry[0], line.encode("utf-8"))
        except OSError as exc:
            _given_up.add(where)
            written = 0
            if entry is not None:
                written = entry[1]
                _close_quietly(entry[0])
                del _files[where]
            _warn_not_written(directory, written, exc)
            return False
        entry[1] += 1
        return True


def _warn_not_written(directory, written: int, exc: OSError) -> None:
    import warnings

    warnings.warn(
        f"the journal in {directory} could not be written ({exc}); "
        f"{written} fit(s) of this process were written there and stay "
        "resumable. The sweep goes on in memory: its results are complete, "
        "but fits finished from now on are not journaled.",
        JournalWriteWarning,
        stacklevel=4,
    )


# ---------------------------------------------------- what travels to workers
_indexes: dict = {}
_indexes_lock = threading.Lock()


@dataclass
class JournalSpec:
    """What a worker needs to look fits up and write them down.

    ``token`` names one ``fit`` call: each process reads the journal once
    per call (fits finished during the call are its own).
    """

    directory: str
    context: dict
    token: str = field(default_factory=lambda: secrets.token_hex(8))

    def key(self, estimator, parameters, train, test):
        try:
            return fit_key(estimator, parameters, train, test, self.context)
        except Unkeyable:
            return None

    def lookup(self, key):
        with _indexes_lock:
            found = _indexes.get(self.token)
            if found is None:
                _indexes.clear()  # one search at a time per process
                # a new search may write where an earlier one could not
                _given_up.discard((os.path.abspath(self.directory), os.getpid()))
                try:
                    found = index(self.directory)
                except OSError as exc:  # unreadable: fit everything afresh
                    import warnings

                    warnings.warn(
                        f"the journal in {self.directory} could not be read "
                        f"({exc}); every fit runs afresh.",
                        JournalWriteWarning,
                        stacklevel=2,
                    )
                    found = {}
                _indexes[self.token] = found
        return found.get(key)


def journaled_fit_and_score(estimator, X, y, *, journal, real, **kwargs):
    """scikit-learn's ``_fit_and_score``, looked up in and written to the journal."""
    parameters, train, test = _compat.fit_task(kwargs)
    key = journal.key(estimator, parameters or {}, train, test)
    if key is not None:
        hit = journal.lookup(key)
        if hit is not None:
            result = _compat.result_with_parameters(dict(hit), kwargs)
            result["resumed"] = True
            return result
    result = real(estimator, X, y, **kwargs)
    if key is not None:
        append(journal.directory, make_record(key, result, parameters))
    result["resumed"] = False
    return result


def journaled(spec, original):
    """``original`` (scikit-learn's ``_fit_and_score``) behind ``spec``'s journal."""
    return functools.partial(journaled_fit_and_score, journal=spec, real=original)
