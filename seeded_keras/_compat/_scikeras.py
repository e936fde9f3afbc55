"""Hooks into scikeras: the private steps of its wrappers we take over.

This is the only module that imports scikeras.  scikeras 0.13 has no public
extension points for seeding, so :class:`ScikerasSteps` overrides its
private steps here, in one place, and hands each to a named method of
the seeded wrappers (:class:`~seeded_keras.SeededKerasRegressor` on
:class:`ScikerasRegressor`, :class:`~seeded_keras.SeededKerasClassifier` on
:class:`ScikerasClassifier`):

============================  =============================================
scikeras' private step        what seeded_keras does there
============================  =============================================
``_check_model_param``        ``model=None`` without ``_keras_build_fn``:
                              :meth:`_default_build_fn` (the MLP); a model
                              instance: :meth:`_copy_build_fn` (a fresh copy
                              per fit, never the user's object)
``_get_metadata``             ``meta`` for build functions, without the
                              attributes we add (:attr:`_own_attributes`)
                              or a previous fit's ``model_``/``history_``
``_type_of_target``           without scikit-learn 1.7's "unique classes"
                              warning (a classifier's concern)
``_initialize``               build and encoders inside
                              :meth:`_naming_context`
``_build_keras_model``        the build inside :meth:`_seeding_context`
                              (scikeras' global seeding is switched off)
``_ensure_compiled_model``    then :meth:`_check_compiled`
``_initialize_callbacks``     then :meth:`_fresh_callbacks`
``_fit_keras_model``          scikeras' loss check, routing, ``-1`` batch
                              sizes and history names around
                              :meth:`_train_keras_model`
``_predict_raw``              scikeras' checks and routing around
                              :meth:`_predict_keras_model`
``KerasClassifier.fit``       :meth:`ScikerasClassifier._fit_labels`: the
                              same steps, with the classes fixed by the
                              ``classes`` parameter and ``class_weight``
                              applied to a copy of ``sample_weight``
============================  =============================================

When scikeras no longer has (or no longer calls) one of these steps, importing
seeded_keras raises :class:`CompatError` instead of silently skipping ours.
"""

from __future__ import annotations

import warnings
from collections import defaultdict

from ._registry import CompatError, calls, hook
from .versions import CHECKED

_SCIKERAS = CHECKED["scikeras"]

try:
    from scikeras._utils import route_params as _route_params
    from scikeras.utils import metric_name
    from scikeras.wrappers import BaseWrapper, KerasClassifier, KerasRegressor
except ImportError as exc:  # pragma: no cover - only on an unchecked release
    raise CompatError(
        f"seeded_keras needs scikeras' wrappers and route_params "
        f"(checked on scikeras {_SCIKERAS}): {exc}"
    ) from None

__all__ = [
    "ScikerasClassifier",
    "ScikerasRegressor",
    "ScikerasSteps",
    "history_key",
    "route_params",
]

# Each private step we override, and the private steps that must call it.
_STEPS = {
    "_check_model_param": ("_build_keras_model",),
    "_initialize": ("_fit",),
    "_build_keras_model": ("_initialize",),
    "_ensure_compiled_model": ("_fit",),
    "_initialize_callbacks": ("_initialize",),
    "_fit_keras_model": ("_fit",),
    "_predict_raw": ("predict",),
    "_validate_data": ("_predict_raw",),
    "_get_compile_kwargs": ("_ensure_compiled_model",),
    "_get_metadata": ("_build_keras_model",),
    "_type_of_target": ("_validate_data",),
}
_ATTRIBUTES = (
    "_fit_kwargs",
    "_predict_kwargs",
    "_compile_kwargs",
    "_validate_sample_weight",
)


def _calls_along_mro(cls, caller: str, name: str) -> bool:
    """Whether ``cls.caller`` calls ``name``, itself or through ``super()``."""
    for klass in cls.__mro__:
        method = vars(klass).get(caller)
        if method is None:
            continue
        if calls(method, name):
            return True
        if not calls(method, caller):  # no super().caller(...): stops here
            return False
    return False


# What KerasClassifier.fit does around BaseWrapper.fit, redone by
# ScikerasClassifier._fit_labels: it must still be only this.
_CLASSIFIER_FIT = ("classes_", "class_weight", "compute_sample_weight", "fit")


def check_private_steps(cls=KerasRegressor, hook=None) -> None:
    """Raise :class:`CompatError` unless ``cls`` still has and calls our steps."""
    hook = hook or ScikerasSteps.hook
    name_of = (
        "KerasClassifier" if issubclass(cls, KerasClassifier) else "KerasRegressor"
    )
    for name, callers in _STEPS.items():
        if not callable(getattr(cls, name, None)):
            raise hook.error(f"{name_of} has no {name}")
        for caller in callers:
            if not _calls_along_mro(cls, caller, name):
                raise hook.error(f"{name_of}.{caller} no longer calls {name}")
    for name in _ATTRIBUTES:
        if not hasattr(cls, name):
            raise hook.error(f"{name_of} has no {name}")
    if issubclass(cls, KerasClassifier):
        fit = vars(KerasClassifier)["fit"]
        for name in _CLASSIFIER_FIT:
            if not calls(fit, name):
                raise hook.error(f"KerasClassifier.fit no longer uses {name}")
        if not isinstance(vars(KerasClassifier).get("target_encoder"), property):
            raise hook.error("KerasClassifier.target_encoder is no longer a property")


