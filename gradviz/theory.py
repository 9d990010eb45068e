"""Mean-field theory of signal propagation through a deep, wide, random MLP
(Poole et al., 2016; Schoenholz et al., 2017).

The MLP is gradviz.models': h_l = phi(z_l), z_l = h_{l-1} @ W_l + b_l, with
W_ij ~ N(0, sigma_w^2 / fan_in) and b_i ~ N(0, sigma_b^2); for any init scheme,
sigma_w = gradviz.init.sigma_w(scheme, scale, fan_in, fan_out). In a wide layer every
pre-activation is Gaussian with the same variance q_l (z ~ N(0, 1) below):

    q_1 = sigma_w^2 * mean(x^2) + sigma_b^2                    layer 1 reads the data x
    q_l = sigma_w^2 * E[phi(sqrt(q_{l-1}) z)^2] + sigma_b^2    the variance map

Going backward, layer l multiplies the squared backpropagated signal by

    chi(q_l) = sigma_w^2 * E[phi'(sqrt(q_l) z)^2],   ||dL/dh_{l-1}|| ~ sqrt(chi(q_l)) ||dL/dh_l||

At the variance map's fixed point q*, chi < 1 makes gradients vanish geometrically with
depth (the ordered phase), chi > 1 makes them explode (the chaotic phase), and chi = 1
is the edge of chaos.

Activations are chosen by name (gradviz.activations.ACTIVATION_NAMES). sigma_w, sigma_b
and q may be scalars or arrays that broadcast together; results have their broadcast
shape. Every function works inside jax.jit and jax.vmap (values are checked only where
they are concrete), and selects the activation with one `lax.switch`, so each compiles
once for all activations.
"""

from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gradviz.activations import activation_index, derivative, with_activation
from gradviz.validate import check_int_range, is_traced

QUADRATURE_POINTS = 256
QUADRATURE_RANGE = 8.0  # nodes cover |z| < 8; the Gaussian mass beyond is 1e-15
FIXED_POINT_ITERATIONS = 200
NEWTON_STEPS = 20
BISECTION_STEPS = 32
SIGMA_W_MAX = 64.0  # critical_sigma_w searches [0, SIGMA_W_MAX]
Q_TINY, Q_HUGE = 1e-30, 1e30  # chi reads q clipped to this range (see `chi`)
# The theory's recursions are scalar and cheap: they follow far deeper stacks than any
# network gradviz builds (gradviz.models.MAX_DEPTH), e.g. to show a slow approach to a fixed point.
MAX_THEORY_DEPTH = 10_000


# --------------------------------------------------------------------------- checks


def _check_nonnegative(what: str, value, allow_inf: bool = False):
    """`value` (a number or an array) as a float array, unless it has an entry that is
    < 0 or NaN (or inf, unless `allow_inf`): ValueError naming the first such entry.
    Traced values are not checked. Making every number a float array up front means that
    1 and 1.0, or two different floats, reach the jitted code as the same type: no recompile."""
    if is_traced(value):
        return jnp.asarray(value, dtype=float)
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number or an array of numbers, got {value!r}") from None
    finite = np.isfinite(array) | (allow_inf & (array == np.inf))
    bad = np.flatnonzero(~(finite & (array >= 0)))
    if bad.size:
        index = ", ".join(str(int(i)) for i in np.unravel_index(bad[0], array.shape))
        where = f"[{index}]" if array.ndim else ""
        bound = "a number >= 0 (inf allowed)" if allow_inf else "a finite number >= 0"
        raise ValueError(f"{what}{where} must be {bound}, got {float(array.flat[bad[0]])}")
    return jnp.asarray(array, dtype=float)


def _check_sigmas(sigma_w, sigma_b):
    return _check_nonnegative("sigma_w", sigma_w), _check_nonnegative("sigma_b", sigma_b)


def _check_n_points(n_points) -> int:
    n_points = check_int_range("n_points", n_points, 2, 100_000)
    if n_points % 2:
        raise ValueError(
            f"n_points must be even (no node at z = 0, where relu' jumps), got {n_points}"
        )
    return n_points


