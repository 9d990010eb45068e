"""Gradient flow: one jitted forward and backward pass, summarised layer by layer
(MLP) or step by step (RNN, GRU).

The backpropagated signal dL/dh_l is read with zero "probes": h_l + 0 for each layer,
whose gradient is exactly dL/dh_l. One compiled function serves every depth (or
sequence length), activation, norm and residual choice: these are traced values.
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gradviz.activations import activation_index, with_activation
from gradviz.losses import check_targets, loss_value, safe_norm
from gradviz.models import (
    check_mlp_input,
    first_layer,
    hidden_layer,
    mlp_depth,
    mlp_forward,
    mlp_options,
    mlp_readout,
    resolve_depth,
)
from gradviz.rnn import check_rnn_input, resolve_length, rnn_forward
from gradviz.validate import check_positive


class FlowStats(NamedTuple):
    """Per-layer statistics of one forward and backward pass of an MLP.

    Each array has shape (depth,); entry l-1 is hidden layer l (1 = next to the input).
    """

    signal_norm: np.ndarray  # ||dL/dh_l||: the backpropagated signal at layer l's output
    weight_grad_norm: np.ndarray  # ||dL/dW_l||
    update_ratio: np.ndarray  # lr * ||dL/dW_l|| / ||W_l||
    act_mean: np.ndarray  # mean of h_l over batch and units
    act_std: np.ndarray  # standard deviation of h_l over batch and units
    saturation: np.ndarray  # fraction of (example, unit) pairs with |phi'(z)| < threshold
    dead_fraction: np.ndarray  # fraction of units with |phi'(z)| < threshold on every example
    # the forward signal: std of each unit of h_l across the batch, averaged over units.
    # Near 0, every example maps to nearly the same h_l. Values below ~eps * |h_l| (eps of
    # the dtype, 1.2e-7 for float32) are rounding noise: compute in float64 to see them.
    example_spread: np.ndarray
    loss: float
    first_nonfinite_forward: int | None  # first layer (1-based) whose activations are inf/NaN
    first_nonfinite_backward: int | None  # first layer, going backward, whose gradients are


class RNNFlowStats(NamedTuple):
    """Per-step statistics of one forward and backward pass of an RNN or GRU.

    Arrays have shape (length,); entry t-1 is time step t. For the GRU, saturation is
    that of the candidate's tanh.
    """

    signal_norm: np.ndarray  # ||dL/dh_t||: the gradient through time
    act_mean: np.ndarray
    act_std: np.ndarray
    saturation: np.ndarray
    weight_grad_norm: dict  # parameter name -> ||dL/dp||, for every parameter
    update_ratio: dict  # weight-matrix name -> lr * ||dL/dW|| / ||W||
    loss: float
    first_nonfinite_forward: int | None  # first step (1-based) whose hidden state is inf/NaN
    first_nonfinite_backward: int | None  # first step, going backward, with inf/NaN gradient


def first_nonfinite(values: np.ndarray, reverse: bool = False) -> int | None:
    """1-based position of the first entry of values: (n,) that is not finite (or None),
    counting from the end when `reverse`."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size == 0:
        return None
    return int(bad[-1] + 1) if reverse else int(bad[0] + 1)


def gain_per_layer(signal):
    """The mean factor per layer (or step) by which a signal grows going back:
    (signal[0] / signal[-1]) ** (1 / (n - 1)) for signal: (n,), n >= 2, computed in
    signal's own dtype."""
    signal = np.asarray(signal)
    return (signal[0] / signal[-1]) ** (1 / (len(signal) - 1))


def _grad_stats(grads: dict, params: dict, lr):
    """||dL/dp|| for every parameter, and lr ||dL/dW|| / ||W|| for the weight matrices."""
    grad_norms = {name: safe_norm(g) for name, g in grads.items()}
    ratios = {
        name: lr * grad_norms[name] / safe_norm(w) for name, w in params.items() if w.ndim == 2
    }
    return grad_norms, ratios


