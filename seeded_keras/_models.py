"""A small, sensible default Keras model: a multilayer perceptron.

Its head and loss follow the target scikeras describes in ``meta``: linear
outputs for regression, and for classification the head and loss a Keras
user would pick (:func:`head`).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any


def mlp(
    meta: dict[str, Any],
    compile_kwargs: dict[str, Any],
    hidden_layer_sizes: int | Sequence[int] = (16,),
    activation: str = "relu",
    dropout: float = 0.0,
):
    """Build and compile a multilayer perceptron for regression or classification.

    Used when :class:`~seeded_keras.SeededKerasRegressor` or
    :class:`~seeded_keras.SeededKerasClassifier` is given no ``model``, and
    by the ``seeded-keras`` command.  The output layer and, when the
    estimator's ``loss`` is None, the loss follow the target (:func:`head`).
    Every layer is built from the arguments, so they can be gridded as
    ``model__hidden_layer_sizes`` and so on; the optimizer, loss and learning
    rate come from the estimator's routed ``optimizer``/``loss`` parameters
    via ``compile_kwargs``.

    Parameters
    ----------
    meta : dict
        scikeras' fit metadata (``n_features_in_``, ``n_outputs_``, and for
        a classifier ``target_type_`` and ``n_classes_``).
    compile_kwargs : dict
        Arguments for ``Model.compile`` prepared by scikeras.
    hidden_layer_sizes : int or sequence of int, default=(16,)
        Units of each hidden layer; an int is one hidden layer (as in
        scikit-learn's ``MLPRegressor``), which Keras Tuner can also sweep.
    activation : str, default="relu"
        Activation of the hidden layers.
    dropout : float, default=0.0
        Dropout rate after each hidden layer (0 disables dropout).

    Returns
    -------
    keras.Model
        A compiled ``keras.Sequential`` model.

    Examples
    --------
    >>> from seeded_keras import SeededKerasRegressor
    >>> est = SeededKerasRegressor(model__hidden_layer_sizes=(8, 8), epochs=2)
    """
    import keras

    shape = meta.get("X_shape_")
    if shape is not None and len(shape) != 2:
        raise ValueError(
            f"mlp takes X of shape (n_samples, n_features); got {tuple(shape)}. "
            "For sequences or images pass a build function (e.g. with an LSTM "
            "or Conv1D layer) as model=."
        )
    n_out, output_activation, loss = head(meta, compile_kwargs.get("loss"))
    if compile_kwargs.get("loss") is None:
        compile_kwargs = {**compile_kwargs, "loss": loss}
    if isinstance(hidden_layer_sizes, Integral):
        hidden_layer_sizes = (hidden_layer_sizes,)
    layers: list[Any] = [keras.Input(shape=(meta["n_features_in_"],))]
    for units in hidden_layer_sizes:
        layers.append(keras.layers.Dense(int(units), activation=activation))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(n_out, activation=output_activation))
    model = keras.Sequential(layers)
    model.compile(**compile_kwargs)
    return model


def head(meta: dict[str, Any], loss=None) -> tuple[int, str | None, str]:
    """Units, activation and loss of the output layer for scikeras' ``meta``.

    ============================  =====================  =========================
    target (``target_type_``)     output layer           loss
    ============================  =====================  =========================
    regression                    ``n_outputs_`` linear  mean squared error
    binary                        1 sigmoid              binary cross-entropy
    multiclass                    ``n_classes_`` softmax sparse categorical c.-e.
    multilabel indicator          ``n_classes_`` sigmoid binary cross-entropy
    indicator, ``loss=``          ``n_classes_`` softmax categorical cross-entropy
    ``"categorical_crossentropy"``
    ============================  =====================  =========================

    Parameters
    ----------
    meta : dict
        scikeras' fit metadata.
    loss : str, keras loss or None, default=None
        The estimator's loss; ``"categorical_crossentropy"`` asks for a
        softmax over one-hot targets.

    Returns
    -------
    units : int
    activation : str or None
    loss : str

    Examples
    --------
    >>> head({"target_type_": "multiclass", "n_classes_": 3})
    (3, 'softmax', 'sparse_categorical_crossentropy')
    >>> head({"target_type_": "continuous", "n_outputs_": 1})
    (1, None, 'mse')
    """
    kind = meta.get("target_type_")
    n_classes = meta.get("n_classes_")
    if "n_classes_" not in meta or n_classes is None:  # regression
        return meta.get("n_outputs_") or 1, None, "mse"
    if kind == "binary":
        return 1, "sigmoid", "binary_crossentropy"
    if kind == "multiclass":
        return int(n_classes), "softmax", "sparse_categorical_crossentropy"
    if kind == "multilabel-indicator" and _name(loss) == "categorical_crossentropy":
        return int(n_classes), "softmax", "categorical_crossentropy"
    if kind == "multilabel-indicator":
        return int(n_classes), "sigmoid", "binary_crossentropy"
    raise ValueError(
        f"mlp has no output layer for a {kind!r} target; pass a build "
        "function as model=."
    )


def _name(loss) -> str | None:
    """``"categorical_crossentropy"`` for that loss as a string, function,
    class or instance (scikeras hands build functions any of these)."""
    import re

    if loss is None:
        return None
    if not isinstance(loss, str):
        named = getattr(loss, "name", None) or getattr(loss, "__name__", None)
        loss = named if isinstance(named, str) else type(loss).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", loss).lower()


def seeded_copy(model):
    """A fresh copy of ``model``: same architecture, new weights, same compile.

    What a fit of :class:`~seeded_keras.SeededKerasRegressor` given a model
    instance trains: the copy is built inside the fit's seeded context, so
    its initialisers (those without an explicit seed) draw from the fit's
    ``seed_`` -- different folds start from different, reproducible weights
    -- and the user's object is never trained in place.  A compiled instance
    is compiled again from its compile configuration (a fresh optimizer);
    an uncompiled one is compiled by the estimator's ``optimizer`` and
    ``loss``, as scikeras does.  ``initialize`` (scikeras' way to use a prebuilt
    model without fitting) uses the instance itself, as scikeras does.
    """
    import keras

    copy = keras.models.clone_model(model)
    if model.compiled:
        copy.compile_from_config(model.get_compile_config())
    return copy
