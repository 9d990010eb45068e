"""Integrated gradients (Sundararajan et al., 2017) and the quadrature rules behind them.

    integrated_gradients = (x - x') * int_0^1 df/dx(x' + a (x - x')) da

They are *complete*: they sum to f(x) - f(x') (the fundamental theorem of calculus along
the straight path). A quadrature rule approximates the integral as
sum_k weights[k] * df/dx(x' + alphas[k] (x - x')); its weights must sum to 1 (the length
of [0, 1]), or even a linear f misses completeness. All the gradients along the path are
one vmapped `jax.grad`. `convergence` tabulates every rule's completeness error against
the number of steps. f and x are as in gradviz.attribution.
"""

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradviz.validate import (
    check_baseline,
    check_choice,
    check_finite_input,
    check_int_range,
    check_scalar_function,
)

METHODS: tuple[str, ...] = ("gauss-legendre", "left", "middle", "right", "trapezoid")
MAX_STEPS = 10_000


class Quadrature(NamedTuple):
    """A rule for integrals over [0, 1]: int_0^1 g(a) da ~ sum_k weights[k] g(alphas[k]).

    alphas, weights: (n_points,) float64 NumPy arrays; the weights sum to 1.
    """

    alphas: np.ndarray
    weights: np.ndarray


def quadrature(method: str = "gauss-legendre", n_steps: int = 32) -> Quadrature:
    """The nodes and weights of `method` with `n_steps` points (gradient evaluations).

    - "left", "right", "middle": Riemann sums on n equal intervals, evaluated at each
      interval's left end, right end or middle; weights 1/n. Errors: O(1/n), O(1/n), O(1/n^2).
    - "trapezoid": n points from 0 to 1 (n - 1 intervals, n >= 2), end weights halved:
      weights (1/2, 1, ..., 1, 1/2) / (n - 1). Error O(1/n^2). (Giving every point 1/n
      and halving the ends, as one known library does, makes the weights sum to
      (n - 1)/n: completeness is then missed by (f(x) - f(x'))/n even for a linear f.)
    - "gauss-legendre": NumPy's Gauss-Legendre nodes and weights mapped from [-1, 1] to
      [0, 1]: exact for polynomials of degree 2n - 1, error falls faster than any power
      of 1/n for smooth f.
    """
    index = check_choice("integration method", method, METHODS)
    low = 2 if method == "trapezoid" else 1
    if method == "trapezoid" and n_steps == 1:
        raise ValueError("the trapezoid rule needs n_steps >= 2 (its two end points), got 1")
    n = check_int_range("n_steps", n_steps, low, MAX_STEPS)
    method = METHODS[index]
    if method == "gauss-legendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return Quadrature((nodes + 1) / 2, weights / 2)
    if method == "trapezoid":
        weights = np.full(n, 1.0 / (n - 1))
        weights[[0, -1]] /= 2
        return Quadrature(np.linspace(0.0, 1.0, n), weights)
    offset = {"left": 0.0, "middle": 0.5, "right": 1.0}[method]
    return Quadrature((np.arange(n) + offset) / n, np.full(n, 1.0 / n))


def integrated_gradients(
    f: Callable,
    x: jax.Array,
    baseline: jax.Array | None = None,
    n_steps: int = 32,
    method: str = "gauss-legendre",
) -> jax.Array:
    """(x - x') times the average of df/dx along the straight path from x' to x.

    baseline x': x's shape, default zeros. `method` and `n_steps` choose the quadrature
    rule (see `quadrature`); n_steps is the number of gradient evaluations. The result
    sums to f(x) - f(x') up to the rule's error (see `completeness_delta`).
    """
    x = check_finite_input(x)
    check_scalar_function(f, x)
    baseline = check_baseline(baseline, x)
    return path_integral(f, x, baseline, quadrature(method, n_steps))


def integrated_gradients_with_rule(
    f: Callable, x: jax.Array, baseline: jax.Array | None, rule: Quadrature
) -> jax.Array:
    """Integrated gradients with any quadrature rule: alphas, weights of shape (n_points,).

    Points with weight 0 add nothing, so rules of different lengths padded to one length
    (e.g. with alpha 0, weight 0) share one compiled function under jit/vmap.
    """
    x = check_finite_input(x)
    check_scalar_function(f, x)
    baseline = check_baseline(baseline, x)
    alphas, weights = rule
    if np.ndim(alphas) != 1 or np.shape(alphas) != np.shape(weights):
        raise ValueError("rule must hold alphas and weights of one shape (n_points,), got "
                         f"{np.shape(alphas)} and {np.shape(weights)}")
    return path_integral(f, x, baseline, rule)