@hook("scikeras", "scikeras._utils.route_params", _SCIKERAS)
def route_params(params, destination, pass_filter, strict=False) -> dict:
    """scikeras' routing: ``fit__epochs`` -> ``epochs`` for ``destination="fit"``."""
    return _route_params(params, destination, pass_filter, strict)


@hook("scikeras", "scikeras.utils.metric_name", _SCIKERAS)
def history_key(key: str) -> str:
    """The name scikeras gives a Keras history key (``"mean_squared_error"``)."""
    if key == "loss" or key.startswith("val_"):
        return key
    try:
        return metric_name(key)
    except ValueError:  # a custom metric keeps its name
        return key


def keras_model_class():
    """``keras.Model`` (imported when first needed)."""
    import keras

    return keras.Model


def n_rows(X) -> int:
    """Rows of ``X``: an array, or the first array of a list or dict of them
    (a scikeras feature encoder's output for a multi-input model)."""
    if hasattr(X, "shape"):
        return int(X.shape[0])
    import keras

    return len(keras.tree.flatten(X)[0])


def _minus_one_batch(args: dict, names, n_rows: int) -> None:
    """scikeras' meaning of ``-1``: the whole set in one batch."""
    for name in names:
        if args.get(name) == -1:
            args[name] = n_rows


_NO_LOSS = (
    "No valid loss function found. You must provide a loss function to train."
    "\n\nTo resolve this issue, do one of the following:"
    "\n 1. Provide a loss function via the loss parameter."
    "\n 2. Compile your model with a loss function inside the"
    " model-building method."
)


@hook("scikeras", "its wrappers' private steps (see the module docstring)", _SCIKERAS)
class ScikerasSteps:
    """scikeras' private steps handed to named ones; left of a scikeras wrapper.

    Subclasses implement ``_default_build_fn``, ``_copy_build_fn``,
    ``_naming_context``,
    ``_seeding_context``, ``_check_compiled``, ``_fresh_callbacks``,
    ``_train_keras_model`` and ``_predict_keras_model``.
    """

    # ------------------------------------------------------ scikeras' steps
    #: Fitted attributes of ours, kept out of scikeras' ``meta``.
    _own_attributes: frozenset = frozenset()

    def _check_model_param(self):
        if (
            self.model is None
            and self.build_fn is None
            and not hasattr(self, "_keras_build_fn")
        ):
            return self._default_build_fn()
        build = super()._check_model_param()
        if isinstance(self.model, keras_model_class()):
            return self._copy_build_fn(self.model)
        return build

    def _type_of_target(self, y):
        # scikit-learn 1.7 warns that a target with many integer values has
        # "more than 50% unique classes": a classifier's concern, noise here.
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="The number of unique classes", category=UserWarning
            )
            return super()._type_of_target(y)

    def _get_metadata(self):
        meta = super()._get_metadata()
        # meta describes the data; a previous fit's model and history (a
        # refit, or the pool's twin built after model_) are not metadata
        skip = self._own_attributes | {"model_", "history_"}
        return {k: v for k, v in meta.items() if k not in skip}

    def _initialize(self, X, y=None):
        with self._naming_context():
            X, y = super()._initialize(X, y)
        self._random_state = None  # scikeras' global seeding: never used
        return X, y

    def _build_keras_model(self):
        self._random_state = None
        with self._seeding_context():
            return super()._build_keras_model()

    def _ensure_compiled_model(self) -> None:
        compiled_by_build = self.model_.compiled  # else scikeras compiles it
        super()._ensure_compiled_model()
        self._check_compiled(compiled_by_build)

    def _initialize_callbacks(self) -> None:
        super()._initialize_callbacks()
        self._fit_callbacks = self._fresh_callbacks(self._fit_callbacks)

    def _fit_keras_model(
        self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs
    ):
        loss = self.model_.loss
        losses = loss.values() if isinstance(loss, dict) else loss
        if isinstance(loss, (list, dict)) and not any(
            callable(x) or isinstance(x, str) for x in losses
        ):
            raise ValueError(_NO_LOSS)
        fit_args = self._keras_fit_arguments(n_rows(X), **kwargs)
        history = self._train_keras_model(
            X, y, sample_weight, epochs, initial_epoch, fit_args
        )
        if not warm_start or not hasattr(self, "history_") or initial_epoch == 0:
            self.history_ = defaultdict(list)
        for key, values in history.history.items():
            self.history_[history_key(key)] += values

    def _predict_raw(self, X, **kwargs):
        from sklearn.exceptions import NotFittedError

        if not self.initialized_:
            raise NotFittedError(
                "Estimator needs to be fit before `predict` can be called"
            )
        X, _ = self._validate_data(X=X, y=None)
        X = self.feature_encoder_.transform(X)
        return self._predict_keras_model(
            X, self._keras_predict_arguments(n_rows(X), **kwargs)
        )

    # ------------------------------------------------- scikeras' state, by name
    def _keras_fit_arguments(self, n_rows: int, **kwargs) -> dict:
        """What scikeras hands ``keras.Model.fit`` besides data and callbacks.

        Routed ``fit__*`` and fit parameters (``batch_size``, ``verbose``,
        ``shuffle``, ...), ``kwargs`` on top, ``-1`` batch sizes resolved to
        ``n_rows``; without ``epochs``, ``initial_epoch``, ``sample_weight``
        and ``callbacks`` (the caller's).
        """
        fit_args = route_params(
            self.get_params(), destination="fit", pass_filter=self._fit_kwargs
        )
        fit_args.update(kwargs)
        _minus_one_batch(fit_args, ("batch_size", "validation_batch_size"), n_rows)
        fit_args = {k: v for k, v in fit_args.items() if not k.startswith("callbacks")}
        for name in ("epochs", "initial_epoch", "sample_weight", "callbacks"):
            fit_args.pop(name, None)
        return fit_args

    def _keras_predict_arguments(self, n_rows: int, **kwargs) -> dict:
        """What scikeras hands ``keras.Model.predict`` besides ``x``."""
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
        _minus_one_batch(pred_args, ("batch_size",), n_rows)
        return pred_args

    def _keras_callbacks(self) -> list:
        """This fit's callbacks (scikeras' ``_fit_callbacks``, fresh copies)."""
        return self._fit_callbacks

    def _initialized_data(self, X, y, sample_weight=None):
        """Build the model as ``fit`` does, train nothing; return the data.

        scikeras' ``_initialize`` (checks, encoders, the model built and
        compiled) and then ``(X, y, sample_weight)`` exactly as ``_fit``
        hands them to ``_fit_keras_model``: zero-weight rows dropped
        (scikeras' ``_validate_sample_weight``), the fitted target and
        feature encoders applied.
        """
        X, y = self._initialize(X, y)
        self._ensure_compiled_model()
        if sample_weight is not None:
            X, y, sample_weight = self._validate_sample_weight(X, y, sample_weight)
        return (
            self.feature_encoder_.transform(X),
            self.target_encoder_.transform(y),
            sample_weight,
        )

    # ------------------------------------------- scikeras' steps, by name
    def _build_function(self):
        """The build function scikeras will call (``model``, ...)."""
        return self._check_model_param()

    def _compile_arguments(self) -> dict:
        """``Model.compile`` arguments from the routed parameters."""
        return self._get_compile_kwargs()

    def _build_model(self):
        """scikeras' build, without our seeding context (the caller's)."""
        return BaseWrapper._build_keras_model(self)


