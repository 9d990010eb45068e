"""Independent reference implementations for the tests: plain, unrolled Python loops
written from the textbook formulas, sharing no code with gradviz's scanned models."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

ACTS = {
    "linear": lambda x: x,
    "sigmoid": lambda x: 1 / (1 + jnp.exp(-x)),
    "tanh": jnp.tanh,
    "relu": lambda x: jnp.maximum(x, 0),
    "leaky_relu": lambda x: jnp.where(x > 0, x, 0.01 * x),
    "gelu": lambda x: 0.5 * x * (1 + jax.scipy.special.erf(x / np.sqrt(2))),
}


def normalize(z, norm):
    if norm == "batch":
        return (z - z.mean(0)) / jnp.sqrt(z.var(0) + 1e-5)
    if norm == "layer":
        return (z - z.mean(1, keepdims=True)) / jnp.sqrt(z.var(1, keepdims=True) + 1e-5)
    return z


def mlp_hidden(params, x, activation, depth, residual=False, norm="none", perturb=None):
    """Hidden states [h_1, ..., h_depth] of the MLP, unrolled; perturb[l] is added to h_{l+1}."""
    phi = ACTS[activation]
    hs = []
    h = phi(normalize(x @ params["W_in"] + params["b_in"], norm))
    for layer in range(depth):
        if layer > 0:
            new = phi(normalize(h @ params["W"][layer - 1] + params["b"][layer - 1], norm))
            h = h + new if residual else new
        if perturb is not None:
            h = h + perturb[layer]
        hs.append(h)
    return hs


def mlp_loss(params, x, y, activation, depth, residual=False, norm="none", perturb=None):
    h = mlp_hidden(params, x, activation, depth, residual, norm, perturb)[-1]
    logits = h @ params["W_out"] + params["b_out"]
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def rnn_hidden(params, xs, activation="tanh", perturb=None):
    """Hidden states (time, batch, hidden) of a vanilla RNN or GRU, one step at a time."""
    phi = ACTS[activation]
    sig = ACTS["sigmoid"]
    h = jnp.zeros((xs.shape[0], params["W_out"].shape[0]), xs.dtype)
    hs = []
    for t in range(xs.shape[1]):
        x = xs[:, t]
        if "W_hz" in params:
            z = sig(x @ params["W_xz"] + h @ params["W_hz"] + params["b_z"])
            r = sig(x @ params["W_xr"] + h @ params["W_hr"] + params["b_r"])
            n = jnp.tanh(x @ params["W_xn"] + (r * h) @ params["W_hn"] + params["b_n"])
            h = z * h + (1 - z) * n
        else:
            h = phi(x @ params["W_x"] + h @ params["W_h"] + params["b"])
        if perturb is not None:
            h = h + perturb[t]
        hs.append(h)
    return jnp.stack(hs)


def rnn_loss(params, xs, y, activation="tanh", perturb=None):
    h = rnn_hidden(params, xs, activation, perturb)[-1]
    out = h @ params["W_out"] + params["b_out"]
    return 0.5 * jnp.mean(jnp.sum((out - y) ** 2, axis=-1))
