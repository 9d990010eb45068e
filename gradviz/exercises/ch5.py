"""Chapter 5, attribution: a Gauss-Legendre rule whose weights were not rescaled, what a
first-order rule costs against the midpoint rule, and how few Gauss-Legendre steps reach
completeness; and two functions to write: integrated gradients with the midpoint rule,
and single-pixel occlusion (checked against gradviz.attribution).
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np

from gradviz import attribution
from gradviz.data import digits
from gradviz.exercises.base import CodeExercise, Exercise
from gradviz.models import init_mlp

_CH5_GAUSS_POINTS = 8  # exercise 1's rule


def _ch5_unscaled_gauss_ratio(n: int = _CH5_GAUSS_POINTS) -> float:
    """sum(IG) / (f(x) - f(0)) on a linear f for NumPy's Gauss-Legendre rule on [-1, 1],
    its nodes mapped to [0, 1] but its weights left as they are."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    rule = attribution.Quadrature((nodes + 1) / 2, weights)
    w = jnp.linspace(-1.0, 2.0, 64)
    x = digits(1).x[0]
    ig = attribution.integrated_gradients_with_rule(lambda v: v @ w, x, None, rule)
    return float(ig.sum() / (x @ w))


@cache
def _ch5_network() -> tuple:
    """The tanh MLP of exercises 2 and 3 (width 64, depth 2, key 0) and the first digit, as
    NumPy arrays, made as a learner makes them: with float64 off (under enable_x64 the
    same key would draw other, float64, weights)."""
    with jax.enable_x64(False):
        params = init_mlp(jax.random.PRNGKey(0), 64, 64, 2, 10)
        return jax.tree.map(np.asarray, params), np.asarray(digits(1).x[0])


def _ch5_logit():
    """The logit of class 3 of `_ch5_network`'s MLP in float64, and the first digit in
    float64: call inside jax.enable_x64(True)."""
    params, x = _ch5_network()
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
    return attribution.class_logit(params, 3, "tanh"), jnp.asarray(x, jnp.float64)


@cache
def _ch5_error(method: str, n_steps: int) -> float:
    """|completeness error| of `method` with n_steps on `_ch5_logit`'s f, in float64."""

    def delta(x):
        ig = attribution.integrated_gradients(f, x, n_steps=n_steps, method=method)
        return attribution.completeness_delta(f, ig, x)

    with jax.enable_x64(True):
        f, x = _ch5_logit()
        return abs(float(jax.jit(delta)(x)))  # one compilation, not one per operation


_CH5_MIDDLE_STEPS = 8  # exercise 2: the midpoint rule's error at this many steps is the target


def _ch5_left_steps(probe: int = 1024) -> int:
    """About how many left-Riemann steps reach the midpoint rule's error at
    _CH5_MIDDLE_STEPS steps: the left rule's error is c / n to within a fraction of a
    percent at these n, c measured at n = probe."""
    target = _ch5_error("middle", _CH5_MIDDLE_STEPS)
    return int(np.ceil(probe * _ch5_error("left", probe) / target))


@cache
def _ch5_gauss_steps(tolerance: float = 1e-6) -> int:
    return next(n for n in range(1, 65) if _ch5_error("gauss-legendre", n) < tolerance)


# --------------------------------------------------------------------------- coding


@dataclass(frozen=True, eq=False)
class Scalar:
    """A scalar function of one input x (JAX-traceable), shown in messages by its
    description."""

    description: str
    f: Callable

    def __call__(self, x):
        return self.f(x)

    def __repr__(self) -> str:
        return self.description


def _functions() -> dict:
    """The functions the coding exercises' inputs use: a small tanh MLP's logit (6
    inputs), a softplus sum (6 inputs), and a function of a (2, 3) image."""
    params = init_mlp(jax.random.PRNGKey(5), 6, 8, 2, 3, init="xavier", bias_scale=0.5)
    w_list, w_image_list = [0.5, -1.0, 1.5, 2.0, -0.5, 1.0], [[1.0, -2.0, 0.5], [0.3, 1.2, -0.7]]
    w, w_image = np.array(w_list, np.float32), np.array(w_image_list, np.float32)
    return {
        "mlp": Scalar("the logit of class 1 of a tanh MLP (6 inputs, 2 hidden layers of 8)",
                      attribution.class_logit(params, 1, "tanh")),
        "softplus": Scalar(f"f(x) = sum(softplus(w * x)), w = {w_list}",
                           lambda x: jnp.sum(jax.nn.softplus(w * x))),
        "image": Scalar(f"f(x) = sum(tanh(x) * w) + x[0, 0] * x[1, 2] for x: (2, 3), "
                        f"w = {w_image_list}",
                        lambda x: jnp.sum(jnp.tanh(x) * w_image) + x[0, 0] * x[1, 2]),
    }


