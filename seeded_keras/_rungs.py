"""Rungs that continue training: a fit's full snapshot, and continuing from it.

A halving search with ``resource="epochs"`` and ``rungs="continue"``
(:mod:`seeded_keras._halving`) trains a promoted candidate from where its
previous rung stopped instead of from scratch.  That equals training from
scratch to the new budget, bit for bit, because everything the next epoch
depends on is either a pure function of ``(seed_, epoch)`` -- the epoch's row
order (:func:`seeded_keras._data.epoch_orders`), the seeded holdout -- or is
in the snapshot:

* every model variable at the end of the last epoch, the dropout layers'
  seed-generator states included (``model.variables``);
* every optimizer variable, its iteration count and learning rate included;
* the state of each callback that is carried (:data:`CARRIED`):
  ``EarlyStopping``'s wait, best value, best weights and best epoch;
* the history so far, and whether training stopped (early stopping, a NaN).

A fit that stopped before its budget ran out is final: training it from
scratch to any larger budget stops at the same epoch, so a promoted stopped
fit is not trained again, its final weights are reused.  Early stopping is
counted inside each rung's budget: a fit with ``epochs=r`` never trains past
epoch ``r``; its patience carries over to the next rung.

Snapshots are pickled NumPy arrays on disk, one file per fit and budget
(:class:`RungLink`), so that any process (a loky or dask worker on the same
machine, or on a shared file system) can continue any fit, and so that a
journaled sweep killed between rungs continues after a restart.  A missing
snapshot costs time only: the fit trains from scratch, to the same bits.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CARRIED",
    "RungLink",
    "RungSpec",
    "Snapshot",
    "check_carried",
    "continued",
    "net_at",
]

# Callbacks whose whole state a snapshot carries, by class name (Keras'
# own): the attributes their on_train_begin resets.  TerminateOnNaN has
# none; a NaN stops training, and a stopped fit is final.
CARRIED = {
    "EarlyStopping": ("wait", "stopped_epoch", "best", "best_weights", "best_epoch"),
    "TerminateOnNaN": (),
}


def _carried(callback) -> tuple | None:
    """The attributes carried for ``callback``, or None when it is not carried."""
    import keras

    for name, attributes in CARRIED.items():
        if type(callback) is getattr(keras.callbacks, name):
            return attributes
    return None


def check_carried(callbacks, owner: str) -> None:
    """Raise, before any training, on a callback whose state cannot carry."""
    for callback in callbacks or []:
        if _carried(callback) is None:
            raise ValueError(
                f"rungs='continue' carries the state of Keras' "
                f"{' and '.join(CARRIED)} callbacks only; {owner} has "
                f"{type(callback).__name__}, whose state between rungs is "
                "unknown. Pass rungs='retrain' (every rung trains from scratch)."
            )


@dataclass
class Snapshot:
    """Everything a fit's next epoch depends on besides ``(seed_, epoch)``."""

    epoch: int  # epochs trained
    variables: list  # model.variables after the last epoch
    optimizer: list  # optimizer.variables after the last epoch
    callbacks: list  # carried state of each callback, in order
    history: dict
    stopped: bool  # training stopped before its budget: the fit is final
    final: list = field(default_factory=list)  # model.variables after training


def values(variables) -> list:
    return [np.array(v.numpy(), copy=True) for v in variables]


def assign(variables, values) -> None:
    """Give ``variables`` the snapshot's ``values``."""
    if len(variables) != len(values):
        raise RuntimeError("a snapshot of another model")
    for variable, value in zip(variables, values):
        variable.assign(value)


def callback_states(callbacks) -> list:
    """The carried state of each callback."""
    import copy

    return [
        {a: copy.deepcopy(getattr(cb, a)) for a in _carried(cb) or ()}
        for cb in callbacks
    ]


def set_callback_states(callbacks, states) -> None:
    """Put carried states back, after the callbacks' ``on_train_begin``."""
    for cb, state in zip(callbacks, states):
        for attribute, value in state.items():
            setattr(cb, attribute, value)


def _keras_callbacks():
    """The two callbacks around a continued fit (defined once Keras is in)."""
    import keras

    class Capture(keras.callbacks.Callback):
        """First in the list: at the end of training, before any other
        callback's on_train_end (early stopping restores its best weights
        there), keep the last epoch's state."""

        def __init__(self, callbacks):
            super().__init__()
            self.others = callbacks
            self.state = None

        def on_train_end(self, logs=None):
            model = self.model
            self.state = (
                values(model.variables),
                values(model.optimizer.variables),
                callback_states(self.others),
                bool(model.stop_training),
            )

    class Restore(keras.callbacks.Callback):
        """Last in the list: after every other callback's on_train_begin
        (which resets it), put the carried states back."""

        def __init__(self, callbacks, states):
            super().__init__()
            self.others, self.states = callbacks, states

        def on_train_begin(self, logs=None):
            set_callback_states(self.others, self.states)

    return Capture, Restore


