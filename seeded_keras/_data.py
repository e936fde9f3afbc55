"""What one fit trains on: the seeded holdout, epoch orders and batches.

Every random choice here comes from the fit's ``seed_`` through
:func:`seeded_keras._seeding.stream`, drawn up front in NumPy: no TensorFlow
RNG, no global state.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import _compat, _seeding

__all__ = ["TrainingData", "holdout", "prediction_batches", "training_data"]

# Up to this many bytes of gathered epochs (X, y and weights, every epoch)
# are gathered in NumPy up front; above it, batch by batch in tf.data.
GATHER_IN_NUMPY_BYTES = 64 * 2**20


def holdout_size(validation_fraction: float, n_rows: int) -> int:
    """Rows held out by ``validation_fraction`` of ``n_rows`` (rounded up)."""
    return math.ceil(validation_fraction * n_rows)


def holdout(seed, n_rows, validation_fraction=None, validation_split=0.0):
    """Split ``range(n_rows)`` into sorted training and validation rows.

    ``validation_fraction`` holds out a seeded random share; Keras'
    ``validation_split`` (only without it) the last rows, unshuffled.

    Returns
    -------
    train, val : ndarray or (ndarray, None)
    """
    rows = np.arange(n_rows)
    if validation_fraction is not None:
        perm = _seeding.stream(seed, _seeding.HOLDOUT).permutation(n_rows)
        n_val = holdout_size(validation_fraction, n_rows)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])
    if validation_split:
        split_at = int(math.floor(n_rows * (1.0 - validation_split)))
        return rows[:split_at], rows[split_at:]
    return rows, None


def epoch_orders(seed, n_rows, shuffle, initial_epoch, epochs) -> np.ndarray:
    """Row order of each epoch from ``initial_epoch`` on, shape (epochs, n_rows).

    Epoch ``e`` always gets the ``e``-th permutation of the fit's stream, so
    a fit continued at ``initial_epoch`` sees what an unbroken one would.
    """
    rng = _seeding.stream(seed, _seeding.DATA_ORDER)
    orders = [
        rng.permutation(n_rows) if shuffle else np.arange(n_rows)
        for _ in range(initial_epoch + epochs)
    ]
    return np.array(orders[initial_epoch:], dtype=np.int64).reshape(epochs, n_rows)


def batch_lengths(n_rows: int, batch_size: int) -> list[int]:
    """Lengths of the batches of one epoch: full ones, then the remainder."""
    lengths = [batch_size] * (n_rows // batch_size)
    if n_rows % batch_size:
        lengths.append(n_rows % batch_size)
    return lengths


@dataclass
class TrainingData:
    """The input of one fit: its rows, their seeded order, its batches.

    Attributes
    ----------
    arrays : list of ndarray
        The training rows' leaves, flat: every array of X, every array of y,
        then the sample weights if any (float32).
    pack : callable
        A flat list like ``arrays`` (or batches of it) -> ``(x, y[,
        sample_weight])`` in the structure of X and y.
    order : ndarray of int64
        Every epoch's rows in the seeded order, epoch after epoch (indices
        into ``arrays``).
    lengths : ndarray of int64
        Every batch's length, epoch after epoch: ``order`` cut in these
        lengths gives the batches.
    steps_per_epoch : int
    validation_data : tf.data.Dataset or None
        The holdout in batches of ``validation_batch_size`` (Keras' default
        32), in order.
    structure : str
        The input structure a traced trainer is specific to.
    dataset : tf.data.Dataset
        The batches of (x, y[, sample_weight]) as a dataset, for
        ``keras.Model.fit``: made on first use (a fit that trains every
        epoch in one execution gathers its batches in the graph instead).
    """

    arrays: list
    pack: Callable
    order: np.ndarray
    lengths: np.ndarray
    steps_per_epoch: int
    validation_data: object
    structure: str
    in_numpy: bool

    @functools.cached_property
    def dataset(self):
        """Every epoch's batches, one after the other (see the class)."""
        import tensorflow as tf

        if self.in_numpy:
            # Every epoch's rows gathered here, in order: no function for
            # tf.data to trace per fit (a search at n_jobs=1 ran 17% faster,
            # same bits).
            dataset = tf.data.Dataset.from_tensor_slices(
                self.pack(
                    [
                        tf.RaggedTensor.from_row_lengths(a[self.order], self.lengths)
                        for a in self.arrays
                    ]
                )
            )
        else:  # large data: each batch gathered as it is pulled
            batches = tf.RaggedTensor.from_row_lengths(self.order, self.lengths)
            tensors = [tf.constant(a) for a in self.arrays]
            dataset = tf.data.Dataset.from_tensor_slices(batches).map(
                lambda idx: self.pack([tf.gather(t, idx) for t in tensors])
            )
        return _compat.inline(dataset)


