"""Chapter 4, gradient checking: Richardson's trick on the one-sided difference, the planted
'mystery' bug of `gradviz.examples.two_layer_backward`, the best float32 step for a loss
with an offset; and two functions to write: a central-difference gradient with a step
right for float64 (checked against jax.grad), and the relative error of a check.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from gradviz.examples import two_layer_backward, two_layer_example, two_layer_loss
from gradviz.exercises.base import CodeExercise, Exercise
from gradviz.gradcheck import check_gradients, relative_error, step_size_sweep


def _ch4_two_layer_sweep(eps_values, dtype: str = "float64", offset: float = 0.0):
    """The step-size sweep of the chapter's two-layer network (key 0), its loss plus
    `offset` (which leaves the gradient unchanged)."""
    params, x, y = two_layer_example(jax.random.PRNGKey(0))

    def loss(p, x, y):
        return two_layer_loss(p, x, y) + offset

    return step_size_sweep(loss, params, x, y, eps_values=eps_values, dtype=dtype)


@cache
def _ch4_one_sided_richardson_errors(n_directions: int = 8) -> dict:
    """eps -> the largest relative error, over random unit directions v, of Richardson's
    trick on the one-sided difference, r(eps) = 2 d(eps) - d(2 eps) with
    d(eps) = (f(p + eps v) - f(p)) / eps, for the two-layer network's directional
    derivative in float64; eps = 1e-1 and 1e-2."""
    params, x, y = two_layer_example(jax.random.PRNGKey(0))
    with jax.enable_x64(True):
        params, x, y = jax.tree.map(lambda a: jnp.asarray(np.asarray(a, np.float64)),
                                    (params, x, y))
        theta, unravel = ravel_pytree(params)

        loss = jax.jit(lambda t: two_layer_loss(unravel(t), x, y))

        def f(t):
            return float(loss(t))

        v = np.random.default_rng(0).standard_normal((n_directions, theta.size))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        exact = v @ np.asarray(jax.grad(loss)(theta))
        center = f(theta)

        def one_sided(eps):
            return np.array([(f(theta + eps * d) - center) / eps for d in v])

        return {eps: float(np.max(np.abs(2 * one_sided(eps) - one_sided(2 * eps) - exact)
                                  / np.abs(exact))) for eps in (1e-1, 1e-2)}


def _ch4_one_sided_shrink() -> float:
    """How many times smaller r's error is at eps = 1e-2 than at eps = 1e-1."""
    errors = _ch4_one_sided_richardson_errors()
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


# --------------------------------------------------------------------------- coding


@dataclass(frozen=True)
class Formula:
    """A scalar function of a float64 vector, written once for NumPy and JAX: of(xp, x)
    with xp = numpy or jax.numpy. Called, it evaluates in NumPy (float64); `jax_grad`
    is its exact gradient by jax.grad in float64. Shows as its formula in messages."""

    formula: str
    of: Callable

    def __call__(self, x) -> float:
        return float(self.of(np, np.asarray(x, np.float64)))

    def jax_grad(self, x) -> np.ndarray:
        with jax.enable_x64(True):
            return np.asarray(jax.grad(lambda v: self.of(jnp, v))(jnp.asarray(x, jnp.float64)))

    def __repr__(self) -> str:
        return self.formula


def _exact_gradient(f: Formula, x) -> np.ndarray:
    """The reference of ch4_central_difference: jax.grad of f at x, in float64."""
    return f.jax_grad(x)


def _central_difference_cases() -> list[dict]:
    rng = np.random.default_rng(4)
    w = np.round(rng.normal(size=(3, 5)), 2)
    formulas = [
        Formula("f(x) = sum(sin(x) * x**2)", lambda xp, x: xp.sum(xp.sin(x) * x**2)),
        Formula("f(x) = log(sum(exp(x)))", lambda xp, x: xp.log(xp.sum(xp.exp(x)))),
        Formula("f(x) = sum(exp(2 x)) / 4", lambda xp, x: xp.sum(xp.exp(2 * x)) / 4),
        Formula(f"f(x) = sum(tanh(W @ x)), W = {w.tolist()}",
                lambda xp, x: xp.sum(xp.tanh(xp.asarray(w) @ x))),
        Formula("f(x) = sum(x**3) / 3 + 2", lambda xp, x: xp.sum(x**3) / 3 + 2.0),
    ]
    cases = [{"f": f, "x": np.round(rng.normal(size=5), 3)} for f in formulas]
    cases[-1]["x"][2] = 0.0  # a coordinate whose gradient is exactly 0
    return cases