def around(callbacks, resume: Snapshot | None) -> tuple[list, object]:
    """``callbacks`` with a capture first (and a restore last when resuming);
    returns the list and the capture."""
    Capture, Restore = _keras_callbacks()
    capture = Capture(callbacks)
    out = [capture, *callbacks]
    if resume is not None:
        out.append(Restore(callbacks, resume.callbacks))
    return out, capture


@dataclass(frozen=True)
class RungLink:
    """Where one fit finds the snapshot it continues from and keeps its own.

    Set on the seeded estimator by :func:`continued_fit_and_score` for one
    fit.  Files are ``{key}-{seed}-{epochs}.pkl`` in ``directory``: the fit
    without its budget (estimator, parameters, training rows), its seed, and
    the epochs trained.  A fit continues from the latest snapshot below its
    budget, whichever rung (or earlier sweep with the same journal) kept it:
    continuing from any epoch gives the same bits.
    """

    directory: str
    key: str
    budget: int
    keep: bool  # whether a later rung may continue from this fit
    carry: bool = True

    def path(self, seed: int, epochs: int) -> str:
        return os.path.join(self.directory, f"{self.key}-{seed}-{epochs}.pkl")

    def load(self, seed: int) -> Snapshot | None:
        """The latest snapshot of this fit below its budget, or None."""
        if not self.carry:
            return None
        prefix = f"{self.key}-{seed}-"
        try:
            names = os.listdir(self.directory)
        except OSError:
            return None
        epochs = [
            int(n[len(prefix) : -4])
            for n in names
            if n.startswith(prefix) and n.endswith(".pkl")
        ]
        for e in sorted((e for e in epochs if e < self.budget), reverse=True):
            try:
                with open(self.path(seed, e), "rb") as f:
                    return pickle.load(f)
            except (OSError, EOFError, pickle.UnpicklingError):
                continue  # trained from scratch instead: the same bits, slower
        return None

    def store(self, seed: int, epochs: int, snapshot: Snapshot) -> None:
        """Write the snapshot atomically (a killed writer leaves no file)."""
        if not (self.carry and self.keep):
            return
        os.makedirs(self.directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".part")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(snapshot, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self.path(seed, epochs))


def net_at(estimator, resource: str):
    """The estimator whose parameter ``resource`` is (a Pipeline's step)."""
    path = resource.rpartition("__")[0]
    return estimator.get_params()[path] if path else estimator


@dataclass(frozen=True)
class RungSpec:
    """What a worker needs to continue the fits of a halving search.

    ``resource`` is the ``epochs`` parameter (``"epochs"``, or
    ``"net__epochs"`` inside a Pipeline); fits below ``max_epochs`` keep
    their snapshot; ``context`` is the search's estimator, as the journal
    keys it.  With ``carry=False`` (``rungs="retrain"``) nothing is kept or
    continued; the epochs each fit trains are still counted.
    """

    directory: str
    resource: str
    max_epochs: int
    context: str
    carry: bool = True

    def link(self, parameters: dict, train) -> RungLink:
        budget = parameters[self.resource]
        rest = {k: v for k, v in parameters.items() if k != self.resource}
        digest = hashlib.sha256()
        digest.update(self.context.encode())
        digest.update(repr(sorted((k, repr(v)) for k, v in rest.items())).encode())
        digest.update(np.asarray(train, dtype=np.int64).tobytes())
        return RungLink(
            self.directory,
            digest.hexdigest()[:32],
            budget,
            budget < self.max_epochs,
            self.carry,
        )


def continued_fit_and_score(estimator, X, y, *, rungs: RungSpec, real, **kwargs):
    """scikit-learn's ``_fit_and_score``, the fit continued from its
    previous rung's snapshot; the result gains ``epochs_trained``."""
    from . import _compat

    parameters, train, _ = _compat.fit_task(kwargs)
    net = net_at(estimator, rungs.resource)
    if parameters is None or rungs.resource not in parameters:
        return real(estimator, X, y, **kwargs)
    net._rung_link = rungs.link(parameters, train)
    net._epochs_run = 0
    try:
        result = real(estimator, X, y, **kwargs)
    finally:
        del net._rung_link
    result["epochs_trained"] = net.__dict__.pop("_epochs_run", 0)
    return result


def continued(spec: RungSpec, original):
    """``original`` (``_fit_and_score``) continuing fits from ``spec``'s snapshots."""
    import functools

    return functools.partial(continued_fit_and_score, rungs=spec, real=original)
