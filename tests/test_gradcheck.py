"""gradviz.gradcheck against independent references: jax.test_util.check_grads, analytic
derivatives, hand-planted bugs whose corrupted leaves are known, and the O(eps^2)
truncation error of central differences."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import gradviz as gv
from gradviz.compiles import count_compiles
from gradviz.examples import two_layer_backward, two_layer_example, two_layer_loss
from gradviz.gradcheck import (
    BANDS,
    check_gradients,
    leaf_verdict,
    relative_error,
    step_size_sweep,
    verdict,
)
from gradviz.losses import loss_value

KEY = jax.random.PRNGKey(0)


def mlp_loss(params, x, y, activation, residual=False, norm="none"):
    return loss_value(gv.apply_mlp(params, x, activation, residual, norm), y, "cross_entropy")


def rnn_loss(params, xs, y):
    return loss_value(gv.apply_rnn(params, xs), y, "mse")


@pytest.fixture(scope="module")
def digits():
    return gv.data.digits(32)


# --------------------------------------------------------------------------- relative error


def test_relative_error_is_symmetric_scale_invariant_and_zero_for_two_zeros():
    rng = np.random.default_rng(0)
    a, n = rng.normal(size=100), rng.normal(size=100)
    np.testing.assert_allclose(relative_error(a, n), relative_error(n, a))
    for scale in (1e-30, 1e-3, 7.0, 1e20):
        np.testing.assert_allclose(relative_error(scale * a, scale * n), relative_error(a, n),
                                   rtol=1e-12)
    assert relative_error(0.0, 0.0) == 0.0
    assert relative_error(1.0, 1.1) == pytest.approx(0.1 / 1.1)
    assert relative_error(1.0, -1.0) == pytest.approx(2.0)
    assert relative_error(1e-9, 0.0) == 1.0  # a tiny gradient against zero: fully wrong
    assert relative_error(1e-9, 0.0, floor=1e-3) == pytest.approx(1e-6)  # below the floor


def test_bands_depend_on_the_dtype():
    assert verdict(1e-8) == "good" and verdict(1e-5) == "suspicious"
    assert verdict(1e-5, kinked=True) == "acceptable with kinks"
    assert verdict(0.5) == "wrong"
    assert verdict(1e-4, dtype="float32") == "good"
    assert BANDS["float32"][0] > 1000 * BANDS["float64"][0]


def test_a_leaf_verdict_is_the_band_of_its_unexplained_error_after_excuses():
    assert leaf_verdict(0.5, n_resolved=0) == "unresolved"  # nothing resolved: not judged
    assert leaf_verdict(1e-8, 3) == "good"
    assert leaf_verdict(1e-8, 3, n_kinked=1) == "acceptable with kinks"
    assert leaf_verdict(1e-8, 3, n_truncation=2) == "acceptable with truncation"
    assert leaf_verdict(1e-5, 3, n_kinked=1) == "suspicious"  # a kink excuses only itself
    assert leaf_verdict(1e-4, 3, dtype="float32") == "good"
    for error in (1e-9, 1e-5, 0.5):  # without excuses, the band of `verdict`
        assert leaf_verdict(error, 1) == verdict(error)


# --------------------------------------------------------------------------- gradviz models


MODELS = {
    "MLP tanh": ("tanh", False, "none"),
    "MLP relu": ("relu", False, "none"),
    "residual MLP gelu": ("gelu", True, "none"),
    "MLP sigmoid + batch norm": ("sigmoid", False, "batch"),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_mlp_gradient_passes_in_float64(name, digits):
    params = gv.init_mlp(KEY, 64, 12, 3, 10, init="xavier", bias_scale=0.1)
    activation, residual, norm = MODELS[name]
    report = check_gradients(mlp_loss, params, digits.x, digits.y, *MODELS[name])
    assert report.dtype == "float64"
    assert [row.path for row in report.rows] == sorted(params)  # dict leaves, sorted keys
    assert report.row("W_in").n_checked == 768 and report.row("W").n_total == 2 * 144
    # batch norm subtracts the batch mean, so the biases in front of it have a zero
    # gradient (an independent reference: jax.grad gives round-off, ~1e-17 here): no
    # relative error can be measured, and the check says so instead of passing them
    zero_gradient = {"b", "b_in"} if norm == "batch" else set()
    grads = jax.grad(mlp_loss)(params, digits.x, digits.y, *MODELS[name])
    for leaf in zero_gradient:
        assert float(jnp.abs(grads[leaf]).max()) < 1e-6
        assert report.row(leaf).verdict == "unresolved" and report.row(leaf).n_resolved == 0
    for row in report.rows:
        if row.path not in zero_gradient:
            assert row.verdict == "good", report
            assert row.unexplained == 0.0 and row.n_resolved >= 0.75 * row.n_checked
    # W_in's unresolved coordinates are the weights of pixels whose gradient is exactly 0:
    # pixels that are 0 in every image, or, under batch norm (which removes whatever is
    # constant over the batch), pixels that are constant over the batch
    x = np.asarray(digits.x)
    silent = np.all(x == x[0], axis=0) if norm == "batch" else np.all(x == 0, axis=0)
    w_in = report.coordinates["W_in"]
    pixel = w_in.index // params["W_in"].shape[1]
    if activation == "relu":  # dead units add zero gradients of their own
        assert np.all(~w_in.resolved[silent[pixel]])
    else:
        np.testing.assert_array_equal(~w_in.resolved, silent[pixel])
    assert report.passed == (not zero_gradient), report
    assert report.outcome == ("UNRESOLVED" if zero_gradient else "PASSED")
    assert report.directional.verdict == "good"


@pytest.mark.parametrize("cell", ["vanilla", "gru"])
def test_rnn_and_gru_gradients_pass_in_float64(cell):
    xs, y = gv.data.adding_problem(KEY, 4, 6)
    params = gv.init_rnn(KEY, 2, 6, 1, cell=cell, update_gate_bias=1.0)
    report = check_gradients(rnn_loss, params, xs, y)
    assert report.passed, report
    assert all(row.verdict == "good" for row in report.rows)


# --------------------------------------------------------------------------- the two-layer net


@pytest.fixture(scope="module")
def two_layer():  # its planted bugs are tested in test_examples.py
    return two_layer_example(KEY)


def test_float32_grads_are_judged_with_float32_bands(two_layer):
    params, x, y = two_layer
    grads = two_layer_backward(params, x, y)  # computed in float32, outside the check
    with pytest.warns(UserWarning, match="float32"):
        report = check_gradients(two_layer_loss, params, x, y, grads=grads)
    assert report.dtype == "float32" and report.passed


# --------------------------------------------------------------------------- step sizes


def test_sweep_float64_has_its_best_eps_in_the_middle_of_a_u_curve(two_layer):
    sweep = step_size_sweep(two_layer_loss, *two_layer)
    assert 1e-7 <= sweep.best_eps <= 1e-3
    assert sweep.error[0] >= 100 * sweep.best_error  # eps = 1e-12: round-off
    assert sweep.error[-1] >= 100 * sweep.best_error  # eps = 1: truncation
    # truncation error ~ eps^2: slope 2 on log-log axes between eps = 1e-3 and 1e-1
    right = (sweep.eps >= 1e-3) & (sweep.eps <= 1e-1)
    slope = np.polyfit(np.log10(sweep.eps[right]), np.log10(sweep.error[right]), 1)[0]
    assert 1.7 < slope < 2.3
    # round-off error ~ 1 / eps: slope -1 for tiny eps
    left = (sweep.eps >= 1e-12) & (sweep.eps <= 1e-9)
    slope = np.polyfit(np.log10(sweep.eps[left]), np.log10(sweep.error[left]), 1)[0]
    assert -1.5 < slope < -0.5


def test_sweep_float32_needs_a_larger_eps_and_reaches_less(two_layer):
    wide = step_size_sweep(two_layer_loss, *two_layer)
    narrow = step_size_sweep(two_layer_loss, *two_layer, dtype="float32")
    assert narrow.dtype == "float32"
    assert narrow.best_eps > 10 * wide.best_eps
    assert narrow.best_error > 1000 * wide.best_error
    assert narrow.error[0] == pytest.approx(1.0)  # a step below float32's resolution: no change


# --------------------------------------------------------------------------- kinks


def test_a_step_across_a_relu_kink_is_flagged_and_explained():
    eps = 1e-5
    centre = jnp.array([0.0, 1.0, -2.0, 3.0])
    p = {"w": centre + jnp.array([0.3 * eps, 0.5, -0.5, -0.6 * eps])}  # 2 units near a kink

    def f(p):
        return jnp.sum(jax.nn.relu(p["w"] - centre) ** 1 * jnp.arange(1.0, 5.0))

    report = check_gradients(f, p, eps=eps)
    checks = report.coordinates["w"]
    np.testing.assert_array_equal(checks.kinked, [True, False, False, True])
    assert checks.error[0] > 0.1 and checks.error[3] > 0.1  # large errors there ...
    assert report.row("w").verdict == "acceptable with kinks" and report.passed  # explained
    assert report.row("w").n_kinked == 2 and report.row("w").max_error < 1e-7


def test_a_kink_excuses_only_its_own_coordinate():
    """One coordinate crosses a kink; another's gradient is 1e-5 too large (a bug, between
    the good band and CS231n's kink allowance of 1e-4). The kink must not excuse it."""
    eps = 1e-5
    centre = jnp.array([0.0, 1.0, -2.0, 3.0])
    p = {"w": centre + jnp.array([0.3 * eps, 0.5, 0.5, 0.7])}  # only unit 0 near its kink

    def f(p):
        return jnp.sum(jax.nn.relu(p["w"] - centre) * jnp.arange(1.0, 5.0))

    def off(p):  # coordinate 1's gradient 1e-5 relative too large
        return {"w": jax.grad(f)(p)["w"] * jnp.array([1.0, 1.0 + 1e-5, 1.0, 1.0])}

    honest = check_gradients(f, p, eps=eps)
    assert honest.row("w").verdict == "acceptable with kinks" and honest.passed
    report = check_gradients(f, p, grads=off, eps=eps)
    checks = report.coordinates["w"]
    np.testing.assert_array_equal(checks.kinked, [True, False, False, False])
    assert checks.unexplained[1] == pytest.approx(1e-5, rel=1e-3)  # (2e-5 / 2.00002)
    row = report.row("w")
    assert row.verdict == "suspicious" and not report.passed, report
    assert row.worst_index == (1,) and row.n_kinked == 1


