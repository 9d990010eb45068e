"""Recurrent models as pure functions over parameter pytrees: `init_rnn(key, ...) ->
params`, `apply_rnn(params, xs, ...) -> outputs`.

Vanilla RNN and GRU read a sequence x: (batch, time, in_dim) and predict from the
last hidden state::

    vanilla:  h_t = phi(x_t @ W_x + h_{t-1} @ W_h + b)
    GRU:      z_t = sigmoid(x_t @ W_xz + h_{t-1} @ W_hz + b_z)        update gate
              r_t = sigmoid(x_t @ W_xr + h_{t-1} @ W_hr + b_r)        reset gate
              n_t = tanh(x_t @ W_xn + (r_t * h_{t-1}) @ W_hn + b_n)   candidate
              h_t = z_t * h_{t-1} + (1 - z_t) * n_t

A positive update-gate bias b_z makes z_t close to 1, so h_t carries h_{t-1} over
almost unchanged: the path the gradient through time needs.

Sequence length can be traced (`length=` below): the steps past it leave h unchanged,
so one compiled function serves every length up to the time steps the inputs hold.
"""

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from gradviz.activations import activation_index, with_activation
from gradviz.init import init_index, weight_from_normal
from gradviz.models import MAX_WIDTH, layer_stats, mlp_readout
from gradviz.validate import check_array, check_choice, check_int_range, check_network_args

RNN_CELLS: tuple[str, ...] = ("vanilla", "gru")
MAX_LENGTH = 2000


def init_rnn(
    key: jax.Array,
    in_dim: int,
    hidden: int,
    out_dim: int,
    cell: str = "vanilla",
    recurrent_init: str = "gaussian",
    recurrent_scale: float = 1.0,
    input_scale: float = 1.0,
    update_gate_bias: float = 0.0,
) -> dict:
    """Parameters of a vanilla RNN or a GRU.

    Recurrent matrices W_h*: (hidden, hidden) follow `recurrent_init` with gain
    `recurrent_scale`: with "gaussian" or "orthogonal" their spectral radius is close
    to `recurrent_scale`. Input matrices W_x*: (in_dim, hidden) are N(0, input_scale^2 /
    in_dim); biases are zero except the GRU's update gate, b_z = update_gate_bias.
    Vanilla: {"W_x", "W_h", "b", "W_out", "b_out"}. GRU: W_x/W_h/b for each of the gates
    z (update), r (reset) and n (candidate), e.g. "W_hz", plus "W_out", "b_out".
    """
    check_network_args({"in_dim": (in_dim, 100_000), "hidden": (hidden, MAX_WIDTH),
                        "out_dim": (out_dim, 100_000)},
                       {"recurrent scale": recurrent_scale, "input scale": input_scale})
    check_choice("RNN cell", cell, RNN_CELLS)
    try:
        update_gate_bias = float(update_gate_bias)
    except (TypeError, ValueError):
        raise ValueError(f"update_gate_bias must be a number, got {update_gate_bias!r}") from None
    gates = [""] if cell == "vanilla" else ["z", "r", "n"]
    return _init_rnn(
        key,
        init_index(recurrent_init),
        recurrent_scale,
        input_scale,
        update_gate_bias,
        in_dim,
        hidden,
        out_dim,
        tuple(gates),
    )


@partial(jax.jit, static_argnums=(5, 6, 7, 8))
def _init_rnn(key, scheme_index, recurrent_scale, input_scale, gate_bias, in_dim, hidden,
              out_dim, gates):
    keys = jax.random.split(key, 2 * len(gates) + 1)
    params = {}
    for i, gate in enumerate(gates):
        params["W_x" + gate] = input_scale * jax.random.normal(keys[2 * i], (in_dim, hidden)) / (
            jnp.sqrt(in_dim)
        )
        z = jax.random.normal(keys[2 * i + 1], (hidden, hidden))
        params["W_h" + gate] = weight_from_normal(z, scheme_index, recurrent_scale)
        params["b" + (f"_{gate}" if gate else "")] = jnp.zeros(hidden)
    if gates != ("",):
        params["b_z"] = jnp.full(hidden, gate_bias)
    params["W_out"] = jax.random.normal(keys[-1], (hidden, out_dim)) / jnp.sqrt(hidden)
    params["b_out"] = jnp.zeros(out_dim)
    return params


def rnn_cell(params: dict) -> str:
    """"gru" or "vanilla", read from the parameter names."""
    return "gru" if "W_hz" in params else "vanilla"


def _vanilla_step(phi, params, h, x_t):
    """One vanilla step; returns (h_t, pre-activation z_t), each (batch, hidden)."""
    z = x_t @ params["W_x"] + h @ params["W_h"] + params["b"]
    return phi(z), z


