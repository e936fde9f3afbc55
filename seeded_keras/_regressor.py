"""SeededKerasRegressor: scikeras' KerasRegressor with per-fit derived seeds.

This is the only module that imports scikeras.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import math
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from scikeras._utils import route_params
from scikeras.wrappers import KerasRegressor
from sklearn.metrics import r2_score
from sklearn.utils import RegressorTags
from sklearn.utils.validation import (
    check_is_fitted,
    validate_data,
)

from . import _compat, _reuse, _seeding, _threads
from ._models import mlp

__all__ = ["SeededKerasRegressor", "check_xy"]

_ROUTED_TARGETS = ("optimizer", "loss", "compile", "fit", "predict", "model")


def _inline(dataset):
    """Let ``dataset`` run in the thread that pulls from it.

    By default tf.data appends a prefetch (a thread per iterator) and runs an
    autotuner beside it.  Our pipelines gather rows that are already in
    memory: the threads only cost their start-up and a hand-off per batch.
    Values and their order are unchanged.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.inject_prefetch = False
    options.experimental_optimization.map_parallelization = False
    return dataset.with_options(options)


def _did_you_mean(name: str, valid) -> str:
    close = difflib.get_close_matches(name, sorted(valid), n=1)
    return f"; did you mean '{close[0]}'?" if close else "."


def _init_params(obj) -> tuple[set[str], bool]:
    """Parameter names accepted by a class' constructor chain or a function."""
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
        takes_kwargs = False  # Keras classes forward **kwargs to known bases
    return names, takes_kwargs


