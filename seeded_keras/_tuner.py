"""The Keras Tuner path: trials scored by cross-validation on the shared folds.

Imported lazily: Keras Tuner is needed only here.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import warnings

import numpy as np
from keras_tuner.engine.base_tuner import BaseTuner

from ._checks import check_grid_names
from ._manual import manual_loop
from ._metrics import metrics_for
from ._protocol import Protocol, freeze_splits, seeded_paths

__all__ = ["ReconciledTuner", "grid_to_hyperparameters", "hyperparameters_to_grid"]

_SCALARS = (bool, int, float, str)


def grid_to_hyperparameters(param_grid):
    """Express a scikit-learn ``param_grid`` as Keras Tuner hyperparameters.

    A single value becomes ``Fixed``, ``[False, True]`` becomes ``Boolean``,
    any other list of scalars of one type becomes ``Choice``.

    Parameters
    ----------
    param_grid : dict
        One grid (a list of grids has no single tuner space).

    Returns
    -------
    keras_tuner.HyperParameters

    Raises
    ------
    ValueError
        Naming a value a tuner space cannot hold (tuples, None, objects,
        mixed types).

    Examples
    --------
    >>> hp = grid_to_hyperparameters({"optimizer__learning_rate": [0.01, 0.1],
    ...                               "epochs": [5]})
    >>> sorted(hp.values.items())
    [('epochs', 5), ('optimizer__learning_rate', 0.01)]
    """
    import keras_tuner as kt

    if not isinstance(param_grid, dict):
        raise ValueError(
            "Keras Tuner has one search space: pass one param_grid dict, not "
            f"{type(param_grid).__name__}."
        )
    hp = kt.HyperParameters()
    for name, values in param_grid.items():
        values = list(values)
        kinds = {type(v) for v in values}
        if len(kinds) != 1 or not issubclass(kinds.pop(), _SCALARS):
            bad = next((v for v in values if not isinstance(v, _SCALARS)), values)
            raise ValueError(
                f"param_grid['{name}'] = {values!r} cannot be a Keras Tuner "
                f"space: {bad!r} is not a bool, int, float or str (or the "
                "values mix types). Encode it as one, e.g. an int index."
            )
        if len(values) == 1:
            hp.Fixed(name, values[0])
        elif sorted(values, key=str) == [False, True]:
            hp.Boolean(name)
        else:
            hp.Choice(name, values, ordered=False)
    return hp


def hyperparameters_to_grid(hyperparameters):
    """Enumerate Keras Tuner hyperparameters as a scikit-learn ``param_grid``.

    Parameters
    ----------
    hyperparameters : keras_tuner.HyperParameters
        ``Int`` (any step), ``Float`` with a ``step``, ``Choice``, ``Boolean``
        and ``Fixed``.

    Returns
    -------
    dict of list

    Raises
    ------
    ValueError
        For a ``Float`` without ``step`` (it has no finite grid) or a
        conditional hyperparameter.

    Examples
    --------
    >>> import keras_tuner as kt
    >>> hp = kt.HyperParameters()
    >>> _ = hp.Int("units", 8, 24, step=8)
    >>> _ = hp.Float("lr", 0.1, 0.3, step=0.1)
    >>> hyperparameters_to_grid(hp)["units"]
    [8, 16, 24]
    """
    import keras_tuner as kt

    grid = {}
    for h in hyperparameters.space:
        if h.conditions:
            raise ValueError(f"hyperparameter '{h.name}' is conditional; no grid")
        if isinstance(h, kt.engine.hyperparameters.Fixed):
            grid[h.name] = [h.value]
        elif isinstance(h, kt.engine.hyperparameters.Boolean):
            grid[h.name] = [False, True]
        elif isinstance(h, kt.engine.hyperparameters.Choice):
            grid[h.name] = list(h.values)
        elif isinstance(
            h, (kt.engine.hyperparameters.Int, kt.engine.hyperparameters.Float)
        ):
            if h.step is None and type(h).__name__ == "Float":
                raise ValueError(
                    f"Float hyperparameter '{h.name}' has no step, so no finite "
                    "grid; give it a step."
                )
            grid[h.name] = _steps(h)
        else:
            raise ValueError(
                f"hyperparameter '{h.name}' ({type(h).__name__}) has no grid equivalent"
            )
    return grid


def _steps(h):
    """Every value of an Int or a stepped Float, min to max inclusive."""
    is_int = type(h).__name__ == "Int"
    step = h.step if h.step is not None else 1
    out, i = [], 0
    while True:
        v = h.min_value * step**i if h.sampling == "log" else h.min_value + i * step
        if v > h.max_value + 1e-9 * abs(h.max_value):
            return out
        out.append(int(round(v)) if is_int else float(v))
        i += 1


class ReconciledTuner(BaseTuner):
    """Keras Tuner search whose every trial is scored like ReconciledSearchCV.

    A ``keras_tuner`` tuner (``BaseTuner`` with Keras Tuner's Oracles,
    HyperParameters, project directory and ``overwrite=False`` resume).  Each
    trial sets its hyperparameters on a clone of ``estimator`` (names are
    estimator parameters, e.g. ``optimizer__learning_rate``) and is fitted on
    every fold of the frozen ``splits_`` and every seed ``repeat = 0 ..
    n_seeds-1``, scored by scikit-learn's float64 ``mean_squared_error`` of
    ``predict()`` (a classifier: ``log_loss`` of ``predict_proba()`` and
    ``accuracy``, :mod:`seeded_keras._metrics`).  The objective (``"mse"``,
    ``"log_loss"`` or ``"accuracy"``) is the mean over folds and seeds --
    for hyperparameters shared with a :class:`ReconciledSearchCV` on the same
    folds and seeds it equals the search's ``mean_test_mse`` (or
    ``mean_test_log_loss``, ...) bit for bit.  Every execution is kept in the
    trial's ``executions.json``.

    A project resumed with ``overwrite=False`` skips finished trials; one made
    with different folds, seeds or estimator settings is refused.

    Parameters
    ----------
    estimator : estimator
        A SeededKerasRegressor or SeededKerasClassifier, or a Pipeline
        ending in one.
    hyperparameters : keras_tuner.HyperParameters
        See :func:`grid_to_hyperparameters` to build them from a param_grid.
    cv : int, splitter or list of (train, test), default=5
        Frozen once per ``search`` into ``splits_``.
    n_seeds : int, default=1
    random_state : int or None, default=None
    objective : {"mse", "log_loss", "accuracy"} or None, default=None
        What the oracle optimises: the mean over folds and seeds of
        ``"mse"`` (a regressor's; the default) or of a classifier's
        ``"log_loss"`` (its default, minimised) or ``"accuracy"``
        (maximised).  Every metric of the task is kept in each execution.
    oracle : keras_tuner Oracle, optional
        Default: ``GridSearchOracle`` on ``hyperparameters`` optimising
        ``objective``.
    max_trials : int, optional
    directory, project_name : str, optional
    overwrite : bool, default=False

    Attributes
    ----------
    splits_ : list of (ndarray, ndarray)
    base_estimator_ : estimator
    random_state_ : int or None

    Examples
    --------
    >>> from seeded_keras import ReconciledTuner, SeededKerasRegressor
    >>> from seeded_keras import grid_to_hyperparameters
    >>> hp = grid_to_hyperparameters({"optimizer__learning_rate": [0.01, 0.1]})
    >>> tuner = ReconciledTuner(SeededKerasRegressor(epochs=1), hp, cv=2,
    ...                         random_state=0, directory="/tmp/sk_doctest",
    ...                         overwrite=True)  # doctest: +SKIP

    """

    def __init__(
        self,
        estimator,
        hyperparameters,
        *,
        cv=5,
        n_seeds=1,
        random_state=None,
        objective=None,
        oracle=None,
        max_trials=None,
        directory=None,
        project_name=None,
        overwrite=False,
    ):
        import keras_tuner as kt

        self.estimator = estimator
        self.cv = cv
        self.n_seeds = n_seeds
        self.random_state = random_state
        self.executions_ = {}
        self._metrics = metrics_for(estimator)
        names = [m.name for m in self._metrics]
        self.objective = names[0] if objective is None else objective
        if self.objective not in names:
            raise ValueError(
                f"objective must be one of {names} for "
                f"{type(estimator).__name__}; got {objective!r}."
            )
        lower = dict(zip(names, (m.lower_is_better for m in self._metrics)))
        if oracle is None:
            oracle = kt.oracles.GridSearchOracle(
                objective=kt.Objective(
                    self.objective, "min" if lower[self.objective] else "max"
                ),
                hyperparameters=hyperparameters,
                max_trials=max_trials,
                allow_new_entries=False,
                tune_new_entries=False,
            )
        super().__init__(
            oracle,
            hypermodel=None,
            directory=directory,
            project_name=project_name,
            overwrite=overwrite,
        )
        self._check_names(hyperparameters)

    # ------------------------------------------------------- protocol
    def _check_names(self, hyperparameters):
        grid = {h.name: [_first(h)] for h in hyperparameters.space}
        check_grid_names(grid, self.estimator, seeded_paths)
        for path in seeded_paths(self.estimator):
            net = self.estimator if not path else self.estimator.get_params()[path[:-2]]
            build = net._build_function()
            try:
                sig = inspect.signature(build).parameters
            except (TypeError, ValueError):
                continue
            for name in grid:
                inner = name[len(path) :] if name.startswith(path) else None
                if inner and inner.startswith("model__") and inner[7:] not in sig:
                    warnings.warn(
                        f"hyperparameter '{name}' reaches build function "
                        f"{getattr(build, '__name__', build)} only through "
                        "**kwargs; it is ignored unless the function reads it.",
                        UserWarning,
                        stacklevel=3,
                    )

    def _protocol_record(self):
        digest = hashlib.sha256()
        for train, test in self.splits_:
            digest.update(np.asarray(train, np.int64).tobytes() + b"|")
            digest.update(np.asarray(test, np.int64).tobytes() + b";")
        return {
            "splits_sha256": digest.hexdigest(),
            "n_seeds": self.n_seeds,
            "random_state": self.random_state_,
            "estimator": repr(
                sorted(
                    (k, repr(v))
                    for k, v in self.base_estimator_.get_params().items()
                    if not hasattr(v, "get_params")
                )
            ),
        }

    def _check_protocol(self):
        path = os.path.join(self.project_dir, "seeded_keras_protocol.json")
        mine = self._protocol_record()
        if os.path.exists(path):
            with open(path) as f:
                theirs = json.load(f)
            diff = sorted(k for k in mine if theirs.get(k) != mine[k])
            if diff:
                raise ValueError(
                    f"Tuner project {self.project_dir} was made with a "
                    f"different protocol ({', '.join(diff)} differ); its "
                    "trials cannot be mixed with these. Use another "
                    "project_name or overwrite=True."
                )
        else:
            os.makedirs(self.project_dir, exist_ok=True)
            with open(path, "w") as f:
                json.dump(mine, f, indent=1)

    # ------------------------------------------------------- search
    def search(self, X, y, groups=None):
        """Evaluate every trial by CV on the frozen folds.

        Parameters
        ----------
        X, y : array-like
        groups : array-like, optional
            Group labels for a group splitter given as ``cv``.

        Returns
        -------
        self : ReconciledTuner
        """
        protocol = Protocol.prepare(self.estimator, self.random_state, self.n_seeds)
        if isinstance(self.cv, (list, tuple)):
            protocol.splits = [(np.asarray(a), np.asarray(b)) for a, b in self.cv]
        else:
            protocol.splits = freeze_splits(self.cv, X, y, groups, protocol.estimator)
        self._protocol = protocol
        protocol.fix_classes(y)
        self.splits_ = protocol.splits
        self.base_estimator_ = protocol.estimator
        self.random_state_ = protocol.random_state
        self._check_protocol()
        super().search(X, y)
        return self

    def repeat_params(self, repeat):
        """Parameters selecting seed ``repeat`` (empty when n_seeds=1)."""
        return self._protocol.repeat_params(repeat)

    def run_trial(self, trial, X, y):
        """Fit one trial on every fold and seed; return its mean objective."""
        params = dict(trial.hyperparameters.values)
        fits = manual_loop(
            self.base_estimator_,
            [params],
            self.splits_,
            self.n_seeds,
            self._protocol.repeat_params,
            X,
            y,
            metrics=self._metrics,
        )
        record = {"params": params, "fits": fits}
        for metric in self._metrics:
            values = np.full((len(self.splits_), self.n_seeds), np.nan)
            for f in fits:
                values[f["split"], f["repeat"]] = f[metric.name]
            record[metric.name] = float(values.mean())
        trial_dir = self.get_trial_dir(trial.trial_id)
        os.makedirs(trial_dir, exist_ok=True)
        with open(os.path.join(trial_dir, "executions.json"), "w") as f:
            json.dump(record, f, indent=1, default=_json_default)
        return {self.objective: record[self.objective]}

    def executions(self):
        """Every finished trial's per-fold, per-seed metrics.

        Returns
        -------
        list of dict
            ``params``, the mean of each metric (``mse``; a classifier's
            ``log_loss`` and ``accuracy``) and ``fits`` (records with
            ``split``, ``repeat``, ``seed`` and each metric).
        """
        out = []
        for trial in self.oracle.trials.values():
            path = os.path.join(self.get_trial_dir(trial.trial_id), "executions.json")
            if trial.status == "COMPLETED" and os.path.exists(path):
                with open(path) as f:
                    out.append(json.load(f))
        return out

    def save_model(self, trial_id, model, step=0):
        """Nothing to save: a trial is a set of CV fits, not one model."""

    def load_model(self, trial):
        """Refit the trial's parameters is the way to get a model."""
        raise NotImplementedError(
            "ReconciledTuner keeps scores, not models; refit "
            "clone(tuner.base_estimator_).set_params(**params)."
        )


def _first(h):
    for attr in ("value", "values", "min_value", "default"):
        v = getattr(h, attr, None)
        if v is not None:
            return v[0] if attr == "values" else v
    return h.default


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    return str(o)
