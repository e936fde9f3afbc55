"""seeded_keras._data: the seeded holdout, epoch orders and batches of a fit."""

import numpy as np
import pytest

from seeded_keras import _data


def test_holdout_is_seeded_sorted_and_disjoint():
    train, val = _data.holdout(seed=3, n_rows=10, validation_fraction=0.25)
    again, _ = _data.holdout(seed=3, n_rows=10, validation_fraction=0.25)
    other, _ = _data.holdout(seed=4, n_rows=10, validation_fraction=0.25)
    assert len(val) == 3 and sorted(np.r_[train, val]) == list(range(10))
    assert (np.sort(train) == train).all() and (train == again).all()
    assert (train != other).any()


def test_validation_split_is_keras_tail_and_none_keeps_every_row():
    train, val = _data.holdout(seed=3, n_rows=10, validation_split=0.2)
    assert train.tolist() == list(range(8)) and val.tolist() == [8, 9]
    train, val = _data.holdout(seed=3, n_rows=10)
    assert train.tolist() == list(range(10)) and val is None


def test_epoch_orders_continue_where_a_fit_stopped():
    whole = _data.epoch_orders(
        seed=1, n_rows=6, shuffle=True, initial_epoch=0, epochs=3
    )
    rest = _data.epoch_orders(seed=1, n_rows=6, shuffle=True, initial_epoch=2, epochs=1)
    assert whole.shape == (3, 6) and (rest[0] == whole[2]).all()
    assert len({tuple(o) for o in whole}) == 3  # a new order every epoch
    fixed = _data.epoch_orders(
        seed=1, n_rows=4, shuffle=False, initial_epoch=0, epochs=2
    )
    assert fixed.tolist() == [[0, 1, 2, 3]] * 2


@pytest.mark.parametrize(
    "n,size,lengths", [(10, 4, [4, 4, 2]), (8, 4, [4, 4]), (3, 32, [3])]
)
def test_batch_lengths(n, size, lengths):
    assert _data.batch_lengths(n, size) == lengths


def test_training_data_gathers_rows_in_the_seeded_order():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10.0)
    data = _data.training_data(
        X, y, None, seed=5, batch_size=4, shuffle=True, epochs=2, initial_epoch=0
    )
    assert data.steps_per_epoch == 3 and data.validation_data is None
    ys = np.concatenate([b[1].numpy() for b in data.dataset])
    orders = _data.epoch_orders(5, 10, True, 0, 2)
    assert ys.tolist() == orders.ravel().astype(float).tolist()
    assert [b[0].shape[0] for b in data.dataset] == [4, 4, 2] * 2


@pytest.mark.parametrize("weighted", [False, True])
def test_numpy_and_tf_data_gathering_give_the_same_batches(monkeypatch, weighted):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=(50, 2))
    w = rng.uniform(size=50) if weighted else None
    args = dict(seed=7, batch_size=8, shuffle=True, epochs=3, initial_epoch=1)
    kinds = {}
    for name, limit in [("numpy", 2**30), ("tf.data", 0)]:
        monkeypatch.setattr(_data, "GATHER_IN_NUMPY_BYTES", limit)
        data = _data.training_data(X, y, w, validation_fraction=0.2, **args)
        batches = [tuple(t.numpy() for t in b) for b in data.dataset]
        spec = data.dataset.element_spec
        kinds[name] = (data.steps_per_epoch, data.structure, spec, batches)
    (steps, structure, spec, batches), other = kinds["numpy"], kinds["tf.data"]
    assert steps == other[0] == 5 and len(batches) == 15  # 40 rows: 8 x 5, 3 epochs
    assert structure != other[1]  # specs differ: each kind its own trainer
    assert [s.shape for s in spec] == [s.shape for s in other[2]]
    assert len(other[3]) == len(batches)
    for mine, theirs in zip(batches, other[3]):
        assert len(mine) == (3 if weighted else 2)
        for a, b in zip(mine, theirs):
            assert a.tobytes() == b.tobytes()
