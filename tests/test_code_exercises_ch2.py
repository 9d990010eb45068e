"""Chapter 2's coding exercises: the checker accepts the reference, calls an untouched stub
"not attempted yet", rejects typical wrong answers with the intended message, and the
reference agrees with an independent computation."""

import jax
import numpy as np
import optax
import pytest

import gradviz as gv
from gradviz import exercises
from gradviz.exercises import ch2

NAMES = ("ch2_variance_map", "ch2_clip_by_global_norm")


def _expectation(activation, q, power=2):
    phi = gv.get_activation(activation)
    return gv.theory.gaussian_expectation(lambda x: phi(x) ** power, q)


def _global_norm(grads):
    return np.sqrt(sum(np.sum(np.square(np.asarray(v, np.float64))) for v in grads.values()))


WRONG_ANSWERS = {
    "ch2_variance_map": [
        # sigma_b where sigma_b^2 belongs
        (lambda q, sw, sb, act: sw**2 * _expectation(act, q) + sb, "expected 1.26, got"),
        # sigma_w where sigma_w^2 belongs
        (lambda q, sw, sb, act: sw * _expectation(act, q) + sb**2, "expected 1.26, got"),
        # the squared mean instead of the mean square
        (lambda q, sw, sb, act: sw**2 * _expectation(act, q, power=1) ** 2 + sb**2,
         "expected 1.26, got"),
        # z ~ N(0, 1) instead of N(0, q)
        (lambda q, sw, sb, act: sw**2 * _expectation(act, 1.0) + sb**2, "expected 1.26, got"),
    ],
    "ch2_clip_by_global_norm": [
        # always rescaled to max_norm, also when the norm is below it
        (lambda grads, c: {k: v * c / _global_norm(grads) for k, v in grads.items()},
         "expected in ['W'] ["),
        # each leaf clipped by its own norm
        (lambda grads, c: {k: v * min(1.0, c / np.linalg.norm(v)) for k, v in grads.items()},
         "expected in ['W'] ["),
        # clipping by value
        (lambda grads, c: {k: np.clip(v, -c, c) for k, v in grads.items()}, "expected in ['W'] ["),
        # one flat vector instead of the dict
        (lambda grads, c: np.concatenate([np.ravel(v) for v in grads.values()]),
         "expected a dict with keys ['W', 'b'], got an array"),
    ],
}


def _clip_no_zero_guard(grads, c):  # min(1, c / norm) is right, c / max(norm, tiny) too;
    norm = _global_norm(grads)  # but dividing first gives 0/0 = NaN on a zero gradient
    return {k: v / norm * min(norm, c) for k, v in grads.items()}


WRONG_ANSWERS["ch2_clip_by_global_norm"].append((_clip_no_zero_guard, "got [[nan, nan]"))


def test_every_coding_exercise_of_the_chapter_has_two_wrong_answers():
    code = [e.name for e in ch2.EXERCISES if isinstance(e, exercises.CodeExercise)]
    assert sorted(code) == sorted(NAMES) == sorted(WRONG_ANSWERS)
    assert all(len(wrong) >= 2 for wrong in WRONG_ANSWERS.values())


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_is_right_and_a_stub_is_not_attempted(name):
    exercise = exercises.EXERCISES[name]
    right = exercises.check(name, exercise.reference)
    assert right and right.message.startswith(f"Right on all {len(exercise.cases())} inputs")

    def stub(*args):
        ...  # your code here

    def raises(*args):
        raise NotImplementedError

    for untouched in (stub, raises):
        feedback = exercises.check(name, untouched)
        assert not feedback and feedback.message.startswith("Not attempted yet")


@pytest.mark.parametrize("name, wrong, fragment",
                         [(name, wrong, fragment) for name, answers in WRONG_ANSWERS.items()
                          for wrong, fragment in answers])
