"""A small, sensible default Keras model: a multilayer perceptron for regression."""

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
    """Build and compile a multilayer perceptron for regression.

    Used when :class:`~seeded_keras.SeededKerasRegressor` is given no
    ``model``, and by the ``seeded-keras`` command.  Every layer is built
    from the arguments, so they can be gridded as ``model__hidden_layer_sizes``
    and so on; the optimizer, loss and learning rate come from the
    estimator's routed ``optimizer``/``loss`` parameters via ``compile_kwargs``.

    Parameters
    ----------
    meta : dict
        scikeras' fit metadata (``n_features_in_``, ``n_outputs_``).
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
    n_outputs = meta.get("n_outputs_") or 1  # columns of y
    if isinstance(hidden_layer_sizes, Integral):
        hidden_layer_sizes = (hidden_layer_sizes,)
    layers: list[Any] = [keras.Input(shape=(meta["n_features_in_"],))]
    for units in hidden_layer_sizes:
        layers.append(keras.layers.Dense(int(units), activation=activation))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(n_outputs))
    model = keras.Sequential(layers)
    model.compile(**compile_kwargs)
    return model


def seeded_copy(model):
    """A fresh copy of ``model``: same architecture, new weights, same compile.

    What a fit of :class:`~seeded_keras.SeededKerasRegressor` given a model
    instance trains: the copy is built inside the fit's seeded context, so
    its initialisers (those without an explicit seed) draw from the fit's
    ``seed_`` -- different folds start from different, reproducible weights
    -- and the user's object is never trained in place.  A compiled instance
    is compiled again from its compile configuration (a fresh optimizer);
    an uncompiled one is compiled by the estimator's ``optimizer`` and
    ``loss``, as scikeras does.
    """
    import keras

    copy = keras.models.clone_model(model)
    if model.compiled:
        copy.compile_from_config(model.get_compile_config())
    return copy
