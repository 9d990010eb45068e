"""Chapter 5, attribution: quadrature rules for integrated gradients and their
completeness error.
"""

from functools import cache

import jax
import numpy as np

from gradviz import attribution
from gradviz.data import digits
from gradviz.exercises.base import Exercise
from gradviz.models import init_mlp


def _ch5_trapezoid_miss(n: int = 20) -> float:
    """The fraction of f(x) - f(x') that IG misses, on a linear f, with a trapezoid rule
    whose n points all weigh 1/n except the halved ends."""
    weights = np.full(n, 1.0 / n)
    weights[[0, -1]] /= 2
    rule = attribution.Quadrature(np.linspace(0.0, 1.0, n), weights)
    w = jax.numpy.linspace(-1.0, 2.0, 64)
    x = digits(1).x[0]
    ig = attribution.integrated_gradients_with_rule(lambda v: v @ w, x, None, rule)
    return float(1 - ig.sum() / (x @ w))


def _ch5_logit():
    """The logit of class 3 of a tanh MLP (width 64, depth 2, key 0) in float64, and the
    first digit: call inside jax.enable_x64(True)."""
    params = init_mlp(jax.random.PRNGKey(0), 64, 64, 2, 10)
    params = jax.tree.map(lambda a: a.astype(np.float64), params)
    return attribution.class_logit(params, 3, "tanh"), digits(1).x[0].astype(np.float64)


def _ch5_error(method: str, n_steps: int) -> float:
    with jax.enable_x64(True):
        f, x = _ch5_logit()
        ig = attribution.integrated_gradients(f, x, n_steps=n_steps, method=method)
        return abs(float(attribution.completeness_delta(f, ig, x)))


def _ch5_middle_factor() -> float:
    return _ch5_error("middle", 16) / _ch5_error("middle", 32)


@cache
def _ch5_gauss_steps(tolerance: float = 1e-6) -> int:
    return next(n for n in range(1, 65) if _ch5_error("gauss-legendre", n) < tolerance)


EXERCISES = [
    Exercise(
        name="ch5_trapezoid_miss",
        question="A trapezoid rule on n = 20 points that gives every point the weight 1/n "
                 "and halves the two end weights: on a linear f, what fraction of "
                 "f(x) - f(baseline) do its integrated gradients miss?",
        hint="On a linear f every gradient along the path is the same w, so IG is "
             "(x - baseline) * w times the sum of the weights. Add them up.",
        truth=_ch5_trapezoid_miss,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.05 * truth,
        because=lambda truth: f"the weights sum to 1 - {truth:.3f}, so the sum of the "
                              "attributions falls short by that fraction; spacing 1/(n - 1) "
                              "needs weights 1/(n - 1).",
    ),
    Exercise(
        name="ch5_middle_factor",
        question="Integrated gradients with the middle (midpoint) rule: doubling the number "
                 "of steps divides the completeness error by about what factor?",
        hint="Measure it: completeness_delta with n_steps=16 and 32 (in float64: "
             "with jax.enable_x64(True)), or read two points off the steps explorer. The "
             "middle rule's error falls like 1/n^p for some p.",
        truth=_ch5_middle_factor,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.5,
        because=lambda truth: f"measured {truth:.2f}: the middle rule's error falls like "
                              "1/n^2 on a smooth f, so doubling n divides it by about 4.",
    ),
    Exercise(
        name="ch5_gauss_steps",
        question="A tanh MLP (gv.init_mlp(jax.random.PRNGKey(0), 64, 64, 2, 10)), the logit "
                 "of class 3, the first digit, zero baseline, float64: with how few "
                 "Gauss-Legendre steps is the completeness error below 1e-6?",
        hint="Loop over n_steps = 1, 2, 3, ... with attribution.integrated_gradients(f, x, "
             "n_steps=n) and attribution.completeness_delta inside "
             "`with jax.enable_x64(True):`, using attribution.class_logit(params, 3, 'tanh').",
        truth=_ch5_gauss_steps,
        accepts=lambda answer, truth: (int(answer) <= truth + 1
                                       and _ch5_error("gauss-legendre", int(answer)) < 1e-6),
        because=lambda truth: f"{truth} steps: error {_ch5_error('gauss-legendre', truth):.1e}"
                              f" (the middle rule at {truth} steps: "
                              f"{_ch5_error('middle', truth):.1e}).",
    ),
]
