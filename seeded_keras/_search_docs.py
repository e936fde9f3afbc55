"""The parameter and attribute docs the reconciled searches share, written once.

The twins' docstrings hold the lines ``<shared parameters>`` and ``<shared
attributes>`` (the halving twins also ``<halving parameters>`` and
``<halving attributes>``); :func:`fill_shared_docs` puts these texts in their place (as
skorch and imbalanced-learn share docstring fragments instead of copying
them).
"""

from __future__ import annotations

import re
import textwrap

__all__ = [
    "HALVING_ATTRIBUTES",
    "HALVING_PARAMETERS",
    "SHARED_ATTRIBUTES",
    "SHARED_PARAMETERS",
    "fill_shared_docs",
]

#: Parameter docs both searches share (numpydoc), inserted in their docstrings.
SHARED_PARAMETERS = """\
    scoring : str, callable, list, tuple, dict or None, default=None
        As in scikit-learn.  :meth:`reconcile` compares MSE, so it needs
        ``"neg_mean_squared_error"`` among the scorers; with it,
        ``cv_results_`` also gains ``mean_test_mse`` (positive),
        ``std_fold_mse`` and ``std_seed_mse``.
    n_jobs : int or None, default=None
        Works with joblib's loky, threading and dask backends, with results
        bitwise identical to ``n_jobs=1``.  On loky, the parent process is
        one of the ``n_jobs`` and workers start only when the sweep pays
        for them; on Linux each worker keeps to a CPU of its own
        (``SEEDED_KERAS_PIN_WORKERS=0`` opts out; see the parallel guide).
        Results are the same bits either way.
    refit : bool, str or callable, default=True
    cv : int, cross-validation generator or iterable, default=None
        Frozen once per ``fit`` into ``splits_``.
    verbose : int, default=0
        As in scikit-learn; any positive value also prints one line saying
        where the fits run (this process, workers started or not, and why)
        and progress (fits done / total, elapsed, ETA) as fits finish,
        wherever they run (unless scikit-learn callbacks are set, which
        report progress themselves).  It never changes where fits run.
    pre_dispatch : int or str, default="2*n_jobs"
    error_score : "raise" or numeric, default=np.nan
        As in scikit-learn: a failing fit scores ``error_score`` and the
        search warns with scikit-learn's ``FitFailedWarning`` at the end;
        ``"raise"`` stops at the first failure.  Failures are kept in
        ``fit_failures_`` (candidate, split, repeat, message), in the
        journal, and named in the reconciliation report.
    return_train_score : bool, default=False
    journal : str, path or None, default=None
        A directory where every finished fit is written down, by the
        process that ran it, before its result is returned.  Running the
        same search again with the same journal takes every finished fit
        from it (``n_fits_resumed_``) and runs only the rest, with the same
        scores bit for bit.  (A loky worker that dies costs only its
        running fits, journal or not: the parent runs them again.)  A journal
        that cannot be written warns and the sweep finishes in memory.  Anything
        changed -- a parameter, the data, a fold, a library version --
        refits.  See :func:`~seeded_keras.load_journal` and the guide.
"""

SHARED_ATTRIBUTES = """\
    splits_ : list of (ndarray, ndarray)
        The folds every path used.
    random_state_ : int or None
        Base seed given to the SeededKerasRegressors (None when there is none).
    base_estimator_ : estimator
        The unfitted estimator every fit was cloned from (``estimator`` with
        the seed base set).
    fit_failures_ : list of dict
        ``candidate``, ``split``, ``repeat`` and ``message`` of each failed fit.
    n_fits_resumed_ : int
        Fits taken from ``journal`` instead of run (0 without a journal).
    cv_results_ : dict of ndarray
        As in scikit-learn; with ``n_seeds > 1`` also
        ``split{i}_seed{j}_test_<name>`` per seed (the split column is their
        mean) and, with an MSE scorer, ``mean_test_mse``, ``std_fold_mse``
        (spread of the seed-averaged MSE across folds) and ``std_seed_mse``
        (spread of the fold-averaged MSE across seeds).
    best_estimator_, best_params_, best_score_, best_index_, scorer_, \
n_splits_, refit_time_, multimetric_
        As in scikit-learn.
"""


