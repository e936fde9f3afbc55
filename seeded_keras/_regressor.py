"""SeededKerasRegressor: scikeras' KerasRegressor with per-fit derived seeds.

The fit, step by step (each a named method below):

1. :meth:`_seed_fit` -- validate data and parameters, derive ``seed_``;
2. scikeras builds the model inside :meth:`_naming_context` and
   :meth:`_seeding_context`, compiles it, and checks it
   (:meth:`_check_compiled`); callbacks are copied afresh
   (:meth:`_fresh_callbacks`);
3. :meth:`_train_keras_model` -- the seeded holdout, epoch orders and
   batches (:mod:`seeded_keras._data`), trained on a pooled, already traced
   twin when there is one (:mod:`seeded_keras._trainer_pool`);
4. :meth:`_predict_keras_model` -- predict, on a traced twin when there is one.

scikeras' private steps are overridden in one place,
:class:`seeded_keras._compat._scikeras.ScikerasRegressor`.
"""

from __future__ import annotations

import copy
import functools
import warnings
from contextlib import nullcontext
from numbers import Integral, Real

import numpy as np
from sklearn.metrics import r2_score
from sklearn.utils import RegressorTags
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _compat, _data, _seeding, _threads, _trainer_pool
from ._checks import check_compile_routing, check_fit_params, check_xy
from ._compat._scikeras import ScikerasRegressor
from ._models import mlp, seeded_copy

__all__ = ["SeededKerasRegressor"]