def _floats(*values):
    """The values as arrays of JAX's default float type, broadcast to one shape."""
    return jnp.broadcast_arrays(*(jnp.asarray(v, dtype=float) for v in values))


# --------------------------------------------------------------------------- Gaussian integrals


@lru_cache
def _quadrature(n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z: (n_points,) and weights w: (n_points,), sum(w) = 1, with
    sum(w * f(z)) ~ E[f(z)] for z ~ N(0, 1).

    The midpoint rule on [-8, 8] with weights proportional to the Gaussian density: for
    a smooth f its error falls exponentially with n_points (like Gauss-Hermite), but the
    nodes are evenly spaced, so it also resolves f(sqrt(q) z) for large q, where f
    changes on the scale |z| ~ 1/sqrt(q). E[tanh'(sqrt(q) z)^2] at q = 16: relative error
    1e-5 with 128 points; Gauss-Hermite (hermegauss) with 100 points: 0.09. The nodes
    are symmetric and z = 0 is never one, so E[relu(sqrt(q) z)^2] = q/2 and
    E[relu'(sqrt(q) z)^2] = 1/2 come out right to rounding.
    """
    step = 2 * QUADRATURE_RANGE / n_points
    nodes = -QUADRATURE_RANGE + step * (np.arange(n_points) + 0.5)
    weights = np.exp(-0.5 * nodes**2)
    return nodes, weights / weights.sum()


def gaussian_expectation(f, q, n_points: int = QUADRATURE_POINTS) -> jax.Array:
    """E[f(sqrt(q) z)] for z ~ N(0, 1): the mean of f over a Gaussian of variance q.

    f: an elementwise function; q: a variance (...) (traced is fine); returns (...).
    With the default 256 points the error is below float32 rounding for q <= 36 with
    every gradviz activation, its square and its derivative's square. It grows where
    f(sqrt(q) z) lives on a sliver |z| < 3/sqrt(q): for E[tanh'(sqrt(q) z)^2] it is
    1e-5 at q = 64 and 2e-2 at q = 256. Raise n_points for such q.
    """
    nodes, weights = _quadrature(_check_n_points(n_points))
    root = jnp.sqrt(jnp.asarray(q, dtype=float))
    values = f(root[..., None] * jnp.asarray(nodes, root.dtype))
    return jnp.sum(values * jnp.asarray(weights, root.dtype), axis=-1)


# --------------------------------------------------------------------------- the maps (phi given)


def _variance(phi, q, sigma_w, sigma_b):
    """The variance map: sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2."""
    return sigma_w**2 * gaussian_expectation(lambda x: phi(x) ** 2, q) + sigma_b**2


def _chi(phi, q, sigma_w):
    """sigma_w^2 E[phi'(sqrt(q) z)^2], with q clipped to [Q_TINY, Q_HUGE]."""
    phi_prime = derivative(phi)
    q = jnp.clip(q, Q_TINY, Q_HUGE)
    return sigma_w**2 * gaussian_expectation(lambda x: phi_prime(x) ** 2, q)


def _fixed_point(phi, sigma_w, sigma_b, q0, n_iter):
    """n_iter steps of the variance map from q0, then NEWTON_STEPS guarded Newton steps
    on V(q) - q = 0.

    The plain iteration finds the attracting fixed point but crawls where the map's slope
    is near 1 (tanh near sigma_w = 1, sigma_b = 0: q_l ~ 1/(2l)); Newton finishes the job.
    A Newton step is kept only if it goes the way the iteration goes (towards the
    attracting fixed point, never back to a repelling one, as it would for gelu, whose
    variance can explode past one), lands on a q >= 0 and shrinks the residual.
    A q that has overflowed to inf stays inf.
    """

    def variance_step(_, q):
        return jnp.where(jnp.isinf(q), q, _variance(phi, q, sigma_w, sigma_b))

    def residual(q):
        return _variance(phi, q, sigma_w, sigma_b) - q

    def newton_step(_, q):
        value, slope = jax.jvp(residual, (q,), (jnp.ones_like(q),))
        new = q - value / slope
        forward = jnp.isfinite(new) & (new >= 0) & ((new - q) * value > 0)
        safe_new = jnp.where(forward, new, q)
        better = forward & (q > 0) & (jnp.abs(residual(safe_new)) < jnp.abs(value))
        return jnp.where(better, safe_new, q)

    q = lax.fori_loop(0, n_iter, variance_step, q0)
    return lax.fori_loop(0, NEWTON_STEPS, newton_step, q)


def _variance_profile(phi, sigma_w, sigma_b, q1, n_layers):
    """q_1, ..., q_{n_layers}: (n_layers, ...) from q_1."""

    def step(q, _):
        new = jnp.where(jnp.isinf(q), q, _variance(phi, q, sigma_w, sigma_b))
        return new, q

    return lax.scan(step, q1, None, length=n_layers)[1]


# --------------------------------------------------------------------------- jitted cores


@jax.jit
def _variance_map_jit(q, sigma_w, sigma_b, act_index):
    return with_activation(act_index, _variance, *_floats(q, sigma_w, sigma_b))


@partial(jax.jit, static_argnames=("n_iter",))
def _fixed_point_jit(sigma_w, sigma_b, q0, act_index, n_iter):
    def run(phi, *args):
        return _fixed_point(phi, *args, n_iter)

    return with_activation(act_index, run, *_floats(sigma_w, sigma_b, q0))


@jax.jit
def _chi_at_jit(sigma_w, q, act_index):
    return with_activation(act_index, lambda phi, w, q: _chi(phi, q, w), *_floats(sigma_w, q))


@jax.jit
def _chi_at_fixed_point_jit(sigma_w, sigma_b, act_index):
    def run(phi, sigma_w, sigma_b):
        q = _fixed_point(phi, sigma_w, sigma_b, jnp.ones_like(sigma_w), FIXED_POINT_ITERATIONS)
        return _chi(phi, q, sigma_w)

    return with_activation(act_index, run, *_floats(sigma_w, sigma_b))


@partial(jax.jit, static_argnames=("n_layers",))
def _profiles_jit(sigma_w, sigma_b, sigma_w_in, input_mean_square, depth, act_index, n_layers):
    """(q_l, signal_l): both (..., n_layers); signal_l is the product of sqrt(chi(q_k))
    over k = l+1..depth (layers past the traced `depth` count as 1)."""

    def run(phi, sigma_w, sigma_b, sigma_w_in, input_mean_square):
        q1 = sigma_w_in**2 * input_mean_square + sigma_b**2
        q = _variance_profile(phi, sigma_w, sigma_b, q1, n_layers)  # (n_layers, ...)
        numbers = jnp.arange(1, n_layers + 1).reshape((-1,) + (1,) * sigma_w.ndim)
        gain = jnp.where((numbers >= 2) & (numbers <= depth), jnp.sqrt(_chi(phi, q, sigma_w)), 1)
        # signal_l = gain_{l+1} * ... * gain_{n_layers}: a product from the end, shifted by one
        after = jnp.cumprod(gain[::-1], axis=0)[::-1]
        signal = jnp.concatenate([after[1:], jnp.ones_like(after[:1])])
        return jnp.moveaxis(q, 0, -1), jnp.moveaxis(signal, 0, -1)

    args = _floats(sigma_w, sigma_b, sigma_w_in, input_mean_square)
    return with_activation(act_index, run, *args)


@partial(jax.jit, static_argnames=("n_iter",))
def _critical_jit(sigma_b, q0, act_index, n_iter):
    def run(phi, sigma_b, q0):
        def chi_at(sigma_w):
            return _chi(phi, _fixed_point(phi, sigma_w, sigma_b, q0, n_iter), sigma_w)

        def bisect(_, bounds):
            low, high = bounds
            middle = 0.5 * (low + high)
            above = chi_at(middle) >= 1
            return jnp.where(above, low, middle), jnp.where(above, middle, high)

        top = jnp.full_like(sigma_b, SIGMA_W_MAX)
        low, high = lax.fori_loop(0, BISECTION_STEPS, bisect, (jnp.zeros_like(sigma_b), top))
        return jnp.where(chi_at(top) >= 1, 0.5 * (low + high), jnp.nan)

    return with_activation(act_index, run, *_floats(sigma_b, q0))


# --------------------------------------------------------------------------- public API


def variance_map(q, sigma_w, sigma_b, activation: str) -> jax.Array:
    """One layer's variance map: q_l = sigma_w^2 E[phi(sqrt(q_{l-1}) z)^2] + sigma_b^2.

    q (the previous layer's pre-activation variance), sigma_w, sigma_b: broadcastable
    (...); returns q_l: (...).
    """
    q = _check_nonnegative("q", q)
    sigma_w, sigma_b = _check_sigmas(sigma_w, sigma_b)
    return _variance_map_jit(q, sigma_w, sigma_b, activation_index(activation))


def fixed_point_variance(
    sigma_w, sigma_b, activation: str, q0=1.0, n_iter: int = FIXED_POINT_ITERATIONS
) -> jax.Array:
    """The fixed point q* = variance_map(q*) that the pre-activation variance settles at
    with depth, starting from q0: (...) for sigma_w, sigma_b, q0 broadcastable to (...).

    Found by n_iter steps of the map, then a few guarded Newton steps (see
    `_fixed_point`). Where the map has no finite fixed point, what is returned is the
    variance after n_iter layers: linear (relu) networks with sigma_w > 1 (sqrt(2)) grow
    it geometrically, to a large number or to inf once float32 overflows; with
    sigma_b = 0 and sigma_w below those values it shrinks geometrically to (nearly) 0;
    with sigma_w exactly 1 (sqrt(2)) and sigma_b = 0 every q is a fixed point and q0
    comes back. `chi` stays meaningful there: for these activations it does not depend
    on q. Where the map has two attracting fixed points (gelu with small sigma_b: 0 and
    inf), q0 decides which one is reached. Works under jax.vmap over sigma_w and sigma_b.
    """
    sigma_w, sigma_b = _check_sigmas(sigma_w, sigma_b)
    q0 = _check_nonnegative("q0", q0)
    n_iter = check_int_range("n_iter", n_iter, 1, 100_000)
    return _fixed_point_jit(sigma_w, sigma_b, q0, activation_index(activation), n_iter=n_iter)


def chi(sigma_w, sigma_b, activation: str, q=None) -> jax.Array:
    """The per-layer gain of the squared backpropagated signal ||dL/dh_l||^2:
    chi = sigma_w^2 E[phi'(sqrt(q) z)^2], at q (...) if given, else at the fixed point
    fixed_point_variance(sigma_w, sigma_b, activation) (from q0 = 1). Returns (...).

    chi < 1: gradients vanish with depth; chi > 1: they explode; chi = 1: edge of chaos.
    q is read clipped to [1e-30, 1e30], so that a variance that vanished (0) or diverged
    (inf) gives chi's limit: linear chi = sigma_w^2 and relu chi = sigma_w^2 / 2 for
    every q, tanh chi -> sigma_w^2 as q -> 0.
    """
    sigma_w, sigma_b = _check_sigmas(sigma_w, sigma_b)
    index = activation_index(activation)
    if q is None:
        return _chi_at_fixed_point_jit(sigma_w, sigma_b, index)
    q = _check_nonnegative("q", q, allow_inf=True)
    return _chi_at_jit(sigma_w, q, index)


def signal_gain_per_layer(sigma_w, sigma_b, activation: str, q=None) -> jax.Array:
    """sqrt(chi): the predicted factor ||dL/dh_{l-1}|| / ||dL/dh_l|| by which the
    backpropagated signal grows per layer going backward (at q, or the fixed point)."""
    return jnp.sqrt(chi(sigma_w, sigma_b, activation, q))


def gradient_depth_scale(sigma_w, sigma_b, activation: str, q=None) -> jax.Array:
    """xi = -1 / log(chi) (Schoenholz et al.'s xi_nabla): ||dL/dh||^2 changes by a factor
    e every |xi| layers. Positive: gradients vanish; negative: they explode; +-inf at
    the edge of chaos. Shapes as in `chi`."""
    return -1 / jnp.log(chi(sigma_w, sigma_b, activation, q))


def _profiles(depth, sigma_w, sigma_b, activation, input_mean_square, sigma_w_in):
    depth = check_int_range("depth", depth, 1, MAX_THEORY_DEPTH)
    sigma_w, sigma_b = _check_sigmas(sigma_w, sigma_b)
    input_mean_square = _check_nonnegative("input_mean_square", input_mean_square)
    sigma_w_in = sigma_w if sigma_w_in is None else _check_nonnegative("sigma_w_in", sigma_w_in)
    # allocate a power of two >= 64 layers: a depth slider recompiles a handful of times
    n_layers = max(64, 1 << (depth - 1).bit_length())
    q, signal = _profiles_jit(
        sigma_w, sigma_b, sigma_w_in, input_mean_square, depth, activation_index(activation),
        n_layers,
    )
    if not is_traced(q):  # slicing with numpy: a jax slice would compile once per depth
        q, signal = np.asarray(q), np.asarray(signal)
    return q[..., :depth], signal[..., :depth]


def variance_profile(
    depth: int, sigma_w, sigma_b, activation: str, input_mean_square=1.0, sigma_w_in=None
) -> np.ndarray:
    """Predicted pre-activation variance q_l of hidden layers l = 1..depth: (..., depth)
    (a numpy array, or a jax array when traced).

    q_1 = sigma_w_in^2 * input_mean_square + sigma_b^2 (input_mean_square = mean(x**2),
    about 1 for standardized data; sigma_w_in defaults to sigma_w), then the variance map.
    """
    return _profiles(depth, sigma_w, sigma_b, activation, input_mean_square, sigma_w_in)[0]


def predicted_signal_profile(
    depth: int, sigma_w, sigma_b, activation: str, input_mean_square=1.0, sigma_w_in=None
) -> np.ndarray:
    """Predicted ||dL/dh_l|| / ||dL/dh_depth|| for hidden layers l = 1..depth: (..., depth)
    (a numpy array, or a jax array when traced).

    Entry l-1 is the product of sqrt(chi(q_k)) over k = l+1..depth, with q_k the layer-wise
    variances of `variance_profile` (not only the fixed point), so it also covers the
    first layers, before the variance settles. Compare it with FlowStats.signal_norm /
    signal_norm[-1]. The last entry is 1.
    """
    return _profiles(depth, sigma_w, sigma_b, activation, input_mean_square, sigma_w_in)[1]


def critical_sigma_w(
    sigma_b, activation: str, q0=1.0, n_iter: int = FIXED_POINT_ITERATIONS
) -> jax.Array:
    """The sigma_w at which chi = 1 (the edge of chaos), for sigma_b: (...); returns (...).

    Bisection on chi(sigma_w, sigma_b) - 1 over [0, 64], chi taken at the fixed point
    reached from q0 (as `chi` does), so the line it draws is where a phase diagram of
    `chi` crosses 1: tanh 1.0 at sigma_b = 0, rising with sigma_b; relu sqrt(2) and
    linear 1.0 for every sigma_b. For gelu with small sigma_b, chi jumps across 1 there
    (below it the variance collapses to 0, above it explodes). NaN where chi stays
    below 1 on [0, 64].
    """
    sigma_b = _check_nonnegative("sigma_b", sigma_b)
    q0 = _check_nonnegative("q0", q0)
    n_iter = check_int_range("n_iter", n_iter, 1, 100_000)
    return _critical_jit(sigma_b, q0, activation_index(activation), n_iter=n_iter)


__all__ = [
    "chi",
    "critical_sigma_w",
    "fixed_point_variance",
    "gaussian_expectation",
    "gradient_depth_scale",
    "predicted_signal_profile",
    "signal_gain_per_layer",
    "variance_map",
    "variance_profile",
]
