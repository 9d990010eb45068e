"""Chapter 3's exercises: the numeric ones measure what they ask and accept only their
answer; the coding ones accept their reference, report an untouched stub, reject typical
wrong functions with the intended message, and their references agree with independent
computations. And chapter 3's committed outputs do not print chapter 2's answers."""

import json
import re
from pathlib import Path

import numpy as np
import optax
import pytest

from gradviz import exercises
from gradviz.exercises import ch3
from gradviz.models import NORM_EPS

ROOT = Path(__file__).parents[1]
EPS = NORM_EPS


# ------------------------------------------------------------------ numeric exercises


def test_small_batch_norm_bound_is_sqrt_n_minus_1_and_no_batch_exceeds_it():
    truth = ch3.ch3_bn_small_batch()
    assert truth == pytest.approx(np.sqrt(ch3.BN_BATCH - 1), abs=1e-6)
    rng = np.random.default_rng(0)
    batches = rng.standard_cauchy(size=(2000, ch3.BN_BATCH, 1))  # heavy tails: outliers
    largest = max(np.abs(ch3.batch_norm_reference(z)).max() for z in batches[:200])
    assert 0.9 * truth < largest <= truth + 1e-9
    assert exercises.check("ch3_bn_small_batch", 2.0).correct
    for wrong in (1.0, np.sqrt(ch3.BN_BATCH), 1.5):  # batch two's answer, sqrt(n), a guess
        feedback = exercises.check("ch3_bn_small_batch", wrong)
        assert not feedback and "Hint" in feedback.message and "2.0000" not in feedback.message


def test_isometry_top_is_the_gain_to_the_depth():
    truth = ch3.ch3_isometry_top()
    assert truth == pytest.approx(1.05**40, rel=1e-9)
    assert exercises.check("ch3_isometry_top", 7.04).correct
    assert not exercises.check("ch3_isometry_top", 1.05).correct
    assert not exercises.check("ch3_isometry_top", 1.0).correct
    assert "gv.isometry.jacobian_spectra" in exercises.hint("ch3_isometry_top")


def test_weight_decay_through_adam_moves_by_lr_not_by_lr_times_wd():
    truth = ch3.ch3_weight_decay_adam()
    assert truth == pytest.approx(1 - 0.1 / 2.0, abs=1e-6)  # Adam's first step: lr * sign
    assert exercises.check("ch3_weight_decay_adam", 0.95).correct
    assert not exercises.check("ch3_weight_decay_adam", 1 - 0.1 * 0.01).correct  # SGD's
    assert not exercises.check("ch3_weight_decay_adam", 0.9).correct


# ------------------------------------------------------------------ coding exercises


def test_batch_norm_reference_agrees_with_the_formula_and_the_batch_of_two():
    for case in ch3._batch_norm_cases():
        z = case["z"]
        by_hand = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + EPS)
        assert np.allclose(ch3.batch_norm_reference(z), by_hand, rtol=1e-12, atol=1e-12)
    z = np.array([[1.0, 5.0, 0.0], [3.0, -1.0, 0.001]])
    d = np.abs(z[0] - z[1]) / 2
    assert np.allclose(np.abs(ch3.batch_norm_reference(z)), d / np.sqrt(d**2 + EPS))
    constant = ch3.batch_norm_reference(np.full((4, 2), 7.0))
    assert np.all(constant == 0)


def test_sgd_step_reference_agrees_with_the_recurrence_and_with_optax_over_steps():
    for case in ch3._sgd_cases():
        lr, beta, wd = case["lr"], case["momentum"], case["weight_decay"]
        params, velocity = ch3.sgd_step_reference(**case)
        for key, w in case["params"].items():
            v = beta * case["velocity"][key] + case["grads"][key] + wd * w
            assert np.allclose(velocity[key], v, rtol=1e-12)
            assert np.allclose(params[key], w - lr * v, rtol=1e-12)
    # three steps of optax itself (float32, its own state) against the reference chained
    rng = np.random.default_rng(1)
    w = {"W": rng.normal(size=(2, 3))}
    grads = [{"W": rng.normal(size=(2, 3))} for _ in range(3)]
    optimizer = optax.chain(optax.add_decayed_weights(0.1), optax.sgd(0.05, momentum=0.9))
    state, params = optimizer.init(w), w
    mine, velocity = w, {"W": np.zeros((2, 3))}
    for g in grads:
        updates, state = optimizer.update(g, state, params)
        params = optax.apply_updates(params, updates)
        mine, velocity = ch3.sgd_step_reference(mine, g, velocity, 0.05, 0.9, 0.1)
    assert np.allclose(mine["W"], params["W"], rtol=1e-5)
    # no gradient, no buffer, no momentum: the weight is multiplied by 1 - lr * wd
    still, _ = ch3.sgd_step_reference({"W": np.ones(2)}, {"W": np.zeros(2)},
                                      {"W": np.zeros(2)}, 0.1, 0.0, 0.01)
    assert np.allclose(still["W"], 1 - 0.1 * 0.01)


def _layer_norm(z):
    return (z - z.mean(axis=1, keepdims=True)) / np.sqrt(z.var(axis=1, keepdims=True) + EPS)


def _bessel(z):  # the unbiased variance (n - 1): not what batch norm uses
    return (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0, ddof=1) + EPS)


