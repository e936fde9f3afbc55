"""The seeding rule, written once.

Every fit of a :class:`~seeded_keras.SeededKerasRegressor` uses one integer
seed, ``seed_``, derived as a pure function of three things:

1. the resolved ``random_state`` (an int: given, drawn from a
   ``RandomState``, or drawn fresh when ``None``);
2. a fingerprint of the training data as the model sees it -- ``X``, ``y``
   and ``sample_weight`` cast to float32, C order, with their shapes -- so
   lists, ndarrays, DataFrames, float64/float32 and C/Fortran order holding
   the same values give the same fingerprint;
3. ``repeat``, an int for repeated runs on the same data.

They are hashed with SHA-256 (never Python's salted ``hash()``), so the same
fold gets the same seed in every process, order and joblib backend, different
folds get different seeds, and all candidates of a grid share the seed on the
same fold and repeat (common random numbers).

All randomness of a fit flows from ``seed_`` through :func:`stream`: weight
initialiser and dropout seeds (drawn by Keras while the model is built inside
:func:`seeded_build`, from a thread-local generator), the per-epoch data order
and the ``validation_fraction`` holdout (NumPy generators).  No process-global
RNG is read or written.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral

import numpy as np

#: Seeds are kept below 2**31 - 1 so that every library accepts them.
_SEED_MODULUS = 2**31 - 1
_FORMAT = b"seeded_keras/seed/v1"

# Streams of randomness derived from one seed_.
BUILD, DATA_ORDER, HOLDOUT = 0, 1, 2


def resolve_random_state(random_state) -> int:
    """Resolve ``random_state`` to the int base of every derived seed.

    Parameters
    ----------
    random_state : None, int or numpy.random.RandomState
        ``None`` draws a fresh base from the operating system (without
        touching any global RNG); an int is used as is; a ``RandomState`` is
        asked for one integer (consuming it, as in scikit-learn).

    Returns
    -------
    int
        A non-negative integer below 2**32.
    """
    if random_state is None:
        return secrets.randbelow(2**32)
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    raise ValueError(
        f"random_state must be None, an int or a numpy.random.RandomState; "
        f"got {random_state!r}."
    )


def _as_model_array(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def _label_bytes(y) -> bytes | None:
    """Text labels (a classifier's ``y``) as bytes; None for numbers."""
    arr = np.asarray(y)
    if arr.dtype.kind not in "USO":
        return None
    return "\x1f".join(map(str, arr.ravel())).encode()


def fingerprint(X, y=None, sample_weight=None) -> str:
    """Hex SHA-256 of the training data as the model sees it.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs), optional
        A 1-D ``y`` and the same values as a single column are equal.
        Text labels (a classifier's) are hashed by their text.
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    str
        64 hexadecimal characters.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> fingerprint(X, [1, 2, 3]) == fingerprint(np.asfortranarray(X, np.float32),
    ...                                          np.array([[1.0], [2.0], [3.0]]))
    True
    """
    h = hashlib.sha256(_FORMAT)
    for name, a in (("X", X), ("y", y), ("w", sample_weight)):
        if a is None:
            h.update(f"|{name}:none".encode())
            continue
        text = _label_bytes(a) if name == "y" else None
        if text is not None:  # string labels: the same text, the same seed
            h.update(f"|y:labels{np.shape(a)}".encode())
            h.update(text)
            continue
        arr = _as_model_array(a)
        if name == "y":
            arr = arr.reshape(arr.shape[0], -1)
        h.update(f"|{name}:{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def derive_seed(base: int, data_fingerprint: str, repeat: int = 0) -> int:
    """Derive the seed of one fit.

    Parameters
    ----------
    base : int
        The resolved ``random_state`` (see :func:`resolve_random_state`).
    data_fingerprint : str
        See :func:`fingerprint`.
    repeat : int, default=0
        Index of a repeated run on the same data.

    Returns
    -------
    int
        A seed in ``[0, 2**31 - 1)``.

    Examples
    --------
    >>> derive_seed(0, "ab", 0) == derive_seed(0, "ab", 0)
    True
    >>> derive_seed(0, "ab", 0) == derive_seed(0, "ab", 1)
    False
    """
    msg = _FORMAT + f"|{int(base)}|{data_fingerprint}|{int(repeat)}".encode()
    digest = hashlib.sha256(msg).digest()
    return int.from_bytes(digest[:8], "little") % _SEED_MODULUS


def stream(seed: int, purpose: int) -> np.random.Generator:
    """An independent NumPy generator for one purpose of one fit's seed."""
    return np.random.default_rng([int(seed), int(purpose)])


@contextmanager
def seeded_build(seed: int) -> Iterator[None]:
    """Make the Keras model built inside this block depend on ``seed`` only.

    Keras 3 initialisers and dropout layers created without an explicit seed
    draw one from Python's ``random`` when they are constructed.  Inside this
    block they draw from a private ``random.Random`` seeded from ``seed``, for
    the current thread only (see :func:`seeded_keras._compat.keras_seed_source`).
    No process-global RNG is seeded, advanced or restored, so neither
    concurrent seeded fits nor other threads (a dask worker's event loop,
    say) can disturb a build, and a build disturbs nobody.
    """
    from . import _compat

    rng = random.Random(int(stream(seed, BUILD).integers(_SEED_MODULUS)))
    with _compat.keras_seed_source(rng):
        yield
