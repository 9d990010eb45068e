"""Attributions: how much each input feature contributes to one scalar output f(x).

`f` maps ONE input x (any shape, e.g. an image (64,) or (8, 8)) to a scalar, typically
the logit of a chosen class: `f = lambda x: apply_mlp(params, x[None])[0, c]`. Every
attribution has x's shape, and every function works under `jax.vmap` over inputs (and
keys) and under `jax.jit` (`method`, `n_steps`, `n_samples`, `window` stay Python values).

    saliency(x)          = |df/dx|                            how sensitive f is at x
    input_x_gradient(x)  = x * df/dx                          first-order share of f(x)
    integrated_gradients = (x - x') * int_0^1 df/dx(x' + a (x - x')) da
    smoothgrad(x)        = mean over eps of df/dx(x + eps)    eps ~ N(0, sigma^2)
    occlusion(x)         = f(x) - f(x with a window set to the baseline x')

Integrated gradients, their quadrature rules and their convergence are in
gradviz.integrated (re-exported here, so that every method is in one place).

For gradviz's plain MLPs: `class_logit(params, c, activation)` is such an f,
`attribution_maps` computes the four gradient maps of a batch in one jitted call,
`attribution_maps_float64` does the same in float64 (to check completeness where
f(x) - f(x') is too small for float32 to resolve), `convergence` tabulates every rule's
completeness error against the number of steps (`logit_convergence`: for a class logit,
in float64), `rank_correlation` compares two maps, and `active_fraction` finds dead units.
"""

import itertools
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gradviz.activations import derivative, get_activation

# A deliberate facade (the only one outside the packages' __init__s; tests/test_layering
# knows it): integrated gradients live in gradviz.integrated, and their names are offered
# here too, so that `gradviz.attribution` holds every attribution method in one place.
from gradviz.integrated import (  # noqa: F401
    MAX_STEPS,
    METHODS,
    Convergence,
    Quadrature,
    completeness_delta,
    convergence,
    integrated_gradients,
    integrated_gradients_with_rule,
    quadrature,
)
from gradviz.models import check_mlp_input, first_layer, hidden_layer
from gradviz.validate import (
    check_array,
    check_baseline,
    check_finite_input,
    check_int_range,
    check_key,
    check_positive,
    check_scalar_function,
    is_traced,
)

MAX_SAMPLES = 100_000


# --------------------------------------------------------------------------- gradients


def saliency(f: Callable, x: jax.Array) -> jax.Array:
    """|df/dx|: how strongly a small change of each feature changes f, at x. Shape of x."""
    x = check_finite_input(x)
    check_scalar_function(f, x)
    return jnp.abs(jax.grad(f)(x))


def input_x_gradient(f: Callable, x: jax.Array) -> jax.Array:
    """x * df/dx: the first-order contribution of each feature, measured from x = 0.

    It sums to f(x) - f(0) exactly when f is positively homogeneous of degree 1
    (f(t x) = t f(x) for t > 0: Euler's theorem gives x . df/dx = f(x), and f(0) = 0),
    e.g. a linear map or a ReLU network without biases (Ancona et al., 2018); in general
    it is the linearisation at x, f(x) - f(0) ~ x . df/dx(x).
    """
    x = check_finite_input(x)
    check_scalar_function(f, x)
    return x * jax.grad(f)(x)


def smoothgrad(
    f: Callable, x: jax.Array, key: jax.Array, n_samples: int = 25, noise: float = 0.15
) -> jax.Array:
    """The mean of df/dx over n_samples noisy copies x + eps (Smilkov et al., 2017).

    eps = sigma * jax.random.normal(key, (n_samples, *x.shape)), with sigma = noise *
    (max(x) - min(x)): the noise level is a fraction of the input's range. The same key
    gives the same result. Shape of x (signed; take abs() for a saliency-like map).
    """
    x = check_finite_input(x)
    check_scalar_function(f, x)
    check_key(key)
    n = check_int_range("n_samples", n_samples, 1, MAX_SAMPLES)
    if not is_traced(noise):  # a traced noise level is checked by its caller
        noise = check_positive("noise", noise, allow_zero=True)
    sigma = noise * (jnp.max(x) - jnp.min(x))
    eps = sigma * jax.random.normal(key, (n, *x.shape), x.dtype)
    return jax.vmap(jax.grad(f))(x + eps).mean(axis=0)


