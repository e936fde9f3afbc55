"""What the seeded regressor and classifier share: the seeding contract.

The fit, step by step (each a named method below):

1. :meth:`SeededKeras._seed_fit` -- validate data and parameters
   (:meth:`_validated`, the one step each wrapper words its own way),
   derive ``seed_``;
2. scikeras builds the model inside :meth:`_naming_context` and
   :meth:`_seeding_context`, compiles it, and checks it
   (:meth:`_check_compiled`); callbacks are copied afresh
   (:meth:`_fresh_callbacks`);
3. :meth:`_train_keras_model` -- the seeded holdout, epoch orders and
   batches (:mod:`seeded_keras._data`), trained on a pooled, already traced
   twin when there is one (:mod:`seeded_keras._trainer_pool`);
4. :meth:`_predict_keras_model` -- predict, on a traced twin when there is one.

scikeras' private steps are overridden in one place,
:mod:`seeded_keras._compat._scikeras`; :class:`SeededKeras` sits on the left
of its ``ScikerasRegressor`` or ``ScikerasClassifier``.
"""

from __future__ import annotations

import copy
import functools
import warnings
from contextlib import nullcontext
from numbers import Integral, Real

import numpy as np

from . import _compat, _data, _seeding, _threads, _trainer_pool
from ._checks import check_compile_routing, check_fit_params
from ._models import mlp, seeded_copy

__all__ = ["SeededKeras"]


class _Replayed:
    """A Keras ``History`` stand-in: the epochs of a fit continued in rungs,
    or trained in one execution."""

    def __init__(self, history: dict):
        self.history = history


def _itself(model):
    """A build function that returns ``model`` itself."""
    return model


