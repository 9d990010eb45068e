"""Activation functions, selectable by name, and their elementwise derivatives.

Every model selects its activation with `lax.switch` on an integer index, so that
changing the activation in an explorer never recompiles a jitted function.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from gradviz.validate import check_choice

LEAKY_RELU_SLOPE = 0.01


def linear(x: jax.Array) -> jax.Array:
    """The identity: phi(x) = x."""
    return x


def leaky_relu(x: jax.Array) -> jax.Array:
    """max(x, 0.01 x)."""
    return jax.nn.leaky_relu(x, negative_slope=LEAKY_RELU_SLOPE)


def gelu(x: jax.Array) -> jax.Array:
    """The exact GELU, x * Phi(x) with Phi the standard normal CDF."""
    return jax.nn.gelu(x, approximate=False)


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "linear": linear,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "leaky_relu": leaky_relu,
    "gelu": gelu,
}
ACTIVATION_NAMES: tuple[str, ...] = tuple(ACTIVATIONS)


def activation_index(name: str) -> int:
    """The position of `name` in ACTIVATION_NAMES; ValueError listing the valid names."""
    return check_choice("activation", name, ACTIVATION_NAMES)


def get_activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The activation function called `name` (ValueError listing the valid names)."""
    return ACTIVATIONS[ACTIVATION_NAMES[activation_index(name)]]


def derivative(fn: Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array], jax.Array]:
    """The elementwise derivative phi'(x) of an elementwise function phi (one JVP)."""

    def phi_prime(x: jax.Array) -> jax.Array:
        return jax.jvp(fn, (x,), (jnp.ones_like(x),))[1]

    return phi_prime


def with_activation(index, fn: Callable, *args):
    """fn(phi, *args) for phi = activation number `index` (traced), via one `lax.switch`.

    Switching once around a whole computation, rather than at every layer, lets XLA
    fuse each branch as if phi were fixed, and still compiles once for all activations.
    """
    branches = [lambda *a, phi=phi: fn(phi, *a) for phi in ACTIVATIONS.values()]
    return lax.switch(index, branches, *args)