class LogitConvergence(NamedTuple):
    """`convergence` of a class logit, computed in float64 (NumPy arrays)."""

    table: Convergence
    difference: float  # f(x) - f(baseline), the total the attributions should add up to


def logit_convergence(
    params: dict, x: jax.Array, target: int, activation: str = "tanh",
    baseline: jax.Array | None = None, max_steps: int = 64, methods: tuple = METHODS,
) -> LogitConvergence:
    """`convergence` for f = class_logit(params, target, activation) at one x: (in_dim,),
    in float64 (params, x and baseline are cast), so that rounding does not hide the
    rules' own errors. Returns the table as NumPy arrays and f(x) - f(baseline)."""
    with jax.enable_x64(True):
        as64 = lambda a: jnp.asarray(a, jnp.float64)  # noqa: E731
        f = class_logit(jax.tree.map(as64, params), target, activation)
        x64 = as64(x)
        base = jnp.zeros_like(x64) if baseline is None else as64(baseline)
        table = convergence(f, x64, base, max_steps, methods)
        table = Convergence(table.methods, table.n_steps, np.asarray(table.attributions),
                            np.asarray(table.delta))
        return LogitConvergence(table, float(f(x64) - f(base)))


# --------------------------------------------------------------------------- no gradients


def occlusion(
    f: Callable, x: jax.Array, baseline: jax.Array | None = None, window=None
) -> jax.Array:
    """How much f drops when a window of features is set to the baseline (default zeros).

    The window (a tuple of x.ndim sizes, default all 1: one feature at a time) slides
    over every position with stride 1; each feature gets the mean drop f(x) - f(occluded)
    of the windows that cover it. No gradients: f is evaluated once per position
    (one vmapped call). Shape of x.
    """
    x = check_finite_input(x)
    check_scalar_function(f, x)
    baseline = check_baseline(baseline, x)
    window = (1,) * x.ndim if window is None else tuple(window)
    if len(window) != x.ndim:
        raise ValueError(f"window must have one size per axis of x {x.shape}, got {window}")
    for axis, (size, length) in enumerate(zip(window, x.shape, strict=True)):
        check_int_range(f"window size on axis {axis}", size, 1, length)
    masks = _window_masks(x.shape, window)  # (positions, *x.shape) bool
    occluded = jnp.where(masks, baseline, x)
    drops = f(x) - jax.vmap(f)(occluded)
    return jnp.tensordot(drops, masks.astype(x.dtype), axes=1) / masks.sum(axis=0)


def _window_masks(shape: tuple, window: tuple) -> np.ndarray:
    starts = itertools.product(*(range(n - w + 1) for n, w in zip(shape, window, strict=True)))
    masks = []
    for start in starts:
        mask = np.zeros(shape, bool)
        mask[tuple(slice(s, s + w) for s, w in zip(start, window, strict=True))] = True
        masks.append(mask)
    return np.stack(masks)


# --------------------------------------------------------------------------- comparing