class ScikerasRegressor(ScikerasSteps, KerasRegressor):
    """scikeras' ``KerasRegressor`` with its private steps handed to named ones."""


class ScikerasClassifier(ScikerasSteps, KerasClassifier):
    """scikeras' ``KerasClassifier`` with its private steps handed to named ones.

    ``KerasClassifier.fit`` forgets the classes and multiplies the caller's
    ``sample_weight`` in place; :meth:`_fit_labels` does its steps with the
    classes a subclass fixes (``_fixed_classes``) and on a copy.
    """

    def _fixed_classes(self):
        """The classes every fit encodes, or None to learn them from ``y``."""
        return None

    def _class_weighted(self, y, sample_weight):
        """``sample_weight`` times ``class_weight``'s weights, as a new array."""
        from sklearn.utils.class_weight import compute_sample_weight

        if self.class_weight is None:
            return sample_weight
        weights = compute_sample_weight(class_weight=self.class_weight, y=y)
        return weights if sample_weight is None else weights * sample_weight

    def _fit_labels(self, X, y, sample_weight=None, **kwargs):
        """``KerasClassifier.fit``: classes fixed, ``sample_weight`` copied."""
        self.classes_ = self._fixed_classes()
        sample_weight = self._class_weighted(y, sample_weight)
        BaseWrapper.fit(self, X=X, y=y, sample_weight=sample_weight, **kwargs)
        return self

    def _partial_fit_labels(self, X, y, classes=None, sample_weight=None, **kwargs):
        """``KerasClassifier.partial_fit``, ``sample_weight`` copied."""
        if classes is None:
            classes = getattr(self, "classes_", None)
        self.classes_ = self._fixed_classes() if classes is None else classes
        sample_weight = self._class_weighted(y, sample_weight)
        BaseWrapper.partial_fit(self, X, y, sample_weight=sample_weight, **kwargs)
        return self

    def _initialized_data(self, X, y, sample_weight=None):
        self.classes_ = self._fixed_classes()
        sample_weight = self._class_weighted(y, sample_weight)
        return super()._initialized_data(X, y, sample_weight)

    def _initialize_labels(self, X, y):
        """``KerasClassifier.initialize`` with the fixed classes."""
        self.classes_ = self._fixed_classes()
        BaseWrapper.initialize(self, X=X, y=y)
        return self


check_private_steps(KerasRegressor)
check_private_steps(KerasClassifier)
