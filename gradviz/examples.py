"""Teaching examples: a two-layer network whose hand-written backward pass has bugs to find.

Chapter 4 checks `two_layer_backward` with `gradviz.gradcheck.check_gradients`: without a
bug it agrees with `jax.grad(two_layer_loss)`; each planted bug (`TWO_LAYER_BUGS`)
corrupts the gradient of the leaves listed for it, and only those.

    params, x, y = two_layer_example(jax.random.PRNGKey(0))
    check_gradients(two_layer_loss, params, x, y,
                    grads=lambda p, x, y: two_layer_backward(p, x, y, bug="missing_transpose"))
"""

import jax
import jax.numpy as jnp

from gradviz.validate import check_choice

TWO_LAYER_BUGS = {  # bug -> the parameter leaves whose gradient it corrupts
    "sigmoid_prime_of_z": ("W1", "b1"),
    "missing_transpose": ("W2",),
    "missing_1_over_m": ("W1",),
    "bias_wrong_axis": ("b1",),
    "mystery": ("b2",),
}


def two_layer_example(key: jax.Array) -> tuple[dict, jax.Array, jax.Array]:
    """A small regression problem for a 2-layer sigmoid network: (params, x, y).

    x: (8, 5), y: (8, 8); params {"W1": (5, 8), "b1": (8,), "W2": (8, 8), "b2": (8,)}.
    Batch, hidden width and outputs are all 8 on purpose: with square shapes, a
    transpose or a sum over the wrong axis still gives arrays of the right shape.
    """
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    params = {"W1": jax.random.normal(k1, (5, 8)) / jnp.sqrt(5.0),
              "b1": 0.1 * jax.random.normal(k2, (8,)),
              "W2": jax.random.normal(k3, (8, 8)) / jnp.sqrt(8.0),
              "b2": 0.1 * jax.random.normal(k4, (8,))}
    x = jax.random.normal(k5, (8, 5))
    y = jnp.sin(x @ jnp.ones((5, 8)) * jnp.linspace(0.2, 1.0, 8))
    return params, x, y


def two_layer_loss(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    """L = 1/(2m) sum (out - y)^2 with out = sigmoid(x W1 + b1) W2 + b2; x: (m, in)."""
    h = jax.nn.sigmoid(x @ params["W1"] + params["b1"])
    out = h @ params["W2"] + params["b2"]
    return 0.5 * jnp.sum((out - y) ** 2) / x.shape[0]


def two_layer_backward(params: dict, x: jax.Array, y: jax.Array, bug: str | None = None) -> dict:
    """The gradient of `two_layer_loss`, written by hand the NumPy way.

    bug: None (correct) or one of TWO_LAYER_BUGS, planted in one line below.
    Returns a dict shaped like params.
    """
    if bug is not None:
        check_choice("bug", bug, list(TWO_LAYER_BUGS))
    m = x.shape[0]
    z = x @ params["W1"] + params["b1"]  # forward pass, keeping what backward needs
    h = 1 / (1 + jnp.exp(-z))
    out = h @ params["W2"] + params["b2"]
    d_out = out - y  # dL/d(out), without the 1/m: each gradient below divides by m
    dW2 = (d_out.T @ h if bug == "missing_transpose" else h.T @ d_out) / m
    db2 = d_out.mean(axis=0) / (m if bug == "mystery" else 1)
    dh = d_out @ params["W2"].T
    dz = dh * (z * (1 - z) if bug == "sigmoid_prime_of_z" else h * (1 - h))
    dW1 = x.T @ dz / (1 if bug == "missing_1_over_m" else m)
    db1 = dz.sum(axis=1 if bug == "bias_wrong_axis" else 0) / m
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
