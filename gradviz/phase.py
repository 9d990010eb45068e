"""The edge of chaos, measured: the per-layer gain of the backpropagated signal over a
grid of (sigma_w, sigma_b) at initialisation, beside mean-field theory's critical line.
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradviz import theory
from gradviz.activations import activation_index
from gradviz.flow import mlp_flow_arrays
from gradviz.losses import check_targets
from gradviz.models import check_mlp_input, mlp_depth


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

    def critical_line(self, n: int = 61) -> tuple[np.ndarray, np.ndarray]:
        """Mean-field theory's edge of chaos across the grid's sigma_b range, on n points:
        (sigma_w: (n,), sigma_b: (n,)), finer than the grid's rows (a smooth curve)."""
        sigma_b = np.linspace(self.sigma_b[0], self.sigma_b[-1], n)
        return np.asarray(theory.critical_sigma_w(sigma_b, self.activation)), sigma_b

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
        arrays = mlp_flow_arrays(params, x, y, act_index=act_index, residual=False, norm="none",
                                 depth=depth, lr=0.0, threshold=0.01, loss=loss)
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
