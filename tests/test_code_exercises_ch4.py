"""Chapter 4's coding exercises: the reference is accepted, a stub is 'not attempted yet',
typical wrong answers are rejected with the intended message, and the references agree
with independent computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradviz import exercises
from gradviz.exercises import ch4

EPS64 = np.finfo(np.float64).eps


def _differences(step: float, central: bool = True, denominator: float = 2.0):
    """A finite-difference gradient, right or wrong: central or forward, any step."""

    def gradient(f, x):
        g = np.zeros_like(x)
        for i in range(x.size):
            e = np.zeros_like(x)
            e[i] = step
            if central:
                g[i] = (f(x + e) - f(x - e)) / (denominator * step)
            else:
                g[i] = (f(x + e) - f(x)) / step
        return g

    return gradient


def central_difference(f, x):  # a learner's right answer
    return _differences(EPS64 ** (1 / 3))(f, x)


def _no_zero_handling(a, n):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(a - n) / np.maximum(np.abs(a), np.abs(n))


def _by_analytic_only(a, n):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(a - n) / np.abs(a)


def _smoothed(a, n):  # a small number added to the scale: small gradients misjudged
    return np.abs(a - n) / (np.maximum(np.abs(a), np.abs(n)) + 1e-8)


def _no_abs_in_scale(a, n):
    scale = np.maximum(a, n)
    return np.abs(a - n) / np.where(scale != 0, scale, 1.0)


WRONG_ANSWERS = {
    "ch4_central_difference": [
        (_differences(np.sqrt(EPS64), central=False), "expected ["),  # forward, its best step
        (_differences(1e-5, central=False), "expected ["),  # forward, the central's step
        (_differences(1e-10), "expected ["),  # central, round-off rules
        (_differences(1e-3), "expected ["),  # central, truncation rules
        (_differences(6e-6, denominator=1.0), "expected ["),  # divided by eps, not 2 eps
        (lambda f, x: _differences(6e-6)(f, x).sum(), "expected shape (5,), got shape ()"),
    ],
    "ch4_relative_error": [
        (_no_zero_handling, "got [nan"),
        (_by_analytic_only, "expected ["),
        (_smoothed, "expected ["),
        (_no_abs_in_scale, "expected ["),
        (lambda a, n: float(np.max(_smoothed(a, n))), "expected shape (5,), got shape ()"),
    ],
}


@pytest.mark.parametrize(("name", "wrong", "fragment"), [
    (name, wrong, fragment) for name, answers in WRONG_ANSWERS.items()
    for wrong, fragment in answers])
def test_a_typical_wrong_answer_is_rejected_with_its_message(name, wrong, fragment):
    feedback = exercises.check(name, wrong)
    assert not feedback.correct
    assert feedback.message.startswith("On input ") and fragment in feedback.message
    assert f"gv.exercises.hint({name!r})" in feedback.message


@pytest.mark.parametrize("name", list(WRONG_ANSWERS))
def test_the_reference_passes_and_a_stub_is_not_attempted(name):
    exercise = exercises.EXERCISES[name]
    assert exercises.check(name, exercise.reference).correct

    def stub(*args):
        ...

    def raises(*args):
        raise NotImplementedError

    for untouched in (stub, raises):
        feedback = exercises.check(name, untouched)
        assert not feedback and feedback.message.startswith("Not attempted yet")


def test_a_right_central_difference_passes_at_steps_near_the_best():
    # the chapter's prompt: steps from about 1e-7 to 5e-5 pass; section 2's best step on
    # the network (figure star about 4e-5) passes too
    for step in (1e-7, 2e-6, 6e-6, 1e-5, 4e-5, 5e-5):
        assert exercises.check("ch4_central_difference", _differences(step)).correct, step
    assert exercises.check("ch4_central_difference", central_difference).correct
    # ... and outside that range the step is rejected: 1e-4 (truncation on the functions
    # with large third derivatives, as the prompt says), 1e-8 (round-off)
    for step in (1e-4, 1e-8):
        assert not exercises.check("ch4_central_difference", _differences(step)).correct, step


def test_a_forward_difference_fails_at_any_step():
    for step in (1e-9, 1e-8, np.sqrt(EPS64), 1e-7, 1e-6, 1e-5, 4e-5):
        feedback = exercises.check("ch4_central_difference", _differences(step, central=False))
        assert not feedback.correct, step


def test_central_difference_cases_are_measured_against_jax_grad_in_float64():
    cases = ch4._central_difference_cases()
    assert len(cases) == 5 and any(np.any(case["x"] == 0) for case in cases)
    x = np.array([0.3, -1.2, 0.0])
    f = ch4.Formula("sum(sin(x) * x**2)", lambda xp, v: xp.sum(xp.sin(v) * v**2))
    exact = np.sin(x) * 2 * x + np.cos(x) * x**2  # by hand
    np.testing.assert_allclose(ch4._exact_gradient(f, x), exact, rtol=1e-14, atol=1e-16)
    assert ch4._exact_gradient(f, x).dtype == np.float64
    assert repr(f) == "sum(sin(x) * x**2)"
    assert f(np.array([1.0, 2.0, 0.0])) == pytest.approx(np.sin(1) + 4 * np.sin(2), rel=1e-15)
    # the tolerance separates the two kinds of difference: the central difference at
    # machine_eps^(1/3) well inside it on every case, the forward difference at its best
    # step well outside it on some case
    exercise = exercises.EXERCISES["ch4_central_difference"]
    assert (exercise.rtol, exercise.atol) == (1e-8, 3e-9)

    def tolerance(exact):
        return exercise.atol + exercise.rtol * np.abs(exact)

    for case in cases:
        exact = ch4._exact_gradient(**case)
        assert np.all(np.abs(central_difference(**case) - exact) < 0.1 * tolerance(exact))
    assert any(np.any(np.abs(_differences(np.sqrt(EPS64), central=False)(**case)
                             - ch4._exact_gradient(**case))
                      > 5 * tolerance(ch4._exact_gradient(**case))) for case in cases)


def test_relative_error_reference_is_the_formula():
    a = np.array([0.0, 0.0, 1.0, -2.0, 3.0, 1e-12])
    n = np.array([0.0, 1e-3, 0.0, -2.0, -3.0, 2e-12])
    by_hand = [0.0, 1.0, 1.0, 0.0, 2.0, 0.5]
    np.testing.assert_allclose(ch4.relative_error(a, n), by_hand, rtol=1e-15)
    np.testing.assert_allclose(ch4.relative_error(n, a), by_hand, rtol=1e-15)  # symmetric
    with jax.enable_x64(True):  # as the chapter computes it: jax.grad against a difference
        g = float(jax.grad(lambda v: jnp.sin(v))(jnp.float64(1.0)))
    assert float(ch4.relative_error(g, np.cos(1.0))) < 1e-15
