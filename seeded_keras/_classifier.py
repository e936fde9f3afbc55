"""SeededKerasClassifier: scikeras' KerasClassifier with per-fit derived seeds.

The seeding contract and the fit's steps are the regressor's
(:class:`seeded_keras._base.SeededKeras`); what is the classifier's own is
here: labels of any type, classes that can be fixed once for every fit
(``classes``), and float64 probabilities whose rows sum to one.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import accuracy_score
from sklearn.utils import ClassifierTags
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _compat
from ._base import SeededKeras
from ._checks import check_labels, check_xy
from ._compat._scikeras import ScikerasClassifier

__all__ = ["SeededKerasClassifier"]


class SeededKerasClassifier(SeededKeras, ScikerasClassifier):
    """A scikeras ``KerasClassifier`` whose every fit is seeded from its data.

    The seeding contract is :class:`SeededKerasRegressor`'s, word for word:
    ``seed_`` is a SHA-256 of (the resolved ``random_state``, a fingerprint
    of the training data -- labels as given, strings included -- and
    ``repeat``), and initialisers, dropout, the epoch order and the
    ``validation_fraction`` holdout draw from it without touching any
    global random state.  Same hyperparameters, same rows, same seed: the
    same model bit for bit on CPU, in every process, thread and worker.

    What is a classifier's own:

    * ``classes`` fixes the class list (and so the encoding and the width of
      the output layer) for every fit.  A search sets it from the whole
      ``y`` (:class:`ReconciledSearchCV`), so a fold that misses a class
      still has one ``predict_proba`` column per class, in the same order.
    * :meth:`predict_proba` returns float64 rows that sum to one (each
      divided by its sum in float64), so scikit-learn's ``log_loss`` clips
      them at float64's epsilon in every path: one clipping rule, not
      Keras' 1e-7 for float32.  :meth:`predict` is the argmax of those rows.
    * The caller's ``sample_weight`` is never modified; ``class_weight``
      multiplies a copy.

    Parameters
    ----------
    model : callable, keras.Model or None, default=None
        Build function or model, as in scikeras.  ``None`` uses
        :func:`seeded_keras.mlp`, whose head and loss follow the target:
        one sigmoid unit and binary cross-entropy for two classes, softmax
        and sparse categorical cross-entropy for more (categorical for a
        one-hot ``y``), sigmoids for a multilabel indicator.
    classes : array-like of shape (n_classes,) or None, default=None
        Every class label, in order.  ``None`` learns them from each fit's
        ``y``.  Labels of ``y`` outside ``classes`` are an error before
        training.
    class_weight : dict, "balanced" or None, default=None
        As in scikeras: turned into per-row weights of each fit's ``y``.
    random_state : int, numpy.random.RandomState or None, default=None
        Base of the derived seed (see :class:`SeededKerasRegressor`).
    repeat : int, default=0
        Index of a repeated run on the same data (another seed).
    validation_fraction : float in (0, 1) or None, default=None
        A seeded, shuffled holdout of the training rows as Keras'
        validation data.
    optimizer : str or keras optimizer class/instance, default="rmsprop"
    loss : str, keras loss or None, default=None
        ``None``: the default model picks it from the target type.
    metrics : list or None, default=None
    batch_size : int or None, default=None
    validation_batch_size : int or None, default=None
    verbose : int, default=0
    callbacks : list or None, default=None
        Copied afresh for every fit.
    validation_split : float, default=0.0
        Keras' unshuffled tail holdout; warns.
    shuffle : bool, default=True
    run_eagerly : bool, default=False
    epochs : int, default=1
    warm_start : bool, default=False
    **kwargs
        Routed parameters, as in scikeras.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_classes_ : int
    seed_ : int
    random_state_ : int
    fingerprint_ : str
    n_epochs_ : int
    best_epoch_ : int or None
    model_ : keras.Model
    history_ : dict
    n_features_in_ : int

    See Also
    --------
    seeded_keras.SeededKerasRegressor : the same contract for regression.
    seeded_keras.ReconciledSearchCV : stratified folds frozen, classes fixed.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from seeded_keras import SeededKerasClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SeededKerasClassifier(random_state=0, epochs=2).fit(X, y)
    >>> again = SeededKerasClassifier(random_state=0, epochs=2).fit(X, y)
    >>> bool((clf.predict_proba(X) == again.predict_proba(X)).all())
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints: dict = {
        **SeededKeras._parameter_constraints,
        "classes": ["array-like", None],
        "class_weight": [dict, _compat.StrOptions({"balanced"}), None],
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
        classes=None,
        optimizer="rmsprop",
        loss=None,
        metrics=None,
        batch_size=None,
        validation_batch_size=None,
        verbose=0,
        callbacks=None,
        validation_split=0.0,
        shuffle=True,
        run_eagerly=False,
        epochs=1,
        class_weight=None,
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
            class_weight=class_weight,
            **kwargs,
        )
        self.repeat = repeat
        self.validation_fraction = validation_fraction
        self.classes = classes

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags(multi_label=True)
        tags.target_tags.required = True
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------- fit
    def partial_fit(self, X, y, classes=None, sample_weight=None, **kwargs):
        """Train one more epoch, seeded like :meth:`fit`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        classes : array-like of shape (n_classes,), default=None
            Every label of the later calls (first call only), as in
            scikeras; default the ``classes`` parameter, else ``y``'s.
        sample_weight : array-like of shape (n_samples,), default=None
        **kwargs : dict
            Extra arguments to ``keras.Model.fit``.

        Returns
        -------
        self : SeededKerasClassifier
        """
        self._partial_classes = classes
        try:
            return super().partial_fit(X, y, sample_weight=sample_weight, **kwargs)
        finally:
            del self._partial_classes

    def _fixed_classes(self):
        classes = getattr(self, "_partial_classes", None)
        if classes is None:
            classes = self.classes
        return None if classes is None else np.asarray(classes)

    def _validated(self, X, y, reset):
        check_xy(X, y, type(self).__name__, labels=True)
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype="numeric",
            multi_output=True,
            y_numeric=False,
            ensure_all_finite=True,
            allow_nd=True,
        )
        if y.ndim == 2 and y.shape[1] == 1:  # as scikit-learn's classifiers do
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. "
                "Please change the shape of y to (n_samples,), for example "
                "using ravel().",
                DataConversionWarning,
                stacklevel=4,
            )
            y = y.ravel()
        if not reset and getattr(self, "classes_", None) is not None:
            known = self.classes_
        else:
            known = self._fixed_classes()
        check_labels(y, known, type(self).__name__)
        if reset:
            # binary, multiclass or one-hot: each row's probabilities are one
            # distribution (a multilabel indicator's are independent)
            kind = type_of_target(y)
            self._one_class_per_row = kind in ("binary", "multiclass") or (
                kind == "multilabel-indicator" and bool((y.sum(axis=1) == 1).all())
            )
        return X, y

    def _scikeras_fit(self, X, y, sample_weight, **kwargs):
        self._fit_labels(X, y, sample_weight=sample_weight, **kwargs)

    def _scikeras_partial_fit(self, X, y, sample_weight, **kwargs):
        self._partial_fit_labels(
            X, y, self._fixed_classes(), sample_weight=sample_weight, **kwargs
        )

    def _scikeras_initialize(self, X, y):
        return self._initialize_labels(X, y)

    # --------------------------------------------------------------- predict
    def _outputs(self, X, **kwargs):
        """The model's outputs for ``X`` as a float64 copy."""
        check_is_fitted(self, "model_")
        X = validate_data(
            self, X, reset=False, dtype="numeric", ensure_all_finite=True, allow_nd=True
        )
        return as_float64(self._predict_raw(X, **kwargs))

    def _probabilities(self, outputs):
        return probabilities(self.target_encoder_, outputs, self._one_class_per_row)

    def predict_proba(self, X, **kwargs):
        """Class probabilities, float64, each row summing to one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        **kwargs : dict
            Extra arguments to ``keras.Model.predict``.

        Returns
        -------
        ndarray of shape (n_samples, n_classes), float64
            For one class per row (binary, multiclass), each row divided by
            its sum in float64; two columns for one sigmoid unit, as in
            scikit-learn.  For a multilabel indicator, one independent
            probability per label.
        """
        return self._probabilities(self._outputs(X, **kwargs))

    def predict(self, X, **kwargs):
        """Predicted labels: the argmax of :meth:`predict_proba`'s rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        **kwargs : dict
            Extra arguments to ``keras.Model.predict``.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Labels of the type ``y`` had (strings stay strings).
        """
        outputs = self._outputs(X, **kwargs)  # first: NotFittedError if unfitted
        return labels(self.target_encoder_, outputs, self._one_class_per_row)

    def score(self, X, y, sample_weight=None):
        """Accuracy of ``predict(X)`` against ``y`` (scikit-learn's convention).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))


def probabilities(target_encoder, outputs, one_class_per_row: bool) -> np.ndarray:
    """``predict_proba`` of the model's float64 ``outputs``.

    scikeras' target encoder turns them into probabilities (two columns for
    one sigmoid unit); when each row is one distribution, it is divided by
    its sum in float64 -- the one rule every path shares (see
    :mod:`seeded_keras._metrics`).
    """
    outputs = as_float64(outputs)
    proba = target_encoder.inverse_transform(outputs, return_proba=True)
    if isinstance(proba, (list, tuple, dict)):  # a multi-output encoder's
        return proba
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim < 2 and not isinstance(outputs, (list, tuple, dict)):
        # scikeras squeezes one row, and the one column of a single class
        proba = proba.reshape(len(outputs), -1)
    if one_class_per_row:
        proba = proba / proba.sum(axis=1, keepdims=True)
    return proba


def labels(target_encoder, outputs, one_class_per_row: bool) -> np.ndarray:
    """``predict`` of the model's ``outputs``: the argmax of
    :func:`probabilities` (rounded sigmoids for a multilabel indicator)."""
    outputs = as_float64(outputs)
    if one_class_per_row:
        outputs = probabilities(target_encoder, outputs, True)
    return target_encoder.inverse_transform(outputs)


def as_float64(outputs):
    """A float64 copy of a model's outputs (an array, or a list/dict of them)."""
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o, dtype=np.float64) for o in outputs]
    if isinstance(outputs, dict):
        return {k: np.asarray(o, dtype=np.float64) for k, o in outputs.items()}
    return np.asarray(outputs, dtype=np.float64)


def search_classes(y):
    """The classes a search fixes for every fit: ``np.unique(y)`` for a
    binary or multiclass ``y``, else None (a multilabel indicator's columns
    are its classes already)."""
    if type_of_target(y) in ("binary", "multiclass"):
        return np.unique(np.asarray(y).ravel())
    return None
