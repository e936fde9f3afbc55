"""explain_gap: best CV MSE to final test MSE, in measured parts that add up."""

import keras
import numpy as np
import pytest
from conftest import small_net
from sklearn.base import clone
from sklearn.datasets import load_diabetes
from sklearn.metrics import mean_squared_error

from seeded_keras import ReconciledSearchCV, explain_gap

GRID = {"optimizer__learning_rate": [0.01, 0.1]}
MSE = "neg_mean_squared_error"


@pytest.fixture(scope="module")
def gapped(diabetes):
    """A search with early stopping, and its gap to rows it never saw."""
    X, y = diabetes
    Xa, ya = load_diabetes(return_X_y=True)
    X_test, y_test = Xa[300:400], ya[300:400]
    es = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1)
    net = small_net(epochs=8, validation_fraction=0.2, callbacks=[es])
    search = ReconciledSearchCV(net, GRID, scoring=MSE, cv=2, random_state=0).fit(X, y)
    gap = explain_gap(search, X_test, y_test, X=X, y=y, n_seeds=2)
    return search, gap, X_test, y_test


class TestGap:
    def test_parts_add_up(self, gapped):
        _, gap, _, _ = gapped
        total = gap.cv_mse + sum(gap.parts.values())
        assert total == pytest.approx(gap.test_mse, rel=1e-12)
        frame = gap.to_frame()
        assert frame["part"].tolist()[:5] == [
            "best CV MSE",
            "CV vs test data",
            "refit on all rows",
            "seed of the final model",
            "final test MSE",
        ]
        assert "refit policy 'median_best_epoch'" in gap.summary()
        assert gap.plot().axes[0].get_ylabel() == "MSE"

    def test_parts_match_hand_computed_refits(self, gapped, diabetes):
        X, y = diabetes
        search, gap, X_test, y_test = gapped
        best = search.best_params_
        assert gap.cv_mse == search.cv_results_["mean_test_mse"][search.best_index_]
        fold_models = [
            clone(search.base_estimator_).set_params(**best).fit(X[tr], y[tr])
            for tr, _ in search.splits_
        ]
        fold_test = np.mean(
            [mean_squared_error(y_test, m.predict(X_test)) for m in fold_models]
        )
        assert gap.parts["CV vs test data"] == fold_test - gap.cv_mse
        epochs = int(np.median([m.best_epoch_ for m in fold_models]))
        assert gap.refit_epochs == epochs
        refits = [
            clone(search.base_estimator_)
            .set_params(
                **best,
                epochs=epochs,
                callbacks=None,
                validation_fraction=None,
                repeat=j,
            )
            .fit(X, y)
            for j in range(2)
        ]
        refit_test = [mean_squared_error(y_test, m.predict(X_test)) for m in refits]
        assert gap.parts["refit on all rows"] == np.mean(refit_test) - fold_test
        assert gap.test_mse == refit_test[0]
        assert all(r["n_epochs"] == epochs for r in gap.refits)

    def test_bad_policy(self, gapped, diabetes):
        search, _, X_test, y_test = gapped
        with pytest.raises(ValueError, match="refit_policy must be one of"):
            explain_gap(
                search,
                X_test,
                y_test,
                X=diabetes[0],
                y=diabetes[1],
                refit_policy="longest",
            )
