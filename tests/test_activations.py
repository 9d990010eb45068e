import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import ACTS

from gradviz.activations import (
    ACTIVATION_NAMES,
    activation_index,
    derivative,
    get_activation,
    with_activation,
)

X = jnp.linspace(-6, 6, 241)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_matches_its_formula(name):
    np.testing.assert_allclose(get_activation(name)(X), ACTS[name](X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        with_activation(activation_index(name), lambda phi, x: phi(x), X), ACTS[name](X),
        rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_derivative_matches_elementwise_grad(name):
    expected = jax.vmap(jax.grad(ACTS[name]))(X)
    got = with_activation(activation_index(name), lambda phi, x: derivative(phi)(x), X)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_analytic_derivatives_and_bounds():
    s = 1 / (1 + np.exp(-np.asarray(X)))
    sig_prime = derivative(get_activation("sigmoid"))(X)
    np.testing.assert_allclose(sig_prime, s * (1 - s), rtol=1e-4, atol=1e-6)
    assert float(sig_prime.max()) == pytest.approx(0.25, abs=1e-6)
    tanh_prime = derivative(get_activation("tanh"))(X)
    np.testing.assert_allclose(tanh_prime, 1 - np.tanh(np.asarray(X)) ** 2, rtol=1e-4, atol=1e-6)
    assert float(tanh_prime.max()) <= 1.0
    relu_prime = derivative(get_activation("relu"))(X)
    np.testing.assert_array_equal(relu_prime, (np.asarray(X) > 0).astype(np.float32))


def test_unknown_activation_lists_the_valid_names():
    with pytest.raises(ValueError) as info:
        get_activation("swish")
    for name in ACTIVATION_NAMES:
        assert name in str(info.value)
