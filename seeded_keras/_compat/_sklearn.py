"""Hooks into scikit-learn's private modules and search internals."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ._registry import calls, hook
from .versions import CHECKED

_SK = CHECKED["scikit-learn"]

try:  # parameter validation: private module, public behaviour
    from sklearn.utils._param_validation import (
        Interval,
        StrOptions,
        validate_parameter_constraints,
    )
    from sklearn.utils.validation import _check_sample_weight
except ImportError as exc:  # pragma: no cover - only on an unchecked release
    from ._registry import CompatError

    raise CompatError(
        f"seeded_keras needs scikit-learn's parameter validation helpers "
        f"(checked on scikit-learn {_SK}): {exc}"
    ) from None

__all__ = [
    "Interval",
    "StrOptions",
    "base_format_results",
    "check_parameters",
    "check_sample_weight",
    "fit_and_score_replaced",
    "parallel_replaced",
    "safe_indexing",
    "search_with",
]


@hook("scikit-learn", "sklearn.utils._param_validation", _SK)
def check_parameters(constraints: dict, params: dict, caller_name: str) -> None:
    """Validate ``params`` against ``constraints`` (``_parameter_constraints``)."""
    validate_parameter_constraints(constraints, params, caller_name=caller_name)


@hook("scikit-learn", "sklearn.utils.validation._check_sample_weight", _SK)
def check_sample_weight(sample_weight, X):
    """``sample_weight`` as a float ndarray of one weight per row of ``X``."""
    return _check_sample_weight(sample_weight, X)


@hook("scikit-learn", "sklearn.utils._safe_indexing", _SK)
def safe_indexing(X, indices):
    """Rows ``indices`` of an array, list, DataFrame or Series."""
    from sklearn.utils import _safe_indexing

    return _safe_indexing(X, indices)


@hook("scikit-learn", "BaseSearchCV._format_results", _SK)
def base_format_results(search, candidate_params, n_splits, out, more_results):
    """scikit-learn's ``BaseSearchCV._format_results`` on ``search``."""
    from sklearn.model_selection._search import BaseSearchCV

    method = getattr(BaseSearchCV, "_format_results", None)
    if method is None:
        raise base_format_results.hook.error("BaseSearchCV has no _format_results")
    return method(search, candidate_params, n_splits, out, more_results)


@hook("scikit-learn", "BaseSearchCV.fit's reads of estimator and cv", _SK)
@contextmanager
def search_with(search, **overrides) -> Iterator[None]:
    """Run ``BaseSearchCV.fit`` with some constructor parameters replaced.

    ``BaseSearchCV.fit`` reads ``self.estimator`` and ``self.cv`` directly and
    has no hook for handing it a prepared estimator or an already-frozen list
    of splits.  The originals are restored when the block exits, so
    ``get_params()`` and ``clone`` are unaffected after ``fit``.
    """
    saved = {k: getattr(search, k) for k in overrides}
    try:
        for k, v in overrides.items():
            setattr(search, k, v)
        yield
    finally:
        for k, v in saved.items():
            setattr(search, k, v)


_patch_lock = threading.Lock()


@hook("scikit-learn", "sklearn.model_selection._search._fit_and_score", _SK)
@contextmanager
def fit_and_score_replaced(make) -> Iterator[None]:
    """Let ``BaseSearchCV.fit`` call ``make(original)`` instead of its
    ``_fit_and_score`` (what it sends to every worker), for this block.

    One such block at a time per process; a second raises.
    """
    from sklearn.model_selection import _search

    original = getattr(_search, "_fit_and_score", None)
    if original is None or not calls(_search.BaseSearchCV.fit, "_fit_and_score"):
        raise fit_and_score_replaced.hook.error(
            "BaseSearchCV.fit no longer calls _search._fit_and_score"
        )
    if not _patch_lock.acquire(blocking=False):
        raise RuntimeError(
            "another search with a journal is running in this process; run "
            "journaled searches one after the other"
        )
    try:
        _search._fit_and_score = make(original)
        yield
    finally:
        _search._fit_and_score = original
        _patch_lock.release()


_parallel_users = {"count": 0, "original": None}
_patch_lock_parallel = threading.Lock()


@hook(
    "scikit-learn",
    "sklearn.model_selection._search.Parallel",
    _SK,
    on_failure="fallback: fits are dispatched one by one, as scikit-learn does",
)
@contextmanager
def parallel_replaced(cls) -> Iterator[None]:
    """Let ``BaseSearchCV.fit`` build ``cls`` instead of scikit-learn's
    ``Parallel`` while any such block runs in this process.

    ``cls`` must behave exactly as scikit-learn's ``Parallel`` for a search
    that is not a seeded_keras one (another thread's ``GridSearchCV``): the
    replacement is process-wide, counted, and restored by the last block.
    """
    from sklearn.model_selection import _search

    if not hasattr(_search, "Parallel") or not calls(
        _search.BaseSearchCV.fit, "Parallel"
    ):
        parallel_replaced.hook.fall_back("BaseSearchCV.fit no longer calls Parallel")
        yield
        return
    with _patch_lock_parallel:
        if _parallel_users["count"] == 0:
            _parallel_users["original"] = _search.Parallel
            _search.Parallel = cls
        _parallel_users["count"] += 1
    try:
        yield
    finally:
        with _patch_lock_parallel:
            _parallel_users["count"] -= 1
            if _parallel_users["count"] == 0:
                _search.Parallel = _parallel_users["original"]