def path_integral(f: Callable, x: jax.Array, baseline: jax.Array, rule: Quadrature) -> jax.Array:
    """(x - baseline) * sum_k weights[k] df/dx(baseline + alphas[k] (x - baseline)), unchecked:
    x, baseline of one shape, rule's alphas and weights (n_points,). One vmapped jax.grad."""
    alphas = jnp.asarray(rule.alphas, x.dtype)
    weights = jnp.asarray(rule.weights, x.dtype)
    along = alphas.reshape((-1,) + (1,) * x.ndim)
    path = baseline + along * (x - baseline)  # (n_points, *x.shape)
    gradients = jax.vmap(jax.grad(f))(path)  # all the points at once
    return (x - baseline) * jnp.tensordot(weights, gradients, axes=1)


def completeness_delta(
    f: Callable, attributions: jax.Array, x: jax.Array, baseline: jax.Array | None = None
) -> jax.Array:
    """sum(attributions) - (f(x) - f(baseline)): 0 for exact integrated gradients.

    Its size is the completeness error; baseline default zeros. Returns a scalar.
    """
    x = check_finite_input(x)
    check_scalar_function(f, x)
    baseline = check_baseline(baseline, x)
    if np.shape(attributions) != x.shape:
        raise ValueError(f"attributions must have x's shape {x.shape}, got shape "
                         f"{np.shape(attributions)}")
    return jnp.sum(attributions) - (f(x) - f(baseline))


class Convergence(NamedTuple):
    """Integrated gradients of one x for every rule and every step count up to a maximum."""

    methods: tuple  # the rules, in the order of the first axis below
    n_steps: np.ndarray  # (max_steps,) 1, 2, ..., max_steps
    attributions: jax.Array  # (methods, max_steps, *x.shape); NaN where a rule is undefined
    delta: jax.Array  # (methods, max_steps) completeness_delta; NaN where undefined


def convergence(
    f: Callable, x: jax.Array, baseline: jax.Array | None = None, max_steps: int = 64,
    methods: tuple = METHODS,
) -> Convergence:
    """Integrated gradients with each rule in `methods` and n_steps = 1..max_steps.

    All of them in one vmapped call: each rule is padded to max_steps points with weight
    0 (which add nothing). The trapezoid rule needs 2 points: its row for 1 step is NaN.
    Run it under `jax.enable_x64(True)` with float64 x to see errors below float32's.
    """
    x = check_finite_input(x)
    check_scalar_function(f, x)
    baseline = check_baseline(baseline, x)
    max_steps = check_int_range("max_steps", max_steps, 1, 1000)
    methods = tuple(METHODS[check_choice("integration method", m, METHODS)] for m in methods)
    alphas = np.zeros((len(methods), max_steps, max_steps))
    weights = np.zeros_like(alphas)
    defined = np.ones((len(methods), max_steps), bool)
    for i, method in enumerate(methods):
        for n in range(1, max_steps + 1):
            if method == "trapezoid" and n == 1:
                defined[i, 0] = False
                continue
            rule = quadrature(method, n)
            alphas[i, n - 1, :n], weights[i, n - 1, :n] = rule.alphas, rule.weights
    flat = Quadrature(alphas.reshape(-1, max_steps), weights.reshape(-1, max_steps))
    every_rule = jax.vmap(lambda a, w: path_integral(f, x, baseline, Quadrature(a, w)))
    maps = jax.jit(every_rule)(*map(partial(jnp.asarray, dtype=x.dtype), flat))
    maps = maps.reshape(len(methods), max_steps, *x.shape)
    delta = jnp.sum(maps.reshape(len(methods), max_steps, -1), axis=-1) - (f(x) - f(baseline))
    nan = jnp.asarray(np.where(defined, 0.0, np.nan), x.dtype)
    return Convergence(methods, np.arange(1, max_steps + 1),
                       maps + nan.reshape(nan.shape + (1,) * x.ndim), delta + nan)