# --------------------------------------------------------------------------- MLP


@partial(jax.jit, static_argnames=("norm", "loss"))
def mlp_flow_arrays(params, x, y, *, act_index, residual, norm, depth, lr, threshold, loss):
    """The jitted pass behind `gradient_flow`: every per-layer array has the parameters'
    full layer count (layers past `depth` hold values to be ignored). Works under vmap.

    x: (batch, in_dim), y as in `gradient_flow`; the options are keywords, as
    `mlp_options` makes them (act_index, residual traced; norm static), with depth (traced),
    lr, threshold (the saturation threshold) and loss (static). Returns a dict of
    (n_layers,) arrays named as FlowStats' fields, and the scalar "loss".

    The backward pass walks the layers from the output down, as the chain rule does:
    g_l = dL/dh_l enters layer l, and the layer's own vector-Jacobian product turns it
    into dL/dW_l and g_{l-1}. Only the norms are kept, never the full gradients.
    """

    def flow(phi):
        h, inputs, stats = mlp_forward(params, x, phi=phi, residual=residual, norm=norm,
                                       depth=depth, threshold=threshold)
        loss_, g = jax.value_and_grad(lambda h: loss_value(mlp_readout(params, h), y, loss))(h)

        def backward_step(g, layer):
            h_prev, W, b, number = layer
            layer_fn = partial(hidden_layer, phi=phi, norm=norm, residual=residual,
                               active=number <= depth)
            _, vjp = jax.vjp(lambda h, W: layer_fn(h, W, b)[0], h_prev, W)
            g_prev, dW = vjp(g)
            return g_prev, (safe_norm(g), safe_norm(dW))

        numbers = jnp.arange(2, mlp_depth(params) + 1)
        g, (signal, weight_grad) = lax.scan(
            backward_step, g, (inputs, params["W"], params["b"], numbers), reverse=True
        )
        _, vjp = jax.vjp(lambda W: first_layer(x, W, params["b_in"], phi=phi, norm=norm)[0],
                         params["W_in"])
        (dW_in,) = vjp(g)
        signal = jnp.concatenate([safe_norm(g)[None], signal])
        weight_grad = jnp.concatenate([safe_norm(dW_in)[None], weight_grad])
        return dict(stats, signal_norm=signal, weight_grad_norm=weight_grad, loss=loss_)

    arrays = with_activation(act_index, flow)
    weights = [safe_norm(params["W_in"])[None], jax.vmap(safe_norm)(params["W"])]
    weight_norm = jnp.concatenate(weights)
    return dict(arrays, update_ratio=lr * arrays["weight_grad_norm"] / weight_norm)


def gradient_flow(
    params: dict,
    x: jax.Array,
    y: jax.Array,
    activation: str = "tanh",
    residual: bool = False,
    norm: str = "none",
    depth: int | None = None,
    loss: str = "cross_entropy",
    lr: float = 0.01,
    saturation_threshold: float = 0.01,
    branch_scale: float = 1.0,
) -> FlowStats:
    """One forward and backward pass of the MLP, summarised per hidden layer.

    x: (batch, in_dim); y: integer labels (batch,) for "cross_entropy" or targets
    (batch, out_dim) for "mse". `depth` uses the first `depth` layers of params (default
    all): moving it never recompiles; nor does `branch_scale`, the scale of each residual
    branch (residual=True only; see gradviz.models). Overflow is reported, not raised:
    first_nonfinite_forward / first_nonfinite_backward say where inf/NaN appeared.
    """
    check_mlp_input(params, x)
    depth = resolve_depth(params, depth)
    check_targets(y, np.shape(x)[0], params["W_out"].shape[1], loss)
    lr = check_positive("lr", lr, allow_zero=True)
    threshold = check_positive("saturation_threshold", saturation_threshold)
    arrays = mlp_flow_arrays(
        params, x, y, depth=depth, lr=lr, threshold=threshold, loss=loss,
        **mlp_options(activation, residual, norm, branch_scale),
    )
    return mlp_flow_stats(arrays, depth)


