"""The independent witness: any fit replayed with plain ``keras.Model.fit``.

:func:`plain_fit` takes what a fit of
:class:`~seeded_keras.SeededKerasRegressor` is *given* -- its seed, its
validation rows and its order of rows in each epoch, all pure functions of
(``random_state``, the training data, ``repeat``) -- and trains with nothing
of seeded_keras in the training path: no trainer pool, no traced twin, no
tf.data pipeline of ours, no hook into Keras' training loop.  The model is
built as the fit builds it (scikeras' build inside the fit's seeded
context), then trained by ``keras.Model.fit`` on a plain Python generator of
NumPy batches and asked for ``keras.Model.predict``.  If the two agree bit
for bit, the speed machinery computes what plain Keras computes.

What plain Keras cannot replay, and why, is listed in ``docs/promises.rst``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone

from . import _compat, _data

__all__ = ["PlainKerasFit", "plain_fit"]


@dataclass
class PlainKerasFit:
    """One fit replayed by plain Keras: the model, its history and how to predict.

    Returned by :func:`plain_fit`.

    Attributes
    ----------
    model : keras.Model
        Trained by ``keras.Model.fit`` alone.
    history : dict
        ``History.history`` of that ``fit`` (Keras' key names).
    seed_ : int
        The fit's seed (the same as the estimator's ``seed_`` after ``fit``).
    n_epochs_ : int
        Epochs ``keras.Model.fit`` ran.
    batch_size : int
        The batch size of ``keras.Model.predict`` (the estimator's; ``-1``:
        all rows in one batch).
    preprocessing : Pipeline or None
        The fitted steps in front of the regressor when a Pipeline was given.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from seeded_keras import SeededKerasRegressor, plain_fit
    >>> X, y = load_diabetes(return_X_y=True)
    >>> fitted = plain_fit(SeededKerasRegressor(random_state=0), X[:80], y[:80])
    >>> fitted.n_epochs_, sorted(fitted.history)
    (1, ['loss'])
    >>> fitted.predict(X[80:83]).shape
    (3,)
    """

    model: object
    history: dict
    seed_: int
    n_epochs_: int
    batch_size: int
    preprocessing: object = None
    classes_: object = None
    _encoders: tuple = field(default=(None, None), repr=False)
    _one_class_per_row: object = field(default=None, repr=False)

    def _outputs(self, X) -> np.ndarray:
        """``keras.Model.predict`` on ``X``, as a float64 copy (remembered for
        the last ``X``: a classifier's predict and predict_proba share it)."""
        last = getattr(self, "_last", None)
        if last is not None and last[0] is X:
            return last[1]
        outputs = self._predict(X)
        self._last = (X, outputs)
        return outputs

    def _predict(self, X) -> np.ndarray:
        if self.preprocessing is not None:
            X = self.preprocessing.transform(X)
        feature_encoder, _ = self._encoders
        X = _floatx(feature_encoder.transform(np.asarray(X)))
        batch_size = len(X) if self.batch_size == -1 else self.batch_size
        with _no_retracing_hint():
            y = self.model.predict(X, batch_size=batch_size, verbose=0)
        return np.asarray(y, dtype=np.float64)

    def predict(self, X) -> np.ndarray:
        """``keras.Model.predict`` on ``X`` (through the fitted preprocessing).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            float64 values for a regressor; labels for a classifier (the
            argmax of :meth:`predict_proba`).
        """
        _, target_encoder = self._encoders
        if self._one_class_per_row is None:  # a regressor
            y = target_encoder.inverse_transform(self._outputs(X))
            return np.asarray(y, dtype=np.float64)
        from ._classifier import labels

        return labels(target_encoder, self._outputs(X), self._one_class_per_row)

    def predict_proba(self, X) -> np.ndarray:
        """A classifier's probabilities, as its ``predict_proba`` gives them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes), float64
        """
        from ._classifier import probabilities

        if self._one_class_per_row is None:
            raise AttributeError("a regressor's fit has no predict_proba")
        _, target_encoder = self._encoders
        return probabilities(target_encoder, self._outputs(X), self._one_class_per_row)


class _RetracingHint:
    """Drops TensorFlow's "triggered tf.function retracing" warning.

    Every replayed fit is a new model whose ``predict`` is traced once, as
    Keras does; after five in a row TensorFlow suggests defining the
    function outside the loop -- advice for one model called many times,
    not for a witness that builds a model per fit.  Nothing else is dropped.
    """

    def filter(self, record) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextmanager
def _no_retracing_hint():
    import logging

    logger, hint = logging.getLogger("tensorflow"), _RetracingHint()
    logger.addFilter(hint)
    try:
        yield
    finally:
        logger.removeFilter(hint)


def _floatx(a):
    """``a`` as the float32 array the model computes in."""
    return np.ascontiguousarray(a, dtype=np.float32)


def check_replayable(estimator) -> None:
    """Raise unless :func:`plain_fit` can replay ``estimator``'s fits.

    Raises
    ------
    TypeError
        Unless ``estimator`` is a SeededKerasRegressor or
        SeededKerasClassifier, or a Pipeline whose last step is one.
    ValueError
        With ``warm_start=True``: a continued fit is not a fresh one.
    """
    from ._base import SeededKeras

    net = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    if not isinstance(net, SeededKeras):
        raise TypeError(
            "the plain-Keras witness replays a SeededKerasRegressor or "
            "SeededKerasClassifier, or a Pipeline ending in one; got "
            f"{type(net).__name__}."
        )
    if net.warm_start:
        raise ValueError(
            "the plain-Keras witness replays fresh fits; warm_start=True "
            "continues an earlier one, which Keras' fit is not handed."
        )


def _split_pipeline(estimator, fit_params):
    """(unfitted front steps or None, the regressor, its and their fit params)."""
    if not hasattr(estimator, "steps"):
        return None, estimator, dict(fit_params), {}
    from sklearn.pipeline import Pipeline

    *front, (name, net) = estimator.steps
    own, rest = {}, {}
    for key, value in fit_params.items():
        step, _, param = key.partition("__")
        if step == name:
            own[param] = value
        else:
            rest[key] = value
    front = Pipeline(front, memory=estimator.memory) if front else None
    return front, net, own, rest


def plain_fit(estimator, X, y, **fit_params) -> PlainKerasFit:
    """Replay ``estimator.fit(X, y)`` with plain ``keras.Model.fit``.

    The witness a skeptic can read: the model built with the fit's seed, its
    ``validation_fraction`` (or ``validation_split``) rows held out, its
    training rows in the fit's order, epoch after epoch, as NumPy batches from
    a Python generator, and the fit's callbacks, batch sizes and epochs --
    given to ``keras.Model.fit`` and nothing else.  Bit for bit on CPU,
    ``plain_fit(est, X, y).predict(X_test)`` equals
    ``clone(est).fit(X, y).predict(X_test)``.

    Parameters
    ----------
    estimator : SeededKerasRegressor or Pipeline ending in one
        Unfitted; it is cloned.  A Pipeline's other steps are fitted as the
        Pipeline would fit them.
    X : array-like of shape (n_samples, n_features) or (n_samples, ...)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    **fit_params : dict
        ``sample_weight`` (``<step>__sample_weight`` for a Pipeline's last
        step; other ``<step>__*`` go to the other steps).

    Returns
    -------
    PlainKerasFit
        With ``model``, ``history``, ``seed_``, ``n_epochs_`` and
        ``predict``.

    Raises
    ------
    TypeError
        When ``estimator`` is not a SeededKerasRegressor (or a Pipeline
        ending in one).
    ValueError
        For a fit plain Keras cannot be handed (``warm_start=True``, fit
        arguments other than ``sample_weight``) -- see ``docs/promises.rst``.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from seeded_keras import SeededKerasRegressor, plain_fit
    >>> X, y = load_diabetes(return_X_y=True)
    >>> est = SeededKerasRegressor(random_state=0, epochs=2)
    >>> ours = est.fit(X[:100], y[:100]).predict(X[100:110])
    >>> plain = plain_fit(est, X[:100], y[:100]).predict(X[100:110])
    >>> bool((ours == plain).all())
    True
    """
    check_replayable(estimator)
    front, net, own, rest = _split_pipeline(estimator, fit_params)
    sample_weight = own.pop("sample_weight", None)
    if own:
        raise ValueError(
            f"plain_fit replays fits given sample_weight only; got {sorted(own)}. "
            "Route Keras' fit arguments as fit__* parameters of the regressor."
        )
    if front is not None:
        front = clone(front)
        X = front.fit_transform(X, y, **rest)
    net = clone(net)
    # Ours, and not training: validation, the seed, then scikeras' build of
    # the model inside the fit's seeded context (its initial weights).
    X, y, sample_weight = net._seed_fit(X, y, sample_weight, reset=True)
    X, y, sample_weight = net._initialized_data(X, y, sample_weight)
    model = net.model_
    args = net._keras_fit_arguments(len(X))
    args.pop("validation_split", None)  # the holdout is the fit's, below
    epochs = int(getattr(net, "fit__epochs", net.epochs))
    # TensorFlow's op-determinism flag, as every fit has it: it selects other
    # kernels (a softmax cross-entropy's gradient differs in the last bits
    # without it), so a plain Keras user reproducing a fit switches it on too
    # (tf.config.experimental.enable_op_determinism()).
    with _compat.op_determinism():
        history = _keras_fit(
            model,
            X,
            y,
            sample_weight,
            net.seed_,
            epochs=epochs,
            batch_size=args.pop("batch_size", None) or 32,
            shuffle=args.pop("shuffle", True),
            validation_fraction=net.validation_fraction,
            validation_split=net._validation_split,  # as the fit resolved it
            validation_batch_size=args.pop("validation_batch_size", None),
            callbacks=net._keras_callbacks(),
            args=args,
        )
    predict_args = net._keras_predict_arguments(-1)  # -1 (all rows) kept
    return PlainKerasFit(
        model=model,
        history=dict(history.history),
        seed_=net.seed_,
        n_epochs_=len(history.history.get("loss", [])),
        batch_size=predict_args.get("batch_size") or 32,
        preprocessing=front,
        classes_=getattr(net, "classes_", None),
        _encoders=(net.feature_encoder_, net.target_encoder_),
        _one_class_per_row=getattr(net, "_one_class_per_row", None),
    )


def _keras_fit(
    model,
    X,
    y,
    sample_weight,
    seed,
    *,
    epochs,
    batch_size,
    shuffle,
    validation_fraction,
    validation_split,
    validation_batch_size,
    callbacks,
    args,
):
    """``keras.Model.fit`` on the fit's batches: the whole training path.

    ``X`` and ``y`` may be lists or dicts of arrays (a multi-input or
    multi-output model): each array is cut the same way.
    """
    import tensorflow as tf

    def take(data, chosen):  # the same rows of every array of a structure
        return tf.nest.map_structure(lambda a: a[chosen], data)

    X = tf.nest.map_structure(_floatx, X)
    y = tf.nest.map_structure(_floatx, y)
    n_rows = len(tf.nest.flatten(X)[0])
    rows, val_rows = _data.holdout(seed, n_rows, validation_fraction, validation_split)
    batch_size = len(rows) if batch_size == -1 else batch_size
    orders = _data.epoch_orders(seed, len(rows), shuffle, 0, epochs)
    lengths = _data.batch_lengths(len(rows), batch_size)
    arrays = [take(X, rows), take(y, rows)]
    if sample_weight is not None:
        arrays.append(_floatx(sample_weight)[rows])

    def batches():  # epoch after epoch, each in the fit's order
        for order in orders:
            start = 0
            for length in lengths:
                chosen = order[start : start + length]
                start += length
                yield tuple(take(a, chosen) for a in arrays)

    validation = None
    if val_rows is not None:
        validation = (take(X, val_rows), take(y, val_rows))
    args.pop("verbose", None)
    return model.fit(
        batches(),
        epochs=epochs,
        steps_per_epoch=len(lengths),
        validation_data=validation,
        validation_batch_size=validation_batch_size or 32,
        callbacks=callbacks,
        shuffle=False,  # the generator yields the fit's order
        verbose=0,
        **args,
    )
