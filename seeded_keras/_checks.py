"""Checks that run before any training: data, routed parameters, grid names.

Every message names what was wrong, where (the parameter path as the user
wrote it), and what to do -- with a "did you mean" where one is close.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import warnings

import numpy as np
from sklearn.base import clone

__all__ = [
    "RoutedParameterError",
    "check_compile_routing",
    "check_fit_params",
    "check_grid_names",
    "check_routed_params",
    "check_labels",
    "check_xy",
    "closest_name",
    "did_you_mean",
    "init_params",
]

ROUTED_TARGETS = ("optimizer", "loss", "compile", "fit", "predict", "model")


def closest_name(name: str, valid, cutoff: float = 0.6) -> str | None:
    """The valid name most like ``name``, judged on the parameter's own name.

    ``model__hiden`` is compared as ``hiden`` with each candidate's last part
    (whole and cut to the typed length, so a prefix counts: ``hidden_layer_
    sizes``), the whole names breaking ties; None when nothing is close.
    """
    typed = name.rpartition("__")[2]

    def score(candidate: str) -> tuple[float, float]:
        own = candidate.rpartition("__")[2]
        part = max(
            difflib.SequenceMatcher(None, typed, own).ratio(),
            difflib.SequenceMatcher(None, typed, own[: len(typed)]).ratio()
            if len(typed) >= 4
            else 0.0,
        )
        return part, difflib.SequenceMatcher(None, name, candidate).ratio()

    ranked = sorted(valid, key=lambda c: (score(c), c), reverse=True)
    return ranked[0] if ranked and score(ranked[0])[0] >= cutoff else None


def did_you_mean(name: str, valid) -> str:
    """``"; did you mean 'x'?"`` for the closest valid name, else ``"."``."""
    close = closest_name(name, valid)
    return f"; did you mean '{close}'?" if close else "."


def init_params(obj) -> tuple[set[str], bool]:
    """Parameter names accepted by a class' constructor chain or a function.

    Returns
    -------
    names : set of str
    takes_kwargs : bool
        Whether a function accepts ``**kwargs`` (a Keras class forwards its
        ``**kwargs`` to known bases, so it counts as closed).
    """
    names: set[str] = set()
    takes_kwargs = False
    funcs = (
        [c.__init__ for c in inspect.getmro(obj) if "__init__" in vars(c)]
        if inspect.isclass(obj)
        else [obj]
    )
    for f in funcs:
        try:
            sig = inspect.signature(f)
        except (TypeError, ValueError):
            continue
        for p in sig.parameters.values():
            if p.kind is p.VAR_KEYWORD:
                takes_kwargs = True
            elif p.name != "self" and p.kind is not p.VAR_POSITIONAL:
                names.add(p.name)
    if inspect.isclass(obj):
        takes_kwargs = False
    return names, takes_kwargs


def check_labels(y, classes, estimator_name: str) -> None:
    """Fail before training when ``y`` has labels outside ``classes``.

    Parameters
    ----------
    y : ndarray
    classes : ndarray or None
        None accepts every label.
    estimator_name : str
    """
    if classes is None or np.ndim(y) != 1:
        return
    unknown = np.setdiff1d(np.unique(y), np.asarray(classes))
    if len(unknown):
        shown = ", ".join(repr(v) for v in unknown[:5].tolist())
        raise ValueError(
            f"Found unknown categories in y: {shown}, not in {estimator_name}'s "
            f"classes {np.asarray(classes).tolist()!r}. Pass every label as "
            "classes (e.g. classes=np.unique(y) of the whole data set)."
        )


def check_xy(X, y, estimator_name: str, check_X: bool = True, labels: bool = False):
    """Validate training data the way every seeded_keras path does.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples, ...)
        N-d inputs (sequences, images) are accepted; folds index axis 0.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    estimator_name : str
        Used in error messages.
    check_X : bool, default=True
        False checks only ``y`` and the lengths (X may be transformed later,
        e.g. by a Pipeline).
    labels : bool, default=False
        ``y`` holds class labels: strings are fine, numbers must be finite.

    Returns
    -------
    X, y : ndarray
        Numeric, finite ``X`` (at least 2-D) and 1-D or 2-D ``y`` of equal
        length.

    Raises
    ------
    ValueError
        On ``y=None``, NaN or infinity, inconsistent lengths, empty ``X``,
        1-D ``X``, ``y`` with more than 2 dimensions, or string data.
    """
    from sklearn.utils.validation import check_array, check_consistent_length

    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target y is None."
        )
    arrays = {"y": np.asarray(y)}
    if check_X:
        arrays["X"] = np.asarray(X)
    for name, arr in arrays.items():
        if name == "y" and labels:
            continue
        kind = arr.dtype.kind
        if kind in "US" or (
            kind == "O" and any(isinstance(v, (str, bytes)) for v in arr.ravel())
        ):
            raise ValueError(
                f"{estimator_name} needs numeric {name}, but {name} contains "
                "strings. Encode them first, e.g. with a OneHotEncoder or "
                "OrdinalEncoder in a Pipeline in front of the regressor."
            )
    if arrays["y"].ndim > 2:
        raise ValueError(
            f"y must be 1-D (n_samples,) or 2-D (n_samples, n_outputs); got an "
            f"array with {arrays['y'].ndim} dimensions."
        )
    if check_X:
        X = check_array(
            X,
            dtype="numeric",
            ensure_all_finite=True,
            allow_nd=True,  # (n_samples, timesteps, features) for sequence models
            input_name="X",
            estimator=estimator_name,
        )
    y = check_array(
        y,
        dtype=None if labels else "numeric",
        ensure_2d=False,
        ensure_all_finite=True,
        input_name="y",
        estimator=estimator_name,
    )
    check_consistent_length(X, y)
    return X, y


@functools.lru_cache(maxsize=64)
def _optimizer_class(name: str) -> type:
    """The optimizer class Keras makes for ``name`` (looked up once per name).

    Keras finds a name's class only by making an optimizer.  That throwaway
    optimizer is named as a fresh interpreter would (see
    ``_compat.fresh_names``): an auto-named one would cost about 70 KB of
    native memory per fit for the life of the process.
    """
    import keras

    from . import _compat

    with _compat.fresh_names():
        return type(keras.optimizers.get(name))


def _routed_target(net, prefix: str, key: str, path: str):
    """What ``prefix__*`` parameters are checked against, and its description.

    Returns (None, None) when the target takes any name.
    """
    import keras

    if prefix == "optimizer":
        target = net.optimizer
        if isinstance(target, str):
            target = _optimizer_class(target)
        if not inspect.isclass(target):
            raise ValueError(
                f"'{path}{key}' is routed to the optimizer, but optimizer is an "
                f"instance ({type(target).__name__}); routed parameters apply "
                "only to an optimizer given by name or class."
            )
        return target, f"optimizer {target.__name__}"
    if prefix == "loss":
        if not inspect.isclass(net.loss):
            return None, None  # names and functions take no routed arguments
        return net.loss, f"loss {net.loss.__name__}"
    if prefix == "model":
        if isinstance(net.model, keras.Model):
            raise ValueError(
                f"'{path}{key}' is routed to the build function, but model is a "
                "model instance; routed model parameters apply only to a build "
                "function."
            )
        target = net._build_function()
        if not callable(target) or isinstance(target, keras.Model):
            return None, None
        return target, f"build function {getattr(target, '__name__', target)}"
    return getattr(keras.Model, prefix), f"keras.Model.{prefix}"


class RoutedParameterError(TypeError, ValueError):
    """A routed parameter its target does not take.

    A ``TypeError``, as scikeras raises when a build function is called with
    an argument it does not take (and as Python does); also a
    ``ValueError``, as scikit-learn raises for an unknown parameter name.
    """


def check_routed_params(net, path: str = "") -> None:
    """Reject routed parameters that scikeras would silently drop.

    ``path`` (e.g. ``"net__"``) prefixes the names in the message, for a
    regressor nested in a Pipeline or a search grid.
    """
    for key in sorted(net.get_params()):
        prefix, sep, rest = key.partition("__")
        if not sep or prefix not in ROUTED_TARGETS:
            continue
        target, what = _routed_target(net, prefix, key, path)
        if target is None:
            continue
        valid, open_ended = init_params(target)
        if not open_ended and rest.split("__")[0] not in valid:
            valid_keys = {f"{path}{prefix}__{v}" for v in valid}
            # for a build function, Python's own words too (scikeras lets
            # the call fail with them)
            python = (
                f" ({getattr(target, '__name__', 'the build function')}() got an "
                f"unexpected keyword argument '{rest.split('__')[0]}')"
                if prefix == "model"
                else ""
            )
            raise RoutedParameterError(
                f"Unknown parameter '{path}{key}' for the {what}{python}"
                f"{did_you_mean(path + key, valid_keys)} Valid names: "
                f"{', '.join(sorted(valid_keys))}."
            )


def check_fit_params(net, n_samples: int, stacklevel: int = 2) -> float:
    """Check a regressor's parameters before any training.

    ``stacklevel`` is that of the caller's ``warnings.warn``: warnings point
    where the caller's would.

    Returns
    -------
    float
        Keras' ``validation_split`` in effect (0.0 when none).
    """
    from . import _compat
    from ._data import holdout_size

    _compat.check_parameters(
        net._parameter_constraints,
        {k: getattr(net, k) for k in net._parameter_constraints},
        caller_name=type(net).__name__,
    )
    check_routed_params(net)
    split = float(getattr(net, "fit__validation_split", net.validation_split))
    if split and net.validation_fraction is not None:
        raise ValueError(
            "Pass either validation_fraction or Keras' validation_split, not both."
        )
    if split:
        warnings.warn(
            "Keras' validation_split holds out the last rows of the training "
            "data, unshuffled, so early stopping watches a biased split. Use "
            "validation_fraction instead: a seeded, shuffled holdout.",
            UserWarning,
            stacklevel=stacklevel + 1,
        )
    if net.validation_fraction is not None:
        if holdout_size(net.validation_fraction, n_samples) >= n_samples:
            raise ValueError(
                f"validation_fraction={net.validation_fraction} leaves no "
                f"training row out of {n_samples}; lower it or pass more rows."
            )
    return split


def check_compile_routing(net) -> None:
    """Fail when the build function compiled the model and routed compile
    settings (``optimizer__*``, ``loss__*``, ``compile__*``) cannot reach it."""
    routed = [
        k
        for k in net.get_params()
        if k.partition("__")[0] in ("optimizer", "loss", "compile") and "__" in k
    ]
    build_fn = net._build_function()
    names, open_ended = init_params(build_fn) if callable(build_fn) else ((), False)
    if routed and not ("compile_kwargs" in names or open_ended):
        raise ValueError(
            f"{', '.join(sorted(routed))} would be ignored: the build function "
            "compiles the model itself. Accept a `compile_kwargs` argument and "
            "call `model.compile(**compile_kwargs)`."
        )


def check_grid_names(param_grid, estimator, seeded_paths) -> None:
    """Fail before training on grid names ``estimator`` would not accept.

    Parameters
    ----------
    param_grid : dict or list of dicts
    estimator : estimator
        Never modified: every grid point is set on a clone.
    seeded_paths : callable
        ``seeded_paths(estimator)``: prefixes of its SeededKerasRegressors,
        whose routed parameters are checked too.
    """
    from sklearn.model_selection import ParameterGrid

    for grid in ParameterGrid(param_grid).param_grid:
        # Set a whole grid point, outer names first, as set_params does:
        # a grid may put an estimator in a step and then tune its params.
        # Names the estimator already has are not set (its set_params is
        # called only where needed: a name to check, a step to replace).
        probe = clone(estimator)
        for key in sorted(grid, key=lambda k: k.count("__")):
            valid = sorted(probe.get_params(deep=True))
            if key in valid and not any(k.startswith(key + "__") for k in grid):
                continue
            try:
                probe.set_params(**{key: clone(list(grid[key])[0], safe=False)})
            except ValueError:
                raise ValueError(
                    f"Unknown parameter '{key}' in param_grid"
                    f"{did_you_mean(key, valid)} Valid parameters: "
                    f"{', '.join(valid)}."
                ) from None
        for path in seeded_paths(probe):
            net = probe if not path else probe.get_params()[path[:-2]]
            try:
                check_routed_params(net, path)
            except ValueError as err:
                raise ValueError(f"In param_grid: {err}") from None