def training_data(
    X,
    y,
    sample_weight,
    seed,
    *,
    batch_size,
    shuffle,
    epochs,
    initial_epoch,
    validation_fraction=None,
    validation_split=0.0,
    validation_batch_size=None,
) -> TrainingData:
    """Batches of one fit, every epoch's order drawn from ``seed``.

    Keras is handed datasets only: its own array pipeline (which starts
    threads and logs graph-rewrite errors) is never built.  The training rows
    of every epoch are gathered in NumPy, in the seeded order, and cut into
    batches (a ragged tensor, one row per batch) -- or, when that would hold
    more than ``GATHER_IN_NUMPY_BYTES``, gathered batch by batch inside the
    tf.data pipeline.  Either runs in the thread that pulls from it
    (:func:`seeded_keras._compat.inline`), and both give the same batches.
    The dataset is made only when it is used (:attr:`TrainingData.dataset`).
    """
    import tensorflow as tf

    # X and y may be structures of arrays (a scikeras feature encoder for a
    # multi-input model, a target encoder for a multi-output one): every
    # leaf is cut the same way, and the batches keep the structure
    X, y = _tuples(X), _tuples(y)  # tf.data reads a list as one tensor
    x_leaves, y_leaves = leaves(X), leaves(y)
    n_rows = len(x_leaves[0])

    def packed(parts):
        """(x, y[, w]) in the structure of X and y from a flat list of leaves."""
        nx, ny = len(x_leaves), len(y_leaves)
        x = tf.nest.pack_sequence_as(X, list(parts[:nx]))
        return (
            x,
            tf.nest.pack_sequence_as(y, list(parts[nx : nx + ny])),
            *parts[nx + ny :],
        )

    rows, val_rows = holdout(seed, n_rows, validation_fraction, validation_split)
    validation = None
    if val_rows is not None:  # the batches Keras would cut, in our pipeline
        validation = _compat.inline(
            tf.data.Dataset.from_tensor_slices(
                packed([a[val_rows] for a in (*x_leaves, *y_leaves)])
            ).batch(validation_batch_size or 32)
        )
    batch_size = len(rows) if batch_size == -1 else batch_size
    orders = epoch_orders(seed, len(rows), shuffle, initial_epoch, epochs)
    per_epoch = batch_lengths(len(rows), batch_size)
    arrays = [a[rows] for a in (*x_leaves, *y_leaves)]
    if sample_weight is not None:
        arrays.append(np.asarray(sample_weight, np.float32)[rows])
    in_numpy = epochs * sum(a.nbytes for a in arrays) <= GATHER_IN_NUMPY_BYTES
    # the element spec differs (ragged slices or gathered tensors): a traced
    # trainer serves one kind only
    structure = repr(
        (
            _shapes(X),
            _shapes(y),
            sample_weight is None,
            val_rows is None,
            in_numpy,
        )
    )
    return TrainingData(
        arrays=arrays,
        pack=packed,
        order=orders.ravel(),
        lengths=np.tile(np.asarray(per_epoch, np.int64), epochs),
        steps_per_epoch=len(per_epoch),
        validation_data=validation,
        structure=structure,
        in_numpy=in_numpy,
    )


def leaves(data) -> list[np.ndarray]:
    """The arrays of ``data`` (an array, or a list/tuple/dict of them), float32."""
    import tensorflow as tf

    return [np.ascontiguousarray(a, dtype=np.float32) for a in tf.nest.flatten(data)]


def _tuples(data):
    """``data`` with every list made a tuple (a structure, for tf.data)."""
    if isinstance(data, (list, tuple)):
        return tuple(_tuples(d) for d in data)
    if isinstance(data, dict):
        return {k: _tuples(v) for k, v in data.items()}
    return data


def _shapes(data):
    """The structure of ``data`` with each array replaced by its row shape."""
    import tensorflow as tf

    return tf.nest.map_structure(lambda a: np.shape(a)[1:], data)


def prediction_batches(X, batch_size):
    """The batches Keras would cut for ``predict``, without its per-call pipeline."""
    import tensorflow as tf

    if isinstance(X, (list, tuple, dict)):  # several inputs: one element, (x,)
        X = (_tuples(X),)
    return _compat.inline(tf.data.Dataset.from_tensor_slices(X).batch(batch_size))