def _vector(rng, n: int = 6) -> np.ndarray:
    return np.round(rng.normal(size=n), 2).astype(np.float32)


def _integrated_gradients_cases() -> list[dict]:
    rng = np.random.default_rng(1)
    f = _functions()
    x_equal = _vector(rng)
    baseline_equal = _vector(rng)
    baseline_equal[[1, 4]] = x_equal[[1, 4]]  # two features already at their baseline
    return [
        {"f": f["mlp"], "x": _vector(rng), "baseline": np.zeros(6, np.float32), "n_steps": 4},
        {"f": f["mlp"], "x": _vector(rng), "baseline": _vector(rng), "n_steps": 1},
        {"f": f["softplus"], "x": x_equal, "baseline": baseline_equal, "n_steps": 7},
    ]


def _integrated_gradients_midpoint(f, x, baseline, n_steps):
    """The reference: gradviz's integrated gradients with the midpoint ("middle") rule."""
    return attribution.integrated_gradients(f, jnp.asarray(x), jnp.asarray(baseline),
                                            n_steps, "middle")


def _occlusion_cases() -> list[dict]:
    rng = np.random.default_rng(2)
    f = _functions()
    return [
        {"f": f["mlp"], "x": _vector(rng), "baseline": np.zeros(6, np.float32)},
        {"f": f["mlp"], "x": _vector(rng), "baseline": _vector(rng)},
        {"f": f["image"], "x": _vector(rng).reshape(2, 3),
         "baseline": np.zeros((2, 3), np.float32)},
    ]


def _single_pixel_occlusion(f, x, baseline):
    """The reference: gradviz's occlusion with windows of one feature."""
    return attribution.occlusion(f, jnp.asarray(x), jnp.asarray(baseline))