def _relative_error_cases() -> list[dict]:
    rng = np.random.default_rng(0)
    a = np.round(rng.normal(size=5), 3)
    return [
        {"analytic": a, "numerical": np.round(a * (1 + 0.01 * rng.normal(size=5)), 5)},
        {"analytic": np.array([0.0, 0.0, 1.0, -2.0, 3.0]),  # 0/0, one 0, equal, sign
         "numerical": np.array([0.0, 1e-3, 0.0, -2.0, -3.0])},
        {"analytic": np.array([-1.0, -4.0, -0.5]), "numerical": np.array([-1.1, -3.9, -0.6])},
        {"analytic": np.array([2e-12, -3e-13]), "numerical": np.array([1e-12, -3.3e-13])},
    ]


EXERCISES = [
    Exercise(
        name="ch4_one_sided_richardson",
        question="Richardson's trick on the one-sided difference d(eps) = (f(p + eps v) - "
                 "f(p)) / eps: r(eps) = 2 d(eps) - d(2 eps). The two-layer network of this "
                 "chapter, float64, random unit directions v: how many times smaller is the "
                 "relative error of r at eps = 1e-2 than at eps = 1e-1?",
        hint="Expand d(eps) = f' + eps f''/2 + eps^2 f'''/6 + ... and d(2 eps) the same way: "
             "which term does 2 d(eps) - d(2 eps) cancel, and which power of eps is left? "
             "Then measure in float64: theta, unravel = jax.flatten_util.ravel_pytree(p64) "
             "with p64 the parameters as float64, f(t) = two_layer_loss(unravel(t), x2, y2) "
             "inside `with jax.enable_x64(True):`, the exact slope jax.grad(f)(theta) @ v.",
        truth=_ch4_one_sided_shrink,
        accepts=lambda answer, truth: abs(np.log10(float(answer) / truth)) <= 0.3,
        because=lambda truth: f"measured about {truth:.0f} times: the eps f''/2 terms cancel "
                              "(2 x eps/2 - 2 eps/2 = 0), so r's error is O(eps^2), like the "
                              "central difference's, and a 10 times smaller step gives an "
                              "error about 10^2 times smaller. But r needs f(p), f(p + eps v) "
                              "and f(p + 2 eps v), and its error, -eps^2 f'''/3, is twice "
                              "the central difference's eps^2 f'''/6: nothing gained over "
                              "the central difference. Applied to central differences, "
                              "the same trick cancels their eps^2 term and leaves O(eps^4).",
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
    CodeExercise(
        name="ch4_central_difference",
        task="central_difference(f, x) returns the gradient of f at x by central "
             "differences, (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for each coordinate "
             "i, with a step eps right for float64. f: a function from a float64 array "
             "x of shape (n,) to a number. Returns a NumPy array of shape (n,). It is "
             "compared with jax.grad in float64, to a relative 1e-8: close enough that a "
             "forward difference, or a central one with a step far from the best, fails; "
             "steps from about 1e-7 to 5e-5 pass (some of these functions have larger "
             "third derivatives than the chapter's network). Work in NumPy: jnp arrays "
             "are float32 unless float64 is switched on. (Subtract f.jax_grad(x), the "
             "exact gradient, from your result to see your error directly.)",
        hint="Loop over i: e = np.zeros_like(x); e[i] = eps. Which step? Section 2: the "
             "error is about eps^2 |f'''| / 6 + machine_eps |f| / eps, smallest near "
             "machine_eps^(1/3), np.finfo(np.float64).eps ** (1 / 3) (about 6e-6).",
        reference=_exact_gradient,
        cases=_central_difference_cases,
        because="your central differences agree with jax.grad to a relative 1e-8. At a "
                "step near machine_eps^(1/3) the truncation eps^2 f'''/6 and the round-off "
                "machine_eps |f| / eps are both about 1e-11; at 1e-4, truncation is "
                "already above the tolerance on some of these functions. A forward "
                "difference at its own best step, about machine_eps^(1/2), is off by "
                "1e-8 to 1e-7.",
        rtol=1e-8,
        atol=3e-9,
    ),
    CodeExercise(
        name="ch4_relative_error",
        task="my_relative_error(analytic, numerical) returns |a - n| / max(|a|, |n|) "
             "elementwise, and 0 where a = n = 0 (two zeros agree). analytic, numerical: "
             "float64 arrays of one shape; returns an array of that shape.",
        hint="What is the scale where a = n = 0, and what must the error be there? Avoid "
             "adding a small number to the scale: it changes the error of small gradients, "
             "which is what the check must judge.",
        reference=relative_error,
        cases=_relative_error_cases,
        because="the same as gradviz.gradcheck.relative_error: symmetric in a and n, "
                "unchanged when both are scaled by the same factor (so a gradient of 1e-12 "
                "is judged like one of 1), at most 2, and 0 for two zeros (which "
                "check_gradients then reports as unresolved: no relative error can be "
                "measured between them).",
    ),
]