def rank_correlation(a: jax.Array, b: jax.Array) -> jax.Array:
    """Spearman's rank correlation of two maps of the same shape (ties get mean ranks).

    1: same order of importance; 0: unrelated. O(size^2) memory: for maps up to a few
    thousand features. Works under vmap.
    """
    if np.shape(a) != np.shape(b) or np.size(a) < 2:
        raise ValueError("rank_correlation needs two maps of the same shape with at least 2 "
                         f"features, got shapes {np.shape(a)} and {np.shape(b)}")
    ra, rb = _ranks(jnp.ravel(a)), _ranks(jnp.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return (ra @ rb) / jnp.sqrt((ra @ ra) * (rb @ rb))


def _ranks(v: jax.Array) -> jax.Array:
    """Ranks 1..n of v's entries, tied entries sharing their mean rank."""
    less = jnp.sum(v[None, :] < v[:, None], axis=1)
    equal = jnp.sum(v[None, :] == v[:, None], axis=1)
    return less + (equal + 1) / 2


def gaussian_blur(image: jax.Array, sigma: float) -> jax.Array:
    """image: (height, width) blurred by a Gaussian of std `sigma` pixels.

    Each output pixel is a weighted mean of the input pixels, weights exp(-d^2 / 2
    sigma^2) along each axis, renormalised at the borders: a constant image stays
    constant. A blurred copy of x is a common integrated-gradients baseline.
    """
    check_array("image", image, 2)
    sigma = check_positive("sigma", sigma)
    image = jnp.asarray(image)
    rows = _blur_matrix(image.shape[0], sigma).astype(image.dtype)
    cols = _blur_matrix(image.shape[1], sigma).astype(image.dtype)
    return rows @ image @ cols.T


def _blur_matrix(n: int, sigma: float) -> np.ndarray:
    d = np.arange(n)[:, None] - np.arange(n)[None, :]
    kernel = np.exp(-(d**2) / (2 * sigma**2))
    return kernel / kernel.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- the model


def _plain_mlp(params: dict, x: jax.Array, phi) -> jax.Array:
    """The logits (batch, out_dim) of a plain MLP (no norm, not residual) with activation phi."""
    h, _ = first_layer(x, params["W_in"], params["b_in"], phi=phi, norm="none")
    for W, b in zip(params["W"], params["b"], strict=True):  # unrolled: fast also unjitted
        h, _ = hidden_layer(h, W, b, phi=phi, norm="none", residual=False)
    return h @ params["W_out"] + params["b_out"]


def class_logit(params: dict, target, activation: str = "relu") -> Callable:
    """f(x) = the logit of class `target` of a plain MLP (gradviz.init_mlp's params, no
    norm, not residual) for ONE input x: (in_dim,): the f the attributions take.

    Same numbers as `apply_mlp(params, x[None], activation)[0, target]`, but with the
    activation fixed, so it compiles only that one; `target` may be traced.
    """
    phi = get_activation(activation)
    return lambda x: _plain_mlp(params, x[None], phi)[0, target]


def class_logits(params: dict, x: jax.Array, activation: str = "relu") -> jax.Array:
    """(batch, out_dim): the logits of a plain MLP for x: (batch, in_dim), jitted with the
    activation fixed (the numbers of `apply_mlp`)."""
    check_mlp_input(params, x)
    return _class_logits(params, x, activation=activation)


@partial(jax.jit, static_argnames=("activation",))
def _class_logits(params, x, activation):
    return _plain_mlp(params, x, get_activation(activation))


def active_fraction(
    params: dict, x: jax.Array, activation: str = "relu", threshold: float = 0.01
) -> jax.Array:
    """(depth, width): for each hidden unit of a plain MLP (gradviz.init_mlp's params, no
    norm, not residual), the fraction of the examples x: (batch, in_dim) at which its
    activation derivative |phi'(z)| is at least `threshold`.

    A unit at 0 is dead on these inputs (ReLU always off, or sigmoid/tanh saturated): no
    gradient passes through it, so it shapes no gradient attribution either.
    """
    check_mlp_input(params, x)
    threshold = check_positive("threshold", threshold)
    return _active_fraction(params, x, threshold, activation=activation)


@partial(jax.jit, static_argnames=("activation",))
def _active_fraction(params, x, threshold, activation):
    phi = get_activation(activation)
    slope = derivative(phi)
    h, z = first_layer(x, params["W_in"], params["b_in"], phi=phi, norm="none")

    def step(h, layer):
        W, b = layer
        h, z = hidden_layer(h, W, b, phi=phi, norm="none", residual=False)
        return h, z

    _, zs = lax.scan(step, h, (params["W"], params["b"]))
    zs = jnp.concatenate([z[None], zs])  # (depth, batch, width)
    return jnp.mean(jnp.abs(slope(zs)) >= threshold, axis=1)


class AttributionMaps(NamedTuple):
    """The four gradient attributions of a batch; each map has x's shape (batch, in_dim)."""

    saliency: jax.Array
    input_x_gradient: jax.Array
    integrated_gradients: jax.Array
    smoothgrad: jax.Array
    logit: jax.Array  # (batch,) f(x): the explained logit
    completeness_delta: jax.Array  # (batch,) sum(IG) - (f(x) - f(baseline))


METHOD_NAMES = ("saliency", "input_x_gradient", "integrated_gradients", "smoothgrad")


def attribution_maps(
    params: dict,
    x: jax.Array,
    target: jax.Array,
    key: jax.Array,
    activation: str = "tanh",
    baseline: jax.Array | None = None,
    n_steps: int = 32,
    n_samples: int = 25,
    noise: float = 0.15,
) -> AttributionMaps:
    """Saliency, input x gradient, integrated gradients (Gauss-Legendre) and SmoothGrad
    of the logit of class target[i] for each example x[i] of a plain MLP, in one jitted call.

    x: (batch, in_dim); target: (batch,) integer classes; baseline: (in_dim,) shared or
    (batch, in_dim), default zeros; key: SmoothGrad's noise (one split per example).
    Compiles once per activation, shapes, n_steps and n_samples; values (parameters,
    inputs, targets, baseline, noise) are traced.
    """
    check_mlp_input(params, x)
    baseline = jnp.zeros(x.shape[1:], x.dtype) if baseline is None else baseline
    if np.shape(baseline) not in (x.shape, x.shape[1:]):
        raise ValueError(f"baseline must have shape {x.shape[1:]} or {x.shape}, got "
                         f"{np.shape(baseline)}")
    check_array("baseline", baseline, np.ndim(baseline))
    if np.shape(target) != x.shape[:1]:
        raise ValueError(f"target must have shape {x.shape[:1]} (one class per example), "
                         f"got {np.shape(target)}")
    check_key(key)
    check_int_range("n_steps", n_steps, 1, MAX_STEPS)
    check_int_range("n_samples", n_samples, 1, MAX_SAMPLES)
    noise = check_positive("noise", noise, allow_zero=True)
    baseline = jnp.broadcast_to(jnp.asarray(baseline, x.dtype), x.shape)
    return _attribution_maps(params, x, jnp.asarray(target), key, baseline, noise,
                             activation=activation, n_steps=n_steps, n_samples=n_samples)


@partial(jax.jit, static_argnames=("activation", "n_steps", "n_samples"))
def _attribution_maps(params, x, target, key, baseline, noise, activation, n_steps,
                      n_samples):
    def one(x, target, key, baseline):
        f = class_logit(params, target, activation)
        ig = integrated_gradients(f, x, baseline, n_steps)
        return AttributionMaps(
            saliency(f, x), input_x_gradient(f, x), ig,
            smoothgrad(f, x, key, n_samples, noise), f(x),
            completeness_delta(f, ig, x, baseline))

    return jax.vmap(one)(x, target, jax.random.split(key, x.shape[0]), baseline)


def attribution_maps_float64(
    params: dict,
    x: jax.Array,
    target: jax.Array,
    key: jax.Array,
    activation: str = "tanh",
    baseline: jax.Array | None = None,
    n_steps: int = 32,
    n_samples: int = 25,
    noise: float = 0.15,
) -> AttributionMaps:
    """`attribution_maps` computed in float64 (parameters, inputs and baseline are cast
    under `jax.enable_x64`); the fields are float64 NumPy arrays.

    In float32, sum(IG) - (f(x) - f(x')) is rounding noise of about 1e-7 |f|: where
    f(x) - f(x') is not much larger (a network whose output hardly depends on its
    input), completeness can only be checked in float64. Same shapes and arguments as
    `attribution_maps` (SmoothGrad's noise is drawn in float64: other samples, same key).
    """
    with jax.enable_x64(True):
        as64 = lambda a: jnp.asarray(a, jnp.float64)  # noqa: E731
        maps = attribution_maps(jax.tree.map(as64, params), as64(x), jnp.asarray(target),
                                key, activation, None if baseline is None else as64(baseline),
                                n_steps, n_samples, noise)
        return AttributionMaps(*(np.asarray(field) for field in maps))
