"""The MLP as pure functions over parameter pytrees: `init_*(key, ...) -> params`,
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

Depth can be traced (`depth=` below): the layers past it are skipped by masking, so one
compiled function serves every depth up to the size the parameters were allocated with.
The recurrent models are in gradviz.rnn; they share this module's `layer_stats` and
`mlp_readout`.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gradviz.activations import activation_index, derivative, with_activation
from gradviz.init import init_index, weight_from_normal
from gradviz.validate import (
    check_array,
    check_choice,
    check_int_range,
    check_network_args,
    check_positive,
)

NORMS: tuple[str, ...] = ("none", "batch", "layer")
# The deepest MLP init_mlp allocates (one scan of this many layers still compiles fast).
# Other depth limits mean other things: gradviz.live.MAX_DEPTH is the live explorer's
# network, gradviz.theory.MAX_THEORY_DEPTH the mean-field recursions' reach.
MAX_DEPTH = 256
MAX_WIDTH = 4096
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
    check_network_args({"in_dim": (in_dim, 100_000), "width": (width, MAX_WIDTH),
                        "depth": (depth, MAX_DEPTH), "out_dim": (out_dim, 100_000)},
                       {"init scale": scale, "bias scale": bias_scale})
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


def normalize(z: jax.Array, norm: str) -> jax.Array:
    """N(z): batch norm (over axis 0), layer norm (over axis -1) or nothing ("none"), without
    learned gain and shift; z: (batch, width) -> (batch, width).

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
    z = normalize(x @ W_in + b_in, norm)
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
    z = normalize(h_safe @ W + b, norm)
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