#: Parameter docs both halving searches share.
HALVING_PARAMETERS = """\
    factor : int or float, default=3
    resource : str, default="n_samples"
        As in scikit-learn (kept where scikit-learn 1.10 removed it):
        ``"n_samples"`` subsamples the frozen folds per rung; any other
        estimator parameter is set to the rung's budget.  The seeded
        estimator's ``"epochs"`` (``"net__epochs"`` in a Pipeline) makes
        rungs continue training (``rungs``).
    max_resources : int or "auto", default="auto"
    aggressive_elimination : bool, default=False
    cv : int, cross-validation generator or iterable, default=5
        Frozen once per ``fit`` into ``splits_``.
    scoring : str, callable or None, default=None
        One scorer, as in scikit-learn's halving searches.
        :meth:`reconcile` needs ``"neg_mean_squared_error"`` (a
        classifier: ``"neg_log_loss"``).
    refit : bool, default=True
        The best candidate of the last rung, as in scikit-learn.
    error_score : "raise" or numeric, default=np.nan
    return_train_score : bool, default=True
    random_state : int, RandomState or None, default=None
        The seed base of every seeded fit, the subsample of
        ``resource="n_samples"`` and (random twin) the candidates drawn.
    n_jobs : int or None, default=None
        Every rung is one batch of fits, scheduled as in the other
        reconciled searches; promotions wait for the whole rung, so
        ``n_jobs`` changes nothing in the results.
    verbose : int, default=0
    n_seeds : int, default=1
        Fits per (candidate, fold, rung); promotion ranks the mean over
        folds x seeds.
    journal : str, path or None, default=None
        As in :class:`ReconciledSearchCV`; with ``rungs="continue"`` the
        snapshots are kept in its ``snapshots`` folder, so a sweep killed
        between rungs resumes and continues.
    rungs : {"continue", "retrain"}, default="continue"
        With an ``epochs`` resource: ``"continue"`` trains a promoted fit on
        from its previous rung's snapshot (weights, optimizer state and
        iteration count, dropout seed state, early stopping's state), which
        gives the same bits as ``"retrain"`` -- every rung from scratch, as
        scikit-learn does -- in fewer epochs.  Snapshots live on disk: in
        ``journal``, or in a temporary folder removed after ``fit``.  Other
        resources always retrain.
"""

#: Attribute docs both halving searches share.
HALVING_ATTRIBUTES = """\
    n_resources_, n_candidates_, n_remaining_candidates_, \
n_required_iterations_, n_possible_iterations_, n_iterations_, \
min_resources_, max_resources_
        As in scikit-learn.
    rungs_ : list of dict
        Each rung's ``iter``, ``n_resources`` and ``candidates`` (indices in
        the first rung's candidate list, in candidate order).
    rung_splits_ : list of list of (ndarray, ndarray)
        Each rung's folds (subsamples of ``splits_`` for ``"n_samples"``).
    all_cv_results_ : dict of ndarray
        Every rung's rows (``iter``, ``n_resources``), as scikit-learn 1.10
        keeps its history; with scikit-learn <= 1.9 the same as
        ``cv_results_``.
    epochs_trained_ : int
        Epochs trained by this ``fit`` over all fits of every rung (0 for
        fits taken from the journal), with an ``epochs`` resource.
"""


def fill_shared_docs(cls):
    """Class decorator: put the shared parameter and attribute docs in place
    of the ``<shared parameters>`` and ``<shared attributes>`` lines."""
    doc = cls.__doc__
    if not doc:  # python -OO
        return cls
    for marker, text in (
        ("<shared parameters>", SHARED_PARAMETERS),
        ("<shared attributes>", SHARED_ATTRIBUTES),
        ("<halving parameters>", HALVING_PARAMETERS),
        ("<halving attributes>", HALVING_ATTRIBUTES),
    ):
        found = re.search(rf"^([ \t]*){marker}\n", doc, re.M)
        if found is None:
            continue
        indented = textwrap.indent(textwrap.dedent(text), found.group(1))
        doc = doc[: found.start()] + indented + doc[found.end() :]
    cls.__doc__ = doc
    return cls