def _no_eps(z):
    with np.errstate(invalid="ignore", divide="ignore"):
        return (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0))


def _eps_outside(z):
    return (z - z.mean(axis=0)) / (z.std(axis=0) + EPS)


def _transposed(z):
    return ((z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + EPS)).T


def _ema_buffer(params, grads, velocity, lr, momentum, weight_decay):
    new = {k: momentum * velocity[k] + (1 - momentum) * (grads[k] + weight_decay * params[k])
           for k in params}
    return {k: params[k] - lr * new[k] for k in params}, new


def _decay_outside_buffer(params, grads, velocity, lr, momentum, weight_decay):
    new = {k: momentum * velocity[k] + grads[k] for k in params}
    return {k: params[k] - lr * (new[k] + weight_decay * params[k]) for k in params}, new


def _no_decay(params, grads, velocity, lr, momentum, weight_decay):
    new = {k: momentum * velocity[k] + grads[k] for k in params}
    return {k: params[k] - lr * new[k] for k in params}, new


def _old_velocity(params, grads, velocity, lr, momentum, weight_decay):
    new = {k: momentum * velocity[k] + grads[k] + weight_decay * params[k] for k in params}
    return {k: params[k] - lr * new[k] for k in params}, velocity


def _one_of_two(params, grads, velocity, lr, momentum, weight_decay):  # forgets velocity
    return ch3.sgd_step_reference(params, grads, velocity, lr, momentum, weight_decay)[0]


WRONG_ANSWERS = {
    "ch3_batch_norm": [
        (_layer_norm, "expected ["),
        (_bessel, "expected ["),
        (_no_eps, "got [[nan"),
        (_eps_outside, "expected ["),
        (_transposed, "expected shape (4, 3), got shape (3, 4)"),
    ],
    "ch3_sgd_step": [
        (_ema_buffer, "expected in [0]['W'] ["),
        (_decay_outside_buffer, "expected in [1]['W'] ["),
        (_no_decay, "expected in [0]['W'] ["),
        (_old_velocity, "expected in [1]['W'] ["),
        (_one_of_two, "expected a tuple of 2, got a dict with keys"),
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


def test_a_float32_solution_is_accepted():
    import jax.numpy as jnp

    def batch_norm(z):
        z = jnp.asarray(z, jnp.float32)
        return (z - z.mean(axis=0)) / jnp.sqrt(z.var(axis=0) + 1e-5)

    assert exercises.check("ch3_batch_norm", batch_norm)


def test_float32_answers_of_other_forms_are_accepted():
    import jax
    import jax.numpy as jnp

    def standardize(z):
        return jax.nn.standardize(jnp.asarray(z, jnp.float32), axis=0, epsilon=1e-5)

    def mean_square(z):  # E[z^2] - E[z]^2 in float32: off by about 1e-5 on the batch of two
        z = jnp.asarray(z, jnp.float32)
        mean = z.mean(axis=0)
        return (z - mean) / jnp.sqrt((z**2).mean(axis=0) - mean**2 + 1e-5)

    for batch_norm in (standardize, mean_square):
        assert exercises.check("ch3_batch_norm", batch_norm)


@pytest.mark.parametrize("wrong", [_layer_norm, _bessel, _eps_outside, _no_eps],
                         ids=lambda f: f.__name__)
def test_a_wrong_batch_norm_misses_by_far_more_than_the_tolerance(wrong):
    exercise = exercises.EXERCISES["ch3_batch_norm"]
    z = ch3._batch_norm_cases()[0]["z"]  # the input the check reports them on
    expected, got = ch3.batch_norm_reference(z), wrong(z)
    with np.errstate(invalid="ignore"):
        assert not np.allclose(got, expected, rtol=100 * exercise.rtol, atol=100 * exercise.atol)


# ------------------------------------------------- chapter 3 does not answer chapter 2


def _text(path: Path) -> str:
    """A notebook's markdown and its code cells' text outputs."""
    notebook = json.loads(path.read_text())
    texts = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            texts.append("".join(cell["source"]))
        for out in cell.get("outputs", []):
            texts.append("".join(out.get("text", "")))
            texts.append("".join(out.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


def test_chapter_3_prints_no_critical_sigma_w_that_chapter_2_asks_for():
    exercise = exercises.EXERCISES["ch2_critical_tanh"]
    bias = float(re.search(r"sigma_b = ([0-9.]+)", exercise.question).group(1))
    truth = float(exercise.truth())
    lines = _text(ROOT / "notebooks" / "03_fixes.ipynb").splitlines()
    about_sigma_w = [line for line in lines if re.search(r"σ_w|sigma_w|edge|critical", line)]
    assert len(about_sigma_w) > 10  # the phase diagram's summaries and prose are read
    for digits in (2, 3, 4):
        number = re.compile(rf"(?<![\d.]){re.escape(f'{truth:.{digits}f}')}(?!\d)")
        assert not [line for line in about_sigma_w if number.search(line)], (digits, truth)
    tanh_lines = [line for line in lines if "tanh" in line]
    for shown in {f"{bias:.2f}", f"{bias:.1f}", f"{bias:g}"}:
        assert not [line for line in tanh_lines if f"σ_b = {shown}" in line], shown
