"""scikit-learn's estimator checks on SeededKerasRegressor and SeededKerasClassifier.

Both fail the same four checks, for the same reasons (written below): two
come from scikeras' class layout (its MRO and its ``_more_tags``), one from
its routed parameters, and one from the seeding contract itself.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from seeded_keras import SeededKerasClassifier, SeededKerasRegressor

pytestmark = pytest.mark.slow

EXPECTED_FAILED_CHECKS = {
    "check_estimator_tags_renamed": (
        "scikeras' BaseWrapper (our parent) defines _more_tags; our class "
        "defines __sklearn_tags__, which is what scikit-learn reads"
    ),
    "check_mixin_order": (
        "scikeras' KerasRegressor/KerasClassifier list RegressorMixin/"
        "ClassifierMixin after BaseEstimator; a subclass cannot reorder its "
        "parent's bases, so __sklearn_tags__ sets the estimator tags explicitly "
        "(test_classifier checks is_classifier, in a Pipeline too)"
    ),
    "check_sample_weight_equivalence_on_dense_data": (
        "weights of 2 and duplicated rows are different training data: a "
        "different fingerprint, hence a different seed and SGD trajectory"
    ),
    "check_no_attributes_set_in_init": (
        "scikeras' routed parameters (optimizer__learning_rate, model__...) "
        "are stored as attributes by design; get_params/clone handle them"
    ),
}


# These pass or fail by one float32 ulp depending on the values, so they are
# expected to fail only with that exact symptom (not strict xfails).
_ULP = (
    "Keras predicts in float32 with kernels whose vectorisation depends on a "
    "row's position in the batch; a permuted or partial batch can differ in "
    "the last float32 bit (both reconciled paths predict the same fold in one "
    "call, so this never separates them)"
)
FLOAT32_ORDER_DEPENDENT = {
    "check_methods_sample_order_invariance": _ULP,
    "check_methods_subset_invariance": _ULP,
}


SETTINGS = dict(
    random_state=0,
    epochs=20,
    optimizer="adam",
    optimizer__learning_rate=0.02,
    model__hidden_layer_sizes=(32,),
)


@parametrize_with_checks(
    [SeededKerasRegressor(**SETTINGS), SeededKerasClassifier(**SETTINGS)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_estimator(estimator, check):
    name = getattr(check, "func", check).__name__
    if name not in FLOAT32_ORDER_DEPENDENT:
        check(estimator)
        return
    try:
        check(estimator)
    except AssertionError as exc:
        if "not invariant" not in str(exc):
            raise
        pytest.xfail(FLOAT32_ORDER_DEPENDENT[name])