def test_a_bug_in_a_smooth_function_is_not_explained_away_as_a_kink():
    p = {"w": jnp.linspace(-1.0, 1.0, 7)}

    def f(p):
        return jnp.sum(jnp.sin(p["w"]) ** 2)

    def wrong(p):  # 0.1% too large
        return {"w": 1.001 * jax.grad(f)(p)["w"]}

    report = check_gradients(f, p, grads=wrong)
    assert not report.passed and report.row("w").n_kinked == 0
    assert report.row("w").verdict == "suspicious"


# --------------------------------------------------------------------------- check_grads


def _custom_vjp(fun, derivative):
    """fun with a hand-written (possibly wrong) gradient rule."""
    g = jax.custom_vjp(fun)
    g.defvjp(lambda x: (fun(x), x), lambda x, ct: (ct * derivative(x),))
    return g


FUNCTIONS = {  # name -> scalar function of x: (5,)
    "tanh, autodiff": lambda x: jnp.sum(jnp.tanh(x) ** 2),
    "softmax cross-entropy, autodiff": lambda x: jax.nn.logsumexp(x) - x[0],
    "sin, right rule": lambda x: jnp.sum(_custom_vjp(jnp.sin, jnp.cos)(x)),
    "sin, wrong sign": lambda x: jnp.sum(_custom_vjp(jnp.sin, lambda x: -jnp.cos(x))(x)),
    "exp, rule 1% off": lambda x: jnp.sum(_custom_vjp(jnp.exp, lambda x: 1.01 * jnp.exp(x))(x)),
    "exp, rule 1e-10 off": lambda x: jnp.sum(
        _custom_vjp(jnp.exp, lambda x: (1 + 1e-10) * jnp.exp(x))(x)),
    "stop_gradient by mistake": lambda x: jnp.sum(x * jax.lax.stop_gradient(x)),
    "square with the 2 forgotten": lambda x: jnp.sum(_custom_vjp(jnp.square, lambda x: x)(x)),
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_pass_or_fail_agrees_with_jax_check_grads(name):
    f = FUNCTIONS[name]
    with jax.enable_x64(True):
        x = jnp.linspace(-1.0, 1.2, 5, dtype=jnp.float64)
        try:
            check_grads(f, (x,), order=1, modes=("rev",))
            reference = True
        except AssertionError:
            reference = False
    report = check_gradients(lambda p: f(p["x"]), {"x": np.linspace(-1.0, 1.2, 5)})
    assert report.passed == reference, report
    assert reference == (name.endswith("autodiff") or name.endswith("right rule")
                         or name.endswith("1e-10 off"))


# --------------------------------------------------------------------------- precision scope


def test_float64_is_switched_on_for_the_check_only(two_layer):
    assert not jax.config.jax_enable_x64
    report = check_gradients(two_layer_loss, *two_layer)
    assert not jax.config.jax_enable_x64
    assert jnp.ones(2).dtype == jnp.float32
    assert report.dtype == "float64" and isinstance(report.worst.max_error, float)
    assert report.coordinates["W1"].numerical.dtype == np.float64
    with jax.enable_x64(True):  # a notebook that chose float64 keeps it
        check_gradients(two_layer_loss, *two_layer)
        assert jax.config.jax_enable_x64
    with pytest.raises(ValueError, match="must return a scalar"):  # an error inside the check
        check_gradients(lambda p, x, y: p["b1"], *two_layer)
    assert not jax.config.jax_enable_x64


def test_float32_checks_warn_and_use_float32_bands(two_layer):
    with pytest.warns(UserWarning, match="checking in float32"):
        report = check_gradients(two_layer_loss, *two_layer, dtype="float32")
    assert report.dtype == "float32" and report.eps == 1e-2 and report.passed
    assert report.worst.max_error > BANDS["float64"][0]  # what float64 would call suspicious


# --------------------------------------------------------------------------- coordinates


def test_large_leaves_are_sampled_with_a_seed_small_ones_checked_whole():
    params = {"big": jnp.linspace(-1, 1, 3000).reshape(60, 50), "small": jnp.ones(7)}

    def f(p):
        return jnp.sum(jnp.tanh(p["big"]) ** 2) + jnp.sum(p["small"] ** 3)

    first = check_gradients(f, params, max_coordinates=200)
    again = check_gradients(f, params, max_coordinates=200)
    other = check_gradients(f, params, max_coordinates=200, seed=1)
    assert first.row("big").n_checked == 200 and first.row("big").n_total == 3000
    assert first.row("small").n_checked == 7
    index = first.coordinates["big"].index
    assert len(np.unique(index)) == 200 and index.max() < 3000
    np.testing.assert_array_equal(index, again.coordinates["big"].index)
    assert not np.array_equal(index, other.coordinates["big"].index)
    every = check_gradients(f, params, max_coordinates=None)
    assert every.row("big").n_checked == 3000 and every.passed
    # the numbers are the analytic gradient 2 tanh(w) (1 - tanh(w)^2), up to round-off
    # (about 1e-16 |f| / eps, with f ~ 1000 here)
    w = np.asarray(params["big"], dtype=np.float64).ravel()
    np.testing.assert_allclose(every.coordinates["big"].numerical,
                               2 * np.tanh(w) * (1 - np.tanh(w) ** 2), atol=1e-7)


def test_directions_cover_all_parameters_at_once():
    params = {"a": jnp.array([0.5, -0.3]), "b": jnp.array([[1.0, 2.0]])}

    def f(p):
        return jnp.sum(p["a"] ** 2) * jnp.sum(jnp.sin(p["b"]))

    def wrong(p):
        return jax.tree.map(lambda g: 1.5 * g, jax.grad(f)(p))

    good = check_gradients(f, params, n_directions=5)
    bad = check_gradients(f, params, grads=wrong, n_directions=5)
    assert good.directional.verdict == "good" and len(good.directional.error) == 5
    assert bad.directional.verdict == "wrong"
    np.testing.assert_allclose(bad.directional.analytic, 1.5 * good.directional.analytic)


def test_checking_the_same_function_again_does_not_recompile(two_layer):
    def by_hand(p, x, y):
        return two_layer_backward(p, x, y, "missing_transpose")

    check_gradients(two_layer_loss, *two_layer)
    check_gradients(two_layer_loss, *two_layer, grads=by_hand)  # its eager ops compile here
    with count_compiles() as log:  # a new grads function, and f alone again: all reused
        check_gradients(two_layer_loss, *two_layer, grads=lambda p, x, y: by_hand(p, x, y))
        check_gradients(two_layer_loss, *two_layer)
    assert log.count == 0


# --------------------------------------------------------------------------- bad input


BAD = [
    ("f returns a vector", lambda p: (lambda q: q["w"] ** 2, p),
     r"f\(params, \*args\) must return a scalar \(the loss\), got shape \(3,\)"),
    ("integer params", lambda p: (lambda q: jnp.sum(q["n"]), {"n": jnp.arange(3)}),
     "params must hold floating-point arrays; leaf 'n' has dtype int32"),
    ("f is not a function", lambda p: ("loss", p), "f must be a function"),
    ("empty params", lambda p: (lambda q: 0.0, {}), "params must hold at least one array"),
]


@pytest.mark.parametrize("what, make, message", BAD, ids=[row[0] for row in BAD])
def test_bad_input_gets_a_clear_error(what, make, message):
    f, params = make({"w": jnp.ones(3)})
    with pytest.raises(ValueError, match=message):
        check_gradients(f, params)


def test_mismatched_grads_get_a_clear_error():
    params = {"W1": jnp.ones((2, 3)), "b1": jnp.zeros(3)}

    def f(p):
        return jnp.sum(p["W1"]) + jnp.sum(p["b1"])

    with pytest.raises(ValueError, match=r"grads must have the same structure as params: "
                                         r"params has leaves \['W1', 'b1'\], grads has \['W1'\]"):
        check_gradients(f, params, grads={"W1": jnp.ones((2, 3))})
    with pytest.raises(ValueError, match=r"grads leaf 'W1' has shape \(3, 2\), but the "
                                         r"parameter has shape \(2, 3\)"):
        check_gradients(f, params, grads={"W1": jnp.ones((3, 2)), "b1": jnp.zeros(3)})


def test_bad_options_get_clear_errors(two_layer):
    with pytest.raises(ValueError, match="unknown dtype 'float16'; expected one of"):
        check_gradients(two_layer_loss, *two_layer, dtype="float16")
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        check_gradients(two_layer_loss, *two_layer, eps=-1e-3)
    with pytest.raises(ValueError, match="eps_values must be a non-empty 1-D array"):
        step_size_sweep(two_layer_loss, *two_layer, eps_values=[])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # float64 checks do not warn
        check_gradients(two_layer_loss, *two_layer)


# --------------------------------------------------------------------------- exercises


def test_chapter_4_exercises_measure_their_answers():
    from gradviz import exercises
    from gradviz.examples import TWO_LAYER_BUGS
    from gradviz.exercises import ch4

    errors = ch4._ch4_one_sided_richardson_errors()
    assert 1e-8 < errors[1e-2] < errors[1e-1] < 1e-1  # truncation, far above round-off
    shrink = ch4._ch4_one_sided_shrink()
    assert 50 < shrink < 200  # O(eps^2): a 10x smaller step, about 10^2x smaller error
    assert exercises.check("ch4_one_sided_richardson", 100).correct
    assert not exercises.check("ch4_one_sided_richardson", 10).correct  # the one-sided d's
    assert not exercises.check("ch4_one_sided_richardson", 1e4).correct  # central Richardson's
    assert f"{shrink:.0f}" not in exercises.check("ch4_one_sided_richardson", 10).message

    assert ch4._ch4_mystery_leaf() == TWO_LAYER_BUGS["mystery"][0] == "b2"
    assert exercises.check("ch4_mystery_leaf", " B2 ").correct
    wrong = exercises.check("ch4_mystery_leaf", "W1")
    assert not wrong.correct and "b2" not in wrong.message.lower()

    errors = ch4._ch4_float32_errors()  # the loss plus 1000, in float32
    best = min(errors, key=errors.get)
    assert best == 1e-1  # the plain loss's best float32 step, 1e-2, is 3x worse or more:
    assert errors[1e-2] > 3 * errors[best]
    assert exercises.check("ch4_float32_eps", best).correct
    assert not exercises.check("ch4_float32_eps", 1e-2).correct  # the plain loss's answer
    assert not exercises.check("ch4_float32_eps", 1e-7).correct  # float64's habit fails here
    assert not exercises.check("ch4_float32_eps", 0.5).correct  # not one of the offered steps
    wrong = exercises.check("ch4_float32_eps", 1e-2)
    assert "0.1" not in wrong.message and "1e-1 " not in wrong.message
