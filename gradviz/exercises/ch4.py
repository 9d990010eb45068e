"""Chapter 4, gradient checking: Richardson's extrapolation, the planted 'mystery' bug of
`gradviz.examples.two_layer_backward`, and the best float32 step for a loss with an offset.
"""

from functools import cache

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from gradviz.examples import two_layer_backward, two_layer_example, two_layer_loss
from gradviz.exercises.base import Exercise
from gradviz.gradcheck import check_gradients, step_size_sweep


def _ch4_two_layer_sweep(eps_values, dtype: str = "float64", offset: float = 0.0):
    """The step-size sweep of the chapter's two-layer network (key 0), its loss plus
    `offset` (which leaves the gradient unchanged)."""
    params, x, y = two_layer_example(jax.random.PRNGKey(0))

    def loss(p, x, y):
        return two_layer_loss(p, x, y) + offset

    return step_size_sweep(loss, params, x, y, eps_values=eps_values, dtype=dtype)


@cache
def _ch4_richardson_errors(n_directions: int = 8) -> dict:
    """eps -> the largest relative error, over random unit directions v, of Richardson's
    extrapolation (4 n(eps) - n(2 eps)) / 3 of the two-layer network's directional
    derivative (float64), n(eps) its central difference; eps = 1e-1 and 1e-2."""
    params, x, y = two_layer_example(jax.random.PRNGKey(0))
    with jax.enable_x64(True):
        params, x, y = jax.tree.map(lambda a: jax.numpy.asarray(np.asarray(a, np.float64)),
                                    (params, x, y))
        theta, unravel = ravel_pytree(params)

        def f(t):
            return two_layer_loss(unravel(t), x, y)

        v = np.random.default_rng(0).standard_normal((n_directions, theta.size))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        exact = v @ np.asarray(jax.grad(f)(theta))

        def central(eps):
            return np.array([float(f(theta + eps * d) - f(theta - eps * d)) / (2 * eps)
                             for d in v])

        return {eps: float(np.max(np.abs((4 * central(eps) - central(2 * eps)) / 3 - exact)
                                  / np.abs(exact))) for eps in (1e-1, 1e-2)}


def _ch4_richardson_shrink() -> float:
    """How many times smaller Richardson's error is at eps = 1e-2 than at eps = 1e-1."""
    errors = _ch4_richardson_errors()
    return errors[1e-1] / errors[1e-2]


def _ch4_mystery_leaf() -> str:
    params, x, y = two_layer_example(jax.random.PRNGKey(0))
    report = check_gradients(
        two_layer_loss, params, x, y,
        grads=lambda p, x, y: two_layer_backward(p, x, y, bug="mystery"))
    return report.worst.path


_CH4_OFFSET = 1000.0  # added to the loss in exercise 3


@cache
def _ch4_float32_errors() -> dict:
    """float32 error of the central difference of the two-layer network's loss plus
    _CH4_OFFSET, at eps = 10^-k, k = 0..8."""
    eps = [10.0**-k for k in range(9)]
    return dict(zip(eps, _ch4_two_layer_sweep(eps, "float32", _CH4_OFFSET).error,
                    strict=True))


def _ch4_good_float32_eps(answer) -> bool:
    errors = _ch4_float32_errors()
    match = [err for eps, err in errors.items() if np.isclose(eps, float(answer), rtol=1e-6)]
    return bool(match) and match[0] <= 3 * min(errors.values())


EXERCISES = [
    Exercise(
        name="ch4_richardson_shrink",
        question="The two-layer network of this chapter, float64: how many times smaller "
                 "is the relative error of Richardson's extrapolation (4 n(eps) - n(2 eps)) "
                 "/ 3, n the central difference, at eps = 1e-2 than at eps = 1e-1?",
        hint="Write the Taylor expansion of the central difference up to its eps^4 term, "
             "and combine n(eps) and n(2 eps) as the formula does: which power of eps "
             "survives? Then measure along a random unit direction v (the exact slope is "
             "jax.grad(...) @ v), in float64.",
        truth=_ch4_richardson_shrink,
        accepts=lambda answer, truth: abs(np.log10(float(answer) / truth)) <= 0.3,
        because=lambda truth: f"measured about {truth:.0e} times: the eps^2 terms cancel, "
                              "so the error is O(eps^4), and a 10 times smaller step gives "
                              "an error about 10^4 times smaller (until round-off takes "
                              "over).",
    ),
    Exercise(
        name="ch4_mystery_leaf",
        question="examples.two_layer_backward(params, x, y, bug='mystery') has one more "
                 "planted bug. Which parameter's gradient does it corrupt (W1, b1, W2 or "
                 "b2)?",
        hint="Pass grads=lambda p, x, y: two_layer_backward(p, x, y, bug='mystery') to "
             "check_gradients and read the verdict column (or report.worst.path).",
        truth=_ch4_mystery_leaf,
        accepts=lambda answer, truth: str(answer).strip().strip("'\"[]").lower()
        == truth.lower(),
        because=lambda truth: f"{truth}: the only 'wrong' row. Its analytic value is m = 8 "
                              "times too small: d_out.mean(axis=0) already divides by m, "
                              "and the line divides once more.",
    ),
    Exercise(
        name="ch4_float32_eps",
        question=f"The two-layer network's loss plus {_CH4_OFFSET:g} (a constant: the "
                 "gradient does not change), in float32: which power of ten, eps = 1e-8, "
                 "1e-7, ..., 1e-1 or 1, gives central differences their smallest error "
                 "(within 3x of the best)?",
        hint="The constant leaves the gradient and the truncation error (~ eps^2) as they "
             "were, but round-off grows like machine_eps |f| / eps: how much larger is |f| "
             "now, and which way does that move the step where the two errors meet? "
             "Measure with step_size_sweep(lambda p, x, y: two_layer_loss(p, x, y) + "
             f"{_CH4_OFFSET:g}, params2, x2, y2, dtype='float32', eps_values=...).",
        truth=lambda: min((e for e, err in _ch4_float32_errors().items()),
                          key=_ch4_float32_errors().get),
        accepts=lambda answer, truth: _ch4_good_float32_eps(answer),
        because=lambda truth: f"eps = {truth:g}: the constant makes |f| some hundreds of "
                              "times larger, and with it the round-off machine_eps |f| / "
                              "eps; the best step, about (machine_eps |f| / |f'''|)^(1/3), "
                              "grows by the cube root of that. A constant in the loss "
                              "changes no gradient, yet it hurts the check.",
    ),
]