def _update_gate(params, h, x_t):
    """The GRU's update gate z_t = sigmoid(x_t @ W_xz + h_{t-1} @ W_hz + b_z): (batch, hidden)."""
    return jax.nn.sigmoid(x_t @ params["W_xz"] + h @ params["W_hz"] + params["b_z"])


def _gru_step(phi, params, h, x_t):
    """One GRU step; returns (h_t, candidate pre-activation), each (batch, hidden)."""
    del phi  # the GRU's nonlinearities are fixed: sigmoid gates, tanh candidate
    update = _update_gate(params, h, x_t)
    reset = jax.nn.sigmoid(x_t @ params["W_xr"] + h @ params["W_hr"] + params["b_r"])
    z = x_t @ params["W_xn"] + (reset * h) @ params["W_hn"] + params["b_n"]
    return update * h + (1 - update) * jnp.tanh(z), z


def rnn_forward(params: dict, xs: jax.Array, *, phi, length, probes=None, threshold=0.01):
    """Run the RNN or GRU over time with activation phi (the vanilla RNN's); steps
    t >= length (traced) leave h unchanged.

    xs: (batch, time, in_dim); probes: (time, batch, hidden) or None, added to h_t (zero
    probes read dL/dh_t as their gradient). Returns (h_last: (batch, hidden), stats: dict
    of (time,) arrays, as `layer_stats`); the read-out is `mlp_readout(params, h_last)`.
    """
    gru = rnn_cell(params) == "gru"
    cell_step = _gru_step if gru else _vanilla_step
    stat_phi = jnp.tanh if gru else phi
    batch, time = xs.shape[0], xs.shape[1]
    hidden = params["W_out"].shape[0]

    def step(h, inputs):
        x_t, probe, t = inputs
        new_h, z = cell_step(phi, params, h, x_t)
        if probe is not None:
            new_h = new_h + probe
        return jnp.where(t < length, new_h, h), layer_stats(new_h, z, stat_phi, threshold)

    h0 = jnp.zeros((batch, hidden), xs.dtype)
    h, stats = lax.scan(step, h0, (jnp.swapaxes(xs, 0, 1), probes, jnp.arange(time)))
    return h, stats


def gru_update_gates(params: dict, xs: jax.Array) -> jax.Array:
    """The update gate z_t of a GRU at every step: (batch, time, hidden) for xs: (batch,
    time, in_dim). z_t is the fraction of h_{t-1} that h_t keeps, so the product of the
    gates over a stretch of steps is how much of the state (and of the gradient through
    time, along the gate's path) survives it.
    """
    check_rnn_input(params, xs)
    if rnn_cell(params) != "gru":
        raise ValueError("gru_update_gates needs GRU parameters (init_rnn(..., cell='gru'))")
    return _gru_update_gates(params, xs)


@jax.jit
def _gru_update_gates(params, xs):
    def step(h, x_t):
        return _gru_step(None, params, h, x_t)[0], _update_gate(params, h, x_t)

    h0 = jnp.zeros((xs.shape[0], params["W_hz"].shape[0]), xs.dtype)
    return jnp.swapaxes(lax.scan(step, h0, jnp.swapaxes(xs, 0, 1))[1], 0, 1)


def check_rnn_input(params: dict, xs) -> None:
    """ValueError unless xs: (batch, time, in_dim) fits params."""
    in_dim = params["W_xz" if rnn_cell(params) == "gru" else "W_x"].shape[0]
    check_array("xs", xs, 3, in_dim, "(batch, time, in_dim)")
    check_int_range("sequence length", xs.shape[1], 1, MAX_LENGTH)


def resolve_length(xs, length: int | None) -> int:
    """`length` checked against the time steps xs holds (None: all of them)."""
    return xs.shape[1] if length is None else check_int_range("length", length, 1, xs.shape[1])


def apply_rnn(
    params: dict, xs: jax.Array, activation: str = "tanh", length: int | None = None
) -> jax.Array:
    """Outputs (batch, out_dim) read from the last hidden state, xs: (batch, time, in_dim).

    `activation` is the vanilla RNN's phi (the GRU's are fixed); `length` uses only the
    first `length` time steps (default: all).
    """
    check_rnn_input(params, xs)
    return _apply_rnn(params, xs, activation_index(activation), resolve_length(xs, length))


@jax.jit
def _apply_rnn(params, xs, act_index, length):
    def forward(phi):
        return mlp_readout(params, rnn_forward(params, xs, phi=phi, length=length)[0])

    return with_activation(act_index, forward)