def test_a_typical_wrong_answer_is_rejected_with_the_intended_message(name, wrong, fragment):
    with np.errstate(divide="ignore", invalid="ignore"):
        feedback = exercises.check(name, wrong)
    assert not feedback
    assert fragment in feedback.message, feedback.message
    assert f"gv.exercises.hint({name!r})" in feedback.message


def test_a_learner_s_right_answers_pass():
    def variance_map(q, sigma_w, sigma_b, activation):
        return sigma_w**2 * _expectation(activation, q) + sigma_b**2

    assert exercises.check("ch2_variance_map", variance_map)

    def clip_by_global_norm(grads, max_norm):
        norm = _global_norm(grads)
        scale = 1.0 if norm <= max_norm else max_norm / norm
        return {k: v * scale for k, v in grads.items()}

    assert exercises.check("ch2_clip_by_global_norm", clip_by_global_norm)


def test_the_variance_map_reference_agrees_with_closed_forms_and_sampling():
    q = np.array([0.25, 1.0, 4.0])
    # linear: E[(sqrt(q) z)^2] = q; relu: half of it
    np.testing.assert_allclose(ch2.variance_map_reference(q, 1.5, 0.3, "linear"),
                               2.25 * q + 0.09, rtol=1e-5)
    np.testing.assert_allclose(ch2.variance_map_reference(q, 2.0, 0.0, "relu"), 2 * q, rtol=1e-5)
    # tanh and sigmoid against a Monte Carlo mean over 2 million draws (fixed seed)
    z = np.random.default_rng(0).standard_normal(2_000_000)
    for activation, phi in (("tanh", np.tanh), ("sigmoid", lambda x: 1 / (1 + np.exp(-x)))):
        sampled = 1.7**2 * np.mean(phi(np.sqrt(2.0) * z) ** 2) + 0.5**2
        assert float(ch2.variance_map_reference(2.0, 1.7, 0.5, activation)) == \
            pytest.approx(sampled, rel=2e-3)
    # q = 0: only phi(0)^2 and the bias are left
    assert float(ch2.variance_map_reference(0.0, 3.0, 0.5, "sigmoid")) == \
        pytest.approx(9 * 0.25 + 0.25)


def test_the_clip_reference_is_optax_and_caps_the_global_norm():
    for case in ch2._clip_cases():
        grads, c = case["grads"], case["max_norm"]
        clipped = ch2.clip_by_global_norm_reference(**case)
        norm = _global_norm(grads)
        assert _global_norm(clipped) == pytest.approx(min(norm, c), rel=1e-5, abs=1e-12)
        scale = 1.0 if norm <= c else c / norm  # the same factor on every leaf
        for k in grads:
            np.testing.assert_allclose(clipped[k], scale * grads[k], rtol=1e-5, atol=1e-12)
    # and it is what optax chains use in training
    g = {"W": jax.numpy.full((2, 2), 3.0)}  # norm 6: clipped to 1, one SGD step of lr 1
    chain = optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(1.0))
    step, _ = chain.update(g, chain.init(g))
    np.testing.assert_allclose(step["W"], -ch2.clip_by_global_norm_reference(g, 1.0)["W"])
    np.testing.assert_allclose(step["W"], -0.5 * np.ones((2, 2)), rtol=1e-6)
    cases = ch2._clip_cases()
    assert _global_norm(cases[0]["grads"]) > cases[0]["max_norm"]  # clipped
    assert _global_norm(cases[1]["grads"]) < cases[1]["max_norm"]  # left alone
    assert _global_norm(cases[-1]["grads"]) == 0  # the 0/0 trap


def test_the_variance_map_hint_and_task_leave_the_solution_to_the_learner():
    hint = exercises.hint("ch2_variance_map")
    assert "phi(x) ** 2" not in hint and "lambda" not in hint
    assert "gaussian_expectation" in hint
    task = [e for e in ch2.EXERCISES if e.name == "ch2_variance_map"][0].task
    assert "without gv.theory.variance_map" in task