def check_xy(X, y, estimator_name: str, check_X: bool = True):
    """Validate training data the way every seeded_keras path does.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    estimator_name : str
        Used in error messages.
    check_X : bool, default=True
        False checks only ``y`` and the lengths (X may be transformed later,
        e.g. by a Pipeline).

    Returns
    -------
    X, y : ndarray
        Numeric, finite, 2-D ``X`` and 1-D or 2-D ``y`` of equal length.

    Raises
    ------
    ValueError
        On ``y=None``, NaN or infinity, inconsistent lengths, empty ``X``,
        ``X`` that is not 2-D, ``y`` with more than 2 dimensions, or string
        data.
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
        kind = arr.dtype.kind
        if kind in "US" or (
            kind == "O" and any(isinstance(v, (str, bytes)) for v in arr.ravel())
        ):
            raise ValueError(
                f"{estimator_name} needs numeric {name}, but {name} contains "
                "strings. Encode them first, e.g. with a OneHotEncoder or "
                "OrdinalEncoder in a Pipeline in front of the regressor."
            )
    y_arr = arrays["y"]
    if y_arr.ndim > 2:
        raise ValueError(
            f"y must be 1-D (n_samples,) or 2-D (n_samples, n_outputs); got an "
            f"array with {y_arr.ndim} dimensions."
        )
    if check_X:
        X = check_array(
            X,
            dtype="numeric",
            ensure_all_finite=True,
            input_name="X",
            estimator=estimator_name,
        )
    y = check_array(
        y,
        dtype="numeric",
        ensure_2d=False,
        ensure_all_finite=True,
        input_name="y",
        estimator=estimator_name,
    )
    check_consistent_length(X, y)
    return X, y


class SeededKerasRegressor(KerasRegressor):
    """A scikeras ``KerasRegressor`` whose every fit is seeded from its data.

    Same hyperparameters, same training rows, same ``random_state`` and
    ``repeat`` give the same model bit for bit on CPU -- in this process, in
    a fresh interpreter, after unrelated fits, in concurrent threads and in
    joblib/dask workers.

    **The seeding contract.**  Each ``fit`` derives the integer ``seed_`` it
    uses as a SHA-256 of (the resolved ``random_state``, a fingerprint of the
    training data as the model sees it -- X, y and sample_weight cast to
    float32 in C order -- and ``repeat``).  Containers (list, ndarray,
    DataFrame), float32/float64 and C/Fortran order holding the same values
    give the same seed; different folds get different seeds; every candidate
    of a grid gets the same seed on the same fold and repeat.  All randomness
    of build and fit comes from ``seed_``: initialiser and dropout seeds
    (drawn by Keras while the model is built, from a generator private to
    the building thread), the per-epoch data order and the
    ``validation_fraction`` holdout (NumPy generators of their own).  No
    process-global RNG is read or written, so other threads cannot disturb a
    fit.  A build function should take its randomness from Keras
    initialisers; Python's and NumPy's global RNGs are not seeded.  TF op
    determinism is on while fitting and restored after; Python/NumPy RNG
    state, TF's global seed and ``TF_DETERMINISTIC_OPS`` are unchanged by a
    fit.  TensorFlow's intra-op thread count is pinned when seeded_keras is
    imported (``TF_NUM_INTRAOP_THREADS``, default 1).

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

    # ------------------------------------------------------------ validation
    def _check_model_param(self):
        if self.model is None and self.build_fn is None:
            return mlp
        return super()._check_model_param()

    def _check_routed_params(self, path: str = "") -> None:
        """Reject routed parameters that scikeras would silently drop.

        ``path`` (e.g. ``"net__"``) prefixes the names in the message, for a
        regressor nested in a Pipeline or a search grid.
        """
        import keras

        params = self.get_params()
        for key in sorted(params):
            prefix, sep, rest = key.partition("__")
            if not sep or prefix not in _ROUTED_TARGETS:
                continue
            name = rest.split("__")[0]
            if prefix == "optimizer":
                target = self.optimizer
                if isinstance(target, str):
                    target = type(keras.optimizers.get(target))
                if not inspect.isclass(target):
                    raise ValueError(
                        f"'{path}{key}' is routed to the optimizer, but optimizer "
                        "is an "
                        f"instance ({type(target).__name__}); routed parameters "
                        "apply only to an optimizer given by name or class."
                    )
                what = f"optimizer {target.__name__}"
            elif prefix == "loss":
                target = self.loss
                if not inspect.isclass(target):
                    continue  # names and functions take no routed arguments
                what = f"loss {target.__name__}"
            elif prefix == "model":
                if isinstance(self.model, keras.Model):
                    raise ValueError(
                        f"'{path}{key}' is routed to the build function, but model "
                        "is a model instance; routed model parameters apply only "
                        "to a build function."
                    )
                target = self._check_model_param()
                if not callable(target) or isinstance(target, keras.Model):
                    continue
                what = f"build function {getattr(target, '__name__', target)}"
            else:
                target = getattr(keras.Model, prefix)
                what = f"keras.Model.{prefix}"
            valid, open_ended = _init_params(target)
            if not open_ended and name not in valid:
                valid_keys = {f"{path}{prefix}__{v}" for v in valid}
                raise ValueError(
                    f"Unknown parameter '{path}{key}' for the {what}"
                    f"{_did_you_mean(path + key, valid_keys)} Valid names: "
                    f"{', '.join(sorted(valid_keys))}."
                )

    def _validate_fit_params(self, n_samples: int) -> float:
        """Check parameters before any training; return the validation split."""
        _compat.validate_parameter_constraints(
            self._parameter_constraints,
            {k: getattr(self, k) for k in self._parameter_constraints},
            caller_name=type(self).__name__,
        )
        self._check_routed_params()
        split = float(getattr(self, "fit__validation_split", self.validation_split))
        if split:
            if self.validation_fraction is not None:
                raise ValueError(
                    "Pass either validation_fraction or Keras' validation_split, "
                    "not both."
                )
            warnings.warn(
                "Keras' validation_split holds out the last rows of the training "
                "data, unshuffled, so early stopping watches a biased split. Use "
                "validation_fraction instead: a seeded, shuffled holdout.",
                UserWarning,
                stacklevel=3,
            )
        if self.validation_fraction is not None:
            n_val = math.ceil(self.validation_fraction * n_samples)
            if n_val >= n_samples:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} leaves no "
                    f"training row out of {n_samples}; lower it or pass more rows."
                )
        return split

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
        )
        if sample_weight is not None:
            sample_weight = _compat.check_sample_weight(sample_weight, X)
        self._validation_split = self._validate_fit_params(len(X))
        self.random_state_ = _seeding.resolve_random_state(self.random_state)
        self.fingerprint_ = _seeding.fingerprint(X, y, sample_weight)
        self.seed_ = _seeding.derive_seed(
            self.random_state_, self.fingerprint_, self.repeat
        )
        _threads.warn_if_threads_unpinned()
        _threads.pin_worker_to_a_cpu()  # only with SEEDED_KERAS_PIN_WORKERS=1
        return X, y, sample_weight

    def _initialize(self, X, y=None):
        # scikeras' own random_state handling seeds process-global state
        # around build and fit; seeded_keras replaces it entirely.  Build and
        # compile name their objects as a fresh interpreter would (see
        # _compat.fresh_names): the same names in every fit, and no growth.
        with _compat.fresh_names():
            X, y = super()._initialize(X, y)
        self._random_state = None
        return X, y

    def _build_keras_model(self):
        self._random_state = None
        with _seeding.seeded_build(self.seed_):
            model = super()._build_keras_model()
        return model

    def _initialize_callbacks(self) -> None:
        super()._initialize_callbacks()
        # Fresh copies for every fit: nothing carried from one fold to the next.
        self._fit_callbacks = [copy.deepcopy(cb) for cb in self._fit_callbacks]

    def _ensure_compiled_model(self) -> None:
        compiled_by_build = self.model_.compiled  # else scikeras compiles it
        super()._ensure_compiled_model()
        if not compiled_by_build:
            return
        build_fn = self._check_model_param()
        routed = [
            k
            for k in self.get_params()
            if k.partition("__")[0] in ("optimizer", "loss", "compile") and "__" in k
        ]
        names, open_ended = _init_params(build_fn) if callable(build_fn) else ((), 0)
        takes_compile = "compile_kwargs" in names or open_ended
        if routed and not takes_compile:
            raise ValueError(
                f"{', '.join(sorted(routed))} would be ignored: the build function "
                "compiles the model itself. Accept a `compile_kwargs` argument and "
                "call `model.compile(**compile_kwargs)`."
            )

    def _fit_keras_model(
        self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs
    ):
        import tensorflow as tf

        params = self.get_params()
        fit_args = route_params(params, destination="fit", pass_filter=self._fit_kwargs)
        fit_args.update(kwargs)
        for k in (
            "epochs",
            "initial_epoch",
            "sample_weight",
            "validation_split",
            "callbacks",
        ):
            fit_args.pop(k, None)
        fit_args = {k: v for k, v in fit_args.items() if not k.startswith("callbacks")}
        batch_size = fit_args.pop("batch_size", None) or 32
        shuffle = fit_args.pop("shuffle", True)

        X = np.ascontiguousarray(X, dtype=np.float32)
        y = np.ascontiguousarray(y, dtype=np.float32)
        n = len(X)
        rows = np.arange(n)
        val_rows = None
        if self.validation_fraction is not None:
            perm = _seeding.stream(self.seed_, _seeding.HOLDOUT).permutation(n)
            n_val = math.ceil(self.validation_fraction * n)
            val_rows, rows = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        elif self._validation_split:
            split_at = int(math.floor(n * (1.0 - self._validation_split)))
            rows, val_rows = rows[:split_at], rows[split_at:]
        if val_rows is not None:
            fit_args["validation_data"] = (X[val_rows], y[val_rows])
        if batch_size == -1:
            batch_size = len(rows)

        # The data order of every epoch, drawn up front from seed_: no TF RNG.
        n_tr = len(rows)
        order_rng = _seeding.stream(self.seed_, _seeding.DATA_ORDER)
        orders = [
            order_rng.permutation(n_tr) if shuffle else np.arange(n_tr)
            for _ in range(initial_epoch + epochs)
        ][initial_epoch:]
        lengths = [batch_size] * (n_tr // batch_size)
        if n_tr % batch_size:
            lengths.append(n_tr % batch_size)
        batches = tf.RaggedTensor.from_row_lengths(
            np.concatenate(orders), np.tile(lengths, epochs)
        )
        tensors = [tf.constant(X[rows]), tf.constant(y[rows])]
        if sample_weight is not None:
            tensors.append(tf.constant(np.asarray(sample_weight, np.float32)[rows]))
        dataset = _inline(
            tf.data.Dataset.from_tensor_slices(batches).map(
                lambda idx: tuple(tf.gather(t, idx) for t in tensors)
            )
        )
        # A trainer is traced for one input structure, as a fresh model is.
        data_key = repr(
            (X.shape[1:], y.shape[1:], sample_weight is None, val_rows is None)
        )
        with self._borrow_trainer(len(lengths), data_key) as trainer:
            model = self.model_
            if trainer is not None:  # same graph, already traced: see _reuse
                _reuse.copy_state(model, trainer)
                model = trainer
            hist = model.fit(
                dataset,
                epochs=initial_epoch + epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=len(lengths),
                shuffle=False,  # the order above is already shuffled from seed_
                callbacks=self._fit_callbacks,
                **fit_args,
            )
            if trainer is not None:
                _reuse.copy_state(trainer, self.model_)
        if not warm_start or not hasattr(self, "history_") or initial_epoch == 0:
            self.history_ = {}
        for key, val in hist.history.items():
            self.history_.setdefault(key, []).extend(val)
        self.n_epochs_ = len(hist.history.get("loss", []))
        self.best_epoch_ = None
        import keras

        for cb in self._fit_callbacks:
            if isinstance(cb, keras.callbacks.EarlyStopping):
                self.best_epoch_ = int(cb.best_epoch) + 1
            cb.set_model(None)  # no model reference outlives the fit

    @contextmanager
    def _borrow_trainer(self, steps_per_epoch: int, data_key: str):
        """Lend a pooled, already traced twin of ``model_`` to train on.

        Yields None when reuse is off (``SEEDED_KERAS_REUSE=0``), when the
        user passed a model instance, or when the model holds anything but
        built-in Keras objects.  One epoch runs per execution unless the
        model was compiled with its own ``steps_per_execution`` or a callback
        watches single batches.
        """
        import keras

        model = self.model_
        self._reuse_key = None
        key = None
        if _reuse.enabled() and not isinstance(self.model, keras.Model):
            key = _reuse.signature(model)
        if key is None:
            yield None
            return
        per_execution = model.steps_per_execution
        if (
            per_execution == 1
            and _reuse.EPOCH_PER_EXECUTION
            and not _reuse.watches_batches(self._fit_callbacks)
        ):
            per_execution = steps_per_epoch

        def make():
            with _compat.fresh_names():  # as model_ was named
                with _seeding.seeded_build(self.seed_):
                    twin = super(SeededKerasRegressor, self)._build_keras_model()
                if not twin.compiled:
                    twin.compile(**self._get_compile_kwargs())
            return None if twin is model else twin

        with _reuse.borrow_trainer(key, make, per_execution, data_key) as trainer:
            self._reuse_key = None if trainer is None else key
            yield trainer

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
        X = validate_data(self, X, reset=False, dtype="numeric", ensure_all_finite=True)
        return np.asarray(super().predict(X, **kwargs), dtype=np.float64)

    def _predict_raw(self, X, **kwargs):
        # scikeras' _predict_raw, predicting with a cached traced twin of
        # model_ (same graph, same weights: the same bits) when there is one.
        key = getattr(self, "_reuse_key", None)
        if not (key and _reuse.enabled() and self.initialized_):
            return super()._predict_raw(X, **kwargs)
        with _reuse.borrow_predictor(key) as twin:
            if twin is None:
                return super()._predict_raw(X, **kwargs)
            return self._predict_with(twin, X, **kwargs)

    def _predict_with(self, twin, X, **kwargs):
        X, _ = self._validate_data(X=X, y=None)
        X = self.feature_encoder_.transform(X)
        pred_args = route_params(
            self.get_params(),
            destination="predict",
            pass_filter=self._predict_kwargs,
            strict=True,
        )
        pred_args = {
            k: v for k, v in pred_args.items() if not k.startswith("callbacks")
        }
        pred_args["callbacks"] = self._predict_callbacks
        pred_args.update(kwargs)
        batch_size = pred_args.pop("batch_size", None) or 32
        if batch_size == -1:
            batch_size = max(len(X), 1)
        if "steps" not in pred_args:
            # The batches Keras would cut, without its per-call input pipeline.
            import tensorflow as tf

            X = _inline(tf.data.Dataset.from_tensor_slices(X).batch(batch_size))
        else:
            pred_args["batch_size"] = batch_size
        _reuse.copy_state(self.model_, twin, optimizer=False)
        return twin.predict(x=X, **pred_args)

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
