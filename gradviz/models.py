"""Models as pure functions over parameter pytrees: `init_*(key, ...) -> params`,
`apply_*(params, x, ...) -> outputs`.

MLP (plain or residual, with no norm, batch norm or layer norm)::

    layer 1:       h_1 = phi(N(x @ W_in + b_in))
    layer l >= 2:  h_l = phi(N(h_{l-1} @ W[l-2] + b[l-2]))                 (plain)
                   h_l = h_{l-1} + a * phi(N(h_{l-1} @ W[l-2] + b[l-2]))   (residual)
    output:        h_depth @ W_out + b_out

N is the identity, batch norm (statistics over the batch) or layer norm (over the
units), without learned gain and shift. a is the residual branch's scale (`branch_scale`,
default 1); a = 1/sqrt(depth) keeps the variance of an unnormalised residual stack from
growing with depth. Batch norm always uses the statistics of the
batch it is given (no running averages), which is what its gradients see in training.

Vanilla RNN and GRU read a sequence x: (batch, time, in_dim) and predict from the
last hidden state::

    vanilla:  h_t = phi(x_t @ W_x + h_{t-1} @ W_h + b)
    GRU:      z_t = sigmoid(x_t @ W_xz + h_{t-1} @ W_hz + b_z)        update gate
              r_t = sigmoid(x_t @ W_xr + h_{t-1} @ W_hr + b_r)        reset gate
              n_t = tanh(x_t @ W_xn + (r_t * h_{t-1}) @ W_hn + b_n)   candidate
              h_t = z_t * h_{t-1} + (1 - z_t) * n_t

A positive update-gate bias b_z makes z_t close to 1, so h_t carries h_{t-1} over
almost unchanged: the path the gradient through time needs.

Depth and sequence length can be traced (`depth=`, `length=` below): the layers or
steps past them are skipped by masking, so one compiled function serves every depth
or length up to the size the parameters or inputs were allocated with.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gradviz.activations import activation_index, derivative, with_activation
from gradviz.init import init_index, weight_from_normal
from gradviz.validate import check_array, check_choice, check_int_range, check_positive

NORMS: tuple[str, ...] = ("none", "batch", "layer")
RNN_CELLS: tuple[str, ...] = ("vanilla", "gru")
MAX_DEPTH = 256
MAX_WIDTH = 4096
MAX_LENGTH = 2000
NORM_EPS = 1e-5


# --------------------------------------------------------------------------- MLP


def init_mlp(
    key: jax.Array,
    in_dim: int,
    width: int,
    depth: int,
    out_dim: int,
    init: str = "gaussian",
    scale: float = 1.0,
    bias_scale: float = 0.0,
) -> dict:
    """Parameters of an MLP with `depth` hidden layers of `width` units.

    Returns {"W_in": (in_dim, width), "b_in": (width,), "W": (depth-1, width, width),
    "b": (depth-1, width), "W_out": (width, out_dim), "b_out": (out_dim,)}.
    Hidden weights follow `init` with gain `scale` (see gradviz.init); hidden biases are
    N(0, bias_scale^2); the read-out is N(0, 1/width) with zero bias. Layer l's weights
    do not depend on `depth`: a deeper network adds layers to the same ones.
    """
    check_int_range("in_dim", in_dim, 1, 100_000)
    check_int_range("width", width, 1, MAX_WIDTH)
    check_int_range("depth", depth, 1, MAX_DEPTH)
    check_int_range("out_dim", out_dim, 1, 100_000)
    check_positive("init scale", scale, allow_zero=True)
    check_positive("bias scale", bias_scale, allow_zero=True)
    return _init_mlp(key, init_index(init), scale, bias_scale, in_dim, width, depth, out_dim)


@partial(jax.jit, static_argnums=(4, 5, 6, 7))
def _init_mlp(key, scheme_index, scale, bias_scale, in_dim, width, depth, out_dim):
    k_in, k_hidden, k_bias, k_out = jax.random.split(key, 4)
    layer_keys = jax.vmap(lambda i: jax.random.fold_in(k_hidden, i))(jnp.arange(depth - 1))
    bias_keys = jax.vmap(lambda i: jax.random.fold_in(k_bias, i))(jnp.arange(depth))

    def hidden_weight(k):
        return weight_from_normal(jax.random.normal(k, (width, width)), scheme_index, scale)

    biases = bias_scale * jax.vmap(lambda k: jax.random.normal(k, (width,)))(bias_keys)
    return {
        "W_in": weight_from_normal(
            jax.random.normal(k_in, (in_dim, width)), scheme_index, scale
        ),
        "b_in": biases[0],
        "W": jax.vmap(hidden_weight)(layer_keys).reshape(depth - 1, width, width),
        "b": biases[1:],
        "W_out": jax.random.normal(k_out, (width, out_dim)) / jnp.sqrt(width),
        "b_out": jnp.zeros(out_dim),
    }


def mlp_depth(params: dict) -> int:
    """The number of hidden layers the parameters hold."""
    return params["W"].shape[0] + 1


def _normalize(z: jax.Array, norm: str) -> jax.Array:
    """Batch norm (over axis 0), layer norm (over axis -1) or nothing; z: (batch, width).

    `norm` is a Python string (static): each choice compiles once. Choosing inside the
    compiled code instead would cost every layer a branch or both norms' arithmetic.
    """
    if norm == "none":
        return z
    axis = 0 if norm == "batch" else -1
    mean = z.mean(axis=axis, keepdims=True)
    var = z.var(axis=axis, keepdims=True)
    return (z - mean) * lax.rsqrt(var + NORM_EPS)


def layer_stats(h: jax.Array, z: jax.Array, phi, threshold) -> dict:
    """Summaries of one layer's output h and pre-activation z, both (batch, width): a dict
    of scalars act_mean, act_std, example_spread, saturation (fraction of (example, unit)
    pairs with |phi'(z)| < threshold) and dead_fraction (units saturated on every example).
    Measured in at least float32 (in float64 when h is float64)."""
    h = h.astype(jnp.promote_types(h.dtype, jnp.float32))
    z = z.astype(jnp.promote_types(z.dtype, jnp.float32))
    slope = jnp.abs(derivative(phi)(z))
    saturated = slope < threshold
    peak = jnp.max(jnp.abs(h))  # scale by it so that h**2 cannot overflow where h does not
    unit = jnp.where(peak > 0, peak, 1.0)
    return {
        "act_mean": (h / unit).mean() * unit,
        "act_std": (h / unit).std() * unit,
        # how different the examples still look: each unit's std over the batch, averaged
        "example_spread": (h / unit).std(axis=0).mean() * unit,
        "saturation": saturated.mean(),
        "dead_fraction": saturated.all(axis=0).mean(),
    }


def first_layer(x: jax.Array, W_in: jax.Array, b_in: jax.Array, *, phi, norm: str):
    """Hidden layer 1, h_1 = phi(N(x @ W_in + b_in)), on the data x: (batch, in_dim).

    W_in: (in_dim, width), b_in: (width,); `norm` as in NORMS (static). Returns (h_1, z_1),
    both (batch, width): the layer's output and its (normalised) pre-activation.
    """
    z = _normalize(x @ W_in + b_in, norm)
    return phi(z), z


def hidden_layer(h: jax.Array, W: jax.Array, b: jax.Array, *, phi, norm: str, residual,
                 active=True):
    """Hidden layer l >= 2 on h = h_{l-1}: (batch, width), W: (width, width), b: (width,);
    returns (h_l, z_l), both (batch, width).

    residual (traced): 0 or False for a plain layer, h_l = phi(z_l); a > 0 (True: 1) for
    a residual one, h_l = h + a * phi(z_l). An inactive layer (past the chosen depth)
    passes h through unchanged; it computes on zeros instead of h, so that nothing it
    computes can turn into inf or NaN.
    """
    h_safe = jnp.where(active, h, 0.0)
    z = _normalize(h_safe @ W + b, norm)
    branch = phi(z)
    residual = jnp.asarray(residual, h.dtype)  # a float32 scale must not promote float16 h
    new_h = jnp.where(residual > 0, h_safe + residual * branch, branch)
    return jnp.where(active, new_h, h), z


def mlp_forward(params: dict, x: jax.Array, *, phi, residual, norm: str, depth,
                threshold=0.01):
    """The hidden layers of the MLP (see the module's docstring) on x: (batch, in_dim),
    with activation phi; layers past `depth` (traced) pass h through unchanged.

    `residual`: 0 (plain) or the residual branch's scale, as `mlp_options` makes it.
    Returns (h_depth: (batch, width), inputs: (n_layers - 1, batch, width) the input
    h_{l-1} of each hidden layer l >= 2, stats: dict of (n_layers,) per-layer summaries).
    Under jit, whatever the caller does not use is never computed.
    """
    h, z = first_layer(x, params["W_in"], params["b_in"], phi=phi, norm=norm)
    first_stats = layer_stats(h, z, phi, threshold)

    def step(h, layer):
        W, b, number = layer
        new_h, z = hidden_layer(h, W, b, phi=phi, norm=norm, residual=residual,
                                active=number <= depth)
        return new_h, (h, layer_stats(new_h, z, phi, threshold))

    numbers = jnp.arange(2, mlp_depth(params) + 1)
    h, (inputs, rest_stats) = lax.scan(step, h, (params["W"], params["b"], numbers))
    stats = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first_stats, rest_stats)
    return h, inputs, stats


def mlp_readout(params: dict, h: jax.Array) -> jax.Array:
    """The linear read-out h @ W_out + b_out of an MLP or RNN: (batch, out_dim) for the
    last hidden state h: (batch, width)."""
    return h @ params["W_out"] + params["b_out"]


def mlp_options(activation: str, residual: bool, norm: str, branch_scale: float = 1.0) -> dict:
    """Validate the MLP's options and turn them into the arrays the jitted code takes.

    "residual" becomes one float32 number, traced: 0 for a plain MLP, else the residual
    branch's scale (branch_scale > 0), so that no value of either recompiles.
    """
    if not isinstance(residual, (bool, int)):
        raise ValueError(f"residual must be True or False, got {residual!r}")
    branch_scale = check_positive("branch_scale", branch_scale)
    if not residual and branch_scale != 1.0:
        raise ValueError("branch_scale scales a residual branch: it needs residual=True")
    return {
        "act_index": activation_index(activation),
        "residual": np.float32(branch_scale if residual else 0.0),
        "norm": NORMS[check_choice("norm", norm, NORMS)],
    }


def check_mlp_input(params: dict, x) -> None:
    """ValueError unless x: (batch, in_dim) fits params."""
    check_array("x", x, 2, params["W_in"].shape[0], "(batch, in_dim)")


def resolve_depth(params: dict, depth: int | None) -> int:
    """`depth` checked against the layers the parameters hold (None: all of them)."""
    n_layers = mlp_depth(params)
    return n_layers if depth is None else check_int_range("depth", depth, 1, n_layers)


def apply_mlp(
    params: dict,
    x: jax.Array,
    activation: str = "tanh",
    residual: bool = False,
    norm: str = "none",
    depth: int | None = None,
    branch_scale: float = 1.0,
) -> jax.Array:
    """The MLP's outputs (batch, out_dim) for x: (batch, in_dim).

    `depth` uses only the first `depth` hidden layers (default: all of them);
    `branch_scale` scales each residual branch (residual=True only).
    """
    check_mlp_input(params, x)
    depth = resolve_depth(params, depth)
    options = mlp_options(activation, residual, norm, branch_scale)
    return _apply_mlp(params, x, depth=depth, **options)


@partial(jax.jit, static_argnames=("norm",))
def _apply_mlp(params, x, act_index, residual, norm, depth):
    def forward(phi):
        h = mlp_forward(params, x, phi=phi, residual=residual, norm=norm, depth=depth)[0]
        return mlp_readout(params, h)

    return with_activation(act_index, forward)


# --------------------------------------------------------------------------- RNN and GRU


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
    check_int_range("in_dim", in_dim, 1, 100_000)
    check_int_range("hidden", hidden, 1, MAX_WIDTH)
    check_int_range("out_dim", out_dim, 1, 100_000)
    check_choice("RNN cell", cell, RNN_CELLS)
    check_positive("recurrent scale", recurrent_scale, allow_zero=True)
    check_positive("input scale", input_scale, allow_zero=True)
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
