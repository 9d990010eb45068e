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
import optax
from jax import lax

from gradviz import isometry as _isometry
from gradviz import theory
from gradviz.activations import activation_index, with_activation
from gradviz.models import (
    check_mlp_input,
    check_rnn_input,
    first_layer,
    hidden_layer,
    mlp_depth,
    mlp_forward,
    mlp_options,
    mlp_readout,
    resolve_depth,
    resolve_length,
    rnn_forward,
)
from gradviz.validate import check_choice, check_positive

LOSSES: tuple[str, ...] = ("cross_entropy", "mse")


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


def safe_norm(x: jax.Array, axis=None) -> jax.Array:
    """The Euclidean norm, computed without overflowing where x**2 would.

    Low-precision x (float16, bfloat16) is measured in float32: the measurement itself
    must not underflow or overflow where the values it measures did not.
    """
    x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    peak = jnp.max(jnp.abs(x), axis=axis, keepdims=True, initial=0.0)  # 0 for an empty x
    scale = jnp.where(peak > 0, peak, 1.0)
    norm = jnp.sqrt(jnp.sum(jnp.square(x / scale), axis=axis, keepdims=True)) * scale
    return jnp.squeeze(norm, axis=axis) if axis is not None else norm.reshape(())


def loss_value(outputs: jax.Array, y: jax.Array, loss: str) -> jax.Array:
    """Mean loss over the batch: cross-entropy with integer labels y: (batch,), or
    squared error with targets y: (batch, out_dim)."""
    if loss == "cross_entropy":
        return optax.softmax_cross_entropy_with_integer_labels(outputs, y).mean()
    return 0.5 * jnp.mean(jnp.sum(jnp.square(outputs - y), axis=-1))


def check_targets(y, batch: int, out_dim: int, loss: str) -> None:
    """ValueError unless y suits `loss`: int labels (batch,) or float targets (batch, out_dim)."""
    check_choice("loss", loss, LOSSES)
    shape = np.shape(y)
    if loss == "cross_entropy":
        if shape != (batch,) or not np.issubdtype(np.asarray(y).dtype, np.integer):
            raise ValueError(
                f"cross_entropy needs integer labels y of shape ({batch},), "
                f"got {np.asarray(y).dtype} {shape}"
            )
        if np.any((np.asarray(y) < 0) | (np.asarray(y) >= out_dim)):
            raise ValueError(f"labels must be in [0, {out_dim - 1}]")
    elif shape != (batch, out_dim):
        raise ValueError(f"mse needs targets y of shape ({batch}, {out_dim}), got {shape}")


def first_nonfinite(values: np.ndarray, reverse: bool = False) -> int | None:
    """1-based position of the first entry of values: (n,) that is not finite (or None),
    counting from the end when `reverse`."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size == 0:
        return None
    return int(bad[-1] + 1) if reverse else int(bad[0] + 1)


def _grad_stats(grads: dict, params: dict, lr):
    """||dL/dp|| for every parameter, and lr ||dL/dW|| / ||W|| for the weight matrices."""
    grad_norms = {name: safe_norm(g) for name, g in grads.items()}
    ratios = {
        name: lr * grad_norms[name] / safe_norm(w) for name, w in params.items() if w.ndim == 2
    }
    return grad_norms, ratios


# --------------------------------------------------------------------------- MLP


@partial(jax.jit, static_argnames=("norm", "loss"))
def mlp_flow_arrays(params, x, y, act_index, residual, norm, depth, lr, threshold, loss):
    """The jitted pass behind `gradient_flow`: every per-layer array has the parameters'
    full layer count (layers past `depth` hold values to be ignored). Works under vmap.

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
def rnn_flow_arrays(params, xs, y, act_index, length, lr, threshold, loss):
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
    arrays = rnn_flow_arrays(
        params, xs, y, activation_index(activation), length, lr, threshold, loss=loss
    )
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


# --------------------------------------------------------------------------- chapter 3


def scale_mlp(unit_params: dict, sigma_w, sigma_b) -> dict:
    """The MLP with hidden weights scaled by sigma_w and hidden biases by sigma_b.

    From unit_params = init_mlp(key, ..., init="gaussian", scale=1.0, bias_scale=1.0)
    it gives the network init_mlp(key, ..., "gaussian", scale=sigma_w,
    bias_scale=sigma_b) draws (same key: same random numbers, to rounding); the read-out
    is left alone. sigma_w, sigma_b may be traced: a grid of them is one vmap.
    """
    scaled = dict(unit_params)
    for name in ("W_in", "W"):
        scaled[name] = sigma_w * unit_params[name]
    for name in ("b_in", "b"):
        scaled[name] = sigma_b * unit_params[name]
    return scaled


