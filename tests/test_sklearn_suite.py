"""scikit-learn's own search tests, run against our searches.

The installed scikit-learn ships its test modules; in a copy,
``GridSearchCV`` and ``RandomizedSearchCV`` are rebound to
``ReconciledSearchCV`` and ``ReconciledRandomizedSearchCV`` right after its
imports, and the whole module runs (its few Halving cases are left to the
next module); in a copy of ``test_successive_halving.py``,
``HalvingGridSearchCV`` and ``HalvingRandomSearchCV`` are rebound to
``ReconciledHalvingGridSearchCV`` and ``ReconciledHalvingRandomSearchCV``.
Only the cases that test a deliberate difference are left out, each written
down below with the test that replaces it.
"""

import re
from pathlib import Path

import pytest
import sklearn
from conftest import run_peer_suite

pytestmark = pytest.mark.slow

SOURCE = Path(sklearn.__file__).parent / "model_selection" / "tests" / "test_search.py"

DELIBERATE = {
    # It checks that a bare BaseSearchCV subclass has every fitted attribute
    # of GridSearchCV; ours adds splits_, base_estimator_, random_state_ and
    # fit_failures_.  (Its cv_results_ checks pass: tests/test_search.py::
    # TestDropIn::test_custom_run_search_subclass.)
    "test_custom_run_search": "extra fitted attributes",
}

REBIND = (
    "from seeded_keras import ReconciledSearchCV as GridSearchCV\n"
    "from seeded_keras import ReconciledRandomizedSearchCV as RandomizedSearchCV\n"
)

HALVING_SOURCE = SOURCE.with_name("test_successive_halving.py")

HALVING_DELIBERATE = {
    # A splitter that shuffles without a random_state gives other folds on
    # every split() call, so scikit-learn refuses it ("must yield consistent
    # folds"); ours draws the folds once per fit (splits_) and hands the
    # same ones to every rung.  Replaced by tests/test_halving.py::
    # test_shuffled_folds_are_frozen_for_every_rung.
    "test_input_errors and consistent": "folds are frozen once per fit",
}

HALVING_REBIND = (
    "from seeded_keras import ReconciledHalvingGridSearchCV as HalvingGridSearchCV\n"
    "from seeded_keras import (\n"
    "    ReconciledHalvingRandomSearchCV as HalvingRandomSearchCV,\n"
    ")\n"
)


def renamed_module(text: str, rebind: str = REBIND, name="GridSearchCV") -> str:
    """The test module with the searches rebound after its sklearn imports."""
    block = re.search(
        r"^from sklearn\.model_selection import \(\n.*?^\)\n", text, re.S | re.M
    )
    if block is None or name not in block.group(0):
        pytest.skip("this scikit-learn's test module imports its searches differently")
    return text[: block.end()] + rebind + text[block.end() :]


@pytest.mark.skipif(not SOURCE.exists(), reason="scikit-learn shipped without tests")
def test_search_suite_passes_with_our_classes(tmp_path):
    (tmp_path / "test_renamed.py").write_text(renamed_module(SOURCE.read_text()))
    deselect = " and ".join(f"not {name}" for name in DELIBERATE)
    run_peer_suite(tmp_path, "test_renamed.py", "-k", f"not Halving and {deselect}")


@pytest.mark.skipif(
    not HALVING_SOURCE.exists(), reason="scikit-learn shipped without tests"
)
def test_halving_suite_passes_with_our_classes(tmp_path):
    text = renamed_module(
        HALVING_SOURCE.read_text(), HALVING_REBIND, "HalvingGridSearchCV"
    )
    (tmp_path / "test_renamed_halving.py").write_text(text)
    deselect = " and ".join(f"not ({case})" for case in HALVING_DELIBERATE)
    run_peer_suite(tmp_path, "test_renamed_halving.py", "-k", deselect)
