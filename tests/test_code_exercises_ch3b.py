"""Chapter 3b's coding exercises: each accepts its reference, reports an untouched stub,
rejects typical wrong functions with the intended message, and its reference agrees with
an independent computation (what gradviz.live records; Adam's analytic first step). The
numeric exercises are tested in test_live.py."""

import jax
import numpy as np
import optax
import pytest

from gradviz import exercises
from gradviz.exercises import ch3b
from gradviz.live import Architecture, Hyper, make_task, start_run, train_steps


def test_update_ratios_reference_is_what_train_steps_records():
    task = make_task("moons", noise=0.2)
    arch, hyper = Architecture(4, 32, "relu", "he"), Hyper("sgd", 0.5, batch_size=None)
    run = start_run(jax.random.PRNGKey(0), task, arch, hyper)
    after, log = train_steps(run, task, arch, hyper, 1)
    ratios = ch3b.update_ratios_reference(run.params, after.params)[:arch.depth]
    assert np.allclose(ratios, log.update_ratio[0, :arch.depth], rtol=1e-3)
    assert np.all(ratios > 1e-4)  # the steps are large enough for float32 to resolve them


def test_adam_step_reference_agrees_with_its_analytic_first_step_and_with_optax():
    g = np.array([2.0, -0.5, 1e-12])
    update, m, v = ch3b.adam_step_reference(g, np.zeros(3), np.zeros(3), 1, 0.01, 0.9, 0.999,
                                            1e-8)
    assert np.allclose(m, 0.1 * g) and np.allclose(v, 0.001 * g**2)
    # first step: m_hat = g, v_hat = g^2, update = -lr g / (|g| + eps)
    assert np.allclose(update, -0.01 * g / (np.abs(g) + 1e-8), rtol=1e-12)
    assert update[2] == pytest.approx(-0.01 * 1e-4, rel=1e-3)  # lr * g / eps: tiny
    # three steps from optax's own state (float32) against the reference chained
    rng = np.random.default_rng(2)
    grads = [rng.normal(size=4) for _ in range(3)]
    adam = optax.adam(0.05)
    state, m, v = adam.init(np.zeros(4)), np.zeros(4), np.zeros(4)
    for t, grad in enumerate(grads, start=1):
        expected, state = adam.update(grad, state)
        update, m, v = ch3b.adam_step_reference(grad, m, v, t, 0.05, 0.9, 0.999, 1e-8)
        assert np.allclose(update, expected, rtol=1e-5)


def _ratio_of_norms(before, after):
    layers = zip([before["W_in"], *before["W"]], [after["W_in"], *after["W"]], strict=True)
    return np.array([abs(np.linalg.norm(a) - np.linalg.norm(b)) / np.linalg.norm(b)
                     for b, a in layers])


def _whole_stack(before, after):
    return np.array([np.linalg.norm(after["W_in"] - before["W_in"])
                     / np.linalg.norm(before["W_in"]),
                     np.linalg.norm(after["W"] - before["W"]) / np.linalg.norm(before["W"])])


def _divided_by_after(before, after):
    layers = zip([before["W_in"], *before["W"]], [after["W_in"], *after["W"]], strict=True)
    return np.array([np.linalg.norm(a - b) / np.linalg.norm(a) for b, a in layers])


def _every_leaf(before, after):
    return np.array([np.linalg.norm(after[k] - before[k]) / np.linalg.norm(before[k])
                     for k in before])


def _no_bias_correction(grad, m, v, t, lr, b1, b2, eps):
    m, v = b1 * m + (1 - b1) * grad, b2 * v + (1 - b2) * grad**2
    return -lr * m / (np.sqrt(v) + eps), m, v


def _eps_inside(grad, m, v, t, lr, b1, b2, eps):
    m, v = b1 * m + (1 - b1) * grad, b2 * v + (1 - b2) * grad**2
    return -lr * (m / (1 - b1**t)) / np.sqrt(v / (1 - b2**t) + eps), m, v


def _no_eps(grad, m, v, t, lr, b1, b2, eps):
    m, v = b1 * m + (1 - b1) * grad, b2 * v + (1 - b2) * grad**2
    return -lr * (m / (1 - b1**t)) / np.sqrt(v / (1 - b2**t)), m, v


def _t_from_zero(grad, m, v, t, lr, b1, b2, eps):
    return ch3b.adam_step_reference(grad, m, v, t + 1, lr, b1, b2, eps)


def _plus_sign(grad, m, v, t, lr, b1, b2, eps):
    update, m, v = ch3b.adam_step_reference(grad, m, v, t, lr, b1, b2, eps)
    return -update, m, v


WRONG_ANSWERS = {
    "ch3b_update_ratios": [
        (_ratio_of_norms, "expected ["),
        (_whole_stack, "expected shape (3,), got shape (2,)"),
        (_divided_by_after, "expected ["),
        (_every_leaf, "expected shape (3,), got shape (6,)"),
    ],
    "ch3b_adam_step": [
        (_no_bias_correction, "expected in [0] ["),
        (_eps_inside, "expected in [0] ["),
        (_no_eps, "expected in [0] ["),
        (_t_from_zero, "expected in [0] ["),
        (_plus_sign, "expected in [0] ["),
    ],
}


@pytest.mark.parametrize("name,wrong,fragment",
                         [(n, w, f) for n, pairs in WRONG_ANSWERS.items() for w, f in pairs],
                         ids=lambda v: getattr(v, "__name__", None))
def test_a_typical_wrong_function_is_rejected_with_the_intended_message(name, wrong, fragment):
    feedback = exercises.check(name, wrong)
    assert not feedback
    assert feedback.message.startswith("On input ") and fragment in feedback.message, \
        feedback.message[-400:]
    assert f"gv.exercises.hint({name!r})" in feedback.message


@pytest.mark.parametrize("name", list(WRONG_ANSWERS))
def test_the_reference_passes_and_an_untouched_stub_is_not_attempted(name):
    exercise = exercises.EXERCISES[name]
    assert exercises.check(name, exercise.reference).message.startswith("Right on all")

    def stub(*args):
        ...  # your code here

    def raises(*args):
        raise NotImplementedError

    for function in (stub, raises):
        assert exercises.check(name, function).message.startswith("Not attempted yet")


def test_a_float32_adam_is_accepted():
    import jax.numpy as jnp

    def adam_step(grad, m, v, t, lr, b1, b2, eps):
        grad, m, v = (jnp.asarray(a, jnp.float32) for a in (grad, m, v))
        m, v = b1 * m + (1 - b1) * grad, b2 * v + (1 - b2) * grad**2
        return -lr * (m / (1 - b1**t)) / (jnp.sqrt(v / (1 - b2**t)) + eps), m, v

    assert exercises.check("ch3b_adam_step", adam_step)