class SeededKerasRegressor(ScikerasRegressor):
    """A scikeras ``KerasRegressor`` whose every fit is seeded from its data.

    Same hyperparameters, same training rows, same ``random_state`` and
    ``repeat`` give the same model bit for bit on CPU -- in this process, in
    a fresh interpreter, after unrelated fits, in concurrent threads and in
    joblib/dask workers.

    **The seeding contract** (written once, in :mod:`seeded_keras._seeding`).
    Each ``fit`` derives ``seed_`` as a SHA-256 of (the resolved
    ``random_state``, a fingerprint of the training data as the model sees
    it, ``repeat``): the same values give the same seed whatever their
    container, dtype or memory order; different folds get different seeds;
    every candidate of a grid gets the same seed on the same fold and repeat.
    Initialisers, dropout, the epoch order and the ``validation_fraction``
    holdout all draw from ``seed_`` through generators private to the fit;
    no process-global RNG is read or written.  A build function should take
    its randomness from Keras initialisers.  TF op determinism is on while
    fitting and restored after.

    **Speed.**  A model of built-in Keras objects trains (and predicts) on an
    already traced twin from a process-wide pool, one epoch per execution,
    with its own variables copied in and out: the same bits, several times
    faster for small networks.  ``SEEDED_KERAS_REUSE=0`` turns this off.

    Parameters
    ----------
    model : callable, keras.Model or None, default=None
        Build function (may take ``meta``, ``compile_kwargs`` and routed
        ``model__*`` arguments) or model, as in scikeras.  ``None`` uses
        :func:`seeded_keras.mlp`, one hidden layer of 16 units.
    random_state : int, numpy.random.RandomState or None, default=None
        Base of the derived seed, resolved in ``fit`` and stored as
        ``random_state_``.  ``None`` draws a fresh base each fit; to replay
        that fit exactly, fit a clone with ``random_state=est.random_state_``
        on the same data (and the same ``repeat``).
    repeat : int, default=0
        Index of a repeated run on the same data: each value gives another
        seed, hence another initialisation and data order.
    validation_fraction : float in (0, 1) or None, default=None
        Hold out this fraction of this fit's training rows, chosen by a
        seeded shuffle, as Keras validation data (so
        ``EarlyStopping(monitor="val_loss")`` sees a fair split).  Prefer
        it to Keras' ``validation_split``, which takes the last rows
        unshuffled.
    optimizer : str or keras optimizer class/instance, default="rmsprop"
        Routed parameters ``optimizer__<name>`` are checked against the
        optimizer's constructor.
    loss : str, keras loss or None, default="mse"
    metrics : list or None, default=None
    batch_size : int or None, default=None
        ``None`` means 32 (Keras' default); ``-1`` means the whole set.
    validation_batch_size : int or None, default=None
    verbose : int, default=0
        Keras' verbosity; 0 keeps sweeps quiet.
    callbacks : list or None, default=None
        Copied afresh for every fit, so no state or model reference is
        carried from one fold to the next.
    validation_split : float, default=0.0
        Keras' unshuffled tail holdout; warns and points to
        ``validation_fraction``.
    shuffle : bool, default=True
        Shuffle the training rows every epoch (seeded from ``seed_``).
    run_eagerly : bool, default=False
    epochs : int, default=1
    warm_start : bool, default=False
    **kwargs
        Routed parameters (``optimizer__learning_rate``, ``model__...``,
        ``fit__...``, ``callbacks__...``), as in scikeras.

    Attributes
    ----------
    seed_ : int
        The seed this fit used.
    random_state_ : int
        The resolved ``random_state`` base.
    fingerprint_ : str
        SHA-256 of the training data as the model saw it.
    n_epochs_ : int
        Epochs run by the last ``fit``.
    best_epoch_ : int or None
        1-based epoch with the best monitored value when an
        ``EarlyStopping`` callback was used, else None.
    model_ : keras.Model
    history_ : dict
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.

    See Also
    --------
    seeded_keras.ReconciledSearchCV : grid search that shares folds, seeds
        and settings with a plain manual loop.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from seeded_keras import SeededKerasRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> est = SeededKerasRegressor(random_state=0, epochs=2).fit(X[:100], y[:100])
    >>> again = SeededKerasRegressor(random_state=0, epochs=2).fit(X[:100], y[:100])
    >>> bool((est.predict(X[:5]) == again.predict(X[:5])).all())
    True
    >>> est.seed_ == again.seed_
    True
    """

    _parameter_constraints: dict = {
        "random_state": ["random_state"],
        "repeat": [_compat.Interval(Integral, 0, None, closed="left")],
        "validation_fraction": [_compat.Interval(Real, 0, 1, closed="neither"), None],
        "epochs": [_compat.Interval(Integral, 1, None, closed="left")],
        "validation_split": [_compat.Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        model=None,
        *,
        build_fn=None,
        warm_start=False,
        random_state=None,
        repeat=0,
        validation_fraction=None,
        optimizer="rmsprop",
        loss="mse",
        metrics=None,
        batch_size=None,
        validation_batch_size=None,
        verbose=0,
        callbacks=None,
        validation_split=0.0,
        shuffle=True,
        run_eagerly=False,
        epochs=1,
        **kwargs,
    ):
        super().__init__(
            model=model,
            build_fn=build_fn,
            warm_start=warm_start,
            random_state=random_state,
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            batch_size=batch_size,
            validation_batch_size=validation_batch_size,
            verbose=verbose,
            callbacks=callbacks,
            validation_split=validation_split,
            shuffle=shuffle,
            run_eagerly=run_eagerly,
            epochs=epochs,
            **kwargs,
        )
        self.repeat = repeat
        self.validation_fraction = validation_fraction

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        tags.regressor_tags = RegressorTags()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None, **kwargs):
        """Fit a freshly built, freshly seeded model to ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
        **kwargs : dict
            Extra arguments to ``keras.Model.fit`` (prefer ``fit__*``).

        Returns
        -------
        self : SeededKerasRegressor
            The fitted estimator, with ``seed_``, ``n_epochs_``, ...

        Raises
        ------
        ValueError, TypeError
            On bad input or parameters, before any training.
        """
        X, y, sample_weight = self._seed_fit(X, y, sample_weight, reset=True)
        with _compat.op_determinism():
            super().fit(X, y, sample_weight=sample_weight, **kwargs)
        return self

    def partial_fit(self, X, y, sample_weight=None, **kwargs):
        """Train one more epoch, seeded like :meth:`fit`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
        **kwargs : dict
            Extra arguments to ``keras.Model.fit``.

        Returns
        -------
        self : SeededKerasRegressor
        """
        first = not self.initialized_
        X, y, sample_weight = self._seed_fit(X, y, sample_weight, reset=first)
        with _compat.op_determinism():
            super().partial_fit(X, y, sample_weight=sample_weight, **kwargs)
        return self

    def initialize(self, X, y):
        """Build (and seed) the model for ``(X, y)`` without training it.

        scikeras' way to use a model for inference without fitting; the
        model is built from the seed a ``fit`` on the same data would use.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self : SeededKerasRegressor
        """
        X, y, _ = self._seed_fit(X, y, None, reset=True)
        return super().initialize(X, y)

    def _seed_fit(self, X, y, sample_weight, reset):
        """Validate everything, then derive this fit's seed (no training)."""
        check_xy(X, y, type(self).__name__)  # our wording for strings/ndim
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype="numeric",
            multi_output=True,
            y_numeric=True,
            ensure_all_finite=True,
            allow_nd=True,
        )
        if sample_weight is not None:
            sample_weight = _compat.check_sample_weight(sample_weight, X)
        # stacklevel 3: the user's call of fit, partial_fit or initialize
        self._validation_split = check_fit_params(self, len(X), stacklevel=3)
        if isinstance(self.random_state, np.random.RandomState):
            warnings.warn(
                "random_state is a numpy RandomState: each fit draws its seed "
                "base from it, so fits depend on how many came before. Only an "
                "int (or None with a search's random_state) gives every path "
                "the same seeds; reconcile needs one.",
                UserWarning,
                stacklevel=3,
            )
        self.random_state_ = _seeding.resolve_random_state(self.random_state)
        self.fingerprint_ = _seeding.fingerprint(X, y, sample_weight)
        self.seed_ = _seeding.derive_seed(
            self.random_state_, self.fingerprint_, self.repeat
        )
        _threads.warn_if_threads_unpinned()
        _threads.pin_worker_to_a_cpu()  # only with SEEDED_KERAS_PIN_WORKERS=1
        return X, y, sample_weight

    # ------------------------------------- the steps scikeras hands to us
    _own_attributes = frozenset(
        {"random_state_", "fingerprint_", "seed_", "n_epochs_", "best_epoch_"}
    )

    def _default_build_fn(self):
        return mlp

    def _copy_build_fn(self, model):
        # A model instance is a template: every fit trains a fresh copy,
        # initialised from the fit's seed (see _models.seeded_copy).
        return functools.partial(seeded_copy, model)

    def _naming_context(self):
        # Build and compile name their objects as a fresh interpreter would
        # (see _compat.fresh_names): the same names in every fit, no growth.
        return _compat.fresh_names()

    def _seeding_context(self):
        return _seeding.seeded_build(self.seed_)

    def _check_compiled(self, compiled_by_build: bool) -> None:
        if compiled_by_build:
            check_compile_routing(self)

    def _fresh_callbacks(self, callbacks):
        # Fresh copies for every fit: nothing carried from one fold to the next.
        return [copy.deepcopy(cb) for cb in callbacks]

    def _train_keras_model(self, X, y, sample_weight, epochs, initial_epoch, args):
        """Train ``model_`` on the seeded batches; return Keras' History."""
        args.pop("validation_split", None)  # the holdout is ours
        data = _data.training_data(
            X,
            y,
            sample_weight,
            self.seed_,
            batch_size=args.pop("batch_size", None) or 32,
            shuffle=args.pop("shuffle", True),
            epochs=epochs,
            initial_epoch=initial_epoch,
            validation_fraction=self.validation_fraction,
            validation_split=self._validation_split,
            validation_batch_size=args.pop("validation_batch_size", None),
        )
        if data.validation_data is not None:
            args["validation_data"] = data.validation_data
        pool = _trainer_pool.lend_to_fit(self, data.steps_per_epoch, data.structure)
        with pool as trainer:
            model = self.model_
            if trainer is not None:  # same graph, already traced: see _trainer_pool
                _trainer_pool.copy_state(model, trainer)
                model = trainer
            quiet = trainer is not None and data.validation_data is not None
            with _compat.validation_in_one_execution() if quiet else nullcontext():
                history = model.fit(
                    data.dataset,
                    epochs=initial_epoch + epochs,
                    initial_epoch=initial_epoch,
                    steps_per_epoch=data.steps_per_epoch,
                    shuffle=False,  # the order is already shuffled from seed_
                    callbacks=self._keras_callbacks(),
                    **args,
                )
            if trainer is not None:
                _trainer_pool.copy_state(trainer, self.model_)
        self._record_training(history)
        return history

    def _record_training(self, history) -> None:
        """Epochs run, the early-stopping epoch; callbacks let go of the model."""
        import keras

        self.n_epochs_ = len(history.history.get("loss", []))
        self.best_epoch_ = None
        for cb in self._keras_callbacks():
            if isinstance(cb, keras.callbacks.EarlyStopping):
                self.best_epoch_ = int(cb.best_epoch) + 1
            cb.set_model(None)  # no model reference outlives the fit

    # --------------------------------------------------------------- predict
    def predict(self, X, **kwargs):
        """Predict with the fitted model, as float64.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        **kwargs : dict
            Extra arguments to ``keras.Model.predict``.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs), float64
        """
        check_is_fitted(self, "model_")
        X = validate_data(
            self, X, reset=False, dtype="numeric", ensure_all_finite=True, allow_nd=True
        )
        return np.asarray(super().predict(X, **kwargs), dtype=np.float64)

    def _predict_keras_model(self, X, args):
        """Predict on a pooled traced twin of ``model_`` when there is one."""
        return _trainer_pool.predict(self, X, args)

    def score(self, X, y, sample_weight=None):
        """R² of ``predict(X)`` against ``y`` (scikit-learn's convention).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        return float(r2_score(y, self.predict(X), sample_weight=sample_weight))