class PhaseDiagram(NamedTuple):
    """Measured growth of the backpropagated signal over a grid of MLPs at initialisation.

    log_gain[i, j] belongs to sigma_b[i] and sigma_w[j]: the mean natural log of the
    factor by which ||dL/dh_l|| grows per layer going back,
    log(||dL/dh_1|| / ||dL/dh_depth||) / (depth - 1). Below 0 gradients vanish (ordered
    phase), above 0 they explode (chaotic phase); the edge of chaos is where it crosses 0.
    """

    sigma_w: np.ndarray  # (n_w,)
    sigma_b: np.ndarray  # (n_b,)
    log_gain: np.ndarray  # (n_b, n_w); inf or NaN where the signal overflowed or hit 0
    critical_sigma_w: np.ndarray  # (n_b,) mean-field theory's edge of chaos (NaN: none)
    activation: str
    depth: int

    def measured_edge(self, sigma_b: float) -> float:
        """Where the measured map crosses 0 at this sigma_b: the smallest sigma_w at which
        log_gain changes sign, found by linear interpolation between the grid's points
        (between its rows in sigma_b, then its columns in sigma_w). NaN where the row
        does not cross 0. A coarse grid's estimate: compare it with critical_sigma_w."""
        sigma_b = float(np.clip(sigma_b, self.sigma_b[0], self.sigma_b[-1]))
        gain = np.asarray(self.log_gain, dtype=np.float64)
        row = np.array([np.interp(sigma_b, self.sigma_b, column) for column in gain.T])
        crossing = np.flatnonzero((row[:-1] < 0) & (row[1:] >= 0))
        if crossing.size == 0:
            return float("nan")
        j = crossing[0]
        w0, w1 = float(self.sigma_w[j]), float(self.sigma_w[j + 1])
        return w0 + (w1 - w0) * row[j] / (row[j] - row[j + 1])


@partial(jax.jit, static_argnames=("loss",))
def _phase_grid(unit_params, x, y, sigma_ws, sigma_bs, act_index, loss):
    depth = mlp_depth(unit_params)

    def log_gain(sigma_w, sigma_b):
        params = scale_mlp(unit_params, sigma_w, sigma_b)
        arrays = mlp_flow_arrays(params, x, y, act_index, False, "none", depth, 0.0, 0.01,
                                 loss=loss)
        signal = arrays["signal_norm"]
        return (jnp.log(signal[0]) - jnp.log(signal[-1])) / (depth - 1)

    over_w = jax.vmap(log_gain, in_axes=(0, None))
    return jax.vmap(over_w, in_axes=(None, 0))(sigma_ws, sigma_bs)


def phase_diagram(
    unit_params: dict,
    x: jax.Array,
    y: jax.Array,
    sigma_ws,
    sigma_bs,
    activation: str = "tanh",
    loss: str = "cross_entropy",
) -> PhaseDiagram:
    """The log gain per layer of the backpropagated signal for every (sigma_b, sigma_w).

    unit_params: init_mlp(key, in_dim, width, depth, out_dim, init="gaussian",
    scale=1.0, bias_scale=1.0), depth >= 2; each grid point is scale_mlp(unit_params,
    sigma_w, sigma_b): the same random draw at every point. x: (batch, in_dim), y as in
    gradient_flow; sigma_ws: (n_w,), sigma_bs: (n_b,). One jitted, doubly vmapped pass
    over the grid: a new grid of the same size or a new activation does not recompile.
    """
    check_mlp_input(unit_params, x)
    depth = mlp_depth(unit_params)
    if depth < 2:
        raise ValueError("phase_diagram needs depth >= 2 (a gain between layers)")
    check_targets(y, np.shape(x)[0], unit_params["W_out"].shape[1], loss)
    grid = {}
    for name, values in (("sigma_ws", sigma_ws), ("sigma_bs", sigma_bs)):
        array = np.asarray(values, dtype=np.float32)
        if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array) & (array >= 0)):
            raise ValueError(f"{name} must be a non-empty 1-D array of finite numbers >= 0, "
                             f"got {values!r}")
        grid[name] = array
    index = activation_index(activation)
    gain = _phase_grid(unit_params, x, y, jnp.asarray(grid["sigma_ws"]),
                       jnp.asarray(grid["sigma_bs"]), index, loss=loss)
    critical = theory.critical_sigma_w(grid["sigma_bs"], activation)
    return PhaseDiagram(grid["sigma_ws"], grid["sigma_bs"], np.asarray(gain),
                        np.asarray(critical), activation, depth)


# Jacobian spectra (dynamical isometry) live in gradviz.isometry; these names stay here
# for code written against gradviz.flow.
JacobianSpectra = _isometry.JacobianSpectra
jacobian_spectra = _isometry.jacobian_spectra
