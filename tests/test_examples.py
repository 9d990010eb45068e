"""gradviz.examples: the two-layer network of chapter 4 and its planted bugs. Without a
bug the hand-written gradient is jax.grad's; each bug corrupts exactly the leaves
TWO_LAYER_BUGS names, and check_gradients finds it there."""

import jax
import numpy as np
import pytest

from gradviz.examples import (
    TWO_LAYER_BUGS,
    two_layer_backward,
    two_layer_example,
    two_layer_loss,
)
from gradviz.gradcheck import check_gradients

KEY = jax.random.PRNGKey(0)


@pytest.fixture(scope="module")
def two_layer():
    return two_layer_example(KEY)


def backward_with(bug):
    return lambda p, x, y: two_layer_backward(p, x, y, bug)


def test_the_example_has_square_shapes_so_that_shape_bugs_stay_silent(two_layer):
    params, x, y = two_layer
    assert x.shape == (8, 5) and y.shape == (8, 8)
    assert {k: v.shape for k, v in params.items()} == {"W1": (5, 8), "b1": (8,),
                                                       "W2": (8, 8), "b2": (8,)}
    for bug in TWO_LAYER_BUGS:  # every bug returns arrays of the parameters' shapes
        grads = two_layer_backward(params, x, y, bug)
        assert {k: v.shape for k, v in grads.items()} == {k: v.shape for k, v in params.items()}


def test_the_correct_backward_pass_is_jax_grad_and_passes_the_check(two_layer):
    params, x, y = two_layer
    by_hand = two_layer_backward(params, x, y)
    by_jax = jax.grad(two_layer_loss)(params, x, y)
    for name in params:
        np.testing.assert_allclose(by_hand[name], by_jax[name], rtol=2e-5, atol=1e-7)
    report = check_gradients(two_layer_loss, params, x, y, grads=backward_with(None))
    assert report.passed, report
    assert all(row.verdict == "good" for row in report.rows)


@pytest.mark.parametrize("bug", list(TWO_LAYER_BUGS))
def test_each_bug_corrupts_exactly_the_leaves_it_names(bug, two_layer):
    """Measured against jax.grad, without the checker."""
    params, x, y = two_layer
    by_jax = jax.grad(two_layer_loss)(params, x, y)
    buggy = two_layer_backward(params, x, y, bug)
    differs = {name for name in params
               if not np.allclose(buggy[name], by_jax[name], rtol=1e-3, atol=1e-7)}
    assert differs == set(TWO_LAYER_BUGS[bug])


@pytest.mark.parametrize("bug", list(TWO_LAYER_BUGS))
def test_check_gradients_catches_each_bug_on_its_leaves(bug, two_layer):
    report = check_gradients(two_layer_loss, *two_layer, grads=backward_with(bug))
    assert not report.passed and report.outcome == "FAILED"
    for row in report.rows:
        want = "wrong" if row.path in TWO_LAYER_BUGS[bug] else "good"
        assert row.verdict == want, report
    assert report.worst.path in TWO_LAYER_BUGS[bug]
    assert report.worst.path in repr(report) and "FAILED" in repr(report)


def test_an_unknown_bug_is_refused(two_layer):
    with pytest.raises(ValueError, match="unknown bug 'typo'; expected one of: "):
        two_layer_backward(*two_layer, bug="typo")