def mlp_flow_stats(arrays: dict, depth: int) -> FlowStats:
    """FlowStats from `mlp_flow_arrays`' output, cut to the first `depth` layers."""
    cut = {name: np.asarray(value)[:depth] for name, value in arrays.items() if name != "loss"}
    forward = cut["act_mean"] + cut["act_std"]  # inf or NaN in h_l makes both non-finite
    backward = cut["signal_norm"] + cut["weight_grad_norm"]
    return FlowStats(
        **cut,
        loss=float(arrays["loss"]),
        first_nonfinite_forward=first_nonfinite(forward),
        first_nonfinite_backward=first_nonfinite(backward, reverse=True),
    )


# --------------------------------------------------------------------------- RNN / GRU


@partial(jax.jit, static_argnames=("loss",))
def rnn_flow_arrays(params, xs, y, *, act_index, length, lr, threshold, loss):
    """The jitted pass behind `rnn_gradient_flow`; per-step arrays cover all of xs' steps."""
    time, batch, hidden = xs.shape[1], xs.shape[0], params["W_out"].shape[0]
    probes = jnp.zeros((time, batch, hidden), xs.dtype)

    def objective(params, probes, phi):
        h, stats = rnn_forward(params, xs, phi=phi, length=length, probes=probes,
                               threshold=threshold)
        return loss_value(mlp_readout(params, h), y, loss), stats

    def backprop(phi):
        return jax.value_and_grad(objective, argnums=(0, 1), has_aux=True)(params, probes, phi)

    (loss_, stats), (grads, probe_grads) = with_activation(act_index, backprop)
    grad_norms, ratios = _grad_stats(grads, params, lr)
    return dict(
        stats,
        signal_norm=safe_norm(probe_grads.reshape(time, -1), axis=1),
        weight_grad_norm=grad_norms,
        update_ratio=ratios,
        loss=loss_,
    )


def rnn_gradient_flow(
    params: dict,
    xs: jax.Array,
    y: jax.Array,
    activation: str = "tanh",
    length: int | None = None,
    loss: str = "mse",
    lr: float = 0.01,
    saturation_threshold: float = 0.01,
) -> RNNFlowStats:
    """One forward and backward pass of an RNN or GRU, summarised per time step.

    xs: (batch, time, in_dim); y as in `gradient_flow`. signal_norm[t-1] = ||dL/dh_t||,
    the gradient reaching step t from the loss at the last step. `length` uses the first
    `length` steps of xs (default all) without recompiling.
    """
    check_rnn_input(params, xs)
    length = resolve_length(xs, length)
    check_targets(y, np.shape(xs)[0], params["W_out"].shape[1], loss)
    lr = check_positive("lr", lr, allow_zero=True)
    threshold = check_positive("saturation_threshold", saturation_threshold)
    arrays = rnn_flow_arrays(params, xs, y, act_index=activation_index(activation),
                             length=length, lr=lr, threshold=threshold, loss=loss)
    per_step = {
        name: np.asarray(arrays[name])[:length]
        for name in ("signal_norm", "act_mean", "act_std", "saturation")
    }
    return RNNFlowStats(
        **per_step,
        weight_grad_norm={k: float(v) for k, v in arrays["weight_grad_norm"].items()},
        update_ratio={k: float(v) for k, v in arrays["update_ratio"].items()},
        loss=float(arrays["loss"]),
        first_nonfinite_forward=first_nonfinite(per_step["act_mean"] + per_step["act_std"]),
        first_nonfinite_backward=first_nonfinite(per_step["signal_norm"], reverse=True),
    )


