"""Build functions shared by tests that ship them to worker processes."""

import keras


def lstm(meta, compile_kwargs, units=4):
    """A small LSTM regressor for X of shape (n_samples, timesteps, features)."""
    model = keras.Sequential(
        [
            keras.Input(meta["X_shape_"][1:]),
            keras.layers.LSTM(units),
            keras.layers.Dense(meta.get("n_outputs_") or 1),
        ]
    )
    model.compile(**compile_kwargs)
    return model
