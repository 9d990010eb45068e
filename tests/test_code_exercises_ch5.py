"""Chapter 5's coding exercises: the reference is accepted, a stub is 'not attempted yet',
typical wrong answers are rejected with the intended message, and the references agree
with independent computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradviz import exercises
from gradviz.exercises import ch5


def _riemann(offset: float, scale_by_input: bool = True, from_zero: bool = False):
    """Integrated gradients by a Riemann sum at alpha_k = (k + offset) / n: the midpoint
    rule for offset 1/2; optionally without the (x - baseline) factor, or on the path
    from 0 instead of from the baseline."""

    def ig(f, x, baseline, n_steps):
        start = np.zeros_like(baseline) if from_zero else baseline
        alphas = (np.arange(n_steps) + offset) / n_steps
        mean = sum(jax.grad(f)(start + a * (x - start)) for a in alphas) / n_steps
        return (x - baseline) * mean if scale_by_input else mean

    return ig


def _linspace_points(f, x, baseline, n_steps):  # n points from 0 to 1, each weighing 1/n
    alphas = np.linspace(0.0, 1.0, n_steps)
    return (x - baseline) * sum(jax.grad(f)(baseline + a * (x - baseline))
                                for a in alphas) / n_steps


def integrated_gradients_midpoint(f, x, baseline, n_steps):  # a learner's right answer
    return _riemann(0.5)(f, x, baseline, n_steps)


def _occlude(f, x, baseline, value=None, sign=1.0, fresh=True, keep_only=False):
    """Single-feature occlusion, right or wrong: with the baseline's value or a fixed one,
    f(x) - f(occluded) or its negative, a fresh copy per feature or one running copy,
    or every feature but one occluded."""
    drops = np.zeros(np.shape(x), np.float32)
    running = np.array(x)
    for i in np.ndindex(np.shape(x)):
        occluded = np.array(x) if fresh else running
        if keep_only:
            occluded = np.array(baseline)
            occluded[i] = x[i]
        else:
            occluded[i] = baseline[i] if value is None else value
        drops[i] = sign * (f(x) - f(occluded))
    return drops


def _first_axis_only(f, x, baseline):  # a loop over len(x): rows of an image, not pixels
    drops = []
    for i in range(len(x)):
        occluded = np.array(x)
        occluded[i] = baseline[i]
        drops.append(f(x) - f(occluded))
    return np.array(drops)


def occlusion(f, x, baseline):  # a learner's right answer
    return _occlude(f, x, baseline)


WRONG_ANSWERS = {
    "ch5_integrated_gradients_midpoint": [
        (_riemann(0.0), "expected ["),  # the left Riemann sum
        (_riemann(1.0), "expected ["),  # the right Riemann sum
        (_riemann(0.5, scale_by_input=False), "expected ["),  # no (x - baseline)
        (_riemann(0.5, from_zero=True), "expected ["),  # the path from 0, not the baseline
        (_linspace_points, "expected ["),
        (lambda f, x, b, n: integrated_gradients_midpoint(f, x, b, n).sum(),
         "expected shape (6,), got shape ()"),
    ],
    "ch5_occlusion": [
        (lambda f, x, b: _occlude(f, x, b, sign=-1.0), "expected ["),
        (lambda f, x, b: _occlude(f, x, b, value=0.0), "expected ["),  # zeros, not baseline
        (lambda f, x, b: _occlude(f, x, b, fresh=False), "expected ["),  # occlusions pile up
        (lambda f, x, b: _occlude(f, x, b, keep_only=True), "expected ["),
        (_first_axis_only, "expected shape (2, 3), got shape (2,)"),
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


def test_a_right_answer_written_another_way_passes():
    assert exercises.check("ch5_integrated_gradients_midpoint", integrated_gradients_midpoint)
    assert exercises.check("ch5_occlusion", occlusion)

    def vmapped(f, x, baseline, n_steps):
        alphas = (jnp.arange(n_steps) + 0.5) / n_steps
        points = baseline + alphas[:, None] * (x - baseline)
        return (x - baseline) * jax.vmap(jax.grad(f))(points).mean(axis=0)

    assert exercises.check("ch5_integrated_gradients_midpoint", vmapped)


def test_the_cases_hold_the_edge_cases_wrong_answers_miss():
    cases = ch5._integrated_gradients_cases()
    assert any(case["n_steps"] == 1 for case in cases)
    assert any(np.any(case["baseline"] != 0) for case in cases)
    assert any(np.any(case["x"] == case["baseline"]) for case in cases)
    occlusion_cases = ch5._occlusion_cases()
    assert any(np.ndim(case["x"]) == 2 for case in occlusion_cases)
    assert any(np.any(case["baseline"] != 0) for case in occlusion_cases)
    assert "tanh MLP" in repr(cases[0]["f"])


def test_the_references_agree_with_independent_computations():
    with jax.enable_x64(True):
        w = jnp.array([0.5, -1.0, 2.0])
        x, baseline = jnp.array([1.0, 2.0, -1.0]), jnp.array([0.5, 0.0, 0.0])

        def f(v):
            return jnp.sum(w * v**2)  # quadratic: the midpoint rule is exact on linear grads

        ig = ch5._integrated_gradients_midpoint(f, x, baseline, 3)
        np.testing.assert_allclose(ig, w * (x**2 - baseline**2), rtol=1e-12)  # by hand
        np.testing.assert_allclose(ig.sum(), f(x) - f(baseline), rtol=1e-12)  # complete

        def g(v):
            return jnp.sum(jnp.sin(v)) + v[0] * v[1]

        drops = ch5._single_pixel_occlusion(g, x, baseline)
        by_hand = [g(x) - g(x.at[i].set(baseline[i])) for i in range(3)]
        np.testing.assert_allclose(drops, by_hand, rtol=1e-12)