@jax.jit
def _jacobian_norms(params, xs, act_index, length):
    time, batch, hidden = xs.shape[1], xs.shape[0], params["W_out"].shape[0]
    probes = jnp.zeros((time, batch, hidden), xs.dtype)

    def norms(phi):
        def last_hidden(probes):
            return rnn_forward(params, xs, phi=phi, length=length, probes=probes)[0]

        _, vjp = jax.vjp(last_hidden, probes)
        # row i of dh_T/dh_t for every t at once: one backward pass per unit i of h_T
        basis = jnp.broadcast_to(jnp.eye(hidden)[:, None, :], (hidden, batch, hidden))
        (rows,) = jax.vmap(vjp)(basis)  # (hidden_i, time, batch, hidden_j)
        frobenius = jnp.sqrt(jnp.sum(jnp.square(rows), axis=(0, 3)))  # (time, batch)
        return jnp.mean(frobenius, axis=1) / jnp.sqrt(hidden)

    return with_activation(act_index, norms)


def hidden_jacobian_norms(
    params: dict, xs: jax.Array, activation: str = "tanh", length: int | None = None
) -> np.ndarray:
    """How much the last hidden state depends on each earlier one: (length,).

    Entry t-1 is ||dh_T/dh_t||_F / sqrt(hidden), averaged over the batch, with T the
    last step used (`length`, default all of xs: (batch, time, in_dim)). The last entry
    is 1 (dh_T/dh_T is the identity); entry T-1-k is the Jacobian's size at lag k. It
    shrinks geometrically with the lag when gradients through time vanish.
    """
    check_rnn_input(params, xs)
    length = resolve_length(xs, length)
    return np.asarray(_jacobian_norms(params, xs, activation_index(activation), length))[:length]


def stacked_hidden_jacobian_norms(
    stacked_params: dict, xs: jax.Array, activation: str = "tanh", length: int | None = None
) -> np.ndarray:
    """`hidden_jacobian_norms` of n RNNs at once (one vmapped call): (n, length).

    stacked_params: RNN parameters with a leading axis of size n on every leaf, e.g. one
    network per recurrent scale (`jax.tree.map(lambda *a: jnp.stack(a), *params_list)`);
    row i is hidden_jacobian_norms(params_i, xs, activation, length).
    """
    check_rnn_input(jax.tree.map(lambda a: a[0], stacked_params), xs)
    length = resolve_length(xs, length)
    norms = jax.vmap(_jacobian_norms, in_axes=(0, None, None, None))(
        stacked_params, xs, activation_index(activation), length)
    return np.asarray(norms)[:, :length]


class LossSlice(NamedTuple):
    """The loss along a line params + alpha * direction; each field has shape (n_alphas,)."""

    alpha: np.ndarray
    loss: np.ndarray
    slope: np.ndarray  # dL/dalpha: the gradient's component along the direction


def loss_slice(loss_fn, params, direction, alphas) -> LossSlice:
    """Evaluate loss_fn(params + alpha * direction) and its slope for every alpha.

    loss_fn(params) -> scalar; direction: a pytree shaped like params; alphas: (n,).
    One vmapped, jitted pass over all alphas: a 1-D cut through the loss surface, e.g.
    along the recurrent weights of an RNN, where a "cliff" shows as a wall of loss and
    slope. Non-finite values are returned as they are (inf/NaN mark the overflow).
    """
    alphas = np.asarray(alphas, dtype=np.float32)
    if alphas.ndim != 1 or alphas.size == 0:
        raise ValueError(f"alphas must be a non-empty 1-D array, got shape {alphas.shape}")
    if jax.tree.structure(direction) != jax.tree.structure(params):
        raise ValueError("direction must have the same structure as params")

    def along(alpha):
        return loss_fn(jax.tree.map(lambda p, d: p + alpha * d, params, direction))

    loss, slope = jax.jit(jax.vmap(jax.value_and_grad(along)))(jnp.asarray(alphas))
    return LossSlice(alphas, np.asarray(loss), np.asarray(slope))