class SeededKeras:
    """The seeding contract of every seeded wrapper, written once.

    Subclasses implement :meth:`_validated` (their checks of ``X`` and
    ``y``) and :meth:`_scikeras_fit` / :meth:`_scikeras_partial_fit`
    (scikeras' own fit steps after seeding).
    """

    _parameter_constraints: dict = {
        "random_state": ["random_state"],
        "repeat": [_compat.Interval(Integral, 0, None, closed="left")],
        "validation_fraction": [_compat.Interval(Real, 0, 1, closed="neither"), None],
        "epochs": [_compat.Interval(Integral, 1, None, closed="left")],
        "validation_split": [_compat.Interval(Real, 0, 1, closed="left")],
    }

    # ------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None, **kwargs):
        """Fit a freshly built, freshly seeded model to ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
            Never modified.
        **kwargs : dict
            Extra arguments to ``keras.Model.fit`` (prefer ``fit__*``).

        Returns
        -------
        self : object
            The fitted estimator, with ``seed_``, ``n_epochs_``, ...

        Raises
        ------
        ValueError, TypeError
            On bad input or parameters, before any training.
        """
        X, y, sample_weight = self._seed_fit(X, y, sample_weight, reset=True)
        with _compat.op_determinism():
            self._scikeras_fit(X, y, sample_weight, **kwargs)
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
        self : object
        """
        first = not self.initialized_
        X, y, sample_weight = self._seed_fit(X, y, sample_weight, reset=first)
        with _compat.op_determinism():
            self._scikeras_partial_fit(X, y, sample_weight, **kwargs)
        return self

    def initialize(self, X, y):
        """Build (and seed) the model for ``(X, y)`` without training it.

        scikeras' way to use a model for inference without fitting: a
        prebuilt ``model`` is used as it is (the instance, as in scikeras;
        ``fit`` trains a fresh seeded copy instead); a build
        function's model is built from the seed a ``fit`` on the same data
        would use.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self : object
        """
        X, y, _ = self._seed_fit(X, y, None, reset=True)
        self._initializing = True  # a prebuilt model is used as it is
        try:
            return self._scikeras_initialize(X, y)
        finally:
            del self._initializing

    # scikeras' own steps after seeding (the classifier fixes its classes)
    def _scikeras_fit(self, X, y, sample_weight, **kwargs):
        super().fit(X, y, sample_weight=sample_weight, **kwargs)

    def _scikeras_partial_fit(self, X, y, sample_weight, **kwargs):
        super().partial_fit(X, y, sample_weight=sample_weight, **kwargs)

    def _scikeras_initialize(self, X, y):
        return super().initialize(X, y)

    def _validated(self, X, y, reset):
        """``(X, y)`` checked and converted; raise before any training."""
        raise NotImplementedError

    def _seed_fit(self, X, y, sample_weight, reset):
        """Validate everything, then derive this fit's seed (no training)."""
        X, y = self._validated(X, y, reset)
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
        # initialised from the fit's seed (see _models.seeded_copy);
        # initialize() uses the instance itself, as scikeras does: a
        # prebuilt model, for inference without training.
        if getattr(self, "_initializing", False):
            return functools.partial(_itself, model)
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
        """Train ``model_`` on the seeded batches; return Keras' History.

        In a halving search's rung (``_rung_link``, :mod:`seeded_keras._rungs`)
        a fit continues from the snapshot its previous rung kept, and keeps
        its own for the next rung.
        """
        link = getattr(self, "_rung_link", None)
        if link is not None and initial_epoch == 0:
            return self._train_in_rung(link, X, y, sample_weight, epochs, args)
        history = self._train_epochs(X, y, sample_weight, epochs, initial_epoch, args)
        self._record_training(history)
        return history

    def _train_in_rung(self, link, X, y, sample_weight, epochs, args):
        """Continue from the previous rung's snapshot (a stopped fit is final)
        and keep this rung's; the same bits as training from scratch."""
        from . import _rungs

        resume = link.load(self.seed_)
        if resume is not None and resume.epoch > epochs:
            resume = None
        model = self.model_
        optimizer_variables = _trainer_pool.optimizer_variables(model)
        if resume is not None and (resume.stopped or resume.epoch == epochs):
            # nothing left to train: training from scratch ends here too
            _rungs.assign(model.variables, resume.final)
            _rungs.assign(optimizer_variables, resume.optimizer)
            _rungs.set_callback_states(self._keras_callbacks(), resume.callbacks)
            snapshot = resume
            history = _Replayed(resume.history)
            self._epochs_run = 0
        else:
            start = 0
            if resume is not None:
                _rungs.assign(model.variables, resume.variables)
                _rungs.assign(optimizer_variables, resume.optimizer)
                start = resume.epoch
            callbacks, capture = _rungs.around(self._keras_callbacks(), resume)
            history = self._train_epochs(
                X, y, sample_weight, epochs - start, start, args, callbacks
            )
            self._epochs_run = len(history.history.get("loss", []))
            earlier = resume.history if resume is not None else {}
            history = _Replayed(
                {
                    k: list(earlier.get(k, [])) + list(v)
                    for k, v in history.history.items()
                }
            )
            variables, optimizer, states, stopped = capture.state
            snapshot = _rungs.Snapshot(
                epoch=len(history.history.get("loss", [])),
                variables=variables,
                optimizer=optimizer,
                callbacks=states,
                history=history.history,
                stopped=stopped,
                final=_rungs.values(model.variables),
            )
        link.store(self.seed_, epochs, snapshot)
        self._record_training(history)
        return history

    def _train_epochs(
        self, X, y, sample_weight, epochs, initial_epoch, args, callbacks=None
    ):
        """Epochs ``initial_epoch`` .. ``initial_epoch + epochs`` of the fit."""
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
            logs = _trainer_pool.all_epochs(
                trainer, data, epochs, args, callbacks or self._keras_callbacks()
            )
            if logs is not None:  # every epoch in one execution
                _trainer_pool.copy_state(trainer, self.model_)
                return _Replayed(logs)
            quiet = trainer is not None and data.validation_data is not None
            with _compat.validation_in_one_execution() if quiet else nullcontext():
                history = model.fit(
                    data.dataset,
                    epochs=initial_epoch + epochs,
                    initial_epoch=initial_epoch,
                    steps_per_epoch=data.steps_per_epoch,
                    shuffle=False,  # the order is already shuffled from seed_
                    callbacks=callbacks or self._keras_callbacks(),
                    **args,
                )
            if trainer is not None:
                _trainer_pool.copy_state(trainer, self.model_)
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

    def _predict_keras_model(self, X, args):
        """Predict on a pooled traced twin of ``model_`` when there is one."""
        return _trainer_pool.predict(self, X, args)
