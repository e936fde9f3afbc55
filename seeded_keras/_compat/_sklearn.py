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
    "FIT_RESULT",
    "HalvingSteps",
    "Interval",
    "SearchSteps",
    "StrOptions",
    "base_format_results",
    "check_search_parameters",
    "fit_task",
    "result_with_parameters",
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


# ------------------------------------------- BaseSearchCV's private steps
@hook(
    "scikit-learn",
    "BaseSearchCV's private steps (_run_search, _format_results, "
    "_parameter_constraints, _skl_callbacks)",
    _SK,
)
class SearchSteps:
    """scikit-learn's private search steps, handed to named methods of ours.

    Put on the left of a scikit-learn search class (with the reconciled
    mixin).  Subclasses implement ``_candidates`` (the candidates of one
    run: a ``ParameterGrid``, a ``ParameterSampler``), ``_evaluate_seeded``
    and ``_merged_results``, and list their own parameters' constraints in
    ``_own_constraints``:

    ==========================  =========================================
    scikit-learn's private       what seeded_keras does there
    ==========================  =========================================
    ``_run_search``              :meth:`_evaluate_seeded` on
                                 :meth:`_candidates`
    ``_format_results``          :meth:`_merged_results` (seeds merged)
    ``_parameter_constraints``   the search's, plus ``_own_constraints``
    ``_skl_callbacks``           read by :meth:`_sklearn_callbacks_set`
    ==========================  =========================================
    """

    _own_constraints: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        theirs = next(
            (
                vars(k)["_parameter_constraints"]
                for k in cls.__mro__
                if k.__module__.startswith("sklearn.")
                and "_parameter_constraints" in vars(k)
            ),
            None,
        )
        if theirs is not None:
            cls._parameter_constraints = {**theirs, **cls._own_constraints}

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        self._evaluate_seeded(evaluate_candidates, self._candidates(), callback_ctx)

    def _format_results(self, candidate_params, n_splits, out, more_results=None):
        return self._merged_results(candidate_params, n_splits, out, more_results)

    def _sklearn_callbacks_set(self) -> bool:
        """Whether scikit-learn callbacks (1.9's ``set_callbacks``) are set."""
        return bool(getattr(self, "_skl_callbacks", None))


class HalvingSteps(SearchSteps):
    """scikit-learn's private halving steps, handed to named methods of ours.

    Put on the left of the reconciled mixin (itself on the left of a
    scikit-learn halving search).  Subclasses implement ``_run_rungs`` and
    ``_check_resources``:

    ============================  =========================================
    scikit-learn's private         what seeded_keras does there
    ============================  =========================================
    ``_run_search``                :meth:`_run_rungs` (our rung loop)
    ``_check_input_parameters``    scikit-learn's own for ``"n_samples"``;
                                   :meth:`_check_resources` for a parameter
                                   (scikit-learn 1.10 has no ``resource``)
    ``_n_samples_orig``            read by :meth:`_n_samples`
    ============================  =========================================
    """

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        self._run_rungs(evaluate_candidates, callback_ctx)

    def _check_input_parameters(self, X, y, split_params):
        if self.resource == "n_samples":
            return super()._check_input_parameters(X, y, split_params)
        return self._check_resources()

    def _n_samples(self) -> int:
        """The rows the halving search was fitted on."""
        return self._n_samples_orig


@hook("scikit-learn", "BaseSearchCV's _parameter_constraints", _SK)
def check_search_parameters(search) -> None:
    """Validate a search's parameters as its ``fit`` would, before any fit."""
    check_parameters(
        search._parameter_constraints,
        search.get_params(deep=False),
        caller_name=type(search).__name__,
    )


# ------------------------------------- _fit_and_score's arguments and result
#: The keys of ``_fit_and_score``'s result that seeded_keras reads or writes.
FIT_RESULT = {
    "scores": ("test_scores", "train_scores"),
    "times": ("fit_time", "score_time"),
    "error": "fit_error",
    "n_test": "n_test_samples",
    "not_stored": ("estimator", "parameters"),
}
_FIT_TASK_ARGUMENTS = ("train", "test", "parameters", "return_parameters")


def _check_fit_and_score_contract() -> None:
    import inspect

    from sklearn.model_selection import _validation

    function = getattr(_validation, "_fit_and_score", None)
    names = set(inspect.signature(function).parameters) if function else set()
    missing = [a for a in _FIT_TASK_ARGUMENTS if a not in names]
    if missing:
        raise fit_task.hook.error(
            f"_fit_and_score takes no {', '.join(missing)} argument"
        )


@hook(
    "scikit-learn",
    "sklearn.model_selection._validation._fit_and_score's arguments and result",
    _SK,
)
def fit_task(kwargs: dict) -> tuple:
    """``(parameters, train, test)`` of one ``_fit_and_score`` call's keywords.

    ``parameters`` is None for a fit without candidate parameters; ``train``
    and ``test`` are None when absent.
    """
    parameters = kwargs.get("parameters")
    if not isinstance(parameters, dict):
        parameters = None
    return parameters, kwargs.get("train"), kwargs.get("test")


def result_with_parameters(result: dict, kwargs: dict) -> dict:
    """``result`` as ``_fit_and_score`` returns it for these keywords."""
    if kwargs.get("return_parameters"):
        result["parameters"] = kwargs.get("parameters")
    return result


_check_fit_and_score_contract()
