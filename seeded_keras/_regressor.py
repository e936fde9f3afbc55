"""SeededKerasRegressor: scikeras' KerasRegressor with per-fit derived seeds.

The seeding contract and the fit's steps are shared with the classifier
(:class:`seeded_keras._base.SeededKeras`); what is the regressor's own is
here: numeric ``y``, float64 predictions and R².
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import r2_score
from sklearn.utils import RegressorTags
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import SeededKeras
from ._checks import check_xy
from ._compat._scikeras import ScikerasRegressor

__all__ = ["SeededKerasRegressor"]


class SeededKerasRegressor(SeededKeras, ScikerasRegressor):
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

    def _validated(self, X, y, reset):
        check_xy(X, y, type(self).__name__)  # our wording for strings/ndim
        return validate_data(
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
