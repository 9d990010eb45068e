"""Dynamical isometry: the singular values of a deep network's input-output Jacobian.

The Jacobian of a d-layer net is a product of d matrices, and its singular values span
many orders of magnitude: at depth 32 the smallest singular value of a product of
Gaussian 32 x 32 layers is about 1e-35 of the largest. Multiplying the factors out and
calling an SVD cannot see that: the SVD's error is float precision times the *largest*
singular value (1e-7 in float32, 1e-16 in float64), so every singular value below it
comes out as round-off noise, different on every CPU.

`product_singular_values` computes them with a relative error of about 1e-13 for each
one, however small, in two steps that are each accurate for this kind of matrix:

1. QR accumulated layer by layer (as for Lyapunov exponents): A_l = M_l A_{l-1} is
   kept as Q_l T_l with M_l Q_{l-1} = Q_l R_l and T_l = R_l T_{l-1}. A_l and the
   triangular T_l have the same singular values, and T_l's rows come out graded (row
   i of size about the i-th singular value), never summing a large and a tiny number.
2. One-sided Jacobi (Hestenes) on T_l's transpose: plane rotations that orthogonalise
   its columns. For a matrix that is a well-conditioned one times a diagonal scaling,
   Jacobi finds every singular value to high relative accuracy (Demmel & Veselic,
   1992), where the standard bidiagonalising SVD does not.

Both run in float64. Values below about 1e-150 of the largest may underflow to 0.
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gradviz.activations import activation_index, derivative, with_activation
from gradviz.init import init_index, weight_from_normal
from gradviz.validate import check_int_range, check_network_args

JACOBI_MAX_SWEEPS = 40
JACOBI_TOLERANCE = 1e-15  # columns count as orthogonal when |cos(angle)| is below this


def _round_robin(n: int) -> np.ndarray:
    """(n - 1, n // 2, 2) column pairs, n even: every pair once, each round's pairs
    disjoint (a round-robin tournament: column 0 stays, the others rotate)."""
    others = list(range(1, n))
    rounds = []
    for _ in range(n - 1):
        order = [0] + others
        rounds.append([(order[k], order[n - 1 - k]) for k in range(n // 2)])
        others = others[-1:] + others[:-1]
    return np.array(rounds, dtype=np.int32)


def _jacobi_column_norms(g: jax.Array) -> jax.Array:
    """One-sided Jacobi on g: (m, n) in float64: rotate pairs of columns until all are
    orthogonal; their norms are then g's singular values (unsorted, (n,)). Each round
    rotates n/2 disjoint pairs at once (parallel Jacobi)."""
    m, n = g.shape
    if n == 1:
        return jnp.sqrt(jnp.sum(g * g, axis=0))
    if n % 2:  # a zero column is orthogonal to everything: it is never rotated
        g = jnp.concatenate([g, jnp.zeros((m, 1), g.dtype)], axis=1)
    rounds = _round_robin(g.shape[1])
    tiny = jnp.finfo(g.dtype).tiny

    def rotate(carry, pairs):
        g, worst = carry
        left, right = pairs[:, 0], pairs[:, 1]
        gi, gj = g[:, left], g[:, right]
        a, b, c = jnp.sum(gi * gi, 0), jnp.sum(gj * gj, 0), jnp.sum(gi * gj, 0)
        cosine = jnp.abs(c) / jnp.maximum(jnp.sqrt(a) * jnp.sqrt(b), tiny)
        act = cosine > JACOBI_TOLERANCE
        zeta = (b - a) / (2 * jnp.where(act, c, 1.0))
        t = jnp.where(zeta >= 0, 1.0, -1.0) / (jnp.abs(zeta) + jnp.hypot(1.0, zeta))
        cs = lax.rsqrt(1 + t * t)
        sn = jnp.where(act, cs * t, 0.0)
        cs = jnp.where(act, cs, 1.0)
        g = g.at[:, left].set(cs * gi - sn * gj).at[:, right].set(sn * gi + cs * gj)
        return (g, jnp.maximum(worst, jnp.max(cosine))), None

    def sweep(state):
        g, _, count = state
        (g, worst), _ = lax.scan(rotate, (g, jnp.zeros((), g.dtype)), rounds)
        return g, worst, count + 1

    def unfinished(state):
        _, worst, count = state
        return (worst > JACOBI_TOLERANCE) & (count < JACOBI_MAX_SWEEPS)

    g, _, _ = lax.while_loop(unfinished, sweep, (g, jnp.ones((), g.dtype), 0))
    return jnp.sqrt(jnp.sum(g * g, axis=0))[:n]


def _accumulate_qr(factors: jax.Array) -> jax.Array:
    """T_l for l = 1..d from factors M_1..M_d: (d, n, n): A_l = M_l ... M_1 = Q_l T_l."""
    n = factors.shape[-1]

    def step(carry, m):
        q, t = carry
        q, r = jnp.linalg.qr(m @ q)
        t = r @ t
        return (q, t), t

    eye = jnp.eye(n, dtype=factors.dtype)
    return lax.scan(step, (eye, eye), factors)[1]


def _sorted_singular_values(ts: jax.Array) -> jax.Array:
    """Singular values of each triangular T: (d, n, n), largest first: (d, n)."""
    # one matrix after another: under vmap, the rotations' column updates turn into
    # batched scatters that run many times slower
    values = lax.map(lambda t: _jacobi_column_norms(t.T), ts)
    return -jnp.sort(-values, axis=-1)


@jax.jit
def _product_singular_values(factors):
    return _sorted_singular_values(_accumulate_qr(factors))


def product_singular_values(factors) -> np.ndarray:
    """Singular values of every partial product M_l @ ... @ M_1, each to high relative
    accuracy (see the module docstring), for factors M_1..M_d: (d, n, n).

    Returns (d, n) float64, row l-1 for the product of the first l factors, largest
    first. Compare np.linalg.svd(M_d @ ... @ M_1): it agrees on the large singular
    values and returns noise of size 1e-16 * largest for the small ones.
    """
    factors = np.asarray(factors, dtype=np.float64)
    if factors.ndim != 3 or factors.shape[1] != factors.shape[2] or factors.shape[0] < 1:
        raise ValueError(f"factors must be a stack of square matrices (d, n, n), got shape "
                         f"{factors.shape}")
    if not np.all(np.isfinite(factors)):
        raise ValueError("factors must be finite")
    with jax.enable_x64(True):
        return np.asarray(_product_singular_values(jnp.asarray(factors)))


class JacobianSpectra(NamedTuple):
    """Singular values of the input-output Jacobian d h_d / d h_0 of a deep square net at
    initialisation, for every depth d = 1..max_depth (float64, each to high relative
    accuracy: see the module docstring)."""

    singular_values: np.ndarray  # (max_depth, width): row d-1 for depth d, largest first

    def at(self, depth: int) -> np.ndarray:
        """(width,) the singular values for a network of `depth` layers."""
        depth = check_int_range("depth", depth, 1, len(self.singular_values))
        return self.singular_values[depth - 1]


@partial(jax.jit, static_argnames=("width", "max_depth"))
def _jacobian_factors(key, scheme_index, scale, bias_scale, act_index, width, max_depth):
    """The factors (W_l diag(phi'(z_l)))^T: (max_depth, width, width), in float64 from
    float32 random draws (the draws are the same on every CPU; all arithmetic after them
    is float64)."""
    k_input, k_weights, k_biases = jax.random.split(key, 3)
    layer_keys = jax.random.split(k_weights, max_depth)
    normals = jax.vmap(lambda k: jax.random.normal(k, (width, width), jnp.float32))(layer_keys)
    weights = jax.vmap(lambda z: weight_from_normal(z, scheme_index, scale))(
        normals.astype(jnp.float64))
    biases = bias_scale * jax.random.normal(k_biases, (max_depth, width),
                                            jnp.float32).astype(jnp.float64)
    h0 = jax.random.normal(k_input, (width,), jnp.float32).astype(jnp.float64)

    def run(phi):
        def layer(h, wb):
            W, b = wb
            z = h @ W + b
            # row convention dh_l = dh_{l-1} @ W diag(phi'(z)); its transpose acts on columns
            return phi(z), (W * derivative(phi)(z)[None, :]).T

        return lax.scan(layer, h0, (weights, biases))[1]

    return with_activation(act_index, run)


def jacobian_spectra(
    key: jax.Array,
    width: int,
    max_depth: int,
    activation: str = "tanh",
    init: str = "gaussian",
    scale: float = 1.0,
    bias_scale: float = 0.0,
) -> JacobianSpectra:
    """Singular values of d h_d / d h_0 for depths d = 1..max_depth of one random net.

    The net: h_0 ~ N(0, I) of size `width`, then h_l = phi(h_{l-1} @ W_l + b_l) with
    square W_l drawn by gradviz.init's `init` scheme with gain `scale`, b_l ~ N(0,
    bias_scale^2). The Jacobian is the product of W_l diag(phi'(z_l)) over the layers;
    its singular values are computed in float64 by `product_singular_values`, so even
    the smallest are right to many digits on any CPU. All singular values near 1
    (dynamical isometry) pass every direction of the signal back unchanged: a linear
    net with orthogonal weights has all of them exactly scale^d. Moving a depth slider
    just picks a row: `.at(depth)`.
    """
    check_network_args({"width": (width, 256), "max_depth": (max_depth, 1024)},
                       {"init scale": scale, "bias scale": bias_scale})
    with jax.enable_x64(True):
        factors = _jacobian_factors(key, init_index(init), float(scale), float(bias_scale),
                                    activation_index(activation), width=width,
                                    max_depth=max_depth)
        values = _product_singular_values(factors)
    return JacobianSpectra(np.asarray(values))


__all__ = ["JacobianSpectra", "jacobian_spectra", "product_singular_values"]
