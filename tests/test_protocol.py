"""seeded_keras._protocol: what the search, the manual loop and the tuner share."""

import numpy as np
import pytest
from conftest import small_net
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from seeded_keras._protocol import Protocol, freeze_splits, mse_scorer_name
from seeded_keras._results import SeedFits


def test_prepare_gives_every_seeded_regressor_one_base():
    pipe = make_pipeline(StandardScaler(), small_net(random_state=None))
    protocol = Protocol.prepare(pipe, random_state=7, n_seeds=2)
    assert protocol.paths == ["seededkerasregressor__"]
    assert protocol.random_state == 7
    assert protocol.estimator.get_params()["seededkerasregressor__random_state"] == 7
    assert pipe.get_params()["seededkerasregressor__random_state"] is None  # a clone


def test_with_seeds_repeats_each_candidate_seeds_innermost():
    protocol = Protocol.prepare(small_net(), random_state=0, n_seeds=2)
    assert protocol.with_seeds([{"a": 1}, {"a": 2}]) == [
        {"a": 1, "repeat": 0},
        {"a": 1, "repeat": 1},
        {"a": 2, "repeat": 0},
        {"a": 2, "repeat": 1},
    ]
    single = Protocol.prepare(small_net(), random_state=0, n_seeds=1)
    assert single.with_seeds([{"a": 1}]) == [{"a": 1}]


def test_grid_names_are_checked_on_a_clone():
    with pytest.raises(ValueError, match="^Unknown parameter 'epoch' in param_grid"):
        Protocol.prepare(small_net(), 0, 1, param_grid={"epoch": [1]})


def test_freeze_splits_passes_y_and_groups():
    X, y = np.zeros((6, 1)), np.arange(6.0)
    groups = [0, 0, 1, 1, 2, 2]
    splits = freeze_splits(GroupKFold(3), X, y, groups)
    assert sorted(tuple(test) for _, test in splits) == [(0, 1), (2, 3), (4, 5)]
    shuffled = KFold(3, shuffle=True)
    frozen = freeze_splits(shuffled, X, y)
    assert all(isinstance(a, np.ndarray) for pair in frozen for a in pair)


def test_mse_scorer_name():
    assert mse_scorer_name("neg_mean_squared_error") == "score"
    assert mse_scorer_name(["r2", "neg_mean_squared_error"]) == "neg_mean_squared_error"
    assert mse_scorer_name({"mse": "neg_mean_squared_error"}) == "mse"
    assert mse_scorer_name("r2") is None


def test_seed_fits_index_is_candidate_then_repeat_then_fold():
    C, K, S = 2, 3, 2
    out = [(c, j, i) for c in range(C) for j in range(S) for i in range(K)]
    fits = SeedFits(out, C, K, S)
    assert all(fits(c, i, j) == (c, j, i) for c, i, j in fits.cells())