EXERCISES = [
    Exercise(
        name="ch5_unscaled_gauss",
        question="np.polynomial.legendre.leggauss(n) gives Gauss-Legendre nodes t and "
                 "weights for the interval [-1, 1]. Map the nodes to [0, 1] with "
                 "alpha = (t + 1) / 2 but keep the weights as they are, n = "
                 f"{_CH5_GAUSS_POINTS}: on a linear f, what is sum(IG) / (f(x) - f(x'))?",
        hint="On a linear f every gradient along the path is the same w, so IG is "
             "(x - x') * w times the sum of the weights. What must the weights of a rule "
             "on an interval sum to? Check with np.polynomial.legendre.leggauss(8)[1].sum(), "
             "or with attribution.integrated_gradients_with_rule(f, x, None, "
             "attribution.Quadrature(alphas, weights)).",
        truth=_ch5_unscaled_gauss_ratio,
        accepts=lambda answer, truth: abs(float(answer) - truth) <= 0.02 * abs(truth),
        because=lambda truth: f"{truth:.3f}: the weights of a rule sum to the length of its "
                              "interval, 2 for [-1, 1]; mapping the nodes to [0, 1] "
                              "halves that length, so the weights must be halved too "
                              "(gradviz's quadrature does: weights / 2). Unhalved, every "
                              "attribution is twice too large, on any f.",
    ),
    Exercise(
        name="ch5_left_steps",
        question="A tanh MLP (gv.init_mlp(jax.random.PRNGKey(0), 64, 64, 2, 10), "
                 "untrained), the logit of class 3, the first digit of gv.data.digits() (a "
                 "training digit, x_train[0], not the chapter's x_test[0]), zero baseline, "
                 "float64: make the network and the digit outside jax.enable_x64 (inside it "
                 "the same key draws other weights) and cast them to float64 inside it. "
                 "The midpoint ('middle') rule reaches some "
                 f"completeness error with {_CH5_MIDDLE_STEPS} steps. About how many steps "
                 "does the left Riemann sum need to get its error down to that? (An answer "
                 "within a factor 1.5 of the measured count is accepted.)",
        hint="Measure |completeness_delta| of the middle rule at 8 steps, then the left "
             "rule's at a few n (inside `with jax.enable_x64(True):`, with "
             "attribution.class_logit(params64, 3, 'tanh'), params64 = jax.tree.map(lambda "
             "a: jnp.asarray(a, jnp.float64), params) of the network made outside it): it "
             "falls like c / n, so one large n gives c, and c / target gives the steps.",
        truth=_ch5_left_steps,
        accepts=lambda answer, truth: abs(np.log(float(answer) / truth)) <= np.log(1.5),
        because=lambda truth: f"about {truth} steps: a first-order rule's error falls like "
                              "1/n, the midpoint rule's like 1/n^2, so the left sum needs "
                              f"some {truth / _CH5_MIDDLE_STEPS:.0f} times more gradient "
                              "evaluations for the same error, and the gap widens as the "
                              "target shrinks.",
    ),
    Exercise(
        name="ch5_gauss_steps",
        question="The same tanh MLP (gv.init_mlp(jax.random.PRNGKey(0), 64, 64, 2, 10)), "
                 "the logit of class 3, the first digit, zero baseline, float64: with how few "
                 "Gauss-Legendre steps is the completeness error below 1e-6?",
        hint="Loop over n_steps = 1, 2, 3, ... with attribution.integrated_gradients(f, x, "
             "n_steps=n) and attribution.completeness_delta inside "
             "`with jax.enable_x64(True):`, using attribution.class_logit(params64, 3, 'tanh') "
             "with the network made outside enable_x64 and cast to float64 inside "
             "(exercise 2's hint).",
        truth=_ch5_gauss_steps,
        accepts=lambda answer, truth: (int(answer) <= truth + 1
                                       and _ch5_error("gauss-legendre", int(answer)) < 1e-6),
        because=lambda truth: f"{truth} steps: error {_ch5_error('gauss-legendre', truth):.1e}"
                              f" (the middle rule at {truth} steps: "
                              f"{_ch5_error('middle', truth):.1e}).",
    ),
    CodeExercise(
        name="ch5_integrated_gradients_midpoint",
        task="integrated_gradients_midpoint(f, x, baseline, n_steps) returns integrated "
             "gradients with the midpoint rule: (x - baseline) times the mean of "
             "jax.grad(f) at the n_steps points baseline + alpha_k (x - baseline), "
             "alpha_k = (k + 1/2) / n_steps, k = 0 ... n_steps - 1. f: a scalar function of "
             "one input (JAX); x, baseline: float32 arrays of one shape; returns x's shape.",
        hint="grad = jax.grad(f); average grad(baseline + alpha * (x - baseline)) over the "
             "alphas (a loop, or jax.vmap(grad) over the stacked points), then multiply by "
             "(x - baseline). Check: the result sums to about f(x) - f(baseline).",
        reference=_integrated_gradients_midpoint,
        cases=_integrated_gradients_cases,
        because="the same as attribution.integrated_gradients(f, x, baseline, n_steps, "
                "'middle'): each interval of [0, 1] is sampled at its middle, which cancels "
                "the first-order error of the left and right sums, and a feature equal to "
                "its baseline gets exactly 0.",
        rtol=1e-4,
        atol=1e-6,
    ),
    CodeExercise(
        name="ch5_occlusion",
        task="occlude_each(f, x, baseline) returns, for every feature i of x, f(x) - f(x "
             "with feature i set to baseline[i]): how much f drops when that one pixel is "
             "occluded. f: a scalar function of one input (JAX); x, baseline: float32 "
             "arrays of one shape, any number of axes; returns x's shape.",
        hint="Loop over np.ndindex(x.shape): copy x (np.array(x)), set the one feature to "
             "the baseline's value, and subtract f of the copy from f(x). Start from a "
             "fresh copy for every feature.",
        reference=_single_pixel_occlusion,
        cases=_occlusion_cases,
        because="the same as attribution.occlusion(f, x, baseline) with one-feature "
                "windows: no gradient, one evaluation of f per feature. Unlike integrated "
                "gradients it need not add up to f(x) - f(baseline): occluding two "
                "features together is not the sum of occluding each.",
        rtol=1e-4,
        atol=1e-5,
    ),
]
