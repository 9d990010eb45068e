"""Chapter 1's coding exercises: the checker accepts the reference, calls an untouched stub
"not attempted yet", rejects typical wrong answers with the intended message, and the
reference agrees with an independent computation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradviz import exercises
from gradviz.exercises import ch1

NAMES = ("ch1_sigmoid_derivative", "ch1_dense_backward")


def _sigmoid_of_s(s):  # treats the output s as if it were the input z
    return jax.nn.sigmoid(s) * (1 - jax.nn.sigmoid(s))


def _no_slope(h_prev, W, b, g):  # forgets sigma'(z)
    return g @ W.T, h_prev.T @ g


def _untransposed(h_prev, W, b, g):  # delta @ W instead of delta @ W.T
    s = jax.nn.sigmoid(h_prev @ W + b)
    return (s * (1 - s) * g) @ W, h_prev.T @ (s * (1 - s) * g)


def _dw_transposed(h_prev, W, b, g):  # dW as delta^T h_prev: (n_out, n_in)
    s = jax.nn.sigmoid(h_prev @ W + b)
    delta = s * (1 - s) * g
    return delta @ W.T, delta.T @ h_prev


WRONG_ANSWERS = {
    "ch1_sigmoid_derivative": [
        (_sigmoid_of_s, "expected ["),
        (lambda s: 1 - s**2, "expected ["),  # tanh's derivative from its output
        (lambda s: 0.25, "expected shape (6,), got shape ()"),  # the bound, not the slope
        (lambda s: np.ravel(s * (1 - s)), "expected shape (3, 4), got shape (12,)"),
    ],
    "ch1_dense_backward": [
        (_no_slope, "expected in [0] ["),
        (_untransposed, "raised"),
        (_dw_transposed, "expected shape (3, 4) in [1], got shape (4, 3)"),
        (lambda h_prev, W, b, g: _no_slope(h_prev, W, b, g)[0], "expected a tuple of 2"),
    ],
}


def test_every_coding_exercise_of_the_chapter_has_two_wrong_answers():
    code = [e.name for e in ch1.EXERCISES if isinstance(e, exercises.CodeExercise)]
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
    feedback = exercises.check(name, wrong)
    assert not feedback
    assert fragment in feedback.message, feedback.message
    assert f"gv.exercises.hint({name!r})" in feedback.message


def test_a_learner_s_right_answers_pass():
    assert exercises.check("ch1_sigmoid_derivative", lambda s: s * (1 - s))

    def dense_backward(h_prev, W, b, g):
        s = jax.nn.sigmoid(h_prev @ W + b)
        delta = s * (1 - s) * g
        return delta @ W.T, h_prev.T @ delta

    assert exercises.check("ch1_dense_backward", dense_backward)


def test_the_sigmoid_reference_is_jax_grad_of_the_sigmoid():
    with jax.enable_x64(True):
        z = jnp.linspace(-8.0, 8.0, 33)
        by_grad = jax.vmap(jax.grad(jax.nn.sigmoid))(z)
        s = jax.nn.sigmoid(z)
    np.testing.assert_allclose(ch1.sigmoid_derivative_reference(s), by_grad, rtol=1e-10)
    assert ch1.sigmoid_derivative_reference(np.array([0.5]))[0] == pytest.approx(0.25)
    for case in ch1._sigmoid_derivative_cases():  # the reference is s (1 - s) on every case
        np.testing.assert_allclose(ch1.sigmoid_derivative_reference(**case),
                                   case["s"] * (1 - case["s"]), rtol=1e-10)


def test_the_dense_reference_matches_jax_grad_of_a_loss_and_the_hand_formula():
    for case in ch1._dense_backward_cases():
        g_prev, dW = ch1.dense_backward_reference(**case)
        h_prev, W, b, g = (case[k] for k in ("h_prev", "W", "b", "g"))
        assert g_prev.shape == h_prev.shape and dW.shape == W.shape
        with jax.enable_x64(True):
            # L = sum(g * h): its gradient with respect to h is g, so jax.grad of L is the
            # backward pass with upstream g
            def loss(h_in, weights, bias, upstream):
                return jnp.sum(upstream * jax.nn.sigmoid(h_in @ weights + bias))

            by_grad = jax.grad(loss, argnums=(0, 1))(*(jnp.asarray(a) for a in (h_prev, W, b, g)))
        np.testing.assert_allclose(g_prev, by_grad[0], rtol=1e-10)
        np.testing.assert_allclose(dW, by_grad[1], rtol=1e-10)
        s = 1 / (1 + np.exp(-(h_prev @ W + b)))  # by hand, in numpy
        delta = s * (1 - s) * g
        np.testing.assert_allclose(g_prev, delta @ W.T, rtol=1e-10)
        np.testing.assert_allclose(dW, h_prev.T @ delta, rtol=1e-10)


def test_the_cases_are_fixed_and_reach_the_tails():
    first, again = ch1._dense_backward_cases(), ch1._dense_backward_cases()
    np.testing.assert_array_equal(first[0]["W"], again[0]["W"])
    big = first[-1]
    z = big["h_prev"] @ big["W"] + big["b"]
    assert np.mean(np.abs(z) > 3) > 0.2  # sigma'(z) far from 1/4 for many units
    assert all(c["W"].shape[0] != c["W"].shape[1] and c["g"].shape[0] != c["W"].shape[1]
               for c in first)


def test_the_backward_pass_hint_nudges_without_giving_the_lines():
    hint = exercises.hint("ch1_dense_backward")
    assert "(batch, n_in)" in hint and "(n_in, n_out)" in hint
    assert "W.T" not in hint and "h_prev.T" not in hint


def test_the_gru_explanation_names_the_average_gate_and_the_best_copying_unit():
    # at exercise 3's answer (2.15, see the solutions): the average gate's 99 steps pass far
    # less than 1%, the best-copying unit's pass more, so the 1% is theirs
    gates = ch1._gru_gates(2.15)
    best = np.exp(np.log(gates[:, 1:]).sum(axis=1)).max()
    assert gates.mean() ** 99 < 1e-4 < 0.01 < best
    text = ch1._gru_bias_explained(2.15)
    assert f"{gates.mean():.2f}" in text and f"{best:.0e}" in text
